//! The [`Hub`] trait for [`ThreadHub`]: what the greenlet trait's calls do on the oracle, on top
//! of the routing in `route` and the baton hand-over in the crate root.

use super::*;

impl<V: Payload> Hub<V> for ThreadHub<V> {
    type Greenlet = Greenlet<V>;
    type Weak = WeakGreenlet<V>;

    fn new(config: &HubConfig) -> Result<Self, BackendError> {
        let mut records = BTreeMap::new();
        records.insert(
            MAIN,
            Record {
                parent: None,
                phase: Phase::Started,
                refs: 1,
                inbox: None,
                cv: Arc::new(Condvar::new()),
                thread: thread::current().id(),
                killing: 0,
                zombie: false,
            },
        );
        Ok(ThreadHub {
            inner: Arc::new(Inner {
                state: Mutex::new(HubState {
                    records,
                    current: MAIN,
                    next_id: 1,
                    pending_kills: Vec::new(),
                    closed: false,
                }),
                stack_size: config.stack_size,
                users: AtomicUsize::new(1),
                hook: Mutex::new(None),
            }),
            counted: true,
        })
    }

    fn main(&self) -> Greenlet<V> {
        let mut st = lock(&self.inner);
        self.handle(&mut st, MAIN)
    }

    fn current(&self) -> Greenlet<V> {
        let mut st = lock(&self.inner);
        let id = st.current;
        self.handle(&mut st, id)
    }

    fn spawn(
        &self,
        body: Body<Self, V>,
        parent: Option<&Greenlet<V>>,
    ) -> Result<Greenlet<V>, BackendError> {
        if let Some(p) = parent {
            self.check(p);
        }
        let worker = Worker::reserve(self.inner.stack_size)?;
        let mut st = lock(&self.inner);
        if st.closed {
            drop(st);
            drop(body);
            return Err(BackendError("switchyard-oracle: the hub is closed".into()));
        }
        let parent = parent.map_or(st.current, |p| p.id);
        let id = st.next_id;
        st.next_id += 1;
        st.inc_ref(parent);
        let thread = worker.thread();
        st.records.insert(
            id,
            Record {
                parent: Some(parent),
                phase: Phase::Unstarted { body, worker },
                refs: 0,
                inbox: None,
                cv: Arc::new(Condvar::new()),
                thread,
                killing: 0,
                zombie: false,
            },
        );
        Ok(self.handle(&mut st, id))
    }

    fn switch(&self, target: Greenlet<V>, value: V) -> Outcome<V> {
        self.transfer(target, Ok(value))
    }

    fn throw(&self, target: Greenlet<V>, error: V::Error) -> Outcome<V> {
        self.transfer(target, Err(error))
    }

    fn parent(&self, greenlet: &Greenlet<V>) -> Option<Greenlet<V>> {
        self.check(greenlet);
        let mut st = lock(&self.inner);
        let parent = st.records.get(&greenlet.id)?.parent?;
        Some(self.handle(&mut st, parent))
    }

    fn set_parent(&self, greenlet: &Greenlet<V>, parent: &Greenlet<V>) -> Result<(), ParentError> {
        self.check(greenlet);
        self.check(parent);
        if greenlet.id == MAIN {
            return Err(ParentError::Main);
        }
        let mut garbage = Garbage::new();
        let kill_now = {
            let mut st = lock(&self.inner);
            if st.closed {
                return Ok(());
            }
            let mut p = Some(parent.id);
            while let Some(id) = p {
                if id == greenlet.id {
                    return Err(ParentError::Cycle);
                }
                p = st.records.get(&id).and_then(|r| r.parent);
            }
            st.inc_ref(parent.id);
            let old = st.rec(greenlet.id).parent.replace(parent.id);
            if let Some(old) = old {
                st.dec_ref(old, &mut garbage);
            }
            !st.pending_kills.is_empty() && st.on_current_thread()
        };
        drop(garbage);
        if kill_now {
            self.run_pending_kills();
        }
        Ok(())
    }

    fn state(&self, greenlet: &Greenlet<V>) -> State {
        self.check(greenlet);
        let st = lock(&self.inner);
        match st.records.get(&greenlet.id).map(|r| &r.phase) {
            Some(Phase::Unstarted { .. }) => State::Unstarted,
            Some(Phase::Started) if st.current == greenlet.id => State::Running,
            Some(Phase::Started) => State::Suspended,
            Some(Phase::Dead) | None => State::Dead,
        }
    }

    fn downgrade(&self, greenlet: &Greenlet<V>) -> WeakGreenlet<V> {
        self.check(greenlet);
        WeakGreenlet {
            inner: Arc::downgrade(&self.inner),
            id: greenlet.id,
        }
    }

    fn upgrade(&self, weak: &WeakGreenlet<V>) -> Option<Greenlet<V>> {
        if !std::ptr::eq(weak.inner.as_ptr(), Arc::as_ptr(&self.inner)) {
            return None;
        }
        let mut st = lock(&self.inner);
        if st.closed || !st.records.contains_key(&weak.id) {
            return None;
        }
        Some(self.handle(&mut st, weak.id))
    }

    fn set_unraisable_hook(&self, hook: UnraisableHook<Self, V>) {
        *self.inner.hook.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(hook));
    }
}

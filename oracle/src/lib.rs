//! switchyard-oracle: the thread-handoff reference backend.
//!
//! Every greenlet body runs on an OS thread of its own (taken from a pool of parked workers,
//! see [`pool`]); exactly one of them runs at a time. All hub state lives in one `Mutex`
//! (`HubState`): the greenlet records (parent, phase, reference count, inbox) and the id of
//! the current greenlet. A switch routes the message under the lock (walking past dead
//! greenlets, killing unstarted ones hit by an error, starting an unstarted one or filling a
//! suspended one's inbox), makes the target current, and then waits on its own `Condvar` until
//! its own inbox is filled. Nothing is busy-waited and no thread-locals are used.
//!
//! # Handles, kills and teardown
//!
//! A [`Greenlet`] handle counts as one reference; so does every parent link (a greenlet
//! referenced only as another's parent stays alive, as in CPython). Handles held inside the hub
//! never exist: the hub refers to greenlets by id only. When a greenlet's count reaches zero:
//! - unstarted: its record is freed and its body dropped without running;
//! - dead: its record is freed (and its parent link released);
//! - suspended: it is killed like greenlet's GC does: its parent is set to the current greenlet,
//!   GreenletExit is thrown into it and whatever comes back is discarded; the old parent link
//!   is released only after that, as in CPython (a chain of suspended greenlets held only by
//!   parent links dies leaf first). The kill runs at once if the handle was dropped on the
//!   current greenlet's own thread, otherwise (and when a greenlet suspends itself while
//!   nothing refers to it, greenlet's "origin released after the switch") it is queued and run
//!   by the next greenlet that resumes from a switch or throw.
//!   A greenlet is killed this way at most once: one that survives (switches away again) is
//!   left to the hub's teardown, as CPython leaves it ("GreenletExit did not kill").
//! - running: nothing; it is freed when it dies, or queued for a kill when it suspends.
//!
//! Destructors of things the hub releases (unstarted bodies, values) run after the lock is
//! released; those released while routing a switch run on the switching thread just after the
//! baton has passed, so a handle dropped by them counts as dropped off the current thread (its
//! kill, if any, is queued).
//!
//! [`ThreadHub`] clones made by the user (the one `Hub::new` returns and every `clone`) are
//! counted; the `&ThreadHub` a body receives is an uncounted internal one. When the last counted
//! clone is dropped, on the current greenlet's thread, the hub makes one pass over the greenlets
//! in id order (new ones included), killing each suspended one as above; then it closes: every
//! greenlet still suspended is released by unwinding its thread with a private payload (only
//! destructors run, no more body code), unstarted bodies are dropped, and workers go back to the
//! pool. A counted clone kept by a body while it is suspended keeps the hub alive (a reference
//! cycle, the user's business). After closing, `switch`/`throw` return GreenletExit as an error
//! and `spawn` fails.
#![forbid(unsafe_code)]

pub mod pool;

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, ThreadId};

use switchyard_greenlet::{
    panic_message, BackendError, Body, Hub, HubConfig, Outcome, ParentError, Payload, State,
};

use pool::Worker;

/// Greenlet id; main is 0.
type Id = u64;
const MAIN: Id = 0;

/// The unwinding payload that releases a suspended greenlet's thread when the hub closes.
struct Abandon;

/// What a greenlet waiting in a switch is woken with.
type Wake<V> = Outcome<V>;

enum Phase<V: Payload> {
    Unstarted {
        body: Body<ThreadHub<V>, V>,
        worker: Worker,
    },
    Started,
    Dead,
}

/// One greenlet's record in the hub.
struct Record<V: Payload> {
    parent: Option<Id>,
    phase: Phase<V>,
    /// User handles plus parent links from other greenlets.
    refs: usize,
    /// Filled by whoever switches to this (suspended) greenlet.
    inbox: Option<Wake<V>>,
    /// This greenlet's thread waits here while suspended.
    cv: Arc<Condvar>,
    /// The OS thread its body runs on (main: the hub's creator).
    thread: ThreadId,
    /// Already killed once by the last-handle rule.
    kill_tried: bool,
}

/// Everything the hub knows, behind one lock.
struct HubState<V: Payload> {
    records: BTreeMap<Id, Record<V>>,
    current: Id,
    next_id: Id,
    /// Suspended greenlets whose last reference went away, to be killed by the current one.
    pending_kills: Vec<Id>,
    closed: bool,
}

/// Things to drop after the lock is released (their destructors may use the hub).
struct Garbage<V: Payload> {
    bodies: Vec<Body<ThreadHub<V>, V>>,
    workers: Vec<Worker>,
    outcomes: Vec<Outcome<V>>,
    records: Vec<Record<V>>,
}

impl<V: Payload> Garbage<V> {
    fn new() -> Self {
        Garbage {
            bodies: Vec::new(),
            workers: Vec::new(),
            outcomes: Vec::new(),
            records: Vec::new(),
        }
    }
}

struct Inner<V: Payload> {
    state: Mutex<HubState<V>>,
    stack_size: usize,
    /// Counted (user) `ThreadHub` clones.
    users: AtomicUsize,
}

/// The thread-handoff hub. Cheap to clone; see the crate doc for what counts as the last clone.
pub struct ThreadHub<V: Payload> {
    inner: Arc<Inner<V>>,
    counted: bool,
}

/// A reference-counted handle to one greenlet of a [`ThreadHub`].
pub struct Greenlet<V: Payload> {
    inner: Arc<Inner<V>>,
    id: Id,
}

/// Where a routed switch ended up.
enum Step<V: Payload> {
    /// The target is the current greenlet: the switch returns this at once.
    Immediate(Outcome<V>),
    /// Another greenlet now runs (started or resumed).
    Handed,
}

impl<V: Payload> HubState<V> {
    fn rec(&mut self, id: Id) -> &mut Record<V> {
        self.records
            .get_mut(&id)
            .expect("switchyard-oracle: a referenced greenlet has no record")
    }

    fn on_current_thread(&self) -> bool {
        self.records
            .get(&self.current)
            .is_some_and(|r| r.thread == thread::current().id())
    }

    /// Routes `msg` to `target` (greenlet semantics, see `switchyard_greenlet`), making the
    /// greenlet it reaches current. `inner` is needed to start bodies.
    fn route(
        &mut self,
        inner: &Arc<Inner<V>>,
        mut target: Id,
        mut msg: Outcome<V>,
        garbage: &mut Garbage<V>,
    ) -> Step<V> {
        loop {
            let current = self.current;
            let rec = self.rec(target);
            if let Phase::Dead = rec.phase {
                // Up the chain; an exit error becomes the exit value on the way.
                msg = match msg {
                    Err(e) if V::is_exit(&e) => {
                        garbage.outcomes.push(Err(e));
                        Ok(V::exit_value())
                    }
                    m => m,
                };
                target = rec.parent.expect("main is never dead");
                continue;
            }
            if target == current {
                return Step::Immediate(msg);
            }
            match std::mem::replace(&mut rec.phase, Phase::Started) {
                Phase::Unstarted { body, worker } => match msg {
                    Err(e) => {
                        // Killed before it ran; the error goes on as if the body had raised it.
                        rec.phase = Phase::Dead;
                        garbage.bodies.push(body);
                        garbage.workers.push(worker);
                        msg = Err(e);
                    }
                    Ok(v) => {
                        let arg = if v.is_exit_value() {
                            garbage.outcomes.push(Ok(v));
                            None
                        } else {
                            Some(v)
                        };
                        self.current = target;
                        let inner = Arc::clone(inner);
                        let id = target;
                        worker.run(Box::new(move || run_body(inner, id, body, arg)));
                        return Step::Handed;
                    }
                },
                Phase::Started => {
                    rec.inbox = Some(msg);
                    rec.cv.notify_one();
                    self.current = target;
                    return Step::Handed;
                }
                Phase::Dead => unreachable!("handled above"),
            }
        }
    }

    /// Drops one reference to `id`, releasing whatever reaches zero (see the crate doc).
    fn dec_ref(&mut self, id: Id, garbage: &mut Garbage<V>) {
        let mut work = vec![id];
        while let Some(id) = work.pop() {
            if id == MAIN {
                continue;
            }
            let current = self.current;
            let Some(rec) = self.records.get_mut(&id) else {
                continue;
            };
            rec.refs -= 1;
            if rec.refs > 0 {
                continue;
            }
            match rec.phase {
                Phase::Unstarted { .. } | Phase::Dead => {
                    let rec = self.records.remove(&id).expect("present");
                    work.extend(rec.parent);
                    garbage.records.push(rec);
                }
                Phase::Started => {
                    if id != current && !rec.kill_tried {
                        self.pending_kills.push(id);
                    }
                }
            }
        }
    }

    fn inc_ref(&mut self, id: Id) {
        if let Some(rec) = self.records.get_mut(&id) {
            rec.refs += 1;
        }
    }

    /// Prepares the kill of suspended `id`: reparent to current, take a temporary reference.
    /// `None`: nothing to kill. `Some(old)`: the old parent, whose reference (the parent link
    /// just replaced) the caller still holds and must release with `dec_ref`.
    fn prepare_kill(&mut self, id: Id) -> Option<Option<Id>> {
        let current = self.current;
        let rec = self.records.get_mut(&id)?;
        if !matches!(rec.phase, Phase::Started) || id == current {
            return None;
        }
        rec.kill_tried = true;
        rec.refs += 1;
        let old = rec.parent.replace(current);
        self.inc_ref(current);
        Some(old)
    }
}

fn lock<V: Payload>(inner: &Inner<V>) -> MutexGuard<'_, HubState<V>> {
    inner.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// A greenlet's whole life on its worker thread.
fn run_body<V: Payload>(inner: Arc<Inner<V>>, id: Id, body: Body<ThreadHub<V>, V>, arg: Option<V>) {
    let hub = ThreadHub {
        inner: Arc::clone(&inner),
        counted: false,
    };
    let result = catch_unwind(AssertUnwindSafe(move || body(&hub, arg)));
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(payload) if payload.is::<Abandon>() => return,
        Err(payload) => Err(V::panic_error(panic_message(&*payload))),
    };
    // The body finished: it dies and its outcome goes to its parent chain.
    let mut garbage = Garbage::new();
    {
        let mut st = lock(&inner);
        if st.closed || !st.records.contains_key(&id) {
            return;
        }
        st.rec(id).phase = Phase::Dead;
        let step = st.route(&inner, id, outcome, &mut garbage);
        debug_assert!(matches!(step, Step::Handed));
        if st.rec(id).refs == 0 {
            let rec = st.records.remove(&id).expect("present");
            if let Some(p) = rec.parent {
                st.dec_ref(p, &mut garbage);
            }
            garbage.records.push(rec);
        }
    }
    drop(garbage);
}

impl<V: Payload> ThreadHub<V> {
    fn handle(&self, st: &mut HubState<V>, id: Id) -> Greenlet<V> {
        st.inc_ref(id);
        Greenlet {
            inner: Arc::clone(&self.inner),
            id,
        }
    }

    fn check(&self, g: &Greenlet<V>) {
        assert!(
            Arc::ptr_eq(&self.inner, &g.inner),
            "switchyard-oracle: a greenlet handle used with another hub"
        );
    }

    /// Switch or throw on behalf of the current greenlet.
    fn transfer(&self, target: &Greenlet<V>, msg: Outcome<V>) -> Outcome<V> {
        self.check(target);
        let mut garbage = Garbage::new();
        let mut st = lock(&self.inner);
        if st.closed {
            return Err(V::exit_error());
        }
        if !st.on_current_thread() {
            drop(st);
            panic!(
                "switchyard-oracle: switch/throw from a thread that is not the current greenlet's"
            );
        }
        let me = st.current;
        match st.route(&self.inner, target.id, msg, &mut garbage) {
            Step::Immediate(m) => {
                drop(st);
                drop(garbage);
                return m;
            }
            Step::Handed => {}
        }
        // Suspended now: if nothing refers to us any more, the greenlet that runs next kills us.
        let rec = st.rec(me);
        if me != MAIN && rec.refs == 0 && !rec.kill_tried {
            st.pending_kills.push(me);
        }
        let cv = Arc::clone(&st.rec(me).cv);
        drop(st);
        drop(garbage);
        let mut st = lock(&self.inner);
        let got = loop {
            match st.records.get_mut(&me) {
                Some(rec) => {
                    if let Some(w) = rec.inbox.take() {
                        break w;
                    }
                }
                None if me == MAIN => break Err(V::exit_error()),
                None => {
                    // The hub closed while we were suspended: release this thread.
                    drop(st);
                    resume_unwind(Box::new(Abandon));
                }
            }
            st = cv.wait(st).unwrap_or_else(|e| e.into_inner());
        };
        drop(st);
        self.run_pending_kills();
        got
    }

    /// Kills queued greenlets, if the calling thread is the current greenlet's.
    fn run_pending_kills(&self) {
        loop {
            let victim = {
                let mut st = lock(&self.inner);
                if st.closed || !st.on_current_thread() {
                    return;
                }
                let Some(id) = st.pending_kills.pop() else {
                    return;
                };
                let still_unreferenced = st
                    .records
                    .get(&id)
                    .is_some_and(|r| r.refs == 0 && !r.kill_tried);
                if !still_unreferenced {
                    continue;
                }
                st.prepare_kill(id).map(|old_parent| {
                    let g = Greenlet {
                        inner: Arc::clone(&self.inner),
                        id,
                    };
                    (g, old_parent)
                })
            };
            if let Some((g, old_parent)) = victim {
                let _ = self.throw(&g, V::exit_error());
                drop(g);
                // As CPython's kill (`ParentIsCurrentGuard`), the old parent stays referenced
                // until the kill is over: a greenlet held only through the victim's parent link
                // is released (and killed, if suspended) after the victim, not before it.
                if let Some(old) = old_parent {
                    let mut garbage = Garbage::new();
                    lock(&self.inner).dec_ref(old, &mut garbage);
                    drop(garbage);
                }
            }
        }
    }

    /// The last counted clone is gone: kill what is suspended, then close.
    fn teardown(&self) {
        let mut id = 1;
        loop {
            let mut garbage = Garbage::new();
            let victim = {
                let mut st = lock(&self.inner);
                if st.closed || !st.on_current_thread() || id >= st.next_id {
                    break;
                }
                match st.prepare_kill(id) {
                    Some(old_parent) => {
                        if let Some(old) = old_parent {
                            st.dec_ref(old, &mut garbage);
                        }
                        Some(Greenlet {
                            inner: Arc::clone(&self.inner),
                            id,
                        })
                    }
                    None => None,
                }
            };
            drop(garbage);
            if let Some(g) = victim {
                let _ = self.throw(&g, V::exit_error());
                drop(g);
            }
            id += 1;
        }
        let records = {
            let mut st = lock(&self.inner);
            st.closed = true;
            st.pending_kills.clear();
            let records = std::mem::take(&mut st.records);
            for rec in records.values() {
                rec.cv.notify_all();
            }
            records
        };
        drop(records);
    }
}

impl<V: Payload> Clone for ThreadHub<V> {
    fn clone(&self) -> Self {
        self.inner.users.fetch_add(1, Ordering::SeqCst);
        ThreadHub {
            inner: Arc::clone(&self.inner),
            counted: true,
        }
    }
}

impl<V: Payload> Drop for ThreadHub<V> {
    fn drop(&mut self) {
        if self.counted && self.inner.users.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.teardown();
        }
    }
}

impl<V: Payload> fmt::Debug for ThreadHub<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadHub")
            .field("counted", &self.counted)
            .finish_non_exhaustive()
    }
}

impl<V: Payload> Greenlet<V> {
    /// The greenlet's id within its hub (main is 0, then spawn order).
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl<V: Payload> Clone for Greenlet<V> {
    fn clone(&self) -> Self {
        lock(&self.inner).inc_ref(self.id);
        Greenlet {
            inner: Arc::clone(&self.inner),
            id: self.id,
        }
    }
}

impl<V: Payload> Drop for Greenlet<V> {
    fn drop(&mut self) {
        let mut garbage = Garbage::new();
        let kill_now = {
            let mut st = lock(&self.inner);
            if st.closed {
                return;
            }
            st.dec_ref(self.id, &mut garbage);
            !st.pending_kills.is_empty() && st.on_current_thread()
        };
        drop(garbage);
        if kill_now {
            let hub = ThreadHub {
                inner: Arc::clone(&self.inner),
                counted: false,
            };
            hub.run_pending_kills();
        }
    }
}

impl<V: Payload> PartialEq for Greenlet<V> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner) && self.id == other.id
    }
}

impl<V: Payload> Eq for Greenlet<V> {}

impl<V: Payload> fmt::Debug for Greenlet<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Greenlet#{}", self.id)
    }
}

impl<V: Payload> Hub<V> for ThreadHub<V> {
    type Greenlet = Greenlet<V>;

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
                kill_tried: false,
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
                kill_tried: false,
            },
        );
        Ok(self.handle(&mut st, id))
    }

    fn switch(&self, target: &Greenlet<V>, value: V) -> Outcome<V> {
        self.transfer(target, Ok(value))
    }

    fn throw(&self, target: &Greenlet<V>, error: V::Error) -> Outcome<V> {
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
}

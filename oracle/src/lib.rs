//! switchyard-oracle: the thread-handoff reference backend.
//!
//! Every greenlet body runs on an OS thread of its own (taken from a pool of parked workers,
//! see [`pool`]); exactly one of them runs at a time. All hub state lives in one `Mutex`
//! (`HubState`): the greenlet records (parent, phase, reference count, inbox) and the id of
//! the current greenlet. A switch routes the message under the lock (walking past dead
//! greenlets, killing unstarted ones hit by an error, starting an unstarted one or filling a
//! suspended one's inbox), makes the target current, releases the lock, sets the target running
//! (wakes its thread, or hands an unstarted one's body to its worker), and then waits on its own
//! `Condvar` until its own inbox is filled. Nothing is busy-waited and no thread-locals are used.
//!
//! # Handles, kills and teardown
//!
//! The rule is CPython greenlet 3.5.6's deallocation (`docs/language.md`, "drop"), implemented
//! here independently of the native runtime. A [`Greenlet`] handle counts as one reference; so
//! does every parent link (a greenlet referenced only as another's parent stays alive, as in
//! CPython), being the current greenlet, each kill of it in progress, and being a zombie.
//! Handles held inside the hub never exist: the hub refers to greenlets by id only; weak
//! handles ([`WeakGreenlet`]) do not count, and `switch`/`throw` stop counting the caller's
//! handle while the caller is suspended (unless it is the last reference). When a greenlet's
//! count reaches zero:
//! - unstarted: its record is freed and its body dropped without running;
//! - dead: its record is freed (and its parent link released);
//! - suspended: it is killed at once by the current greenlet: its parent is set to the current
//!   greenlet (the old parent link is kept aside, still counted), the payload's kill error is
//!   thrown into it, whatever comes back is discarded (an error goes to the unraisable hook),
//!   and the old parent is put back. Then, unreferenced, it is freed if dead, or becomes a
//!   zombie if still suspended: referenced for good, never killed again (CPython's
//!   "GreenletExit did not kill"). The kill runs at once if the last reference went on the
//!   current greenlet's own thread, otherwise it is queued and run by the next greenlet that
//!   resumes;
//! - running: nothing yet; when it switches away, the greenlet that runs next kills it before
//!   its own switch returns (or its body starts).
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
//!
//! Layout: this file holds the types, the baton hand-over and the handles; `route` the state
//! machine under the lock (routing, reference counts, kills); `hub` the [`Hub`] trait's calls;
//! `pool` the parked worker threads.
#![forbid(unsafe_code)]

mod hub;
pub mod pool;
mod route;

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, ThreadId};

use switchyard_greenlet::{
    panic_message, BackendError, Body, Hub, HubConfig, Outcome, ParentError, Payload, State,
    UnraisableHook,
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
    /// Kills of this greenlet in progress (each one a reference while it lasts).
    killing: u32,
    /// Survived its kill while unreferenced: referenced for good, never killed again.
    zombie: bool,
}

impl<V: Payload> Record<V> {
    /// Whether something other than handles and parent links refers to it (being current is
    /// checked by the caller).
    fn held(&self) -> bool {
        self.killing > 0 || self.zombie
    }
}

/// The installed unraisable hook, cloned out of its lock to be called.
type SharedHook<V> = Arc<UnraisableHook<ThreadHub<V>, V>>;

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
    outcomes: Vec<Outcome<V>>,
    records: Vec<Record<V>>,
}

impl<V: Payload> Garbage<V> {
    fn new() -> Self {
        Garbage {
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
    hook: Mutex<Option<SharedHook<V>>>,
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
    /// Whether this handle is one of the greenlet's references (a handle given to `switch` or
    /// `throw` stops being one while the caller is suspended).
    counted: bool,
}

/// A weak handle to one greenlet of a [`ThreadHub`]: not a reference.
pub struct WeakGreenlet<V: Payload> {
    inner: std::sync::Weak<Inner<V>>,
    id: Id,
}

impl<V: Payload> Clone for WeakGreenlet<V> {
    fn clone(&self) -> Self {
        WeakGreenlet {
            inner: self.inner.clone(),
            id: self.id,
        }
    }
}

impl<V: Payload> PartialEq for WeakGreenlet<V> {
    fn eq(&self, other: &Self) -> bool {
        self.inner.ptr_eq(&other.inner) && self.id == other.id
    }
}

impl<V: Payload> fmt::Debug for WeakGreenlet<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WeakGreenlet#{}", self.id)
    }
}

/// Where a routed switch ended up.
enum Step<V: Payload> {
    /// The target is the current greenlet: the switch returns this at once.
    Immediate(Outcome<V>),
    /// Another greenlet is now current (started or resumed); the switching thread passes it
    /// the baton once it has released the lock.
    Handed(Baton),
}

/// How the greenlet a switch made current is set running. Passed by the switching thread
/// after it has released the hub's lock, so that the woken thread does not find the lock
/// still held (and sleep on it once more) before it can look at its inbox.
#[must_use = "the greenlet made current must be set running"]
enum Baton {
    /// A suspended greenlet, whose inbox is filled: wake its thread.
    Resume(Arc<Condvar>),
    /// An unstarted greenlet: hand its worker thread its whole life.
    Start(Worker, pool::Job),
}

impl Baton {
    fn pass(self) {
        match self {
            // The inbox was filled under the lock, and a waiting thread looks at its inbox
            // under the lock before each wait: waking it after the lock is released loses
            // nothing.
            Baton::Resume(cv) => cv.notify_one(),
            Baton::Start(worker, job) => worker.run(job),
        }
    }
}

fn lock<V: Payload>(inner: &Inner<V>) -> MutexGuard<'_, HubState<V>> {
    inner.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// A greenlet's whole life on its worker thread. `start`: its start value, or the error that
/// reached it unstarted (it dies with that error, the body never runs).
fn run_body<V: Payload>(
    inner: Arc<Inner<V>>,
    id: Id,
    body: Body<ThreadHub<V>, V>,
    start: Result<Option<V>, V::Error>,
) {
    let hub = ThreadHub {
        inner: Arc::clone(&inner),
        counted: false,
    };
    let result = catch_unwind(AssertUnwindSafe(move || {
        // The greenlet that started this one may have lost its last reference by switching.
        hub.run_pending_kills();
        match start {
            Ok(arg) => body(&hub, arg),
            Err(e) => {
                drop(body);
                Err(e)
            }
        }
    }));
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
        let baton = match st.route(&inner, id, outcome, &mut garbage) {
            Step::Handed(baton) => baton,
            // A dead greenlet is never current after routing (it is walked past).
            Step::Immediate(_) => unreachable!("a body's end routed back to itself"),
        };
        if st.rec(id).refs == 0 && !st.rec(id).held() {
            let rec = st.records.remove(&id).expect("present");
            if let Some(p) = rec.parent {
                st.dec_ref(p, &mut garbage);
            }
            garbage.records.push(rec);
        }
        drop(st);
        baton.pass();
    }
    drop(garbage);
}

impl<V: Payload> ThreadHub<V> {
    fn handle(&self, st: &mut HubState<V>, id: Id) -> Greenlet<V> {
        st.inc_ref(id);
        Greenlet {
            inner: Arc::clone(&self.inner),
            id,
            counted: true,
        }
    }

    /// Hands a swallowed error to the unraisable hook, if one is installed.
    fn unraisable(&self, error: &V::Error) {
        let hook = self
            .inner
            .hook
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(hook) = hook {
            let hub = ThreadHub {
                inner: Arc::clone(&self.inner),
                counted: false,
            };
            hook(&hub, error);
        }
    }

    fn check(&self, g: &Greenlet<V>) {
        assert!(
            Arc::ptr_eq(&self.inner, &g.inner),
            "switchyard-oracle: a greenlet handle used with another hub"
        );
    }

    /// Switch or throw on behalf of the current greenlet.
    fn transfer(&self, mut target: Greenlet<V>, msg: Outcome<V>) -> Outcome<V> {
        self.check(&target);
        let mut garbage = Garbage::new();
        let mut st = lock(&self.inner);
        if st.closed {
            return Err(V::exit_error());
        }
        // The caller's handle stops being a reference now, unless it is the last one (then
        // the suspended caller keeps it, as a Python-level `g.switch()` does).
        if let Some(rec) = st.records.get_mut(&target.id) {
            if target.counted && rec.refs > 1 {
                rec.refs -= 1;
                target.counted = false;
            }
        }
        if !st.on_current_thread() {
            drop(st);
            panic!(
                "switchyard-oracle: switch/throw from a thread that is not the current greenlet's"
            );
        }
        let me = st.current;
        let baton = match st.route(&self.inner, target.id, msg, &mut garbage) {
            Step::Immediate(m) => {
                drop(st);
                drop(garbage);
                drop(target);
                return m;
            }
            Step::Handed(baton) => baton,
        };
        // Suspended now: if nothing refers to us any more, the greenlet that runs next kills us.
        let rec = st.rec(me);
        if me != MAIN && rec.refs == 0 && !rec.held() {
            st.pending_kills.push(me);
        }
        let cv = Arc::clone(&st.rec(me).cv);
        drop(st);
        baton.pass();
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
        drop(target);
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
                let current = st.current;
                let still_unreferenced = st
                    .records
                    .get(&id)
                    .is_some_and(|r| r.refs == 0 && !r.held() && id != current);
                if !still_unreferenced {
                    continue;
                }
                id
            };
            self.kill(victim);
        }
    }

    /// Kills suspended `id` on behalf of the current greenlet (see the crate doc).
    fn kill(&self, id: Id) {
        let Some(old) = lock(&self.inner).prepare_kill(id) else {
            return;
        };
        let victim = Greenlet {
            inner: Arc::clone(&self.inner),
            id,
            counted: false,
        };
        if let Err(e) = self.transfer(victim, Err(V::kill_error())) {
            self.unraisable(&e);
        }
        let mut garbage = Garbage::new();
        lock(&self.inner).finish_kill(id, old, &mut garbage);
        drop(garbage);
        self.run_pending_kills();
    }

    /// The last counted clone is gone: kill what is suspended, then close.
    fn teardown(&self) {
        let mut id = 1;
        loop {
            {
                let mut st = lock(&self.inner);
                if st.closed || !st.on_current_thread() || id >= st.next_id {
                    break;
                }
                if let Some(rec) = st.records.get_mut(&id) {
                    rec.zombie = false;
                }
            }
            self.kill(id);
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
            counted: true,
        }
    }
}

impl<V: Payload> Drop for Greenlet<V> {
    fn drop(&mut self) {
        if !self.counted {
            return;
        }
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

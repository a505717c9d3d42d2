//! The generic greenlet runtime: greenlet 3.x semantics implemented once, over any
//! [`StackSwitch`] backend.
//!
//! [`Runtime<S, V>`] is a [`Hub<V>`] for the calling OS thread. It keeps every greenlet's record
//! (state, parent, context, body) in a per-thread table; greenlet handles ([`Greenlet`]) are
//! `Arc`s of a small token (slot number, hub serial, owning thread) and carry no mutable state,
//! so they are `Send` and cheap to clone. Using a handle with a hub it does not belong to (for
//! instance on another thread) panics before anything is switched or changed.
//!
//! Lifetime rules (CPython greenlet's garbage-collection semantics):
//! - parent links are strong: a greenlet's record holds a handle to its parent;
//! - when the last handle to a *suspended* greenlet is dropped on its own thread, the runtime
//!   kills it: its parent becomes the current greenlet and GreenletExit is thrown into it; the
//!   outcome is discarded. A greenlet that survives that (it caught GreenletExit and suspended
//!   again) is left alone until the hub goes away. A handle dropped on another thread does
//!   nothing: that greenlet is dealt with when its hub goes away;
//! - a greenlet whose last handle is dropped while it is running is killed as soon as it
//!   suspends;
//! - when the last [`Runtime`] handle of a thread goes away (on the main greenlet), every
//!   greenlet still suspended is killed the same way (parent := main, up to three passes), then
//!   every context and stack is freed. A greenlet that still refuses to die after that has its
//!   stack deliberately leaked (never unmapped), which is memory-safe.
//!
//! One hub per OS thread: [`Hub::new`] on a thread with a live hub of the same backend and
//! payload returns another handle to that hub (the new config is then ignored); if the live
//! hub is of another backend or payload, it fails with a [`BackendError`], because two hubs
//! interleaving their switches on one thread could resume one another's stacks out of order.

use crate::greenlet::{BackendError, Body, Hub, HubConfig, Outcome, ParentError, Payload, State};
use crate::switch::StackSwitch;
use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::ThreadId;

/// The main greenlet's slot in every hub.
const MAIN: u32 = 0;

/// How many kill passes the hub makes over still-suspended greenlets when it goes away.
const TEARDOWN_PASSES: usize = 3;

static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

/// What a greenlet handle points to: immutable identity, no state.
struct Token {
    slot: u32,
    hub: u64,
    thread: ThreadId,
}

impl Drop for Token {
    fn drop(&mut self) {
        release_token(self.hub, self.thread, self.slot);
    }
}

/// A reference-counted handle to one greenlet of a [`Runtime`]. Equality is identity.
#[derive(Clone)]
pub struct Greenlet {
    token: Arc<Token>,
}

impl PartialEq for Greenlet {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.token, &other.token)
    }
}

impl Eq for Greenlet {}

impl fmt::Debug for Greenlet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Greenlet(hub {}, slot {})",
            self.token.hub, self.token.slot
        )
    }
}

/// The type-erased view of a hub that handle drops and `Hub::new` use through the thread-local
/// registry.
trait ErasedHub: Any {
    /// Called when the last handle to `slot` was dropped on this thread; consumes the strong
    /// reference the registry lookup made (dropping it like a [`Runtime`] handle).
    fn release_then_drop(self: Rc<Self>, slot: u32);
    fn into_any(self: Rc<Self>) -> Rc<dyn Any>;
    fn kind(&self) -> TypeId;
    fn serial(&self) -> u64;
}

thread_local! {
    /// The live hub of this thread, if any.
    static THREAD_HUB: RefCell<Option<Weak<dyn ErasedHub>>> = const { RefCell::new(None) };
}

fn release_token(hub: u64, _thread: ThreadId, slot: u32) {
    // Only this thread's live hub with the handle's serial owns the slot; a handle dropped on
    // another thread (or after its hub went away) does nothing here: its greenlet is dealt
    // with when its hub goes away.
    let strong = THREAD_HUB
        .try_with(|cell| {
            let weak = cell.try_borrow().ok()?.as_ref()?.clone();
            weak.upgrade()
        })
        .ok()
        .flatten();
    let Some(strong) = strong else { return };
    if strong.serial() == hub {
        strong.release_then_drop(slot);
    } else {
        drop_erased(strong);
    }
}

/// Drops a strong reference obtained from the registry without skipping the teardown a last
/// `Runtime` handle performs.
fn drop_erased(strong: Rc<dyn ErasedHub>) {
    strong.release_then_drop(u32::MAX);
}

/// What a switch carries.
enum Transfer<V: Payload> {
    Value(V),
    Error(V::Error),
    /// Start an unstarted greenlet with no value (greenlet's GreenletExit quirk).
    NoArg,
}

impl<V: Payload> Transfer<V> {
    fn into_outcome(self) -> Outcome<V> {
        match self {
            Transfer::Value(v) => Ok(v),
            Transfer::Error(e) => Err(e),
            Transfer::NoArg => Ok(V::exit_value()),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    Free,
    Unstarted,
    /// Running if it is the hub's current greenlet, suspended otherwise.
    Started,
    Dead,
}

struct Rec<S: StackSwitch, V: Payload> {
    token: std::sync::Weak<Token>,
    state: St,
    parent: Option<Greenlet>,
    /// Owned (from `Box::into_raw`); null when freed or not yet made.
    ctx: *mut S::Context,
    body: Option<Body<Runtime<S, V>, V>>,
    /// Its last handle is gone.
    orphan: bool,
    /// A kill on behalf of a dropped handle was tried once already.
    kill_tried: bool,
}

impl<S: StackSwitch, V: Payload> Rec<S, V> {
    fn free() -> Self {
        Rec {
            token: std::sync::Weak::new(),
            state: St::Free,
            parent: None,
            ctx: std::ptr::null_mut(),
            body: None,
            orphan: false,
            kill_tried: false,
        }
    }
}

struct Inner<S: StackSwitch, V: Payload> {
    serial: u64,
    thread: ThreadId,
    config: HubConfig,
    recs: RefCell<Vec<Rec<S, V>>>,
    free_slots: RefCell<Vec<u32>>,
    current: Cell<u32>,
    /// The greenlet that switched to the one running now.
    prev: Cell<u32>,
    transfer: Cell<Option<Transfer<V>>>,
    /// A greenlet that has just died: its context is freed by whoever runs next.
    dying: Cell<Option<u32>>,
    /// How many records have `orphan` set: while none has (and nothing is `dying`), a
    /// resumed greenlet has no housekeeping to do (see `after_switch`).
    orphans: Cell<u32>,
    /// Slots whose last handle went away, waiting to be processed.
    pending: RefCell<Vec<u32>>,
    draining: Cell<bool>,
    tearing_down: Cell<bool>,
    main_token: RefCell<Option<Arc<Token>>>,
    _not_send: PhantomData<*mut ()>,
}

/// A generic greenlet hub over the stack-switching backend `S`, carrying payload `V`.
///
/// Construct it with [`Hub::new`] (e.g. `Runtime::<Mmap, MyPayload>::new(&HubConfig::default())`).
/// Clones are handles to the same per-thread hub; the last one to go (on the main greenlet)
/// kills every suspended greenlet and frees every stack.
pub struct Runtime<S: StackSwitch, V: Payload> {
    inner: Rc<Inner<S, V>>,
}

impl<S: StackSwitch, V: Payload> Clone for Runtime<S, V> {
    fn clone(&self) -> Self {
        Runtime {
            inner: self.inner.clone(),
        }
    }
}

impl<S: StackSwitch, V: Payload> fmt::Debug for Runtime<S, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Runtime<{}>(hub {})",
            std::any::type_name::<S>(),
            self.inner.serial
        )
    }
}

impl<S: StackSwitch, V: Payload> Drop for Runtime<S, V> {
    fn drop(&mut self) {
        if Rc::strong_count(&self.inner) != 1 || self.inner.tearing_down.get() {
            return;
        }
        if self.inner.current.get() != MAIN {
            // The last handle went away inside a greenlet: the running stack cannot be freed.
            // Keep the hub alive for good instead (a leak, never a use after free).
            std::mem::forget(self.inner.clone());
            return;
        }
        self.inner.teardown();
    }
}

impl<S: StackSwitch, V: Payload> ErasedHub for Inner<S, V> {
    fn release_then_drop(self: Rc<Self>, slot: u32) {
        let hub = Runtime { inner: self };
        if slot != u32::MAX {
            hub.inner.release(slot);
        }
    }
    fn into_any(self: Rc<Self>) -> Rc<dyn Any> {
        self
    }
    fn kind(&self) -> TypeId {
        TypeId::of::<Self>()
    }
    fn serial(&self) -> u64 {
        self.serial
    }
}

impl<S: StackSwitch, V: Payload> Inner<S, V> {
    fn check(&self, g: &Greenlet) -> u32 {
        if g.token.hub != self.serial {
            if g.token.thread != self.thread {
                panic!(
                    "switchyard: greenlet handle used on thread {:?}, but it belongs to a hub of \
                     thread {:?}; greenlets can only be used on their own thread",
                    self.thread, g.token.thread
                );
            }
            panic!("switchyard: greenlet handle used with a hub it does not belong to");
        }
        g.token.slot
    }

    fn state_of(&self, slot: u32) -> St {
        self.recs.borrow()[slot as usize].state
    }

    fn parent_slot(&self, slot: u32) -> u32 {
        match &self.recs.borrow()[slot as usize].parent {
            Some(p) => p.token.slot,
            None => MAIN,
        }
    }

    /// A handle to `slot`, making a new token if the greenlet had lost all its handles.
    fn handle(&self, slot: u32) -> Greenlet {
        if slot == MAIN {
            let token = self
                .main_token
                .borrow()
                .as_ref()
                .expect("main token")
                .clone();
            return Greenlet { token };
        }
        let mut recs = self.recs.borrow_mut();
        let rec = &mut recs[slot as usize];
        if let Some(token) = rec.token.upgrade() {
            return Greenlet { token };
        }
        let token = Arc::new(Token {
            slot,
            hub: self.serial,
            thread: self.thread,
        });
        rec.token = Arc::downgrade(&token);
        if rec.orphan {
            rec.orphan = false;
            self.orphans.set(self.orphans.get() - 1);
        }
        rec.kill_tried = false;
        Greenlet { token }
    }

    /// Walks from `dest` to the greenlet that will receive `payload` (greenlet's parent-chain
    /// rules). `Err` gives the outcome when that greenlet is the current one.
    fn resolve(
        &self,
        mut dest: u32,
        mut payload: Transfer<V>,
    ) -> Result<(u32, Transfer<V>), Outcome<V>> {
        let cur = self.current.get();
        loop {
            while self.state_of(dest) == St::Dead {
                dest = self.parent_slot(dest);
            }
            if dest == cur {
                return Err(payload.into_outcome());
            }
            if self.state_of(dest) != St::Unstarted {
                return Ok((dest, payload));
            }
            match payload {
                Transfer::Error(e) => {
                    // An error reaching an unstarted greenlet kills it without running it.
                    let ctx = {
                        let mut recs = self.recs.borrow_mut();
                        let rec = &mut recs[dest as usize];
                        rec.state = St::Dead;
                        std::mem::replace(&mut rec.ctx, std::ptr::null_mut())
                    };
                    if !ctx.is_null() {
                        // SAFETY: `ctx` came from `Box::into_raw` in `spawn` and was never
                        // switched to (the greenlet was unstarted), so nothing runs on it.
                        drop(unsafe { Box::from_raw(ctx) });
                    }
                    payload = if V::is_exit(&e) {
                        Transfer::Value(V::exit_value())
                    } else {
                        Transfer::Error(e)
                    };
                    dest = self.parent_slot(dest);
                }
                Transfer::Value(v) if v.is_exit_value() => return Ok((dest, Transfer::NoArg)),
                other => return Ok((dest, other)),
            }
        }
    }

    /// Suspends the current greenlet and resumes `dest` (not current, unstarted or suspended)
    /// with `payload`; returns what the current greenlet is resumed with.
    fn switch_to(&self, dest: u32, payload: Transfer<V>) -> Outcome<V> {
        let cur = self.current.get();
        let (from, to) = {
            let mut recs = self.recs.borrow_mut();
            if recs[dest as usize].state == St::Unstarted {
                recs[dest as usize].state = St::Started;
            }
            (recs[cur as usize].ctx, recs[dest as usize].ctx)
        };
        self.switch_contexts(cur, dest, from, to, payload)
    }

    /// The switch itself: `from` is `cur`'s context, `to` that of `dest`, which is marked
    /// started already.
    #[inline(always)]
    fn switch_contexts(
        &self,
        cur: u32,
        dest: u32,
        from: *mut S::Context,
        to: *mut S::Context,
        payload: Transfer<V>,
    ) -> Outcome<V> {
        self.transfer.set(Some(payload));
        self.prev.set(cur);
        self.current.set(dest);
        // SAFETY: `from` is the running greenlet's boxed context, `to` another live boxed
        // context of this thread that is new or suspended in `switch`; both stay boxed and
        // alive while either is suspended (contexts are freed only when dead, by another
        // context, or at teardown after every kill).
        unsafe { S::switch(from, to, false) };
        let got = self.transfer.take().expect("switch delivered nothing");
        self.after_switch();
        got.into_outcome()
    }

    /// Housekeeping done by the context that has just been resumed, before user code runs.
    #[inline(always)]
    fn after_switch(&self) {
        if self.dying.get().is_some() || self.orphans.get() != 0 {
            self.after_switch_slow();
        }
    }

    #[inline(never)]
    fn after_switch_slow(&self) {
        if let Some(dead) = self.dying.take() {
            let (ctx, orphan) = {
                let mut recs = self.recs.borrow_mut();
                let rec = &mut recs[dead as usize];
                (
                    std::mem::replace(&mut rec.ctx, std::ptr::null_mut()),
                    rec.orphan,
                )
            };
            if !ctx.is_null() {
                // SAFETY: the dead greenlet switched away for good (`from_dying`), we run in
                // another context, and the pointer came from `Box::into_raw`.
                drop(unsafe { Box::from_raw(ctx) });
            }
            if orphan {
                self.release(dead);
            }
        } else {
            let prev = self.prev.get();
            let needs_kill = {
                let recs = self.recs.borrow();
                let rec = &recs[prev as usize];
                prev != self.current.get()
                    && rec.orphan
                    && rec.state == St::Started
                    && !rec.kill_tried
            };
            if needs_kill {
                self.release(prev);
            }
        }
    }

    fn deliver(&self, target: u32, payload: Transfer<V>) -> Outcome<V> {
        // Fast path, every switch to a suspended greenlet: nothing to resolve, the payload
        // goes as it is, and one borrow finds both contexts.
        let cur = self.current.get();
        let suspended = {
            let recs = self.recs.borrow();
            let rec = &recs[target as usize];
            if target != cur && rec.state == St::Started {
                Some((recs[cur as usize].ctx, rec.ctx))
            } else {
                None
            }
        };
        if let Some((from, to)) = suspended {
            return self.switch_contexts(cur, target, from, to, payload);
        }
        match self.resolve(target, payload) {
            Err(outcome) => outcome,
            Ok((dest, payload)) => self.switch_to(dest, payload),
        }
    }

    /// The current greenlet's body has ended with `result`: it dies and its result goes to its
    /// parent chain. Never returns.
    fn die(&self, result: Outcome<V>) -> ! {
        let cur = self.current.get();
        let payload = match result {
            Ok(v) => Transfer::Value(v),
            Err(e) if V::is_exit(&e) => Transfer::Value(V::exit_value()),
            Err(e) => Transfer::Error(e),
        };
        self.recs.borrow_mut()[cur as usize].state = St::Dead;
        let parent = self.parent_slot(cur);
        let (dest, payload) = match self.resolve(parent, payload) {
            Ok(x) => x,
            Err(_) => unreachable!("a dead greenlet is never the current one"),
        };
        let (from, to) = {
            let mut recs = self.recs.borrow_mut();
            if recs[dest as usize].state == St::Unstarted {
                recs[dest as usize].state = St::Started;
            }
            (recs[cur as usize].ctx, recs[dest as usize].ctx)
        };
        self.transfer.set(Some(payload));
        self.prev.set(cur);
        self.current.set(dest);
        self.dying.set(Some(cur));
        // SAFETY: as in `switch_to`; in addition `from` is dying: nothing on this stack is
        // used again (this frame holds no value that needs dropping) and it is freed by the
        // context we resume (`after_switch`).
        unsafe { S::switch(from, to, true) };
        // A dead context is never resumed; if a backend did, nothing sane can follow.
        std::process::abort()
    }

    /// The last handle to `slot` went away (or its kill became possible): free or kill it.
    fn release(&self, slot: u32) {
        if self.tearing_down.get() {
            return;
        }
        self.pending.borrow_mut().push(slot);
        if self.draining.get() {
            return;
        }
        self.draining.set(true);
        loop {
            let next = self.pending.borrow_mut().pop();
            let Some(slot) = next else { break };
            self.process_release(slot);
        }
        self.draining.set(false);
    }

    fn process_release(&self, slot: u32) {
        let state = {
            let mut recs = self.recs.borrow_mut();
            let rec = &mut recs[slot as usize];
            if rec.state == St::Free || rec.token.strong_count() > 0 {
                return;
            }
            if !rec.orphan {
                rec.orphan = true;
                self.orphans.set(self.orphans.get() + 1);
            }
            rec.state
        };
        match state {
            St::Free => {}
            St::Unstarted | St::Dead => {
                if self.dying.get() != Some(slot) {
                    self.free_record(slot);
                }
            }
            St::Started => {
                let tried = self.recs.borrow()[slot as usize].kill_tried;
                if slot == self.current.get() || tried {
                    return; // killed once it suspends (see `after_switch`), or left alone
                }
                self.kill(slot);
                let (dead, still_orphan) = {
                    let recs = self.recs.borrow();
                    let rec = &recs[slot as usize];
                    (rec.state == St::Dead, rec.token.strong_count() == 0)
                };
                if dead && still_orphan && self.dying.get() != Some(slot) {
                    self.free_record(slot);
                }
            }
        }
    }

    /// parent := current; throw GreenletExit into `slot`; discard the outcome.
    fn kill(&self, slot: u32) {
        let cur = self.current.get();
        let new_parent = self.handle(cur);
        let old = {
            let mut recs = self.recs.borrow_mut();
            let rec = &mut recs[slot as usize];
            rec.kill_tried = true;
            rec.parent.replace(new_parent)
        };
        drop(old);
        if self.state_of(slot) == St::Started {
            let _ = self.deliver(slot, Transfer::Error(V::exit_error()));
        }
    }

    fn free_record(&self, slot: u32) {
        let (body, parent, ctx) = {
            let mut recs = self.recs.borrow_mut();
            let rec = &mut recs[slot as usize];
            let ctx = std::mem::replace(&mut rec.ctx, std::ptr::null_mut());
            let body = rec.body.take();
            let parent = rec.parent.take();
            if rec.orphan {
                self.orphans.set(self.orphans.get() - 1);
            }
            *rec = Rec::free();
            (body, parent, ctx)
        };
        self.free_slots.borrow_mut().push(slot);
        if !ctx.is_null() {
            // SAFETY: the greenlet is unstarted or dead and not `dying`, so no context runs on
            // this stack or will be resumed; the pointer came from `Box::into_raw`.
            drop(unsafe { Box::from_raw(ctx) });
        }
        drop(body);
        drop(parent);
    }

    /// Kills every still-suspended greenlet (parent := main), from the main greenlet.
    fn teardown(&self) {
        debug_assert_eq!(self.current.get(), MAIN);
        // Let releases queued by earlier kills run first.
        for _ in 0..TEARDOWN_PASSES {
            let mut any = false;
            let mut slot = 1;
            while (slot as usize) < self.recs.borrow().len() {
                if self.state_of(slot) == St::Started {
                    any = true;
                    self.recs.borrow_mut()[slot as usize].kill_tried = false;
                    self.kill(slot);
                }
                slot += 1;
            }
            if !any {
                break;
            }
        }
        self.tearing_down.set(true);
    }
}

impl<S: StackSwitch, V: Payload> Drop for Inner<S, V> {
    fn drop(&mut self) {
        self.tearing_down.set(true);
        let recs = std::mem::take(self.recs.get_mut());
        let held = recs.len();
        let mut main_ctx = std::ptr::null_mut();
        let mut rest = Vec::with_capacity(recs.len());
        for (i, mut rec) in recs.into_iter().enumerate() {
            let ctx = std::mem::replace(&mut rec.ctx, std::ptr::null_mut());
            if i as u32 == MAIN {
                main_ctx = ctx;
            } else if !ctx.is_null() {
                if rec.state == St::Started {
                    // Refused to die: its stack holds live frames that were never dropped.
                    // Leak it rather than free memory something might still point into.
                } else {
                    // SAFETY: unstarted or dead, so nothing runs on it; from `Box::into_raw`.
                    drop(unsafe { Box::from_raw(ctx) });
                }
            }
            rest.push(rec);
        }
        drop(rest);
        self.main_token.get_mut().take();
        if !main_ctx.is_null() {
            // SAFETY: the main context is the code running now; dropping its record frees no
            // stack, and it came from `Box::into_raw` in `new`.
            drop(unsafe { Box::from_raw(main_ctx) });
        }
        if held > TRIM_AFTER_GREENLETS {
            give_back_free_memory();
        }
    }
}

/// A hub that held more greenlets than this gives the allocator's free memory back to the
/// system when it goes away.
const TRIM_AFTER_GREENLETS: usize = 10_000;

/// Returns free heap memory to the system. glibc keeps freed small blocks (greenlet records,
/// bodies, stack-copy's saved stack slices) in its heap, so without this a program that had a
/// million greenlets suspended would leave the process hundreds of MiB bigger after they are
/// all gone.
fn give_back_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own heap under its own locks; it has no
    // preconditions and frees nothing that is in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The function every greenlet starts in, on its own context.
unsafe extern "C" fn entry<S: StackSwitch, V: Payload>(arg: *mut c_void) -> ! {
    // Aborts if anything below unwinds (it must not cross the stack switch).
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                b"switchyard: unwinding out of a greenlet entry\n",
            );
            std::process::abort();
        }
    }
    let bomb = Bomb;
    // SAFETY: `arg` is `Rc::as_ptr` of the hub's `Inner`, which outlives every greenlet that
    // can still run (the hub kills them all before it goes away).
    let inner: &Inner<S, V> = unsafe { &*(arg as *const Inner<S, V>) };
    let start = inner
        .transfer
        .take()
        .expect("greenlet started with nothing");
    inner.after_switch();
    let slot = inner.current.get();
    let body = inner.recs.borrow_mut()[slot as usize]
        .body
        .take()
        .expect("greenlet started without a body");
    // SAFETY: `arg` is `Rc::as_ptr` of a live `Rc<Inner>`; wrapped in `ManuallyDrop` below,
    // this makes a non-owning `Runtime` (no strong count taken, never dropped) that the body
    // borrows as `&Runtime`; a clone it makes is a real strong handle.
    let inner_rc = unsafe { Rc::from_raw(arg as *const Inner<S, V>) };
    let hub = ManuallyDrop::new(Runtime { inner: inner_rc });
    let start = match start {
        Transfer::Value(v) => Some(v),
        Transfer::NoArg => None,
        Transfer::Error(_) => unreachable!("errors never start a greenlet"),
    };
    let result = match catch_unwind(AssertUnwindSafe(move || body(&hub, start))) {
        Ok(r) => r,
        Err(panic) => {
            let message = crate::greenlet::panic_message(&*panic);
            let _ = catch_unwind(AssertUnwindSafe(move || drop(panic)));
            Err(V::panic_error(message))
        }
    };
    std::mem::forget(bomb);
    inner.die(result)
}

impl<S: StackSwitch, V: Payload> Runtime<S, V> {
    /// The configuration the hub was created with.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }
}

impl<S: StackSwitch, V: Payload> Hub<V> for Runtime<S, V> {
    type Greenlet = Greenlet;

    fn new(config: &HubConfig) -> Result<Self, BackendError> {
        let existing = THREAD_HUB.with(|cell| cell.borrow().as_ref().and_then(|w| w.upgrade()));
        if let Some(strong) = existing {
            if strong.kind() == TypeId::of::<Inner<S, V>>() {
                let inner = strong
                    .into_any()
                    .downcast::<Inner<S, V>>()
                    .unwrap_or_else(|_| unreachable!());
                return Ok(Runtime { inner });
            }
            drop_erased(strong);
            return Err(BackendError(format!(
                "switchyard: this thread already has a live greenlet hub of another backend or \
                 payload; one hub per OS thread (requested {})",
                std::any::type_name::<S>()
            )));
        }
        let serial = NEXT_SERIAL.fetch_add(1, Ordering::Relaxed);
        let thread = std::thread::current().id();
        let main_ctx = Box::into_raw(Box::new(S::main_context()));
        let main_token = Arc::new(Token {
            slot: MAIN,
            hub: serial,
            thread,
        });
        let mut main_rec = Rec::free();
        main_rec.state = St::Started;
        main_rec.ctx = main_ctx;
        main_rec.token = Arc::downgrade(&main_token);
        let inner = Rc::new(Inner {
            serial,
            thread,
            config: config.clone(),
            recs: RefCell::new(vec![main_rec]),
            free_slots: RefCell::new(Vec::new()),
            current: Cell::new(MAIN),
            prev: Cell::new(MAIN),
            transfer: Cell::new(None),
            dying: Cell::new(None),
            orphans: Cell::new(0),
            pending: RefCell::new(Vec::new()),
            draining: Cell::new(false),
            tearing_down: Cell::new(false),
            main_token: RefCell::new(Some(main_token)),
            _not_send: PhantomData,
        });
        let weak: Weak<dyn ErasedHub> = Rc::downgrade(&inner) as Weak<dyn ErasedHub>;
        THREAD_HUB.with(|cell| *cell.borrow_mut() = Some(weak));
        Ok(Runtime { inner })
    }

    fn main(&self) -> Greenlet {
        self.inner.handle(MAIN)
    }

    fn current(&self) -> Greenlet {
        self.inner.handle(self.inner.current.get())
    }

    fn spawn(
        &self,
        body: Body<Self, V>,
        parent: Option<&Greenlet>,
    ) -> Result<Greenlet, BackendError> {
        let inner = &*self.inner;
        let parent = match parent {
            Some(p) => {
                inner.check(p);
                p.clone()
            }
            None => inner.handle(inner.current.get()),
        };
        let arg = Rc::as_ptr(&self.inner) as *mut c_void;
        let ctx = S::new_context(&inner.config, entry::<S, V>, arg)?;
        let ctx = Box::into_raw(Box::new(ctx));
        let reused = inner.free_slots.borrow_mut().pop();
        let mut recs = inner.recs.borrow_mut();
        let slot = match reused {
            Some(s) => s,
            None => {
                recs.push(Rec::free());
                (recs.len() - 1) as u32
            }
        };
        let token = Arc::new(Token {
            slot,
            hub: inner.serial,
            thread: inner.thread,
        });
        recs[slot as usize] = Rec {
            token: Arc::downgrade(&token),
            state: St::Unstarted,
            parent: Some(parent),
            ctx,
            body: Some(body),
            orphan: false,
            kill_tried: false,
        };
        Ok(Greenlet { token })
    }

    fn switch(&self, target: &Greenlet, value: V) -> Outcome<V> {
        let slot = self.inner.check(target);
        self.inner.deliver(slot, Transfer::Value(value))
    }

    fn throw(&self, target: &Greenlet, error: V::Error) -> Outcome<V> {
        let slot = self.inner.check(target);
        let payload = if self.inner.state_of(slot) == St::Dead && V::is_exit(&error) {
            Transfer::Value(V::exit_value())
        } else {
            Transfer::Error(error)
        };
        self.inner.deliver(slot, payload)
    }

    fn parent(&self, greenlet: &Greenlet) -> Option<Greenlet> {
        let slot = self.inner.check(greenlet);
        self.inner.recs.borrow()[slot as usize].parent.clone()
    }

    fn set_parent(&self, greenlet: &Greenlet, parent: &Greenlet) -> Result<(), ParentError> {
        let slot = self.inner.check(greenlet);
        let mut p = self.inner.check(parent);
        if slot == MAIN {
            return Err(ParentError::Main);
        }
        loop {
            if p == slot {
                return Err(ParentError::Cycle);
            }
            if p == MAIN {
                break;
            }
            p = self.inner.parent_slot(p);
        }
        let old = self.inner.recs.borrow_mut()[slot as usize]
            .parent
            .replace(parent.clone());
        drop(old);
        Ok(())
    }

    fn state(&self, greenlet: &Greenlet) -> State {
        let slot = self.inner.check(greenlet);
        match self.inner.state_of(slot) {
            St::Unstarted => State::Unstarted,
            St::Dead | St::Free => State::Dead,
            St::Started if slot == self.inner.current.get() => State::Running,
            St::Started => State::Suspended,
        }
    }
}

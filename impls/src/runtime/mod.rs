//! The generic greenlet runtime: greenlet 3.x semantics implemented once, over any
//! [`StackSwitch`] backend.
//!
//! [`Runtime<S, V>`] is a [`Hub<V>`] for the calling OS thread. It keeps every greenlet's record
//! (state, parent, body) and backend context in per-thread tables; greenlet handles ([`Greenlet`])
//! are `Arc`s of a small token (slot number, hub serial) and carry no mutable state, so they are
//! `Send` and cheap to clone. Using a handle with a hub it does not belong to (for instance on
//! another thread) panics before anything is switched or changed.
//!
//! Lifetime rules (CPython greenlet 3.5.6's deallocation, `docs/language.md` "drop"; the trait
//! doc of `switchyard_greenlet` lists which references count):
//! - handles are tokens; a greenlet's record holds a handle to its parent, so parent links
//!   count as references. Being current, being killed right now (`killing`) and being a
//!   zombie count too; weak handles ([`WeakGreenlet`]) and switch targets do not;
//! - when the last reference goes (`lifecycle::release`): unstarted or dead, the record is
//!   freed and its parent link released (iteratively up a chain); suspended, it is killed at
//!   once by the current greenlet: parent := current, the payload's kill error thrown in, the
//!   outcome discarded (an error goes to the unraisable hook), the old parent restored; then
//!   dead and unreferenced, it is freed; still suspended and unreferenced, it becomes a zombie
//!   that is never killed again (until the hub goes away);
//! - a greenlet whose last handle is dropped while it is running loses its last reference when
//!   it switches away: the greenlet resumed next kills it first (`after_switch`). A handle
//!   dropped on another thread does nothing: that greenlet is dealt with when its hub goes away;
//! - when the program's last [`Runtime`] handle goes away (on the main greenlet), the hub
//!   *closes* (`lifecycle::Inner::close`): every greenlet still suspended (zombies too) is
//!   killed the same way (parent := main, up to three passes), the bodies of unstarted ones
//!   are dropped, and the hub stops being the thread's hub, so the thread can make a hub of
//!   any backend at once; every context and stack is freed when the hub's memory goes. Only
//!   `Runtime` values the program holds count as handles (`Inner::handles`): the runtime's
//!   own strong references (a handle drop's look-up of the hub, the `&Runtime` a body or the
//!   unraisable hook borrows) do not, so a greenlet suspended inside the runtime's code (in a
//!   kill it started by dropping a handle) cannot keep a hub alive. A greenlet that still
//!   refuses to die has its stack deliberately leaked (never unmapped), which is
//!   memory-safe: no handle reaches it, so it never runs again;
//! - when the last handle goes away inside a greenlet, its stack is running and cannot be
//!   freed: the hub keeps a strong reference to itself and closes as soon as the main
//!   greenlet runs the runtime again (main is then suspended in the runtime's own code, a kill
//!   or the hook, and closes it when that ends);
//! - a hub still alive when its thread exits (a suspended greenlet holds a `Runtime` clone) is
//!   closed then, the same way (`thread_exit`); [`live_hub`] says whether the calling thread
//!   has a live hub (the interpreter checks after every program that it has none);
//! - nothing is switched while the thread unwinds a panic (`std::thread::panicking()`): the
//!   panic state is the thread's, so a greenlet switched to would run as if panicking. A
//!   switch or throw then returns the payload's panic error (`Payload::panic_error`, message
//!   starting `switchyard: switch refused`), and a kill due then (a handle or the hub dropped
//!   during unwinding) does not happen: the greenlet stays suspended, is killed by the hub's
//!   teardown if that runs later with nothing unwinding, and is otherwise leaked like a
//!   greenlet that refuses to die. A `Payload` method the runtime calls while resolving a
//!   switch or a death cannot switch either (same error).
//!
//! One hub per OS thread: [`Hub::new`] on a thread with a live hub of the same backend and
//! payload returns another handle to that hub (the new config is then ignored); if the live
//! hub is of another backend or payload, it fails with a [`BackendError`], because two hubs
//! interleaving their switches on one thread could resume one another's stacks out of order.
//!
//! Which hubs safe code may create ([`sharing`]): the [`Hub`] implementation needs a backend
//! with [`StableStacks`], whose suspended greenlets' stacks never move (mmap, ucontext). The
//! stack-copy backend moves them, so another thread holding a borrow into a suspended
//! greenlet's stack (a `std::thread::scope` thread, say) would read and write another
//! greenlet's bytes; its hubs are `Runtime<SharedStack<StackCopy, C>, V>`, available only
//! through the program's `unsafe impl` of [`SharedStackContract`] for `C`.
//!
//! The pieces, by job: `handles` (greenlet handles, the per-thread hub registry, slot
//! look-ups), `thread_exit` (tearing the thread's hub down when the thread exits, even if a
//! suspended greenlet still holds a handle to it), `sharing` (which backends safe code may
//! create hubs of), `hub` (resolving a switch's destination, switching, dying), `lifecycle`
//! (releasing, killing and freeing greenlets, teardown), `contexts` (the backend contexts,
//! inline in storage that never moves) and `entry` (the function every greenlet starts in).
//! This module holds the shared state and the [`Hub`] implementation.

mod contexts;
mod entry;
mod handles;
mod hub;
mod lifecycle;
pub mod sharing;
#[cfg(all(test, target_arch = "x86_64", target_os = "linux"))]
mod tests;
mod thread_exit;

pub use handles::{live_hub, Greenlet, WeakGreenlet};
pub use sharing::{SharedStack, SharedStackContract, StableStacks};

use crate::greenlet::{
    BackendError, Body, Hub, HubConfig, Outcome, ParentError, Payload, State, UnraisableHook,
};
use crate::switch::StackSwitch;
use contexts::Contexts;
use entry::entry;
use handles::{drop_erased, ErasedHub, Token, THREAD_HUB};
use std::any::TypeId;
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::fmt;
use std::marker::PhantomData;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::ThreadId;

/// The main greenlet's slot in every hub.
const MAIN: u32 = 0;

/// The fewest records the table grows by at a time (see `Hub::spawn`).
const RECORDS_GROWTH_MIN: usize = 32;

/// The next hub's serial. Serials are never reused: a process that has made `u32::MAX - 1`
/// hubs cannot make another (a handle of an old hub must never name a slot of a new one).
static NEXT_SERIAL: AtomicU32 = AtomicU32::new(1);

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
    parent: Option<Greenlet>,
    /// Until it starts (boxed once more, so that a record is 8 bytes smaller: issue 12's
    /// memory budget counts every suspended greenlet's record).
    body: Option<Box<Body<Runtime<S, V>, V>>>,
    /// Tells this greenlet from earlier ones in the same record (weak handles): one more on
    /// every spawn into the slot; a slot whose generation has reached `u32::MAX` is never
    /// used again.
    generation: u32,
    /// Kills of this greenlet in progress (each a reference while it lasts).
    killing: u16,
    state: St,
    flags: u8,
}

impl<S: StackSwitch, V: Payload> Rec<S, V> {
    /// Its last handle is gone.
    const ORPHAN: u8 = 1;
    /// Survived its kill unreferenced: a permanent reference, never killed again (until the
    /// hub goes away).
    const ZOMBIE: u8 = 2;
    /// Its cell of the hub's [`contexts::Contexts`] holds its context (from spawn until it is
    /// dead and freed, or freed unstarted).
    const CONTEXT: u8 = 4;

    /// A free record whose slot's last greenlet had `generation`.
    fn free(generation: u32) -> Self {
        Rec {
            token: std::sync::Weak::new(),
            parent: None,
            body: None,
            generation,
            killing: 0,
            state: St::Free,
            flags: 0,
        }
    }

    fn flag(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    fn set_flag(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }

    fn orphan(&self) -> bool {
        self.flag(Self::ORPHAN)
    }

    fn zombie(&self) -> bool {
        self.flag(Self::ZOMBIE)
    }

    fn has_context(&self) -> bool {
        self.flag(Self::CONTEXT)
    }
}

/// The installed unraisable hook, cloned out of its cell to be called.
type SharedHook<S, V> = Rc<UnraisableHook<Runtime<S, V>, V>>;

struct Inner<S: StackSwitch, V: Payload> {
    serial: u32,
    thread: ThreadId,
    config: HubConfig,
    recs: RefCell<Vec<Rec<S, V>>>,
    /// Every slot's backend context, inline, never moving (see `contexts`).
    ctxs: Contexts<S::Context>,
    free_slots: RefCell<Vec<u32>>,
    current: Cell<u32>,
    /// The current greenlet's context (its cell of `ctxs`), set with `current`.
    current_ctx: Cell<*mut S::Context>,
    /// The greenlet that switched to the one running now.
    prev: Cell<u32>,
    transfer: Cell<Option<Transfer<V>>>,
    /// A greenlet that has just died: its context is freed by whoever runs next.
    dying: Cell<Option<u32>>,
    /// How many records have `orphan` set: while none has (and nothing is `dying`), a
    /// resumed greenlet has no housekeeping to do (see `after_switch`).
    orphans: Cell<u32>,
    /// The final teardown has ended: nothing is killed or released any more.
    tearing_down: Cell<bool>,
    /// Live [`Runtime`] handles (the program's: `new`, clones). The runtime's own strong
    /// references (a handle drop's look-up, the hook's `&Runtime`, a body's `&Runtime`) do
    /// not count, so a greenlet suspended inside one of them cannot keep the hub alive.
    handles: Cell<usize>,
    /// The hub is closing or closed (see `lifecycle::Inner::close`): torn down, and no longer
    /// the thread's hub.
    closing: Cell<bool>,
    /// The last handle went away inside a greenlet: a strong reference was leaked to keep the
    /// running stack alive until the hub can close on the main greenlet (which takes it back).
    leaked: Cell<bool>,
    /// The runtime is resolving a switch or a death and may be calling `Payload` methods:
    /// a switch now (from inside such a method) is refused (see `hub::Inner::refusal`).
    resolving: Cell<bool>,
    main_token: RefCell<Option<Arc<Token>>>,
    hook: RefCell<Option<SharedHook<S, V>>>,
    /// This hub itself, to hand the hook a `&Runtime`.
    me: Weak<Inner<S, V>>,
    /// Mutant `mutant-kill-parent` (feature `mutants`): kills leave the victim's parent alone.
    #[cfg(feature = "mutants")]
    kill_keeps_parent: Cell<bool>,
    /// Mutant `mutant-hub-leak` (feature `mutants`): a kill on a last reference leaks a hub
    /// handle.
    #[cfg(feature = "mutants")]
    release_holds_handle: Cell<bool>,
    _not_send: PhantomData<*mut ()>,
}

/// A generic greenlet hub over the stack-switching backend `S`, carrying payload `V`.
///
/// Construct it with [`Hub::new`] (e.g. `Runtime::<Mmap, MyPayload>::new(&HubConfig::default())`).
/// It is a [`Hub`] only for backends with [`StableStacks`]: a stack-copy hub is
/// `Runtime<SharedStack<StackCopy, C>, V>`, where `C` is the program's unsafe
/// [`SharedStackContract`] (see [`sharing`]).
/// Clones are handles to the same per-thread hub; when the last one goes the hub closes:
/// every suspended greenlet is killed and the thread may make another hub (see the module
/// doc).
pub struct Runtime<S: StackSwitch, V: Payload> {
    inner: Rc<Inner<S, V>>,
}

impl<S: StackSwitch, V: Payload> Clone for Runtime<S, V> {
    fn clone(&self) -> Self {
        self.inner.handles.set(self.inner.handles.get() + 1);
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

impl<S: StackSwitch, V: Payload> Runtime<S, V> {
    /// The configuration the hub was created with.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }
}

impl<S: StableStacks, V: Payload> Hub<V> for Runtime<S, V> {
    type Greenlet = Greenlet;
    type Weak = WeakGreenlet;

    fn new(config: &HubConfig) -> Result<Self, BackendError> {
        let existing = THREAD_HUB
            .try_with(|cell| cell.0.borrow().as_ref().and_then(|w| w.upgrade()))
            .map_err(|_| {
                BackendError(
                    "switchyard: cannot create a greenlet hub: this thread is exiting".to_string(),
                )
            })?;
        if let Some(strong) = existing {
            if strong.kind() == TypeId::of::<Inner<S, V>>() {
                let inner = strong
                    .into_any()
                    .downcast::<Inner<S, V>>()
                    .unwrap_or_else(|_| unreachable!());
                inner.handles.set(inner.handles.get() + 1);
                return Ok(Runtime { inner });
            }
            drop_erased(strong);
            return Err(BackendError(format!(
                "switchyard: this thread already has a live greenlet hub of another backend or \
                 payload; one hub per OS thread (requested {}). A hub lives while any handle to \
                 it does, including one held by a suspended greenlet; it is torn down at the \
                 latest when the thread exits",
                std::any::type_name::<S>()
            )));
        }
        let serial = NEXT_SERIAL
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| s.checked_add(1))
            .map_err(|_| {
                BackendError(
                    "switchyard: cannot create a greenlet hub: this process has made 2^32 - 1 \
                     hubs, and hub serials are never reused"
                        .to_string(),
                )
            })?;
        let thread = std::thread::current().id();
        // Records are 32 bytes: issue 12's memory budget (record, context, handle and the
        // saved stack's allocation header: 128 bytes beyond the saved bytes for a suspended
        // stack-copy greenlet).
        const { assert!(std::mem::size_of::<Rec<S, V>>() == 32) };
        let ctxs = Contexts::new();
        ctxs.reserve(MAIN);
        // SAFETY: a new cell, empty, that nothing points to.
        unsafe { ctxs.put(MAIN, S::main_context()) };
        let main_ctx = ctxs.ptr(MAIN);
        let main_token = Arc::new(Token {
            slot: MAIN,
            hub: serial,
        });
        let mut main_rec = Rec::free(0);
        main_rec.state = St::Started;
        main_rec.set_flag(Rec::<S, V>::CONTEXT, true);
        main_rec.token = Arc::downgrade(&main_token);
        let inner = Rc::new_cyclic(|me| Inner {
            serial,
            thread,
            config: config.clone(),
            recs: RefCell::new(vec![main_rec]),
            ctxs,
            free_slots: RefCell::new(Vec::new()),
            current: Cell::new(MAIN),
            current_ctx: Cell::new(main_ctx),
            prev: Cell::new(MAIN),
            transfer: Cell::new(None),
            dying: Cell::new(None),
            orphans: Cell::new(0),
            tearing_down: Cell::new(false),
            handles: Cell::new(1),
            closing: Cell::new(false),
            leaked: Cell::new(false),
            resolving: Cell::new(false),
            main_token: RefCell::new(Some(main_token)),
            hook: RefCell::new(None),
            me: me.clone(),
            #[cfg(feature = "mutants")]
            kill_keeps_parent: Cell::new(false),
            #[cfg(feature = "mutants")]
            release_holds_handle: Cell::new(false),
            _not_send: PhantomData,
        });
        let weak: Weak<dyn ErasedHub> = Rc::downgrade(&inner) as Weak<dyn ErasedHub>;
        THREAD_HUB.with(|cell| *cell.0.borrow_mut() = Some(weak));
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
        let body = Box::new(body);
        let reused = inner.free_slots.borrow_mut().pop();
        let mut recs = inner.recs.borrow_mut();
        let slot = match reused {
            Some(s) => s,
            None => {
                // The table grows by an eighth, not by doubling: a doubled table holds room
                // for up to twice the records it needs, and that slack counts in issue 12's
                // budget of 128 bytes per suspended stack-copy greenlet beyond its saved
                // bytes (a hub just past 65,536 greenlets would hold 32 bytes more per
                // greenlet). Growing copies the table (or remaps it, once it is big enough
                // for its own mapping): amortized over the pushes, eight records per push.
                let len = recs.len();
                if len == recs.capacity() {
                    recs.reserve_exact((len / 8).max(RECORDS_GROWTH_MIN));
                }
                recs.push(Rec::free(0));
                (recs.len() - 1) as u32
            }
        };
        inner.ctxs.reserve(slot);
        // SAFETY: a free slot's cell is empty (its last context was dropped when its greenlet
        // died or was freed unstarted), and nothing points to it.
        unsafe { inner.ctxs.put(slot, ctx) };
        let token = Arc::new(Token {
            slot,
            hub: inner.serial,
        });
        let rec = &mut recs[slot as usize];
        // A free slot's generation is below `u32::MAX` (`free_record` retires it otherwise).
        let generation = rec.generation + 1;
        *rec = Rec {
            token: Arc::downgrade(&token),
            parent: Some(parent),
            body: Some(body),
            generation,
            killing: 0,
            state: St::Unstarted,
            flags: Rec::<S, V>::CONTEXT,
        };
        Ok(Greenlet { token })
    }

    // `switch` and `switch_ref` are inlined into their callers with the switch itself (see
    // `hub::Inner::deliver`): a switch that returns through a shared out-of-line function
    // mispredicts that return on every switch.
    #[inline(always)]
    fn switch(&self, target: Greenlet, value: V) -> Outcome<V> {
        let slot = self.inner.check(&target);
        let kept = target.unless_shared();
        let outcome = self.inner.deliver(slot, Transfer::Value(value));
        self.drop_kept(kept);
        outcome
    }

    #[inline]
    fn throw(&self, target: Greenlet, error: V::Error) -> Outcome<V> {
        let slot = self.inner.check(&target);
        let kept = target.unless_shared();
        let outcome = self.inner.deliver_error(slot, error);
        self.drop_kept(kept);
        outcome
    }

    #[inline(always)]
    fn switch_ref(&self, target: &Greenlet, value: V) -> Outcome<V> {
        let slot = self.inner.check(target);
        self.inner.deliver(slot, Transfer::Value(value))
    }

    #[inline]
    fn throw_ref(&self, target: &Greenlet, error: V::Error) -> Outcome<V> {
        let slot = self.inner.check(target);
        self.inner.deliver_error(slot, error)
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

    fn downgrade(&self, greenlet: &Greenlet) -> WeakGreenlet {
        let slot = self.inner.check(greenlet);
        WeakGreenlet {
            hub: self.inner.serial,
            slot,
            generation: self.inner.recs.borrow()[slot as usize].generation,
        }
    }

    fn upgrade(&self, weak: &WeakGreenlet) -> Option<Greenlet> {
        if weak.hub != self.inner.serial {
            return None;
        }
        let alive = {
            let recs = self.inner.recs.borrow();
            let rec = recs.get(weak.slot as usize)?;
            rec.generation == weak.generation && rec.state != St::Free
        };
        alive.then(|| self.inner.handle(weak.slot))
    }

    fn set_unraisable_hook(&self, hook: UnraisableHook<Self, V>) {
        *self.inner.hook.borrow_mut() = Some(Rc::new(hook));
    }
}

impl<S: StackSwitch, V: Payload> Runtime<S, V> {
    /// Drops the handle a switch or throw kept (`Greenlet::unless_shared`), a handle of this
    /// hub, on its thread: if it is still its greenlet's last one, the greenlet is released
    /// here, as the token's own drop would after looking the thread's hub up in the registry
    /// (a spawn-to-finish through `switch(g, v)` skips that look-up).
    #[inline]
    fn drop_kept(&self, kept: Option<Greenlet>) {
        if let Some(slot) = kept.and_then(Greenlet::into_last_slot) {
            ErasedHub::release_then_drop(self.inner.clone(), slot);
        }
    }
}

impl<S: StackSwitch, V: Payload> Inner<S, V> {
    /// Hands a swallowed error to the unraisable hook, if one is installed.
    fn unraisable(&self, error: &V::Error) {
        let hook = self.hook.borrow().clone();
        if let (Some(hook), Some(inner)) = (hook, self.me.upgrade()) {
            // A non-owning handle for the hook to borrow (not one of the program's handles; a
            // clone the hook makes is one): it takes no count and is never dropped.
            let hub = std::mem::ManuallyDrop::new(Runtime {
                // SAFETY: `inner` is a live strong reference, held until after the call, so
                // the pointer is that of a live `Rc`; wrapped in `ManuallyDrop`, this `Rc`
                // never gives back a count it did not take.
                inner: unsafe { Rc::from_raw(Rc::as_ptr(&inner)) },
            });
            hook(&hub, error);
            drop(inner);
        }
    }
}

#[cfg(feature = "mutants")]
impl<S: StackSwitch, V: Payload> Runtime<S, V> {
    /// Makes this hub a mutant whose kills do not set the victim's parent to the killer (the
    /// victim's GreenletExit, and whatever it ends with, go to its old parent instead).
    pub fn mutate_kill_keeps_parent(&self) {
        self.inner.kill_keeps_parent.set(true);
    }

    /// Makes this hub a mutant that never closes once the program has dropped the last
    /// handle of a suspended greenlet: each such kill leaks a hub handle (the effect of the bug
    /// `switchyard fuzz --seed 20261206` found, made frequent for the detection tests).
    pub fn mutate_release_holds_handle(&self) {
        self.inner.release_holds_handle.set(true);
    }
}

//! Which backends safe code may create hubs of: [`StableStacks`] (the bound of the [`Hub`]
//! implementation of [`Runtime`](super::Runtime)), and the unsafe opt-in for backends whose
//! greenlets share one stack ([`SharedStackContract`], [`SharedStack`]).
//!
//! # Why stack-copy hubs need `unsafe`
//!
//! Greenlet's stack-copy algorithm (the `stack-copy` backend) runs every greenlet of a thread
//! on that thread's one stack. When a greenlet is suspended, the part of its stack that the
//! next greenlet needs is copied to the heap and then *overwritten* by the other greenlet's
//! frames; it is copied back when the greenlet is resumed. While a greenlet is suspended, its
//! stack addresses therefore hold somebody else's bytes. CPython greenlet relies on the same
//! rule internally (its `TPythonState.cpp` notes that a pointer into the C stack cannot be
//! read across `slp_switch`, because the switch changes the stack's contents), and Python
//! code can never hold such a pointer. Rust code can, in safe code:
//!
//! ```text
//! let mut local = 0u64;
//! std::thread::scope(|s| {
//!     s.spawn(|| local += 1);       // another thread writes `local`, on main's stack ...
//!     hub.switch(&greenlet, v);     // ... while main is suspended and its bytes belong to
//! });                               // the greenlet: the greenlet's frames are corrupted
//! ```
//!
//! So a hub of a backend that moves suspended stacks must not be creatable by safe code. The
//! [`Hub`] implementation of `Runtime<S, V>` requires `S: StableStacks`, which the
//! stack-per-greenlet backends (`Mmap`, `Ucontext`) implement and `StackCopy` does not:
//!
//! ```compile_fail,E0599
//! use switchyard_impls::greenlet::{Hub, HubConfig};
//! use switchyard_greenlet::conformance::Val;
//! use switchyard_impls::runtime::Runtime;
//! use switchyard_impls::stack_copy::StackCopy;
//! // error[E0599]: ... `StackCopy: StableStacks` is not satisfied
//! let hub = Runtime::<StackCopy, Val>::new(&HubConfig::default());
//! ```
//!
//! A program that keeps the contract below opts in by implementing the unsafe trait
//! [`SharedStackContract`] for a type of its own and using the backend as
//! `SharedStack<StackCopy, ThatType>`:
//!
//! ```
//! # #[cfg(all(target_arch = "x86_64", target_os = "linux"))] {
//! use switchyard_impls::greenlet::{Hub, HubConfig};
//! use switchyard_greenlet::conformance::Val;
//! use switchyard_impls::runtime::{Runtime, SharedStack, SharedStackContract};
//! use switchyard_impls::stack_copy::StackCopy;
//!
//! /// This program's promise for its stack-copy hubs.
//! struct NoStackSharing;
//! // SAFETY: no code of this program lets another thread, or another greenlet, use a
//! // pointer into a greenlet's stack while that greenlet is suspended.
//! unsafe impl SharedStackContract for NoStackSharing {}
//!
//! type StackCopyHub = Runtime<SharedStack<StackCopy, NoStackSharing>, Val>;
//! let hub = StackCopyHub::new(&HubConfig::default()).unwrap();
//! let g = hub.spawn(Box::new(|_, v| Ok(v.unwrap())), None).unwrap();
//! assert_eq!(hub.switch(g, Val::Int(7)), Ok(Val::Int(7)));
//! # }
//! ```
//!
//! Implementing the contract needs `unsafe`:
//!
//! ```compile_fail,E0199
//! # use switchyard_impls::runtime::SharedStackContract;
//! struct Careless;
//! impl SharedStackContract for Careless {} // error[E0199]: ... must be declared `unsafe`
//! ```
//!
//! The stack-per-greenlet backends need no promise: a borrow lent to another thread stays
//! valid across switches, because nothing else ever writes a greenlet's own stack.

#[allow(unused_imports)] // for the docs
use crate::greenlet::Hub;
use crate::switch::StackSwitch;
use std::marker::PhantomData;

/// A backend whose hubs safe code may create: a suspended greenlet's stack stays where it is
/// and nothing but that greenlet writes it, so a pointer into it (a borrow lent to another
/// thread, say) stays valid while the greenlet is suspended.
///
/// # Safety
///
/// Implement it only for a [`StackSwitch`] whose contexts each run on memory of their own
/// that is neither moved, nor written by any other context's switching, nor freed while the
/// context is alive (unstarted, running or suspended); or, as [`SharedStack`] does, on the
/// strength of a [`SharedStackContract`] that makes such moves unobservable.
pub unsafe trait StableStacks: StackSwitch {}

/// The promise that makes a hub of a backend that moves stacks (stack-copy) sound, given by
/// the program for every hub of `SharedStack<_, Self>`.
///
/// # Safety
///
/// For as long as a greenlet of such a hub is suspended, nothing but that greenlet reads or
/// writes its stack: no other OS thread (a borrow of a local lent to a `std::thread::scope`
/// thread, a pointer sent over a channel) and no other greenlet uses a pointer or reference
/// into it. This covers the main greenlet too: its stack is the thread's stack, and greenlets
/// that run while it is suspended overwrite the part they use. Pointers into a *running*
/// greenlet's own stack are fine, as are values on the heap.
///
/// Keep the implementing type private: whoever can name it can create such hubs.
pub unsafe trait SharedStackContract: 'static {}

/// Backend `S` (a backend that moves stacks, such as `StackCopy`), usable through the safe
/// [`Hub`] API because the program gave contract `C`.
pub struct SharedStack<S, C>(PhantomData<fn() -> (S, C)>);

// SAFETY: every call is passed on to `S` unchanged, so `S`'s promises about registers and
// stack contents are this backend's.
unsafe impl<S: StackSwitch, C: SharedStackContract> StackSwitch for SharedStack<S, C> {
    crate::forward_contexts!(S);

    #[inline(always)]
    unsafe extern "C" fn switch(from: *mut S::Context, to: *mut S::Context, from_dying: bool) {
        // SAFETY: the caller keeps `switch`'s contract, which is `S::switch`'s.
        unsafe { S::switch(from, to, from_dying) }
    }
    fn guarantees() -> crate::switch::Guarantees {
        S::guarantees()
    }
}

// SAFETY: `C`'s contract says nothing but a suspended greenlet ever reads or writes its stack,
// so moving those bytes to the heap and back cannot be observed by anyone.
unsafe impl<S: StackSwitch, C: SharedStackContract> StableStacks for SharedStack<S, C> {}

// SAFETY: every mmap context runs on a `Stack` mapping of its own (or, for main, the thread's
// stack), which only that context's frames write; a context's stack goes back to the pool or
// is unmapped only when the context is unstarted or dead, and a greenlet that refuses to die
// keeps its stack for good (see `runtime::lifecycle`).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
unsafe impl StableStacks for crate::backend::mmap::Mmap {}

// SAFETY: the probe passes every switch on to `S` unchanged (it only loads canaries into the
// registers around it), so where `S`'s stacks live is where `Probed<S>`'s do.
unsafe impl<S: StableStacks> StableStacks for crate::probe::Probed<S> {}

// SAFETY: as for `Mmap`: the ucontext backend runs each context on a `Stack` of its own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
unsafe impl StableStacks for crate::backend::ucontext::Ucontext {}

// SAFETY: the register-swap mutants run each context on a `Stack` of its own, as `Mmap`
// does; their deliberate bug is a lost register, not where stacks live.
#[cfg(all(feature = "mutants", target_arch = "x86_64", target_os = "linux"))]
unsafe impl<L: crate::mutants::swap::LostRegister> StableStacks for crate::mutants::swap::Swap<L> {}

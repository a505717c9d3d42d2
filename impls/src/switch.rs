//! The stack-switching trait: the small, unsafe interface a native backend implements so that
//! the generic greenlet runtime can run greenlets on it. It knows nothing of greenlet
//! semantics (parents, values, errors): only how to start a body on a stack, how to suspend
//! the running context and resume another, and how a dying context leaves for good.
//!
//! Every switch names the context that is running now (`from`), the one to resume (`to`) and
//! whether `from` is dying: greenlet's stack-copy algorithm needs exactly these three facts
//! (it saves nothing for a dying greenlet), and stack-per-greenlet backends ignore the third.
//!
//! [`StackSwitch::stack_bounds`] tells AddressSanitizer (in sanitized builds only, see
//! [`crate::asan`]) which stack a context runs on; the runtime makes the fiber annotations
//! around every switch with it, unless the backend makes them itself, hop by hop
//! ([`StackSwitch::ANNOTATES_OWN_HOPS`]).

use crate::greenlet::{BackendError, HubConfig};
use std::ffi::c_void;

/// The first function a new context runs, on its own stack, with the `arg` given to
/// [`StackSwitch::new_context`]. It must never return: it ends by switching away with
/// `from_dying = true`. It must not unwind: it catches every panic itself.
pub type Entry = unsafe extern "C" fn(arg: *mut c_void) -> !;

/// The memory a context's frames live in, as AddressSanitizer's fiber API wants it: the
/// lowest usable address and the size in bytes (guard pages excluded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackBounds {
    /// Lowest usable address.
    pub bottom: usize,
    /// Bytes from `bottom` up to the stack's top (exclusive).
    pub size: usize,
}

/// A way of switching stacks.
///
/// # Safety
///
/// Implementations promise that [`StackSwitch::switch`] preserves every register the platform
/// ABI calls callee-saved (on x86-64 System V: rbx, rbp, r12-r15, rsp, the MXCSR control bits
/// and the x87 control word) of `from` across its suspension, except the control words that
/// [`StackSwitch::guarantees`] declares not kept, and that memory a suspended context owns on
/// its stack reads back exactly as it was left when it is resumed.
pub unsafe trait StackSwitch: 'static {
    /// Switching state of one greenlet: its stack (or its saved stack slices) and whatever is
    /// needed to resume it.
    type Context;

    /// The context of the calling OS thread's main greenlet: the code running now.
    fn main_context() -> Self::Context;

    /// The context of a new greenlet that, when it is first switched to, runs `entry(arg)`.
    fn new_context(
        config: &HubConfig,
        entry: Entry,
        arg: *mut c_void,
    ) -> Result<Self::Context, BackendError>;

    /// The stack `ctx` runs on, for AddressSanitizer's fiber annotations
    /// (`__sanitizer_start_switch_fiber`), which the runtime makes around every switch in
    /// sanitized builds only ([`crate::asan`]); never called otherwise. A main context runs on
    /// the thread's stack ([`crate::asan::thread_stack`]). A backend returns `Some` for every
    /// context or `None` for every context; `None` (the default) means "not annotated": no
    /// annotation is made around its switches, and ASan will then report false positives on
    /// it, as on any unannotated stack switching.
    fn stack_bounds(ctx: &Self::Context) -> Option<StackBounds> {
        let _ = ctx;
        None
    }

    /// Whether [`StackSwitch::switch`] makes AddressSanitizer's fiber annotations itself, one
    /// pair for every stack change it performs, instead of the runtime making one pair around
    /// the whole switch ([`crate::asan`], "Backends that hop"). Read in sanitized builds only.
    ///
    /// `false` (the default) suits a switch that changes stacks once, from `from`'s straight
    /// to `to`'s. A switch that passes through other stacks on the way (corosensei's goes from
    /// one greenlet to main, where the library's own Rust code runs, and from there to the
    /// next greenlet) must be announced hop by hop, or ASan takes the code running in between
    /// for code on the wrong stack. Such a backend sets this to `true` and then, in sanitized
    /// builds, calls [`crate::asan::start_hop`] before every stack change (with a null
    /// fake-stack slot when the context it leaves is dying and never resumed) and
    /// [`crate::asan::finish_hop`] after it on the side resumed, including first thing in a
    /// new context before it calls its [`Entry`]; the runtime then makes no annotation for
    /// it. [`StackSwitch::stack_bounds`] must still give `Some` (the runtime clears a dead
    /// context's stack with it). A wrapper backend must pass its inner backend's answer on.
    const ANNOTATES_OWN_HOPS: bool = false;

    /// Suspends `from` and resumes `to`; returns when something switches back to `from`.
    ///
    /// It has the C calling convention so that the register probe
    /// ([`crate::probe::Probed`]) can `call` it straight from assembly, with its own canary
    /// values in the callee-saved registers and no Rust frame in between that could save and
    /// restore them on the backend's behalf. An implementation should therefore be the switch
    /// itself (or a thin shim that keeps nothing in callee-saved registers across the
    /// switch): whatever it saves and restores around the real switch is hidden from the probe.
    ///
    /// # Safety
    ///
    /// - `from` is the context running now on this OS thread, `to` is a different context of
    ///   the same thread that is either new (never switched to) or suspended in `switch`;
    /// - both point to live contexts that do not move for as long as either is suspended or
    ///   running (the runtime keeps them inline in storage that never moves);
    /// - with `from_dying`, `from` is never switched to again, nothing on its stack is used
    ///   again, and it may be dropped only after this call has switched away (so by code
    ///   running in another context).
    unsafe extern "C" fn switch(from: *mut Self::Context, to: *mut Self::Context, from_dying: bool);

    /// What this backend's switch keeps beyond the general-purpose callee-saved registers and
    /// the stack: all of it unless the switching library does not promise it (a library
    /// that leaves the floating-point control words to whoever changes them, for example).
    /// The register probe ([`crate::probe::Probed`]) checks only what is declared here, so a
    /// campaign on such a backend can go on to look for other bugs; `switchyard backends -v`
    /// shows it. A wrapper backend must pass its inner backend's answer on.
    fn guarantees() -> Guarantees {
        Guarantees::ALL
    }
}

/// The parts of the callee-saved state beyond rbx, rbp, r12-r15 and rsp that a backend's
/// switch may or may not keep (see [`StackSwitch::guarantees`]). The general-purpose registers
/// and the stack are not optional: every backend keeps them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Guarantees {
    /// The MXCSR control bits (rounding, flush-to-zero, denormals-are-zero, exception masks).
    pub mxcsr: bool,
    /// The x87 control word (precision, rounding, exception masks).
    pub x87_cw: bool,
}

impl Guarantees {
    /// Everything the x86-64 System V ABI calls callee-saved.
    pub const ALL: Guarantees = Guarantees {
        mxcsr: true,
        x87_cw: true,
    };

    /// The names (as the probe reports registers) of what is not kept, empty for
    /// [`Guarantees::ALL`].
    pub fn not_kept(self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if !self.mxcsr {
            names.push("mxcsr");
        }
        if !self.x87_cw {
            names.push("x87-cw");
        }
        names
    }
}

impl std::fmt::Display for Guarantees {
    /// `all callee-saved state`, or what is left out: `all callee-saved state but mxcsr`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let missing = self.not_kept();
        if missing.is_empty() {
            f.write_str("all callee-saved state")
        } else {
            write!(f, "all callee-saved state but {}", missing.join(" and "))
        }
    }
}

/// The items of a [`StackSwitch`] implementation that wraps backend `$inner` and passes all
/// of its context handling on unchanged: `type Context`, `main_context`, `new_context`,
/// `stack_bounds` and `ANNOTATES_OWN_HOPS`. A wrapper (the register probe, `SharedStack`, a
/// test's backend that declares other guarantees) writes only `switch` and `guarantees`
/// itself, so a wrapper can never drop an item the trait gains later by forgetting to pass it
/// on (a wrapper without `stack_bounds` would switch unannotated under ASan).
///
/// ```ignore
/// unsafe impl<S: StackSwitch> StackSwitch for Wrapper<S> {
///     switchyard_impls::forward_contexts!(S);
///     unsafe extern "C" fn switch(from: *mut S::Context, to: *mut S::Context, dying: bool) { .. }
///     fn guarantees() -> Guarantees { .. }
/// }
/// ```
#[macro_export]
macro_rules! forward_contexts {
    ($inner:ty) => {
        type Context = <$inner as $crate::switch::StackSwitch>::Context;

        #[inline(always)]
        fn main_context() -> Self::Context {
            <$inner as $crate::switch::StackSwitch>::main_context()
        }

        #[inline(always)]
        fn new_context(
            config: &$crate::greenlet::HubConfig,
            entry: $crate::switch::Entry,
            arg: *mut ::std::ffi::c_void,
        ) -> Result<Self::Context, $crate::greenlet::BackendError> {
            <$inner as $crate::switch::StackSwitch>::new_context(config, entry, arg)
        }

        #[inline(always)]
        fn stack_bounds(ctx: &Self::Context) -> Option<$crate::switch::StackBounds> {
            <$inner as $crate::switch::StackSwitch>::stack_bounds(ctx)
        }

        const ANNOTATES_OWN_HOPS: bool =
            <$inner as $crate::switch::StackSwitch>::ANNOTATES_OWN_HOPS;
    };
}

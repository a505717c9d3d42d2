//! AddressSanitizer support: the fiber annotations the runtime makes around every switch, and
//! the shadow-memory helpers the stack-copy backend needs. Compiled in only when the build is
//! sanitized (`cfg(switchyard_asan)`, set by `impls/build.rs` when the rustc flags hold
//! `-Zsanitizer=address`, as `cargo fuzz run` passes by default); in every other build each
//! function here is an empty inline no-op and no ASan symbol is referenced.
//!
//! # The fiber protocol
//!
//! ASan keeps, per thread, the bounds of the stack it runs on and a "fake stack" (where frames
//! live when `detect_stack_use_after_return` is on). A stack switch must be announced
//! (`sanitizer/common_interface_defs.h`):
//!
//! - before it, `__sanitizer_start_switch_fiber(&fake_save, bottom, size)` with the target's
//!   stack bounds ([`crate::switch::StackSwitch::stack_bounds`]); the running context's fake
//!   stack goes into `fake_save`, a local of the switching frame, so it is suspended with it.
//!   A context that is dying passes a null `fake_save`: ASan then frees its fake stack;
//! - after it, in the resumed context, `__sanitizer_finish_switch_fiber(fake_save, ..)` with
//!   that context's own saved fake stack (null for a context's first entry: it gets a new one).
//!
//! [`before_switch`] / [`after_switch`] are these two calls (for every backend but those that
//! annotate their own hops, below); the runtime makes them around
//! `S::switch` (`runtime::hub`) and at a new context's first entry (`runtime::entry`), not the
//! backends: `S::switch` is what the register probe ([`crate::probe`]) calls straight from
//! assembly with canaries in the callee-saved registers, and a Rust frame inside it around the
//! real switch would save and restore those registers on the backend's behalf, hiding a lost
//! one. Around the probe, the annotations are ordinary calls the probe's own frame isolates.
//!
//! # Backends that hop
//!
//! The runtime's pair describes one stack change, from `from`'s stack to `to`'s. A backend
//! whose switch passes through other stacks on the way, running code there (the `corosensei`
//! adapter: a greenlet suspends into main's resume loop, which is corosensei's and
//! switchyard's Rust code on main's stack, and main resumes the next greenlet), would leave
//! that code running while ASan believes it is on the target's stack. Such a backend declares
//! [`StackSwitch::ANNOTATES_OWN_HOPS`]: [`before_switch`] and [`after_switch`] then do
//! nothing for it, and its switch announces every hop itself with [`start_hop`] /
//! [`finish_hop`], the same two calls with explicit bounds. Its switch is a Rust function
//! around the library's switches anyway (corosensei's `resume` / `suspend`), so the register
//! probe sees no frame it did not see before.
//!
//! A greenlet stack given back to the pool (or unmapped) would keep the shadow of the frames
//! that were live on it when its greenlet died; [`release_dead_stack`] clears that part once
//! the greenlet has switched away for good, so the next greenlet on the same memory starts
//! clean.
//!
//! # Shadow memory (stack-copy)
//!
//! On the stack-copy backend every greenlet runs on the thread's one stack, so the shadow of
//! that range describes whoever's frames were there last. The backend saves the shadow bytes of
//! every range it copies to the heap and writes them back with the stack bytes
//! ([`save_shadow`], [`restore_shadow`]), and clears the shadow between the old and the new
//! stack pointer ([`unpoison`]). The copies themselves read stack bytes that ASan considers
//! redzones, so they go through [`raw_copy`] (a `rep movsb`: inline assembly is never
//! instrumented) rather than `memcpy`, which ASan intercepts and checks.

use crate::switch::{StackBounds, StackSwitch};
use std::ffi::c_void;

/// Whether this build carries the annotations (the build is sanitized with ASan).
pub const ENABLED: bool = cfg!(switchyard_asan);

#[cfg(switchyard_asan)]
mod ffi {
    use std::ffi::c_void;

    extern "C" {
        pub(super) fn __sanitizer_start_switch_fiber(
            fake_stack_save: *mut *mut c_void,
            bottom: *const c_void,
            size: usize,
        );
        pub(super) fn __sanitizer_finish_switch_fiber(
            fake_stack_save: *mut c_void,
            bottom_old: *mut *const c_void,
            size_old: *mut usize,
        );
        pub(super) fn __asan_unpoison_memory_region(addr: *const c_void, size: usize);
        pub(super) fn __asan_get_shadow_mapping(scale: *mut usize, offset: *mut usize);
    }
}

/// Announces the switch to the context `to` (before `S::switch`): `fake_save` receives the
/// running context's fake stack; `None` when the running context is dying.
///
/// # Safety
///
/// `to` points to a live context of `S`; in a sanitized build every `before_switch` must be
/// followed by the switch and then [`after_switch`] in the context resumed.
#[inline(always)]
pub(crate) unsafe fn before_switch<S: StackSwitch>(
    to: *const S::Context,
    fake_save: Option<&mut *mut c_void>,
) {
    #[cfg(switchyard_asan)]
    if !S::ANNOTATES_OWN_HOPS {
        // SAFETY: the caller guarantees `to` is live.
        if let Some(b) = S::stack_bounds(unsafe { &*to }) {
            // SAFETY: the caller's contract, passed on.
            unsafe { start_hop(fake_save, b) };
        }
    }
    #[cfg(not(switchyard_asan))]
    let _ = (to, fake_save);
}

/// Completes a switch in the context `me` just resumed (after `S::switch` returned, or first
/// thing in a new context), with the fake stack its [`before_switch`] saved (null for a first
/// entry).
///
/// # Safety
///
/// `me` points to the live context running now, resumed by a switch announced with
/// [`before_switch`].
#[inline(always)]
pub(crate) unsafe fn after_switch<S: StackSwitch>(me: *const S::Context, fake_save: *mut c_void) {
    #[cfg(switchyard_asan)]
    if !S::ANNOTATES_OWN_HOPS {
        // SAFETY: the caller guarantees `me` is live.
        if S::stack_bounds(unsafe { &*me }).is_some() {
            // SAFETY: the caller's contract, passed on.
            unsafe { finish_hop(fake_save) };
        }
    }
    #[cfg(not(switchyard_asan))]
    let _ = (me, fake_save);
}

/// `__sanitizer_start_switch_fiber`: announces a change to the stack `to`, for a backend
/// that annotates its own hops ([`StackSwitch::ANNOTATES_OWN_HOPS`]; the runtime annotates
/// every other backend's switches itself). Public so that a backend outside this crate can
/// declare `ANNOTATES_OWN_HOPS` too. `fake_save` receives the fake stack of the context being left (a local of
/// the frame that hops, suspended with it); `None` when that context is dying: ASan frees its
/// fake stack. A no-op unless the build is sanitized.
///
/// # Safety
///
/// The very next stack change on this thread is to `to` (a live stack), and the code resumed
/// there calls [`finish_hop`] before anything else that ASan instruments could mistake for
/// running on the old stack (first thing after its own switch returns, or first thing in a new
/// context).
#[inline(always)]
pub unsafe fn start_hop(fake_save: Option<&mut *mut c_void>, to: StackBounds) {
    #[cfg(switchyard_asan)]
    {
        let save = fake_save.map_or(std::ptr::null_mut(), |f| f as *mut *mut c_void);
        // SAFETY: plain ASan runtime call; `save` is null or a live local.
        unsafe { ffi::__sanitizer_start_switch_fiber(save, to.bottom as *const c_void, to.size) };
    }
    #[cfg(not(switchyard_asan))]
    let _ = (fake_save, to);
}

/// `__sanitizer_finish_switch_fiber`: completes, on the stack just resumed, the hop that
/// [`start_hop`] announced, with the fake stack this context's own `start_hop` saved (null
/// for a new context's first entry). Returns the stack that was left, as ASan knew it (`None`
/// when the build is not sanitized).
///
/// # Safety
///
/// The stack change just made was announced with [`start_hop`]; `fake_save` is null or
/// what ASan put in this context's slot when it last left.
#[inline(always)]
pub unsafe fn finish_hop(fake_save: *mut c_void) -> Option<StackBounds> {
    #[cfg(switchyard_asan)]
    {
        let mut bottom: *const c_void = std::ptr::null();
        let mut size = 0usize;
        // SAFETY: plain ASan runtime call; the out-pointers are live locals.
        unsafe { ffi::__sanitizer_finish_switch_fiber(fake_save, &mut bottom, &mut size) };
        Some(StackBounds {
            bottom: bottom as usize,
            size,
        })
    }
    #[cfg(not(switchyard_asan))]
    {
        let _ = fake_save;
        None
    }
}

/// How far below the stack pointer [`note_dying`] records the frames of a dying context's last
/// switch may reach (the probe's and the backend's frames, with their ASan redzones).
#[cfg(switchyard_asan)]
const LAST_SWITCH_FRAMES: usize = 64 << 10;

#[cfg(switchyard_asan)]
thread_local! {
    /// The stack pointer of the context that died last on this thread, for
    /// [`release_dead_stack`].
    static DYING_SP: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// In a dying context, just before its last switch: remembers how deep its stack is in use.
#[inline(always)]
pub(crate) fn note_dying() {
    #[cfg(switchyard_asan)]
    DYING_SP.with(|c| c.set(stack_pointer()));
}

/// In the context resumed after a context died, before the dead one's context (and its stack)
/// is freed: when it had a stack of its own (not the thread's), clears the shadow of the part
/// of it that was in use, from [`LAST_SWITCH_FRAMES`] below the stack pointer [`note_dying`]
/// saw up to the top. The frames live there when it died (its last switch's among them, which
/// poisoned their redzones after `note_dying`) never returned, so the pooled (or unmapped and
/// remapped) stack would otherwise carry their redzones into the next greenlet run on it,
/// where ASan reports them on that greenlet's own locals.
///
/// # Safety
///
/// `dead` points to the live context of a greenlet that has switched away for good, the last
/// one to call [`note_dying`] on this thread.
#[inline(always)]
pub(crate) unsafe fn release_dead_stack<S: StackSwitch>(dead: *const S::Context) {
    #[cfg(switchyard_asan)]
    {
        // SAFETY: the caller guarantees `dead` is live.
        let bounds = S::stack_bounds(unsafe { &*dead });
        if let Some(b) = bounds.filter(|b| *b != thread_stack()) {
            let top = b.bottom + b.size;
            let sp = DYING_SP.with(|c| c.replace(0));
            if (b.bottom..top).contains(&sp) {
                let low = sp.saturating_sub(LAST_SWITCH_FRAMES).max(b.bottom);
                // SAFETY: `[low, top)` is the dead context's own stack, still mapped, which
                // nothing runs on any more.
                unsafe { unpoison(low, top - low) };
            }
        }
    }
    #[cfg(not(switchyard_asan))]
    let _ = dead;
}

/// The stack pointer of the caller (its frame's lowest address, roughly).
#[cfg(all(switchyard_asan, target_arch = "x86_64"))]
#[inline(always)]
fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: reads rsp, touches nothing.
    unsafe {
        core::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    sp
}

/// Marks `[addr, addr + len)` addressable for ASan.
///
/// # Safety
///
/// The range is mapped memory that no live object of the program is using as a redzone.
#[cfg(switchyard_asan)]
#[inline(always)]
pub(crate) unsafe fn unpoison(addr: usize, len: usize) {
    // SAFETY: plain ASan runtime call on a range the caller vouches for.
    unsafe { ffi::__asan_unpoison_memory_region(addr as *const c_void, len) };
}

/// The shadow byte address of `addr` (ASan's mapping: `(addr >> scale) + offset`, asked of the
/// runtime rather than hard-coded).
#[cfg(switchyard_asan)]
fn shadow_of(addr: usize) -> usize {
    let (mut scale, mut offset) = (0usize, 0usize);
    // SAFETY: plain ASan runtime call writing two locals.
    unsafe { ffi::__asan_get_shadow_mapping(&mut scale, &mut offset) };
    (addr >> scale) + offset
}

/// Appends to `out` the shadow bytes of `[addr, addr + len)` (both multiples of 8: one
/// shadow byte per 8-byte granule).
///
/// # Safety
///
/// The range is mapped memory.
#[cfg(switchyard_asan)]
#[inline(always)]
pub(crate) unsafe fn save_shadow(addr: usize, len: usize, out: &mut Vec<u8>) {
    debug_assert!(addr.is_multiple_of(8) && len.is_multiple_of(8));
    let n = len / 8;
    out.reserve(n);
    // SAFETY: the shadow of a mapped range is mapped (ASan maps all of it); `reserve` made
    // room for `n` more bytes; shadow memory and the heap do not overlap.
    unsafe {
        raw_copy(
            shadow_of(addr) as *const u8,
            out.as_mut_ptr().add(out.len()),
            n,
        );
        out.set_len(out.len() + n);
    }
}

/// Writes `shadow` (saved by [`save_shadow`]) back as the shadow of the memory from `addr` on
/// (a multiple of 8).
///
/// # Safety
///
/// `[addr, addr + 8 * shadow.len())` is mapped memory whose contents are being restored
/// together with this shadow.
#[cfg(switchyard_asan)]
#[inline(always)]
pub(crate) unsafe fn restore_shadow(addr: usize, shadow: &[u8]) {
    debug_assert!(addr.is_multiple_of(8));
    // SAFETY: as for `save_shadow`, in the other direction.
    unsafe { raw_copy(shadow.as_ptr(), shadow_of(addr) as *mut u8, shadow.len()) };
}

/// Copies `len` bytes from `src` to `dst` with `rep movsb`: inline assembly, which ASan never
/// instruments, so stack bytes it considers redzones (a suspended greenlet's) and shadow
/// memory itself can be copied without a report.
///
/// # Safety
///
/// As for [`std::ptr::copy_nonoverlapping`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) unsafe fn raw_copy(src: *const u8, dst: *mut u8, len: usize) {
    // SAFETY: the caller guarantees `src` readable and `dst` writable for `len` bytes, not
    // overlapping; the direction flag is clear (the ABI requires it at every call).
    unsafe {
        core::arch::asm!(
            "rep movsb",
            inout("rcx") len => _,
            inout("rsi") src => _,
            inout("rdi") dst => _,
            options(nostack, preserves_flags),
        )
    };
}

/// The calling thread's stack: what ASan itself takes it to be (`pthread_getattr_np`), the
/// bounds of every main context. Asked once per thread.
pub fn thread_stack() -> StackBounds {
    thread_local! {
        static BOUNDS: std::cell::Cell<Option<StackBounds>> = const { std::cell::Cell::new(None) };
    }
    BOUNDS.with(|cell| {
        if let Some(b) = cell.get() {
            return b;
        }
        let b = query_thread_stack();
        cell.set(Some(b));
        b
    })
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn query_thread_stack() -> StackBounds {
    let mut addr: *mut c_void = std::ptr::null_mut();
    let mut size = 0usize;
    // SAFETY: `attr` is initialised by pthread_getattr_np before it is read and destroyed
    // after; the out-pointers are live locals.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) == 0 {
            libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
            libc::pthread_attr_destroy(&mut attr);
        }
    }
    StackBounds {
        bottom: addr as usize,
        size,
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn query_thread_stack() -> StackBounds {
    StackBounds { bottom: 0, size: 0 }
}

//! The `ucontext` backend: `getcontext` / `makecontext` / `swapcontext` from the C library, on
//! the same mmap'd, guard-paged, pooled stacks as the `mmap` backend ([`crate::stack`]).
//!
//! `makecontext` only passes `int` arguments, so the entry function pointer and its argument
//! are each split into two 32-bit halves and reassembled by the trampoline. Each `ucontext_t`
//! lives in its own box: glibc's saved context points into itself (the floating-point state),
//! so it must never move once filled in.
//!
//! Under AddressSanitizer the switch calls the C library's `swapcontext` itself, not ASan's
//! interceptor of it: the runtime announces every switch with the fiber API
//! ([`crate::asan`]), and the interceptor would also clear the shadow of the whole target stack
//! (16 MiB, on every switch), erasing the redzones of the frames suspended there.

use crate::greenlet::{BackendError, HubConfig};
use crate::stack::{ContextStack, StackContext};
use crate::switch::{Entry, StackBounds, StackSwitch};
use std::ffi::{c_int, c_void};

/// The ucontext backend.
pub struct Ucontext;

/// A greenlet's switching state under [`Ucontext`]: its boxed `ucontext_t` and its stack.
pub type UcontextContext = StackContext<Box<libc::ucontext_t>>;

fn split(v: usize) -> (c_int, c_int) {
    let v = v as u64;
    (v as u32 as c_int, (v >> 32) as u32 as c_int)
}

fn join(lo: c_int, hi: c_int) -> usize {
    ((lo as u32 as u64) | ((hi as u32 as u64) << 32)) as usize
}

extern "C" fn trampoline(entry_lo: c_int, entry_hi: c_int, arg_lo: c_int, arg_hi: c_int) {
    let entry = join(entry_lo, entry_hi);
    let arg = join(arg_lo, arg_hi) as *mut c_void;
    // SAFETY: `entry` is the `Entry` function pointer split in `new_context`, reassembled
    // bit for bit.
    let entry: Entry = unsafe { std::mem::transmute::<usize, Entry>(entry) };
    // SAFETY: calling the entry with the argument it was registered with; it never returns.
    unsafe { entry(arg) }
}

/// The signature of `swapcontext`.
type SwapContextFn = unsafe extern "C" fn(*mut libc::ucontext_t, *const libc::ucontext_t) -> c_int;

/// The C library's `swapcontext`.
#[cfg(not(switchyard_asan))]
#[inline(always)]
fn swapcontext() -> SwapContextFn {
    libc::swapcontext
}

/// The C library's `swapcontext`, past ASan's interceptor (see the module documentation): the
/// next definition after this executable's, found once.
#[cfg(switchyard_asan)]
fn swapcontext() -> SwapContextFn {
    static REAL: std::sync::OnceLock<SwapContextFn> = std::sync::OnceLock::new();
    *REAL.get_or_init(|| {
        // SAFETY: dlsym with a NUL-terminated name; a non-null result for `swapcontext` is the
        // C library's function of that signature.
        unsafe {
            let f = libc::dlsym(libc::RTLD_NEXT, c"swapcontext".as_ptr());
            if f.is_null() {
                libc::swapcontext
            } else {
                std::mem::transmute::<*mut c_void, SwapContextFn>(f)
            }
        }
    })
}

fn zeroed_context() -> Box<libc::ucontext_t> {
    // SAFETY: ucontext_t is plain data for which all-zero bytes are a valid (empty) value.
    Box::new(unsafe { std::mem::zeroed() })
}

// SAFETY: swapcontext saves and restores every callee-saved register, the stack pointer, the
// MXCSR and the x87 environment; each stack is owned by exactly one context.
unsafe impl StackSwitch for Ucontext {
    type Context = UcontextContext;

    fn main_context() -> UcontextContext {
        StackContext::main(zeroed_context())
    }

    fn new_context(
        config: &HubConfig,
        entry: Entry,
        arg: *mut c_void,
    ) -> Result<UcontextContext, BackendError> {
        let stack = ContextStack::take(config.stack_size, "ucontext backend")?;
        let (bottom, top) = match stack.stack() {
            Some(s) => (s.bottom(), s.top()),
            None => unreachable!("a taken context stack has a stack"),
        };
        let mut uc = zeroed_context();
        // SAFETY: `uc` is a valid, boxed (never moving) ucontext_t to fill in.
        if unsafe { libc::getcontext(&mut *uc) } != 0 {
            return Err(BackendError(format!(
                "switchyard: getcontext failed: {}",
                std::io::Error::last_os_error()
            )));
        }
        uc.uc_stack.ss_sp = bottom as *mut c_void;
        uc.uc_stack.ss_size = top as usize - bottom as usize;
        uc.uc_stack.ss_flags = 0;
        uc.uc_link = std::ptr::null_mut();
        let (e_lo, e_hi) = split(entry as *const () as usize);
        let (a_lo, a_hi) = split(arg as usize);
        // SAFETY: `trampoline` takes exactly the four ints passed; it is called through the
        // `extern "C" fn()` type makecontext wants, with those arguments, as makecontext
        // documents. The stack given in `uc_stack` is ours and unused.
        unsafe {
            let f = std::mem::transmute::<extern "C" fn(c_int, c_int, c_int, c_int), extern "C" fn()>(
                trampoline,
            );
            libc::makecontext(&mut *uc, f, 4, e_lo, e_hi, a_lo, a_hi);
        }
        Ok(StackContext::on(stack, uc))
    }

    fn stack_bounds(ctx: &UcontextContext) -> Option<StackBounds> {
        Some(ctx.bounds())
    }

    unsafe extern "C" fn switch(
        from: *mut UcontextContext,
        to: *mut UcontextContext,
        _from_dying: bool,
    ) {
        // SAFETY: the caller guarantees both contexts are live, distinct and of this thread,
        // `to` new (made by makecontext) or suspended in swapcontext.
        let rc = unsafe { swapcontext()(&mut *(*from).saved, &*(*to).saved) };
        if rc != 0 {
            // Nothing was switched; there is no way to report this through `switch`.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                b"switchyard: swapcontext failed\n",
            );
            std::process::abort();
        }
    }
}

//! `tiny`: a deliberately simple stack switcher written outside switchyard, and its registry
//! entry [`TINY`]. It stands for the code you want tested: switchyard wrote none of the
//! switching below, yet runs it under its greenlet runtime, register probe, oracle, fuzzer and
//! minimizer.
//!
//! Each greenlet gets an `mmap`'d stack of `HubConfig::stack_size` bytes with a `PROT_NONE`
//! guard page below (an overflow is a plain SIGSEGV, which a campaign reports as a crash).
//! [`Tiny::switch`] is one naked function, symmetric (any context to any other): it pushes the
//! callee-saved registers and the floating-point control words onto the running stack, stores
//! the stack pointer in `from`, loads `to`'s and pops the same frame off it. A new context's
//! stack starts with such a frame, whose return address is [`start`].
//!
//! Feature `broken` turns one `pop r12` into `pop r11`: the resumed context gets r12 back from
//! whoever switched to it. `tests/broken.rs` shows switchyard finding and minimizing that.

use std::ffi::c_void;
use std::ptr::null_mut;
use switchyard::check::registry::Backend;
use switchyard_impls::greenlet::{BackendError, HubConfig};
use switchyard_impls::runtime::StableStacks;
use switchyard_impls::switch::{Entry, StackSwitch};

/// The registry entry: `tiny` under switchyard's generic runtime with the register probe at
/// every switch, as switchyard runs its own backends.
pub const TINY: Backend = Backend::native::<Tiny>(
    "tiny",
    "examples/custom-backend: an mmap'd stack per greenlet, one naked symmetric switch",
)
.from_crate(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"));

/// The switcher.
pub struct Tiny;

/// One greenlet's state: its saved stack pointer (while it is suspended) and its stack (none
/// for the thread's main context, which runs on the thread's own stack).
#[repr(C)]
pub struct TinyContext {
    /// At offset 0, where [`Tiny::switch`] reads and writes it.
    sp: *mut u8,
    stack: Option<Stack>,
}

/// An `mmap`'d stack with a guard page at its low end, unmapped when dropped.
struct Stack {
    base: *mut u8,
    len: usize,
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: `base..base + len` is a mapping of our own, and nothing runs on it any more
        // (the runtime drops a context only after it has switched away for good).
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// The words a new context's first switch pops, lowest address first (the frame
/// [`Tiny::switch`] pushes, then where [`start`] finds its entry and argument).
#[repr(C)]
struct FirstFrame {
    mxcsr: u32,
    x87_cw: u32,
    r15: u64,
    r14: u64,
    r13: u64,
    r12: u64,
    rbx: u64,
    rbp: u64,
    ret: u64,
    entry: u64,
    arg: u64,
    /// The return address `entry` finds above it: none.
    entry_return: u64,
}

/// The default MXCSR (every exception masked, round to nearest) and x87 control word.
const MXCSR_DEFAULT: u32 = 0x1F80;
const X87_CW_DEFAULT: u32 = 0x037F;

/// Where a new context's first switch returns to, with the stack at [`FirstFrame::entry`]:
/// calls nothing, jumps to `entry(arg)` with the stack as a call would leave it.
#[unsafe(naked)]
unsafe extern "sysv64" fn start() {
    core::arch::naked_asm!("pop rax", "pop rdi", "jmp rax")
}

// SAFETY: `switch` saves rbx, rbp, r12-r15, the MXCSR and the x87 control word on the
// suspending context's own stack and restores exactly those of the context it resumes (unless
// built with the `broken` feature, which exists to break this on purpose); each stack belongs
// to one context and is unmapped only when that context is dropped.
unsafe impl StackSwitch for Tiny {
    type Context = TinyContext;

    fn main_context() -> TinyContext {
        TinyContext {
            sp: null_mut(),
            stack: None,
        }
    }

    fn new_context(
        config: &HubConfig,
        entry: Entry,
        arg: *mut c_void,
    ) -> Result<TinyContext, BackendError> {
        const PAGE: usize = 4096;
        let len = config
            .stack_size
            .checked_next_multiple_of(PAGE)
            .and_then(|n| n.checked_add(PAGE))
            .ok_or_else(|| BackendError(format!("stack of {} bytes", config.stack_size)))?;
        // SAFETY: a fresh anonymous private mapping; no existing memory is touched.
        let base = unsafe {
            libc::mmap(
                null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            let e = std::io::Error::last_os_error();
            return Err(BackendError(format!("tiny: mmap of {len} bytes: {e}")));
        }
        let stack = Stack {
            base: base.cast(),
            len,
        };
        // SAFETY: the lowest page of our own mapping becomes the guard page.
        if unsafe { libc::mprotect(base, PAGE, libc::PROT_NONE) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(BackendError(format!("tiny: guard page: {e}")));
        }
        // The top is page-aligned, so the frame below it leaves `entry_return` at 8 mod 16, as
        // a `call` leaves a return address.
        let frame = FirstFrame {
            mxcsr: MXCSR_DEFAULT,
            x87_cw: X87_CW_DEFAULT,
            r15: 0,
            r14: 0,
            r13: 0,
            r12: 0,
            rbx: 0,
            rbp: 0,
            ret: start as *const () as u64,
            entry: entry as *const () as u64,
            arg: arg as u64,
            entry_return: 0,
        };
        // SAFETY: the frame fits, far above the guard page, in writable memory of our own.
        let sp = unsafe {
            let sp = stack.base.add(len - size_of::<FirstFrame>());
            sp.cast::<FirstFrame>().write(frame);
            sp
        };
        Ok(TinyContext {
            sp,
            stack: Some(stack),
        })
    }

    /// `from` in rdi, `to` in rsi (`from_dying` is not needed: a dying context's frame is
    /// saved like any other and never popped).
    #[unsafe(naked)]
    unsafe extern "C" fn switch(_from: *mut TinyContext, _to: *mut TinyContext, _dying: bool) {
        core::arch::naked_asm!(
            "push rbp",
            "push rbx",
            "push r12",
            "push r13",
            "push r14",
            "push r15",
            "sub rsp, 8",
            "stmxcsr [rsp]",
            "fnstcw [rsp + 4]",
            "mov [rdi], rsp",
            "mov rsp, [rsi]",
            "ldmxcsr [rsp]",
            "fldcw [rsp + 4]",
            "add rsp, 8",
            "pop r15",
            "pop r14",
            "pop r13",
            #[cfg(not(feature = "broken"))]
            "pop r12",
            #[cfg(feature = "broken")]
            "pop r11", // BUG (feature `broken`): r12 keeps the switching context's value
            "pop rbx",
            "pop rbp",
            "ret",
        )
    }
}

// SAFETY: every context runs on a stack of its own that nothing else writes and that is
// unmapped only when the context is dropped.
unsafe impl StableStacks for Tiny {}

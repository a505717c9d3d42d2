//! The worker's fault reporter: a handler for SIGSEGV, SIGBUS, SIGILL and SIGFPE that writes
//! one line, `switchyard worker: SIGSEGV at address 0x...`, to stderr and lets the signal
//! end the process as before, so that a crash finding can say where the fault was
//! ([`FAULT_PREFIX`], read back by [`super::protocol::FailureKind::of_dead_worker`]).
//!
//! Contract: it changes no outcome. After writing its line it hands the signal to the handler
//! that was installed before (Rust's stack-overflow handler, which names a thread's guard page
//! and otherwise falls back to the default action), or restores the default action and lets
//! the fault happen again; a signal sent by another process (`kill`) is raised again. The mmap
//! backend's own guard-page handler, installed later, hands faults it does not own to this
//! one. Only the worker process installs it.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::Once;

/// The start of the line the handler writes.
pub const FAULT_PREFIX: &str = "switchyard worker: ";

const SIGNALS: [(libc::c_int, &str); 4] = [
    (libc::SIGSEGV, "SIGSEGV"),
    (libc::SIGBUS, "SIGBUS"),
    (libc::SIGILL, "SIGILL"),
    (libc::SIGFPE, "SIGFPE"),
];

struct OldActions(UnsafeCell<[MaybeUninit<libc::sigaction>; 4]>);

// SAFETY: written once inside `Once::call_once` before the handler is installed for that
// signal, read-only afterwards.
unsafe impl Sync for OldActions {}

static OLD_ACTIONS: OldActions = OldActions(UnsafeCell::new([MaybeUninit::uninit(); 4]));

/// Installs the reporter, once per process.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (i, (sig, _)) in SIGNALS.into_iter().enumerate() {
            // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; we fill in
            // the handler, and the old action is stored before the new one can run.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_fault as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                let old = (*OLD_ACTIONS.0.get())[i].as_mut_ptr();
                libc::sigaction(sig, &action, old);
            }
        }
    });
}

extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let Some(i) = SIGNALS.iter().position(|(s, _)| *s == sig) else {
        return;
    };
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    let mut buf = [0u8; 96];
    let mut n = copy(&mut buf, FAULT_PREFIX.as_bytes());
    n += copy(&mut buf[n..], SIGNALS[i].1.as_bytes());
    // A positive si_code: the kernel raised it for a fault, and si_addr is meaningful.
    if code > 0 {
        n += copy(&mut buf[n..], b" at address 0x");
        n += write_hex(&mut buf[n..], addr);
    } else {
        n += copy(&mut buf[n..], b" sent by a process");
    }
    n += copy(&mut buf[n..], b"\n");
    // SAFETY: write(2) is async-signal-safe; `buf[..n]` is initialised.
    unsafe { libc::write(2, buf.as_ptr() as *const libc::c_void, n) };

    if code <= 0 {
        // Sent, not a fault: nothing would raise it again. Default action, raised again (it
        // stays pending while this handler runs, and ends the process when it returns).
        // SAFETY: restoring the default action and raising a signal are plain system calls.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
        return;
    }
    // SAFETY: `OLD_ACTIONS[i]` was filled before this handler was installed for `sig` and is
    // never written again.
    let old = unsafe { (*OLD_ACTIONS.0.get())[i].assume_init_ref() };
    // SAFETY: this is the SA_SIGINFO handler that replaced `old` for `sig`, passing on what it
    // received.
    unsafe { switchyard_impls::stack::chain_signal(sig, old, info, ctx) };
}

fn copy(dst: &mut [u8], src: &[u8]) -> usize {
    let n = src.len().min(dst.len());
    dst[..n].copy_from_slice(&src[..n]);
    n
}

fn write_hex(dst: &mut [u8], v: usize) -> usize {
    let mut digits = [0u8; 16];
    for (k, d) in digits.iter_mut().enumerate() {
        let nibble = (v >> ((15 - k) * 4)) & 0xf;
        *d = b"0123456789abcdef"[nibble];
    }
    copy(dst, &digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_16_hex_digits() {
        let mut buf = [0u8; 16];
        assert_eq!(write_hex(&mut buf, 0x7f12_3456_789a), 16);
        assert_eq!(&buf, b"00007f123456789a");
    }
}

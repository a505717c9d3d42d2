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

use switchyard_impls::stack::ChainedSignals;

/// The start of the line the handler writes.
pub const FAULT_PREFIX: &str = "switchyard worker: ";

const SIGNALS: [(libc::c_int, &str); 4] = [
    (libc::SIGSEGV, "SIGSEGV"),
    (libc::SIGBUS, "SIGBUS"),
    (libc::SIGILL, "SIGILL"),
    (libc::SIGFPE, "SIGFPE"),
];

/// The actions the reporter replaced.
static CHAIN: ChainedSignals<4> =
    ChainedSignals::new([SIGNALS[0].0, SIGNALS[1].0, SIGNALS[2].0, SIGNALS[3].0]);

/// Installs the reporter, once per process.
pub fn install() {
    CHAIN.install(on_fault);
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
    // SAFETY: this is the handler `CHAIN.install` installed for `sig`, passing on what it
    // received.
    unsafe { CHAIN.chain(sig, info, ctx) };
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

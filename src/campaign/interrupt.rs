//! Stopping a campaign from outside: `SIGINT`, `SIGTERM` and `SIGHUP` are caught by a handler
//! that only records the signal ([`install`]); the campaign polls [`received`] and stops
//! cleanly (see [`super::run`]). A second signal while the first is being handled ends the
//! process at once with status 128 + the signal (its workers die with it, see
//! [`crate::lifeline`]).
//!
//! Contract: the handler is async-signal-safe (an atomic swap and, for the second signal,
//! `_exit`); nothing here runs unless [`install`] was called.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

/// The signals [`install`] catches.
pub const SIGNALS: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The first signal caught (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(signal: libc::c_int) {
    if RECEIVED.swap(signal, Ordering::SeqCst) != 0 {
        // SAFETY: _exit is async-signal-safe and ends the process without running anything
        // else; the user asked twice.
        unsafe { libc::_exit(128 + signal) };
    }
}

/// Catches [`SIGNALS`] for the rest of the process's life: each is recorded for
/// [`received`] instead of ending the process.
pub fn install() -> io::Result<()> {
    for signal in SIGNALS {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler is
        // an `extern "C" fn(c_int)` that only touches an atomic (or calls _exit), which is
        // async-signal-safe; SA_RESTART keeps blocking reads and writes of other threads
        // from failing with EINTR.
        let failed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut()) != 0
        };
        if failed {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The first of [`SIGNALS`] caught since [`install`], if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// The name of a signal [`install`] catches, for messages.
pub fn name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

//! Ending or crippling the calling process on purpose: the test-only crash injection of the
//! fuzz campaign's workers uses these to prove that a crashed worker is a finding, not the
//! end of a campaign. Nothing on a normal path calls them.

/// Ends the process by `signal` (e.g. `libc::SIGSEGV`) with the signal's default action, the
/// way a crashing backend would: whatever handler was installed (Rust's stack-overflow
/// handler, the mmap backend's guard-page handler) is bypassed.
pub fn die_by_signal(signal: i32) -> ! {
    // SAFETY: resetting a signal's disposition to its default and raising it are plain libc
    // calls with no memory-safety preconditions; the default action ends the process.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
    // Signals whose default action does not end the process (none of those callers use).
    std::process::abort()
}

/// Closes the process's standard output, so that whoever reads it sees it end while the
/// process stays alive.
pub fn close_stdout() {
    // SAFETY: closing file descriptor 1 only makes later writes to stdout fail with EBADF;
    // no memory is involved.
    unsafe {
        libc::close(1);
    }
}

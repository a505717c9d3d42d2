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

/// Ends the process's standard output as its reader sees it, while the process stays alive:
/// file descriptor 1 is pointed at `/dev/null` (`dup2`), which closes this process's
/// reference to the old stdout (a pipe's reader sees end-of-file once no other process holds
/// it). Descriptor 1 stays open, so no file opened later gets it (a plain `close(1)` would let
/// the next `File::create` become fd 1 and receive everything printed); later writes to stdout
/// are discarded.
///
/// # Safety
///
/// The caller is in charge of the process's standard output: no other code relies on file
/// descriptor 1 still referring to what it referred to before (such as a `BorrowedFd` of it,
/// or a library that writes structured output there), since the file behind it is replaced.
pub unsafe fn close_stdout() -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let null = std::fs::File::options().write(true).open("/dev/null")?;
    // SAFETY: `null` is an open descriptor we own; `dup2` makes fd 1 a copy of it, atomically
    // closing fd 1's old file; the caller allows replacing fd 1 (this function's contract), and
    // no memory is involved.
    if unsafe { libc::dup2(null.as_raw_fd(), 1) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

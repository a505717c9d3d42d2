//! Child processes that cannot outlive this process: campaign workers (in `fuzz`, `minimize`
//! and anything else that drives a [`crate::campaign::Worker`]) and the greenlet runner of
//! `crosscheck` are started through [`bind_to_parent`].
//!
//! Contract: a bound child gets `SIGKILL` when the thread that started it ends, whether this
//! process exits, is killed by a signal (even `SIGKILL`) or the starting thread returns; a
//! child whose parent died between `fork` and the binding exits at once. A bound child also
//! runs in its own process group, so that signals sent to the user's process group (Ctrl-C,
//! a terminal hangup, `kill -TERM -PGID`) reach only the parent, which decides what happens
//! to its children. Imports nothing from the other layers.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes the child that `command` starts die with the thread that starts it (Linux
/// `PR_SET_PDEATHSIG` with `SIGKILL`, plus a check that the parent is still the one that
/// forked it) and puts it in a process group of its own.
///
/// The death signal follows the *thread* that spawns the child, so a child must be started
/// on a thread that lives as long as the child is needed (a campaign worker is started and
/// driven on one thread).
pub fn bind_to_parent(command: &mut Command) -> &mut Command {
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the forked child before exec and calls only setpgid,
    // prctl, getppid and _exit, which are async-signal-safe system calls; it touches no
    // memory shared with the parent beyond the copied `parent` integer.
    unsafe {
        command.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl: then the death signal never comes.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        })
    }
}

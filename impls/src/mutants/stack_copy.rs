//! Stack-copy mutants: the real [`crate::backend::stack_copy`] algorithm with one of its mutation hooks
//! switched on.

use crate::backend::stack_copy::{begin_switch, bug, sy_start, sy_switch, Context, StackCopy};
use crate::switch::StackSwitch;

/// Stack copy with mutation `BUG` (one of the stack-copy backend's `bug` constants).
pub struct Mutated<const BUG: u8>;

/// Bug: a *partial* heap copy (one that does not cover all the stack the context owns, i.e.
/// the context was only partly overlapped) is written back 16 bytes above its place: the two
/// words at the context's stack pointer (the saved MXCSR/x87 word and r15 of its suspended
/// switch frame) keep whatever was there, and 16 bytes of its live frames above the copy are
/// overwritten. Whole-stack restores are right.
pub type MutantRestoreOffset = Mutated<{ bug::RESTORE_OFFSET }>;

/// Bug: a partial save (the part of a context's stack that lies below the target's
/// `stack_stop`) stops one word short, so that word is lost when the target's stack is
/// written over it (and a later save that grows the copy appends from the wrong place).
pub type MutantShortSave = Mutated<{ bug::SHORT_SAVE }>;

// SAFETY: none; this backend is broken on purpose (see the type aliases) and exists only for
// tests that expect it to misbehave. Everything but the mutated step is the real stack-copy
// backend's.
unsafe impl<const BUG: u8> StackSwitch for Mutated<BUG> {
    crate::forward_contexts!(StackCopy);

    #[inline]
    unsafe extern "C" fn switch(from: *mut Context, to: *mut Context, from_dying: bool) {
        // SAFETY: switch's contract, passed on (the mutation breaks the backend's own promise,
        // on purpose); as in the real backend's switch, `sy_switch!` only for a started `to`.
        unsafe {
            match begin_switch(from, to, from_dying) {
                None => sy_switch!(bug = BUG, from = from, to = to, lost = none),
                Some((entry, arg)) => sy_start(from, to, entry, arg),
            }
        }
    }
}

//! Deliberately broken greenlet backends ("mutants"), compiled only with the `mutants` feature.
//!
//! Each one has one bug of a kind real stack-switching code has had. They exist to prove that
//! switchyard's differential checking (and the register probe at every switch, see
//! [`crate::probe`]) catches such bugs: `tests/mutants.rs` runs generated programs on each and
//! measures how soon one is found. None of them is a backend anybody should use.
//!
//! - [`swap`]: a stack per greenlet (the mmap backend's stacks) with a register swap that
//!   forgets to restore rbx ([`swap::MutantRbx`]) or MXCSR ([`swap::MutantMxcsr`]): the frame
//!   macros of [`crate::arch::x86_64`] with `lost = rbx` / `lost = mxcsr`, one line each.
//! - [`stack_copy`]: greenlet's stack-copy algorithm with a slice restored 16 bytes off
//!   ([`stack_copy::MutantRestoreOffset`]) or a partial save one word short
//!   ([`stack_copy::MutantShortSave`]), through the hooks in [`crate::backend::stack_copy`].
//! - [`hubs`]: greenlet-semantics bugs, as [`crate::greenlet::Hub`] wrappers around the real
//!   runtime: a value delivered to the wrong greenlet ([`hubs::WrongTarget`]), a dead-parent
//!   walk that skips a level ([`hubs::ParentSkip`]), a kill on the last reference that skips
//!   `parent := current` ([`hubs::KillParent`]), a switch whose dead-parent walk loops forever
//!   ([`hubs::Hang`]), to prove that a hang is found and minimized, and a backend that crashes
//!   with SIGSEGV on some programs ([`hubs::CrashSegv`]), to prove that a campaign survives
//!   dead workers.
//! - [`lost`]: every native backend (mmap, stack-copy, ucontext) with a switch that loses one
//!   callee-saved register or control word, for each of rbx, rbp, r12-r15, MXCSR and the x87
//!   control word: 24 mutants, one line each.
//! - [`redzone`]: the mmap backend writing one byte past a live stack buffer of the suspended
//!   greenlet it resumes ([`redzone::RedzoneWrite`]); the value is unchanged, so only
//!   AddressSanitizer finds it.

pub mod hubs;
pub mod lost;
pub mod redzone;
pub mod stack_copy;
pub mod swap;

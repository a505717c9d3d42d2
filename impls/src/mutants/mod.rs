//! Deliberately broken greenlet backends ("mutants"), compiled only with the `mutants` feature.
//!
//! Each one has one bug of a kind real stack-switching code has had. They exist to prove that
//! switchyard's differential checking (and the register probes around every switch, see
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
//!   walk that skips a level ([`hubs::ParentSkip`]), and a backend that crashes with SIGSEGV
//!   on some programs ([`hubs::CrashSegv`]), to prove that a campaign survives dead workers.
//! - [`hang`]: a switch whose dead-parent walk loops forever ([`hang::MutantHang`]), to prove
//!   that a hang is found and minimized in seconds.

pub mod hang;
pub mod hubs;
pub mod stack_copy;
pub mod swap;

/// Proof that a lost-register mutant of each native assembly backend is one line, for every
/// callee-saved register: these compile (and assemble) in the crate's own tests; a later step
/// can move any of them out and register it.
#[cfg(test)]
mod lost_registers {
    use crate::backend::mmap::mmap_backend;
    use crate::backend::stack_copy::stack_copy_backend;
    use crate::switch::StackSwitch;

    mmap_backend! { struct MmapRbx; stack_name = "mutant mmap backend"; lost = rbx; }
    mmap_backend! { struct MmapRbp; stack_name = "mutant mmap backend"; lost = rbp; }
    mmap_backend! { struct MmapR12; stack_name = "mutant mmap backend"; lost = r12; }
    mmap_backend! { struct MmapR13; stack_name = "mutant mmap backend"; lost = r13; }
    mmap_backend! { struct MmapR14; stack_name = "mutant mmap backend"; lost = r14; }
    mmap_backend! { struct MmapR15; stack_name = "mutant mmap backend"; lost = r15; }
    mmap_backend! { struct MmapMxcsr; stack_name = "mutant mmap backend"; lost = mxcsr; }
    mmap_backend! { struct MmapX87Cw; stack_name = "mutant mmap backend"; lost = x87_cw; }

    stack_copy_backend! { struct StackCopyRbx; lost = rbx; }
    stack_copy_backend! { struct StackCopyRbp; lost = rbp; }
    stack_copy_backend! { struct StackCopyR12; lost = r12; }
    stack_copy_backend! { struct StackCopyR13; lost = r13; }
    stack_copy_backend! { struct StackCopyR14; lost = r14; }
    stack_copy_backend! { struct StackCopyR15; lost = r15; }
    stack_copy_backend! { struct StackCopyMxcsr; lost = mxcsr; }
    stack_copy_backend! { struct StackCopyX87Cw; lost = x87_cw; }

    fn switch_of<S: StackSwitch>() -> unsafe fn(*mut S::Context, *mut S::Context, bool) {
        S::switch
    }

    #[test]
    fn every_register_has_a_one_line_mutant_on_every_assembly_backend() {
        let mmap = [
            switch_of::<MmapRbx>(),
            switch_of::<MmapRbp>(),
            switch_of::<MmapR12>(),
            switch_of::<MmapR13>(),
            switch_of::<MmapR14>(),
            switch_of::<MmapR15>(),
            switch_of::<MmapMxcsr>(),
            switch_of::<MmapX87Cw>(),
        ];
        let stack_copy = [
            switch_of::<StackCopyRbx>(),
            switch_of::<StackCopyRbp>(),
            switch_of::<StackCopyR12>(),
            switch_of::<StackCopyR13>(),
            switch_of::<StackCopyR14>(),
            switch_of::<StackCopyR15>(),
            switch_of::<StackCopyMxcsr>(),
            switch_of::<StackCopyX87Cw>(),
        ];
        assert_eq!(mmap.len() + stack_copy.len(), 16);
    }
}

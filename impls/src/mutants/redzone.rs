//! The AddressSanitizer mutant: [`RedzoneWrite`] is the real mmap backend, except that every
//! switch writes one byte past the end of a live stack buffer of the greenlet it is about to
//! resume, while that greenlet is still suspended: a stack-buffer overflow into another
//! context's frame.
//!
//! The byte written is the byte that was there (an atomic add of 0), so nothing a trace can see
//! changes, and the differential check, the register probe and Valgrind (which knows nothing
//! of stack-frame layouts) all pass it: only AddressSanitizer, which keeps redzones around
//! every stack buffer whose address escapes, reports it (`stack-buffer-overflow`, naming the
//! address and the frame). It exists to prove that the ASan builds (`cargo fuzz run`, and
//! `switchyard fuzz` built by `ci/asan.sh`) check what they should: the fiber annotations
//! ([`crate::asan`]) keep each greenlet's redzones its own, so this write into a suspended
//! greenlet's frame is caught while the real backends run clean.

use crate::backend::mmap::{Mmap, MmapContext};
use crate::greenlet::{BackendError, HubConfig};
use crate::switch::{Entry, StackBounds, StackSwitch};
use std::cell::RefCell;
use std::ffi::c_void;
use std::hint::black_box;
use std::sync::atomic::{AtomicU8, Ordering};

/// The mmap backend with a one-byte overflow into a suspended greenlet's stack buffer at every
/// switch (see the module documentation).
pub struct RedzoneWrite;

/// Bytes of the buffer each switching frame keeps live across its suspension (a multiple of
/// 8, so the byte past its end starts an ASan granule of its own: all redzone).
const BUFFER: usize = 24;

thread_local! {
    /// (context, its switching frame's buffer) for every context of this thread suspended in
    /// [`RedzoneWrite`]'s switch.
    static BUFFERS: RefCell<Vec<(usize, usize)>> = const { RefCell::new(Vec::new()) };
}

/// Takes the buffer `ctx` suspended with, if it did (a new context has none).
fn take_buffer(ctx: *mut MmapContext) -> Option<*mut u8> {
    BUFFERS.with(|b| {
        let mut b = b.borrow_mut();
        let i = b.iter().position(|&(c, _)| c == ctx as usize)?;
        Some(b.swap_remove(i).1 as *mut u8)
    })
}

// SAFETY: none; a deliberately broken mutant (feature `mutants`) that writes into another
// context's stack frame, out of bounds of the buffer it aims at. The write stores the value it
// finds, into a suspended context's live stack memory, so in builds without ASan it changes
// nothing; every other promise is the mmap backend's.
unsafe impl StackSwitch for RedzoneWrite {
    type Context = MmapContext;

    fn main_context() -> MmapContext {
        Mmap::main_context()
    }

    fn new_context(
        config: &HubConfig,
        entry: Entry,
        arg: *mut c_void,
    ) -> Result<MmapContext, BackendError> {
        Mmap::new_context(config, entry, arg)
    }

    fn stack_bounds(ctx: &MmapContext) -> Option<StackBounds> {
        Mmap::stack_bounds(ctx)
    }

    unsafe extern "C" fn switch(from: *mut MmapContext, to: *mut MmapContext, from_dying: bool) {
        // A live stack buffer of this frame, kept (and its address known) while `from` is
        // suspended here.
        let mut buffer = [0u8; BUFFER];
        let mine = black_box(buffer.as_mut_ptr());
        if let Some(theirs) = take_buffer(to) {
            // The bug: one byte past the end of the buffer `to` suspended with.
            // SAFETY: none, deliberately: `theirs + BUFFER` is past the end of `to`'s buffer
            // (still mapped stack memory of the suspended `to`, which nothing else uses now).
            unsafe { AtomicU8::from_ptr(theirs.add(BUFFER)).fetch_add(0, Ordering::SeqCst) };
        }
        if !from_dying {
            BUFFERS.with(|b| b.borrow_mut().push((from as usize, mine as usize)));
        }
        // SAFETY: switch's contract, passed on to the real mmap switch.
        unsafe { Mmap::switch(from, to, from_dying) };
        black_box(&mut buffer);
    }
}

// SAFETY: every context runs on a `Stack` mapping of its own, as `Mmap`'s do; the bug is an
// out-of-bounds write, not where stacks live.
unsafe impl crate::runtime::StableStacks for RedzoneWrite {}

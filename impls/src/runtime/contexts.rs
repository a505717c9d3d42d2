//! Where a hub keeps its greenlets' backend contexts: inline, one cell per slot, in chunks of
//! [`CHUNK`] cells that never move once allocated.
//!
//! A backend's switch is handed pointers to two contexts that must not move while either is
//! suspended or running (`StackSwitch::switch`), and stack-copy links suspended contexts to
//! each other; the records (`Rec`) live in a `Vec` that moves when it grows, so the contexts
//! cannot live there. Keeping them inline here instead of in a box each saves the allocator's
//! header and rounding per greenlet (a 40-byte stack-copy context is a 48-byte malloc chunk)
//! and a `malloc`/`free` pair per spawn.
//!
//! The cells are only ever reached through raw pointers ([`Contexts::ptr`]): no reference to a
//! context is made here, so a pointer a suspended switch holds stays valid whatever else is
//! read or written. Which cells hold a context is the runtime's business (`Rec::has_context`):
//! this module never drops a context, and frees a chunk's memory only when the hub goes away
//! and only if the runtime has not kept it ([`Contexts::keep_chunk_of`]).

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::ptr::NonNull;

/// Cells per chunk.
const CHUNK: usize = 32;

type Slot<C> = UnsafeCell<MaybeUninit<C>>;

pub(super) struct Contexts<C> {
    /// The chunks. Reached only by the methods below, none of which hands out a reference
    /// into the `Vec` or calls out while it holds one; the hub is used on one thread only.
    chunks: UnsafeCell<Vec<Chunk<C>>>,
}

struct Chunk<C> {
    /// The first of `CHUNK` cells, from `Box::into_raw`.
    first: NonNull<Slot<C>>,
    /// Never freed ([`Contexts::keep_chunk_of`]).
    kept: bool,
}

impl<C> Contexts<C> {
    pub(super) fn new() -> Self {
        Contexts {
            chunks: UnsafeCell::new(Vec::new()),
        }
    }

    /// Makes room for a context in `slot` (allocating the chunks up to it).
    pub(super) fn reserve(&self, slot: u32) {
        let slot = slot as usize;
        // SAFETY: no reference into `chunks` is live (see the field), and this one ends here.
        let chunks = unsafe { &mut *self.chunks.get() };
        while chunks.len() * CHUNK <= slot {
            let cells: Box<[Slot<C>]> = (0..CHUNK)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect();
            // SAFETY: `Box::into_raw` never gives a null pointer.
            let first = unsafe { NonNull::new_unchecked(Box::into_raw(cells) as *mut Slot<C>) };
            chunks.push(Chunk { first, kept: false });
        }
    }

    /// The cell of `slot`, which [`Contexts::reserve`] has made room for (panics otherwise).
    /// The pointer stays valid until the hub goes away; whether a context is in the cell is
    /// the caller's to know.
    #[inline(always)]
    pub(super) fn ptr(&self, slot: u32) -> *mut C {
        // SAFETY: no mutable reference into `chunks` is live (see the field); this shared one
        // ends here.
        let chunks = unsafe { (*self.chunks.get()).len() };
        assert!(
            (slot as usize) < chunks * CHUNK,
            "switchyard: no context cell for slot {slot}"
        );
        // SAFETY: the cell exists (checked above).
        unsafe { self.ptr_unchecked(slot) }
    }

    /// [`Contexts::ptr`] without the check that the cell exists, for the switch's fast path.
    ///
    /// # Safety
    ///
    /// [`Contexts::reserve`] has made room for `slot` (the runtime reserves a slot's cell
    /// before its record exists, so every slot below the records' length has one).
    #[inline(always)]
    pub(super) unsafe fn ptr_unchecked(&self, slot: u32) -> *mut C {
        let slot = slot as usize;
        // SAFETY: no mutable reference into `chunks` is live (see the field); this shared one
        // ends here. The chunk exists (the caller's promise) and has `CHUNK` cells.
        unsafe {
            let chunks = &*self.chunks.get();
            let first = chunks.get_unchecked(slot / CHUNK).first;
            UnsafeCell::raw_get(first.as_ptr().add(slot % CHUNK)).cast()
        }
    }

    /// Puts `ctx` in the cell of `slot`, which [`Contexts::reserve`] has made room for.
    ///
    /// # Safety
    ///
    /// The cell is empty: no context is in it, or the one there is dropped already (it is
    /// overwritten, not dropped), and no switch holds a pointer to it.
    pub(super) unsafe fn put(&self, slot: u32, ctx: C) {
        // SAFETY: `ptr` gives a valid, aligned cell of this hub's, which nothing refers to
        // (the caller's promise); writing does not read or drop what was there.
        unsafe { self.ptr(slot).write(ctx) };
    }

    /// Keeps the chunk holding `slot`'s cell allocated for good (when the hub goes away): a
    /// context left in it (one whose greenlet refused to die) may still be pointed to.
    pub(super) fn keep_chunk_of(&mut self, slot: u32) {
        self.chunks.get_mut()[slot as usize / CHUNK].kept = true;
    }
}

impl<C> Drop for Contexts<C> {
    fn drop(&mut self) {
        for chunk in self.chunks.get_mut().drain(..).filter(|c| !c.kept) {
            let cells = std::ptr::slice_from_raw_parts_mut(chunk.first.as_ptr(), CHUNK);
            // SAFETY: made by `Box::into_raw` of a `CHUNK`-cell boxed slice in `reserve` and
            // freed once, here. Its cells are `MaybeUninit`: freeing drops no context (the
            // runtime has dropped every one it had to).
            drop(unsafe { Box::from_raw(cells) });
        }
    }
}

//! A stack-copy context's heap copy of its stack ([`SaveBuffer`]: placement within a page,
//! growth, freeing) and the copies between stack and heap ([`copy_stack_bytes`], and the
//! save's and the restore's own, [`save_stack_bytes`] and [`restore_stack_bytes`]). Split out
//! of `stack_copy.rs`, which keeps the context, the chain and the switch.

use crate::words::Word;
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::{self, null_mut};

/// Saves below this many bytes take a plain allocation, not placed at the stack's offset
/// within a page (see [`SaveBuffer`]).
pub(super) const SMALL_SAVE: usize = 1024;

/// A context's heap copy of part of its stack: one buffer per context, kept from one
/// suspension to the next (a restore only marks it empty), so that a greenlet switching at
/// the same depth again allocates nothing; it grows when a save needs more and is freed when
/// the context dies or is dropped.
///
/// Placement: a buffer for [`SMALL_SAVE`] bytes or more is put at the same offset within a
/// 4 KiB page as the stack bytes it holds (`data ≡ stack_start (mod 4096)`), so that the
/// source and destination of both copies (stack to heap when saving, heap to stack when
/// restoring) are 0 bytes apart modulo 4096. A copy whose destination sits just past its
/// source modulo 4096 (say 16 bytes) makes `rep movsb`/vector loads alias the stores just made
/// ("4K aliasing"): measured on the development machine (AMD EPYC, glibc 2.36) a 4 KiB save
/// costs 96 ns at +16 bytes and a restore 98 ns at -16 bytes, against 41-43 ns at offset 0; on
/// some Intel parts the brief measured 1.4 µs against 51 ns. Smaller saves take a plain
/// 16-byte-aligned allocation (the allocator's fast path, no padding: for them the aliasing
/// penalty is a few nanoseconds, and a suspended greenlet's bookkeeping stays small).
pub(super) struct SaveBuffer {
    /// Start of the allocation (null: nothing allocated). Byte 0 of the copy is at
    /// [`SaveBuffer::data`]: `base` plus the placement padding, which follows from the size
    /// and the context's `stack_start` (kept out of the struct, as are 64-bit sizes, so that a
    /// context is 40 bytes: issue 12's memory budget, see `Context`).
    pub(super) base: *mut u8,
    /// Bytes of the copy that are in use (greenlet's `_stack_saved`).
    pub(super) len: u32,
    /// Size of the allocation; its alignment is [`SaveBuffer::align_of`] of it. A save of
    /// 4 GiB or more aborts the process (see [`SaveBuffer::grow`]).
    pub(super) size: u32,
    /// In a sanitized build: ASan's shadow bytes of the copy, one per 8 bytes (see
    /// [`crate::asan`]), saved and restored with it.
    #[cfg(switchyard_asan)]
    pub(super) shadow: Vec<u8>,
}

impl SaveBuffer {
    pub(super) const EMPTY: SaveBuffer = SaveBuffer {
        base: null_mut(),
        len: 0,
        size: 0,
        #[cfg(switchyard_asan)]
        shadow: Vec::new(),
    };

    /// The alignment of an allocation of `size` bytes (sizes of page-aligned allocations are
    /// made a multiple of 4096, all others are smaller or not: see [`SaveBuffer::layout_for`]).
    pub(super) fn align_of(size: usize) -> usize {
        if size >= SMALL_SAVE && size.is_multiple_of(4096) {
            4096
        } else {
            16
        }
    }

    /// Where byte 0 of the copy of the stack from `start` on is (only meaningful while
    /// `base` is not null): past the placement padding of [`SaveBuffer::layout_for`].
    #[inline(always)]
    pub(super) fn data(&self, start: usize) -> *mut u8 {
        let size = self.size as usize;
        let pad = if Self::align_of(size) == 4096 {
            start & 4095
        } else {
            0
        };
        self.base.wrapping_add(pad)
    }

    pub(super) fn layout(&self) -> Layout {
        let size = self.size as usize;
        match Layout::from_size_align(size, Self::align_of(size)) {
            Ok(layout) => layout,
            Err(_) => std::process::abort(),
        }
    }

    /// Layout and padding for a buffer of `size` bytes that holds stack bytes from `start` on.
    pub(super) fn layout_for(start: usize, size: usize) -> (Layout, usize) {
        let (align, pad, total) = if size < SMALL_SAVE {
            (16, 0, size.next_multiple_of(16))
        } else {
            let pad = start & 4095;
            (4096, pad, (pad + size).next_multiple_of(4096))
        };
        debug_assert_eq!(Self::align_of(total), align);
        match Layout::from_size_align(total, align) {
            Ok(layout) => (layout, pad),
            Err(_) => std::process::abort(),
        }
    }

    /// Makes room for `size` (> 0) bytes of copy of the stack from `start` on, keeping the
    /// `len` bytes saved already (which, when there are any, were saved from the same
    /// `start`), and returns where byte 0 of the copy is ([`SaveBuffer::data`]).
    #[inline(always)]
    pub(super) fn reserve(&mut self, start: usize, size: usize) -> *mut u8 {
        debug_assert!(size > 0);
        if let Some(data) = self.fits(start, size) {
            return data;
        }
        self.grow(start, size);
        self.data(start)
    }

    /// Where byte 0 of a copy of `size` (> 0) bytes of the stack from `start` on goes, if the
    /// buffer has room for it as it is ([`SaveBuffer::reserve`] without growing); `None` if it
    /// must grow first (a buffer for [`SMALL_SAVE`] bytes or more is placed by page offset,
    /// so a small buffer never takes a save that big).
    #[inline(always)]
    pub(super) fn fits(&self, start: usize, size: usize) -> Option<*mut u8> {
        let cap = self.size as usize;
        let paged = Self::align_of(cap) == 4096;
        // What `data(start)` adds; when `len > 0` the copy started at the same `start`, so it
        // is where it already is. An empty buffer (null `base`, `size` 0) never fits.
        let pad = if paged { start & 4095 } else { 0 };
        (pad + size <= cap && (paged || size < SMALL_SAVE)).then(|| self.base.wrapping_add(pad))
    }

    #[cold]
    #[inline(never)]
    pub(super) fn grow(&mut self, start: usize, size: usize) {
        let (layout, pad) = Self::layout_for(start, size);
        let Ok(new_size) = u32::try_from(layout.size()) else {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "switchyard: stack-copy cannot save 4 GiB or more of one greenlet's stack"
            );
            std::process::abort();
        };
        // SAFETY: `layout` has a non-zero size (at least 16 bytes).
        let base = unsafe { alloc(layout) };
        if base.is_null() {
            handle_alloc_error(layout);
        }
        // SAFETY: `pad + size <= layout.size()`, so `data` and the `size` bytes after it lie in
        // the new allocation.
        let data = unsafe { base.add(pad) };
        if !self.base.is_null() {
            // SAFETY: the old buffer holds `len` initialised bytes at `data`, the new one has
            // room for `size >= len` bytes; two distinct allocations do not overlap; the old
            // allocation was made with `self.layout()`.
            unsafe {
                ptr::copy_nonoverlapping(self.data(start), data, self.len as usize);
                dealloc(self.base, self.layout());
            }
        }
        self.base = base;
        self.size = new_size;
    }

    /// Frees the buffer (if any) and forgets the saved bytes.
    pub(super) fn free(&mut self) {
        if !self.base.is_null() {
            // SAFETY: `base` was allocated with `layout` and not freed since.
            unsafe { dealloc(self.base, self.layout()) };
        }
        *self = SaveBuffer::EMPTY;
    }
}

/// Copies stack bytes to the heap or back: `memcpy` normally; in a sanitized build a copy ASan
/// does not check ([`crate::asan::raw_copy`]), because a suspended greenlet's bytes include
/// its frames' redzones, which ASan would report as overflows if `memcpy` read them.
///
/// # Safety
///
/// As for [`ptr::copy_nonoverlapping`].
#[inline(always)]
pub(super) unsafe fn copy_stack_bytes(src: *const u8, dst: *mut u8, len: usize) {
    // SAFETY: passed on from the caller.
    unsafe {
        if crate::asan::ENABLED {
            crate::asan::raw_copy(src, dst, len);
        } else {
            ptr::copy_nonoverlapping(src, dst, len);
        }
    }
}

/// [`copy_stack_bytes`] for a save: the lowest bytes (the frame the switch has just pushed,
/// still in the store buffer) are read eight bytes at a time, as they were written
/// ([`crate::words`]); `memcpy`'s wide loads of them could not be forwarded from the store
/// buffer and would stall. The rest goes by `memcpy`.
///
/// How many bytes go word by word (`HOT`) was measured: 256 until the runtime's
/// payload stopped going through the stack on the way to the switch; after that, in
/// alternated runs (fastest of 9 samples, 8 runs each), 256 bytes gave 44-46 ns at 0 KiB and
/// 61-62 ns at 1 KiB, 64 bytes 40-42 ns and 50-55 ns, 32 or none about the same as 64. Later,
/// in alternated paired runs of the 0 KiB goal (four each), none read 1.60-1.83 against
/// 1.49-1.60 for 64, and 128 no better than 64.
///
/// # Safety
///
/// As for [`ptr::copy_nonoverlapping`]; `src`, `dst` and `len` are multiples of 8.
#[inline(always)]
pub(super) unsafe fn save_stack_bytes(src: *const u8, dst: *mut u8, len: usize) {
    const HOT: usize = 64;
    if crate::asan::ENABLED {
        // SAFETY: passed on from the caller.
        unsafe { copy_stack_bytes(src, dst, len) };
        return;
    }
    let hot = len.min(HOT);
    // SAFETY: `hot <= len` bytes, `hot / 8` whole words of both ranges, 8-byte aligned (the
    // caller). A constant count when there are `HOT` bytes or more (every save but the
    // smallest), so that the copy is straight-line code.
    unsafe {
        if hot == HOT {
            crate::words::copy(src as *const Word, dst as *mut Word, HOT / 8);
        } else {
            crate::words::copy(src as *const Word, dst as *mut Word, hot / 8);
        }
    }
    if len > hot {
        // SAFETY: the rest of both ranges.
        unsafe { copy_stack_bytes(src.add(hot), dst.add(hot), len - hot) };
    }
}

/// [`copy_stack_bytes`] for a restore: the lowest bytes (the frame the switch pops right after
/// the restore: its resume address, control words, rbx and rbp) eight bytes at a time, as
/// the pops read them ([`crate::words`]), then the rest by `memcpy`, as the restore step's
/// last call (a tail call). `memcpy` of the whole range stores its first 32 bytes last and
/// with one wide store, so the pops' narrower loads right after it were not forwarded whole
/// from the store buffer and waited; here `memcpy` does not write those bytes at all.
///
/// Measured in alternated paired runs (`switchyard bench --backends mmap,stack-copy --depths
/// 0,1 --no-memory --no-page-offsets`), the stack-copy 0 KiB goal: 1.62 / 1.53 / 1.66 / 1.67
/// with a plain `memcpy`, 1.51 / 1.46 / 1.51 / 1.49 with 64 bytes word by word; then 64
/// bytes 1.56 / 1.76 / 1.56 against 32 bytes 1.51 / 1.47 / 1.53 (8 instructions fewer).
///
/// # Safety
///
/// As for [`ptr::copy_nonoverlapping`]; `src`, `dst` and `len` are multiples of 8.
#[inline(always)]
pub(super) unsafe fn restore_stack_bytes(src: *const u8, dst: *mut u8, len: usize) {
    const HOT: usize = 32;
    if crate::asan::ENABLED || len < HOT {
        // SAFETY: passed on from the caller.
        unsafe { copy_stack_bytes(src, dst, len) };
        return;
    }
    // SAFETY: both ranges hold `len >= HOT` bytes (the caller's); the lowest `HOT` bytes as
    // `HOT / 8` whole words, 8-byte aligned (the caller), then the rest.
    unsafe {
        crate::words::copy(src as *const Word, dst as *mut Word, HOT / 8);
        copy_stack_bytes(src.add(HOT), dst.add(HOT), len - HOT);
    }
}

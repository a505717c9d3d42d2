//! Copies that read eight bytes at a time, for bytes written just before (a switch's payload,
//! the frames a switch has just pushed): a load wider than the stores that wrote it cannot be
//! forwarded from the store buffer and stalls, and the compiler's own copies (`memcpy`, moves
//! of values) use 16- and 32-byte loads. Volatile reads are never widened or merged. The words
//! are `MaybeUninit<u64>`, so padding and uninitialised bytes are copied as they are, never
//! read as integers.

use std::mem::MaybeUninit;

/// One word of a copy.
pub(crate) type Word = MaybeUninit<u64>;

/// Copies `words` words from `src` to `dst`, each read with one 8-byte load.
///
/// # Safety
///
/// `src` is valid for reads and `dst` for writes of `words` words, both 8-byte aligned, not
/// overlapping.
#[inline(always)]
pub(crate) unsafe fn copy(src: *const Word, dst: *mut Word, words: usize) {
    for i in 0..words {
        // SAFETY: word `i < words` lies inside both ranges (the caller's contract); a
        // `MaybeUninit` word may hold any bytes.
        unsafe { dst.add(i).write(src.add(i).read_volatile()) };
    }
}

/// How many words a `T` is, when it is made of at most eight whole 8-byte-aligned words (the
/// values [`copy_value`] and [`write_value`] move a word at a time); `None` otherwise.
#[inline(always)]
const fn whole_words<T>() -> Option<usize> {
    let size = std::mem::size_of::<T>();
    if size.is_multiple_of(8) && std::mem::align_of::<T>() >= 8 && size <= 64 {
        Some(size / 8)
    } else {
        None
    }
}

/// Copies one `T` from `src` to `dst` (a move if the caller then forgets `src`) with [`copy`]
/// when `T` is made of at most eight whole aligned words, and as the compiler likes otherwise.
///
/// # Safety
///
/// `src` is valid for reads and `dst` for writes of one `T`, both aligned, not overlapping.
#[inline(always)]
pub(crate) unsafe fn copy_value<T>(src: *const T, dst: *mut T) {
    if let Some(words) = const { whole_words::<T>() } {
        // SAFETY: a `T` is `words` whole words, 8-byte aligned (`whole_words`).
        unsafe { copy(src as *const Word, dst as *mut Word, words) };
    } else {
        // SAFETY: the caller's contract.
        unsafe { std::ptr::copy_nonoverlapping(src, dst, 1) };
    }
}

/// Moves `value` to `dst` eight bytes at a time with volatile stores when `T` is made of at
/// most eight whole aligned words (as the compiler likes otherwise), so that a reader of
/// `dst` that loads a word at a time finds each word in one store.
///
/// # Safety
///
/// `dst` is valid for writes of one `T` and aligned; what it held is overwritten, not dropped.
#[inline(always)]
pub(crate) unsafe fn write_value<T>(value: T, dst: *mut T) {
    if let Some(words) = const { whole_words::<T>() } {
        let value = std::mem::ManuallyDrop::new(value);
        let src = &*value as *const T as *const Word;
        for i in 0..words {
            // SAFETY: word `i` lies inside `value` and inside `*dst` (a `T` is `words` whole
            // words, 8-byte aligned: `whole_words`); a `MaybeUninit` word may hold any bytes;
            // the value is moved, never dropped here.
            unsafe { dst.cast::<Word>().add(i).write_volatile(src.add(i).read()) };
        }
    } else {
        // SAFETY: the caller's contract.
        unsafe { dst.write(value) };
    }
}

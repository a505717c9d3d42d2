//! The `stack-copy` backend: greenlet's own stack-switching algorithm, for x86-64 Linux.
//!
//! Every greenlet of an OS thread runs on that thread's own stack. A context *owns* the stack
//! range `[stack_start, stack_stop)`:
//!
//! - the main context's `stack_stop` is the top of the address space (`usize::MAX`);
//! - a new context's `stack_stop` is the stack pointer of the switch that first runs it: its
//!   entry function runs on the thread stack just below that switching frame;
//! - `stack_start` is the stack pointer at which a context was last suspended.
//!
//! Only one context can have a given stack byte *live* at a time. On a switch from `from` to
//! `to`, every byte of another context that lies between the current stack pointer and
//! `to.stack_stop` is copied to the heap (only the part not saved yet: a context's heap copy
//! grows as deeper switches overlap more of it), the stack pointer is moved to `to`'s
//! `stack_start`, and `to`'s own heap copy is written back onto the stack and marked empty
//! (the buffer is kept for the next suspension). The contexts that still have live bytes on
//! the stack form a chain through `stack_prev`, starting at the running context and ordered
//! by increasing `stack_stop`; the save walk follows that chain from the running context
//! upwards.
//!
//! A heap copy always starts at the context's `stack_start`: byte `i` of the copy is the stack
//! byte `stack_start + i`. Growing a partial save therefore appends bytes at higher stack
//! addresses (towards `stack_stop`, the older frames) and keeps the bytes saved before.
//!
//! The switch between two started contexts is one inline `asm!` statement, [`sy_switch!`],
//! inlined where [`StackSwitch::switch`] is called: it pushes the mmap switch's frame
//! ([`SwitchFrame`](crate::arch::x86_64::SwitchFrame): rbp, rbx, MXCSR and the x87 control
//! word, and the address it continues at; r12-r15 are `asm!` clobbers), calls the non-inlined
//! `extern "C"` save step `sy_save_state` (`to` kept in rbp across it), moves rsp to
//! `to.stack_start`, calls the restore step `sy_restore_state` (unless `to` has nothing
//! saved; always in sanitized builds), and continues the target with `pop rax; jmp rax`. Each
//! `call` returns on the stack it was made on, so the return-address predictor stays right (a
//! naked `sy_switch` entered by `call` and left by a `ret` into the other context's call was
//! mispredicted twice per round trip). rbp is then popped from the target's own frame.
//!
//! The first switch into a new context (greenlet's `g_initialstub`) is the naked function
//! `sy_start`: it pushes r12-r15 and then `from`'s `SwitchFrame` exactly as `sy_switch!`
//! does, records that stack pointer as both `from`'s `stack_start` and the new context's
//! `stack_stop` (`sy_start_state`), and calls `entry(arg)` right there: nothing is copied,
//! since every live byte is above that point. `from` is later resumed by a switch's
//! `pop rax; jmp rax` into `sy_start`'s own tail, which pops that frame and returns from
//! `sy_start`.
//!
//! A dying `from` is marked dead (`stack_start = 0`) before the switch: the save walk then
//! skips it (nothing of it is copied), the target is linked to the chain past it, and a new
//! context started by a dying one takes the dying one's `stack_prev`.
//!
//! Per-thread state is a single thread-local, [`ThreadState`]: the context running now, used
//! to unlink a suspended context from the chain when it is dropped, and the bytes copied so
//! far (sanitized builds keep one more, the stack pointer of the last save step). Contexts of
//! two threads share nothing.

use crate::greenlet::{BackendError, HubConfig};
use crate::switch::{Entry, StackBounds, StackSwitch};
use std::cell::Cell;
use std::ffi::c_void;
use std::ptr::null_mut;

mod save_buffer;
use save_buffer::{restore_stack_bytes, save_stack_bytes, SaveBuffer};

/// The stack-copy backend.
pub struct StackCopy;

/// Mutation hooks: the switch functions take a `const BUG: u8` that is [`bug::NONE`] for the
/// real backend (every hook then folds away at compile time) and something else only for the
/// deliberately broken backends of the `mutants` feature.
pub(crate) mod bug {
    /// The real algorithm.
    pub(crate) const NONE: u8 = 0;
    /// A partial heap copy (one that does not cover the whole stack the context owns) is
    /// written back 16 bytes above where it belongs.
    pub(crate) const RESTORE_OFFSET: u8 = 1;
    /// A partial save (the part of a context's stack below the target's `stack_stop`) stops
    /// one word short.
    pub(crate) const SHORT_SAVE: u8 = 2;
}

/// `stack_stop` of the main context: the whole stack above its `stack_start` is its own.
const MAIN_STOP: usize = usize::MAX;
/// `stack_start` of a running context that has never been suspended (greenlet's
/// `set_active`): any non-zero value means "alive"; the real value is written at the first
/// suspension.
const ACTIVE: usize = 1;

/// Switching state of one greenlet on the stack-copy backend (greenlet's `StackState`).
///
/// States, read off the fields:
/// - unstarted: `stack_stop == 0`;
/// - alive (running or suspended): `stack_stop != 0` and `stack_start != 0`;
/// - dead (has switched away with `from_dying`): `stack_stop != 0` and `stack_start == 0`.
///
/// An unstarted context keeps what it will run in the two fields that mean nothing until it
/// runs: the entry function's address in `stack_start` (0 once the first switch has taken
/// it) and its argument in `stack_prev`. That keeps the context at 40 bytes: the runtime
/// stores contexts inline, and issue 12's budget for a suspended stack-copy greenlet beyond
/// its saved bytes is 128 bytes in all.
pub struct Context {
    /// Stack pointer at the last suspension ([`ACTIVE`] before the first one); 0 when dead.
    /// While unstarted: the address of its [`Entry`].
    stack_start: usize,
    /// Upper end (exclusive) of the stack this context owns; 0 while unstarted.
    stack_stop: usize,
    /// The next context up the stack that still has live bytes on it, while this one is in the
    /// running context's chain; stale (never read) otherwise. While unstarted: the entry's
    /// argument.
    stack_prev: *mut Context,
    /// The heap copy of `[stack_start, stack_start + saved.len)`.
    saved: SaveBuffer,
}

#[cfg(not(switchyard_asan))]
const _: () = assert!(std::mem::size_of::<Context>() == 40);

/// Where a context's count of saved bytes is ([`sy_switch!`] reads it to skip an empty
/// restore).
pub(crate) const SAVED_LEN_OFFSET: usize =
    std::mem::offset_of!(Context, saved) + std::mem::offset_of!(SaveBuffer, len);
/// Where a context's `stack_start` is ([`sy_switch!`] moves the stack pointer there once the
/// save step has run).
pub(crate) const STACK_START_OFFSET: usize = std::mem::offset_of!(Context, stack_start);
// The switch compares it as a doubleword: it is a `u32`.
const _: fn(&SaveBuffer) -> u32 = |b| b.len;

/// 1 when [`sy_switch!`] skips the restore step of a context with nothing saved (0 in
/// sanitized builds: see there).
pub(crate) const SKIP_EMPTY_RESTORE: u8 = if cfg!(switchyard_asan) { 0 } else { 1 };

/// The per-thread state of the stack-copy switches.
///
/// [`sy_switch!`] hands the save step a pointer to it, found by the inlined code around the
/// switch: a thread-local's address is compiled as a call (`__tls_get_addr`, which the linker
/// then turns into two instructions), and a save or restore step that used one itself kept
/// its values in callee-saved registers around that call, pushing and popping them on every
/// switch although nothing was called.
pub(crate) struct ThreadState {
    /// The context running now on this thread (null before the first switch). Only read to
    /// unlink a dropped context from the running context's `stack_prev` chain.
    current: Cell<*mut Context>,
    /// Bytes this thread's switches have copied, stack to heap and heap to stack (see
    /// [`copy_counts`]): a plain add in the save step.
    copied: Cell<CopyCounts>,
}

thread_local! {
    static THREAD: ThreadState = const {
        ThreadState {
            current: Cell::new(null_mut()),
            copied: Cell::new(CopyCounts { saved: 0, restored: 0 }),
        }
    };
}

/// This thread's [`ThreadState`], for [`sy_switch!`] to hand to the save step.
///
/// The pointer outlives the closure that lends it: the thread-local is `const`-initialized
/// and has no destructor, so it lives, unmoved, as long as the thread, and the save step uses
/// the pointer on this thread during the switch.
#[inline(always)]
pub(crate) fn thread_state() -> *const ThreadState {
    THREAD.with(|t| t as *const ThreadState)
}

impl ThreadState {
    /// Counts `n` more bytes saved.
    #[inline(always)]
    fn count_saved(&self, n: usize) {
        let mut counts = self.copied.get();
        counts.saved += n as u64;
        self.copied.set(counts);
    }

    /// Counts `n` more bytes restored.
    #[inline(always)]
    fn count_restored(&self, n: usize) {
        let mut counts = self.copied.get();
        counts.restored += n as u64;
        self.copied.set(counts);
    }
}

/// Bytes the stack-copy switches of the calling thread have copied since it started: what
/// `switchyard bench` reports as bytes copied per switch (take the difference of two readings).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyCounts {
    /// Stack bytes saved to the heap (suspended contexts' slices).
    pub saved: u64,
    /// Heap bytes written back onto the stack (resumed contexts' slices).
    pub restored: u64,
}

/// This thread's [`CopyCounts`] so far.
pub fn copy_counts() -> CopyCounts {
    THREAD.with(|t| t.copied.get())
}

impl Context {
    /// A thread's main context: running, owning the whole stack above it.
    fn main() -> Self {
        Context {
            stack_start: ACTIVE,
            stack_stop: MAIN_STOP,
            stack_prev: null_mut(),
            saved: SaveBuffer::EMPTY,
        }
    }

    /// A new context that will run `entry(arg)` when first switched to.
    fn unstarted(entry: Entry, arg: *mut c_void) -> Self {
        Context {
            stack_start: entry as usize,
            stack_stop: 0,
            stack_prev: arg.cast(),
            saved: SaveBuffer::EMPTY,
        }
    }

    /// An unstarted context's entry function and argument, taken (a second call aborts: a
    /// context is started once).
    ///
    /// # Safety
    ///
    /// The context is unstarted (`!self.is_started()`).
    unsafe fn take_entry(&mut self) -> (Entry, *mut c_void) {
        debug_assert!(!self.is_started());
        let address = std::mem::replace(&mut self.stack_start, 0);
        if address == 0 {
            std::process::abort();
        }
        // SAFETY: an unstarted context's `stack_start` is the address of an `Entry` (set by
        // `unstarted`, the only way to make one), and a function pointer turned into an
        // address and back is the same function pointer.
        let entry = unsafe { std::mem::transmute::<usize, Entry>(address) };
        (entry, self.stack_prev.cast())
    }

    /// Whether this context has been switched to (main contexts always have).
    pub fn is_started(&self) -> bool {
        self.stack_stop != 0
    }

    /// Whether this context has switched away for good (with `from_dying`).
    pub fn is_dead(&self) -> bool {
        self.stack_stop != 0 && self.stack_start == 0
    }

    /// Whether this is a thread's main context.
    pub fn is_main(&self) -> bool {
        self.stack_stop == MAIN_STOP
    }

    /// Saves more of this context's stack to the heap: everything from `stack_start` up to
    /// `stop` (greenlet's `copy_stack_to_heap_up_to`).
    ///
    /// # Safety
    ///
    /// The context is alive and suspended at `stack_start`, the stack bytes
    /// `[stack_start + saved, stop)` are its own and still live, and they lie above the
    /// current stack pointer.
    #[inline(always)]
    unsafe fn save_up_to(&mut self, stop: usize, thread: &ThreadState) {
        let start = self.stack_start;
        let want = stop.saturating_sub(start);
        let have = self.saved.len as usize;
        if want <= have {
            return;
        }
        let data = self.saved.reserve(start, want);
        // SAFETY: the caller guarantees the stack bytes `[start + have, start + want)` are
        // mapped, live and not being written; `reserve` made room for `want` bytes at `data`;
        // heap and stack do not overlap. Both ends are stack pointers, multiples of 8, as
        // the shadow copy needs.
        unsafe {
            save_stack_bytes((start + have) as *const u8, data.add(have), want - have);
            #[cfg(switchyard_asan)]
            crate::asan::save_shadow(start + have, want - have, &mut self.saved.shadow);
        }
        // `want <= size`, which fits in 32 bits (`grow`).
        self.saved.len = want as u32;
        thread.count_saved(want - have);
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        let me: *mut Context = self;
        let _ = THREAD.try_with(|thread| {
            let cur = thread.current.get();
            if cur == me {
                thread.current.set(null_mut());
                return;
            }
            // A suspended context with live bytes is in the running context's chain: take it
            // out, so that no later save walk reads it.
            let live = self.is_started()
                && !self.is_dead()
                && self.stack_stop.saturating_sub(self.stack_start) > self.saved.len as usize;
            if !live {
                return;
            }
            let mut p = cur;
            while !p.is_null() {
                // SAFETY: every context on the running context's chain is alive (the runtime
                // keeps suspended contexts unmoved, and dropping one unlinks it
                // here), and they all belong to this thread.
                unsafe {
                    if (*p).stack_prev == me {
                        (*p).stack_prev = self.stack_prev;
                        break;
                    }
                    p = (*p).stack_prev;
                }
            }
        });
        self.saved.free();
    }
}

#[cfg(switchyard_asan)]
thread_local! {
    /// The stack pointer of the last save step on this thread: the lowest stack byte the
    /// context switched away from was using, down to which the restore step clears the
    /// shadow (sanitized builds only).
    static SWITCH_SP: Cell<usize> = const { Cell::new(0) };
}

/// Bytes of `ctx`'s stack currently saved on the heap (greenlet's `_stack_saved`): 0 for a
/// running, unstarted or dead context, and for a suspended one that nothing has overlapped.
pub fn saved_bytes(ctx: &Context) -> usize {
    ctx.saved.len as usize
}

/// Save step of a switch between two started contexts, called by [`sy_switch!`] on `from`'s
/// stack with `sp` the stack pointer after its frame was pushed. Saves to the heap every live
/// byte of another context in `[sp, to.stack_stop)` and links `to` into the chain it will run
/// with (greenlet's `slp_save_state`, plus the chain link of its `slp_restore_state`); the
/// switch then moves the stack pointer to `to.stack_start` itself.
///
/// Its two common cases are handled here, each without a frame of its own; everything else
/// (a buffer to grow, a dying `from`, a walk up the chain, sanitized builds) goes on to
/// [`save_state_walk`].
///
/// # Safety
///
/// As for [`StackSwitch::switch`], with `to` started; `from` is marked dead beforehand when
/// it is dying; `thread` is the calling thread's [`ThreadState`] ([`thread_state`]).
#[inline(never)]
pub(crate) unsafe extern "C" fn sy_save_state<const BUG: u8>(
    from: *mut Context,
    to: *mut Context,
    sp: usize,
    thread: *const ThreadState,
) {
    // SAFETY: `from` and `to` are live contexts of this thread (switch's contract), `thread`
    // is this thread's state.
    unsafe {
        let thread = &*thread;
        // What the restore step will write back (counted here, so that the restore step
        // touches no thread-local outside sanitized builds): nothing below saves any of
        // `to`'s bytes.
        thread.count_restored((*to).saved.len as usize);
        let target_stop = (*to).stack_stop;
        let from_stop = (*from).stack_stop;
        if (*from).stack_start != 0 {
            // The switch down into a greenlet started from here or above (main to the
            // greenlet it started, say): `from` is alive and owns every byte from `sp` to
            // past `to`'s stack_stop, and no byte below `sp` is anyone's, so nothing is saved
            // and `to` runs with `from` next up its chain. What the walk would do, without
            // its frame: the first context up from `from` with more stack than `to`'s is
            // `from` itself.
            if sp >= target_stop && from_stop > target_stop {
                (*from).stack_start = sp;
                (*to).stack_prev = from;
                switched_to(to, sp, thread);
                return;
            }
            // The switch up to the context right above `from` in the chain (a greenlet back
            // to the one that started it, say), when `from`'s buffer has room for its whole
            // stack already (every suspension at the same depth but the first): `from` lies
            // wholly below `to`'s stack_stop, so it is saved whole and nothing else is, and
            // `to`'s place in the chain is past every context with no more stack than `to`.
            // What the walk would do, without its loop and frame, with the copy's `memcpy` as
            // this function's last call.
            if !crate::asan::ENABLED && (*from).stack_prev == to && from_stop < target_stop {
                let len = from_stop - sp;
                if let Some(data) = (*from).saved.fits(sp, len) {
                    debug_assert_eq!((*from).saved.len, 0);
                    (*from).stack_start = sp;
                    // `len` fits in the buffer, whose size is a `u32`.
                    (*from).saved.len = len as u32;
                    thread.count_saved(len);
                    (*to).stack_prev = first_above((*to).stack_prev, target_stop);
                    switched_to(to, sp, thread);
                    // SAFETY: `from` owns the live stack bytes `[sp, from_stop)`, above the
                    // current stack pointer; `fits` found room for `len` bytes at `data`.
                    save_stack_bytes(sp as *const u8, data, len);
                    return;
                }
            }
        }
        save_state_walk::<BUG>(from, to, sp, thread)
    }
}

/// The first context from `p` up the chain whose `stack_stop` is above `stop` (null if none).
///
/// # Safety
///
/// `p` is null or a context of this thread's running chain (every one on it is live).
#[inline(always)]
unsafe fn first_above(mut p: *mut Context, stop: usize) -> *mut Context {
    // SAFETY: the caller's: every context reached is on the chain, so live.
    unsafe {
        while !p.is_null() && (*p).stack_stop <= stop {
            p = (*p).stack_prev;
        }
    }
    p
}

/// The end of every save step: `to` is the thread's running context.
#[inline(always)]
fn switched_to(to: *mut Context, sp: usize, thread: &ThreadState) {
    thread.current.set(to);
    #[cfg(switchyard_asan)]
    SWITCH_SP.with(|c| c.set(sp));
    #[cfg(not(switchyard_asan))]
    let _ = sp;
}

/// [`sy_save_state`] when its fast cases do not apply: the walk up the chain (which also
/// covers the second fast case when `from`'s buffer must grow first, and every case in
/// sanitized builds). A function of its own, so that [`sy_save_state`]'s fast cases need no
/// frame (they end in a jump here, or in a jump to `memcpy`).
///
/// # Safety
///
/// As for [`sy_save_state`].
#[inline(never)]
unsafe extern "C" fn save_state_walk<const BUG: u8>(
    from: *mut Context,
    to: *mut Context,
    sp: usize,
    thread: &ThreadState,
) {
    // SAFETY: `from` and `to` are live contexts of this thread (switch's contract); the chain
    // from `from` holds only live contexts whose unsaved bytes are above `sp`.
    unsafe {
        let target_stop = (*to).stack_stop;
        let mut owner = from;
        if (*from).stack_start == 0 {
            // Dying: nothing of it is worth saving.
            owner = (*from).stack_prev;
        } else {
            debug_assert_eq!((*from).saved.len, 0);
            (*from).stack_start = sp;
        }
        // Up the chain from `owner`: each context lying entirely below the target's
        // stack_stop is saved whole, the first that reaches it (unless it is `to`) up to it.
        // One call site, so that `save_up_to` is inlined once.
        loop {
            let own_stop = (*owner).stack_stop;
            let last = own_stop >= target_stop;
            if last && owner == to {
                break;
            }
            let stop = if !last {
                own_stop
            } else if BUG == bug::SHORT_SAVE {
                target_stop - 8
            } else {
                target_stop
            };
            (*owner).save_up_to(stop, thread);
            if last {
                break;
            }
            owner = (*owner).stack_prev;
        }
        // `to`'s place in the chain once it runs: the first context up from here with more
        // stack than it (one with the same `stack_stop` is `to` itself or fully saved). Nothing
        // reads `to.stack_prev` between here and the restore, and the walk reads only
        // `stack_stop` and `stack_prev`, which the saves above leave as they were.
        (*to).stack_prev = first_above(owner, target_stop);
        switched_to(to, sp, thread);
    }
}

/// Restore step of a switch, called by [`sy_switch!`] once the stack pointer is `to`'s:
/// writes `to`'s heap copy back onto the stack and marks the buffer empty (greenlet's
/// `slp_restore_state`; the chain link was made by [`sy_save_state`]).
///
/// # Safety
///
/// Called only by [`sy_switch!`] right after [`sy_save_state`] for the same `to`, with the
/// stack pointer below `to.stack_start`.
#[inline(never)]
pub(crate) unsafe extern "C" fn sy_restore_state<const BUG: u8>(to: *mut Context) {
    // SAFETY: `sy_save_state` saved every other context's bytes in `[sp, to.stack_stop)`, so
    // the bytes written here belong to nobody else; our own frame is below `to.stack_start`.
    unsafe {
        let t = &mut *to;
        if t.saved.len != 0 {
            let mut dest = t.stack_start;
            let len = t.saved.len as usize;
            if BUG == bug::RESTORE_OFFSET && len < t.stack_stop - t.stack_start {
                dest += 16;
            }
            // Keep the buffer for this context's next suspension. Marked empty before the
            // copy (nothing reads the count in between), so that the copy is this function's
            // last call and needs no frame kept around it.
            t.saved.len = 0;
            restore_stack_bytes(t.saved.data(t.stack_start), dest as *mut u8, len);
            #[cfg(switchyard_asan)]
            {
                crate::asan::restore_shadow(dest, &t.saved.shadow);
                t.saved.shadow.clear();
            }
        }
        // Sanitized builds: the stack between the stack pointer `from` left and `to`'s (when
        // `to` is the shallower) held `from`'s frames, whose shadow (saved with them) now
        // describes nobody's: cleared, as returns from those frames would have left it.
        #[cfg(switchyard_asan)]
        {
            let low = SWITCH_SP.with(|c| c.get());
            if low != 0 && low < t.stack_start {
                crate::asan::unpoison(low, t.stack_start - low);
            }
        }
    }
}

/// Bookkeeping of the first switch into the new context `to`, called by [`sy_start`] with
/// `sp` the stack pointer after `from`'s frame was pushed. The new context's stack begins
/// right there, below every live byte, so nothing needs saving (greenlet's `g_initialstub`
/// before its switch).
///
/// # Safety
///
/// As for [`StackSwitch::switch`], with `to` unstarted.
#[inline(never)]
pub(crate) unsafe extern "C" fn sy_start_state(from: *mut Context, to: *mut Context, sp: usize) {
    // SAFETY: both are live contexts of this thread (switch's contract).
    unsafe {
        let f = &mut *from;
        let t = &mut *to;
        if f.stack_start == 0 {
            t.stack_prev = f.stack_prev; // a dying context keeps no stack
        } else {
            f.stack_start = sp;
            t.stack_prev = from;
        }
        t.stack_stop = sp;
        t.stack_start = ACTIVE;
        THREAD.with(|thread| thread.current.set(to));
    }
}

/// The switch between two started contexts, as one `asm!` statement inlined where
/// [`StackSwitch::switch`] is called: `sy_switch!(bug = B, from = F, to = T, lost = REG)`,
/// with `B` the mutation (a token tree: `{ bug::NONE }` for the real backend), `F` and `T`
/// the two `*mut Context` and `REG` a register to lose (`none` for the real backend, see
/// [`crate::arch::x86_64`]). Used inside an `unsafe` block whose caller has the contract of
/// [`StackSwitch::switch`] with `to` started.
///
/// It pushes `from`'s [`SwitchFrame`](crate::arch::x86_64::SwitchFrame) (the mmap switch's
/// `switch_suspend!`: rbp, rbx, the control words and the address it continues at; r12-r15
/// and the caller-saved registers are clobbers, kept by the compiler where live), calls
/// [`sy_save_state`] with that stack pointer, moves rsp to `to.stack_start`, calls
/// [`sy_restore_state`] (skipped when `to` has nothing saved, except in sanitized builds),
/// and resumes `to` with `pop rax; jmp rax` into the `switch_resume!` tail of the switch (or
/// [`sy_start`]) that suspended it. Every `call` is matched by its
/// `ret`: no return crosses stacks, so the return-address predictor is never wrong here.
///
/// Between the push and the jump, rbp (saved in the frame, preserved by both calls) holds
/// `to`, and rbx (the same) holds the switcher's control words, which the resumed side's tail
/// compares with its own (in ecx / edx, as `switch_resume!` expects). They are also written
/// back into the frame as one 8-byte word, so the save step's 8-byte read of that slot is
/// forwarded from a single store rather than waiting for `stmxcsr`'s and `fnstcw`'s narrower
/// ones.
///
/// The stack pointer is 16-byte aligned on entry to an `asm!` statement and the frame is 32
/// bytes, so both calls are made on an aligned stack (`to.stack_start` is such a frame too).
/// Everything the statement keeps across the restore call is in rbx, rbp or below
/// `to.stack_start`, which the restore does not write.
macro_rules! sy_switch {
    (bug = $bug:tt, from = $from:expr, to = $to:expr, lost = $lost:ident) => {
        $crate::__sy_with_clobbers!(
            [$crate::backend::stack_copy::sy_switch] ($bug, $from, $to,) $lost
        )
    };
    (@asm $bug:tt, $from:expr, $to:expr, $lost:ident, $($clobber:tt)*) => {
        core::arch::asm!(
            $crate::arch::x86_64::switch_suspend!(),
            "mov ebx, ecx",
            "shl rdx, 32",
            "or rbx, rdx",
            "mov [rsp + 8], rbx",
            // `to`, kept across the save call in rbp (saved in the frame above, and preserved
            // by the call; the resume pops the target's own).
            "mov rbp, rsi",
            "mov rdx, rsp",
            "mov rcx, r8",
            "call {save}",
            "mov rsp, [rbp + {stack_start}]",
            // Nothing saved, nothing to restore: the call is skipped (not in sanitized
            // builds, whose restore step also clears the shadow of the frames left behind).
            ".if {skip_empty}",
            "cmp dword ptr [rbp + {saved_len}], 0",
            "je 7f",
            ".endif",
            "mov rdi, rbp",
            "call {restore}",
            "7:",
            "mov ecx, ebx",
            "mov rdx, rbx",
            "shr rdx, 32",
            "pop rax",
            "jmp rax",
            $crate::arch::x86_64::switch_resume!(lost = $lost),
            save = sym $crate::backend::stack_copy::sy_save_state::<$bug>,
            restore = sym $crate::backend::stack_copy::sy_restore_state::<$bug>,
            skip_empty = const $crate::backend::stack_copy::SKIP_EMPTY_RESTORE,
            saved_len = const $crate::backend::stack_copy::SAVED_LEN_OFFSET,
            stack_start = const $crate::backend::stack_copy::STACK_START_OFFSET,
            in("rdi") $from,
            in("rsi") $to,
            in("r8") $crate::backend::stack_copy::thread_state(),
            $($clobber)*
            clobber_abi("sysv64"),
        )
    };
}
pub(crate) use sy_switch;

/// Defines `$name`, the first switch into a new context, whose resume loses register `lost`
/// (`none` for the real backend, [`sy_start`]): `$name(from, to, entry, arg)` saves the
/// callee-saved registers a [`SwitchFrame`](crate::arch::x86_64::SwitchFrame) does not hold
/// (r12-r15), pushes `from`'s `SwitchFrame` exactly as [`sy_switch!`] does (so `from` is later
/// resumed by the same `pop rax; jmp rax`, into this function's own `switch_resume!` tail,
/// which pops r12-r15 and returns from this call), records the stacks, and calls
/// `entry(arg)` on the same stack right below that frame, with rbp cleared so that
/// frame-pointer walks end there and the default MXCSR and x87 control word. `entry` never
/// returns.
///
/// The frame, from the stack pointer up: the `SwitchFrame` (32 bytes), 8 bytes of padding,
/// r12, r13, r14, r15, the return address: 16-byte aligned at the `SwitchFrame`, as the inline
/// switch's is.
macro_rules! sy_start_fn {
    ($vis:vis $name:ident, lost = $lost:ident) => {
        #[unsafe(naked)]
        $vis unsafe extern "C" fn $name(
            _from: *mut $crate::backend::stack_copy::Context,
            _to: *mut $crate::backend::stack_copy::Context,
            _entry: $crate::switch::Entry,
            _arg: *mut std::ffi::c_void,
        ) {
            core::arch::naked_asm!(
                "push r15",
                "push r14",
                "push r13",
                "push r12",
                "sub rsp, 8",
                "mov r12, rdx",
                "mov r13, rcx",
                $crate::arch::x86_64::switch_suspend!(),
                "mov rdx, rsp",
                "call {start}",
                // A new context starts with the default control words (as on the mmap
                // backend), not with whatever its starter had (the register probe gives every
                // switch its own). Written in the red zone: the frame at [rsp] is `from`'s
                // (its control words at [rsp + 8], [rsp + 12]). Each is loaded only if its
                // control bits are not the default already (an `ldmxcsr` that changes MXCSR
                // is slow: see `inline_switch!`).
                "mov eax, [rsp + 8]",
                "and eax, {control}",
                "cmp eax, {mxcsr}",
                "je 5f",
                "mov dword ptr [rsp - 8], {mxcsr}",
                "ldmxcsr [rsp - 8]",
                "5:",
                "cmp word ptr [rsp + 12], {fpcw}",
                "je 6f",
                "mov word ptr [rsp - 8], {fpcw}",
                "fldcw [rsp - 8]",
                "6:",
                // rsp is 16-byte aligned here (see the frame above).
                "mov rdi, r13",
                "xor ebp, ebp",
                "call r12",
                "ud2",
                // `from` resumed by a switch's `pop rax; jmp rax`.
                $crate::arch::x86_64::switch_resume!(lost = $lost),
                "add rsp, 8",
                $crate::__sy_pop!($lost, r12),
                $crate::__sy_pop!($lost, r13),
                $crate::__sy_pop!($lost, r14),
                $crate::__sy_pop!($lost, r15),
                "ret",
                start = sym $crate::backend::stack_copy::sy_start_state,
                mxcsr = const $crate::arch::x86_64::MXCSR_DEFAULT,
                fpcw = const $crate::arch::x86_64::X87_CW_DEFAULT,
                control = const $crate::arch::x86_64::MXCSR_CONTROL,
            )
        }
    };
}
// Used by `stack_copy_backend!`, which nothing invokes without the `mutants` feature.
#[allow(unused_imports)]
pub(crate) use sy_start_fn;

sy_start_fn!(pub(crate) sy_start, lost = none);

/// Defines a backend type with the stack-copy algorithm whose switch forgets to restore
/// register `lost` (see [`crate::arch::x86_64`]): a register mutant in one line, e.g.
/// `stack_copy_backend! { pub struct LostR12; lost = r12; }`. Both its switches lose it: the
/// inline one ([`sy_switch!`]) and the first switch into a new context ([`sy_start_fn!`]).
#[allow(unused_macros)] // used by `crate::mutants::lost` (feature `mutants`) only
macro_rules! stack_copy_backend {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident;
        lost = $lost:ident;
    ) => {
        $(#[$attr])*
        $vis struct $name;

        // SAFETY: none: a deliberately broken mutant (feature `mutants`, for tests that expect
        // it to misbehave) whose switch breaks exactly register `lost`'s promise; everything
        // else is the real stack-copy backend's.
        unsafe impl $crate::switch::StackSwitch for $name {
            $crate::forward_contexts!($crate::backend::stack_copy::StackCopy);

            #[inline]
            unsafe extern "C" fn switch(from: *mut Self::Context, to: *mut Self::Context, from_dying: bool) {
                $crate::backend::stack_copy::sy_start_fn!(sy_start, lost = $lost);
                // SAFETY: switch's contract, passed on (the lost restore breaks the backend's
                // own promise, on purpose).
                unsafe {
                    match $crate::backend::stack_copy::begin_switch(from, to, from_dying) {
                        None => $crate::backend::stack_copy::sy_switch!(
                            bug = { $crate::backend::stack_copy::bug::NONE },
                            from = from,
                            to = to,
                            lost = $lost
                        ),
                        Some((entry, arg)) => sy_start(from, to, entry, arg),
                    }
                }
            }
        }
    };
}
#[allow(unused_imports)] // as above
pub(crate) use stack_copy_backend;

// SAFETY: `sy_switch!`/`sy_start` push and pop rbx, rbp, MXCSR and the x87 control word around
// every suspension (r12-r15: `sy_switch!` declares them clobbered, `sy_start` pushes and pops
// them) and land rsp exactly where it was; the save/restore steps copy a suspended context's
// stack bytes to the heap and back unchanged before anything else can write them.
unsafe impl StackSwitch for StackCopy {
    type Context = Context;

    fn main_context() -> Context {
        Context::main()
    }

    fn new_context(
        _config: &HubConfig,
        entry: Entry,
        arg: *mut c_void,
    ) -> Result<Context, BackendError> {
        Ok(Context::unstarted(entry, arg))
    }

    /// Every context runs on the thread's own stack.
    fn stack_bounds(_ctx: &Context) -> Option<StackBounds> {
        Some(crate::asan::thread_stack())
    }

    /// The inline switch [`sy_switch!`] (or, into a new context, a call of [`sy_start`]).
    /// Called through a pointer (the register probe does), this is a function whose prologue
    /// saves r12-r15, as any function using them does, and whatever else the compiler keeps
    /// across it (rbx, holding `to` across the dying path's `dealloc`).
    #[inline]
    unsafe extern "C" fn switch(from: *mut Context, to: *mut Context, from_dying: bool) {
        // SAFETY: switch's contract, passed on; `begin_switch` returns `None` only when `to`
        // is started, as `sy_switch!` requires, and otherwise `to`'s entry for `sy_start`.
        unsafe {
            match begin_switch(from, to, from_dying) {
                None => sy_switch!(bug = { bug::NONE }, from = from, to = to, lost = none),
                Some((entry, arg)) => sy_start(from, to, entry, arg),
            }
        }
    }
}

/// What every stack-copy switch does before its assembly: marks a dying `from` dead (and
/// frees its save buffer), and returns `to`'s entry function and its argument when `to` has
/// never run (the switch is then [`sy_start`]'s), `None` when it has (the switch is
/// [`sy_switch!`]).
///
/// # Safety
///
/// As for [`StackSwitch::switch`].
#[inline(always)]
pub(crate) unsafe fn begin_switch(
    from: *mut Context,
    to: *mut Context,
    from_dying: bool,
) -> Option<(Entry, *mut c_void)> {
    debug_assert!(from != to);
    // SAFETY: switch's contract: both point to live, unmoving contexts of this thread,
    // `from` running and `to` new or suspended.
    unsafe {
        debug_assert!((*from).is_started() && !(*from).is_dead());
        debug_assert!(!(*to).is_dead());
        if from_dying {
            (*from).stack_start = 0;
            (*from).saved.free();
        }
        if (*to).is_started() {
            None
        } else {
            Some((*to).take_entry())
        }
    }
}

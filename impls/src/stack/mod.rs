//! Greenlet stacks for the stack-per-greenlet backends (`mmap`, `ucontext` and the register
//! swap mutants): what a context runs on, and everything that keeps those stacks safe and
//! cheap.
//!
//! - `Stack`: one `mmap`'d stack, `[guard page][usable stack]`, 16 MiB reserved by default
//!   and committed lazily (`MAP_NORESERVE`), growing down from `Stack::top`;
//! - `pool`: the per-thread pool of free stacks and the `MainGuard` that keeps it alive;
//! - `guard`: the registry of guard pages, readable from a signal handler;
//! - `overflow`: the SIGSEGV/SIGBUS handler (on an alternate signal stack) that turns a
//!   guard-page hit into `switchyard: greenlet stack overflow (mmap backend, stack of N
//!   bytes)` and an abort;
//! - `valgrind`: stack (de)registration with Valgrind;
//! - `ContextStack` and [`StackContext`]: the one context shape every stack-per-greenlet
//!   backend uses (its saved switching state plus the stack it runs on), whose drop gives the
//!   stack back to the pool.

mod guard;
mod overflow;
mod pool;
mod valgrind;
pub use overflow::{chain_signal, ChainedSignals};
pub(crate) use valgrind::running_on_valgrind;

pub(crate) use pool::MainGuard;

use crate::greenlet::BackendError;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The smallest usable stack we hand out.
const MIN_STACK: usize = 64 << 10;

/// The bytes at the top of a used stack that [`Stack::scrub`] zeroes in place (rounded up to
/// whole pages; the pages below are given back to the kernel).
const SCRUB_IN_PLACE: usize = 16 << 10;

fn page_size() -> usize {
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    let p = PAGE.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let p = if p > 0 { p as usize } else { 4096 };
    PAGE.store(p, Ordering::Relaxed);
    p
}

/// One mmap'd greenlet stack: `[guard page][usable stack]`, growing down from `top()`.
pub(crate) struct Stack {
    base: *mut u8,
    total: usize,
    usable: usize,
    valgrind_id: usize,
    /// The backend named in the guard-page registry for this stack.
    backend: &'static str,
    /// Whether a context may have written to it since it was mapped or last scrubbed.
    dirty: bool,
}

impl Stack {
    /// A stack with at least `size` usable bytes, from this thread's pool or a new mapping.
    /// `backend` names the backend in the overflow message.
    pub(crate) fn take(size: usize, backend: &'static str) -> Result<Stack, BackendError> {
        let usable = usable_size(size)?;
        if let Some(mut stack) = pool::take(usable) {
            // Renamed only when another backend used it last: the registry's lock and hash
            // are not on the way of every spawn.
            if !std::ptr::eq(stack.backend, backend) {
                guard::insert(stack.base as usize, stack.usable, backend);
                stack.backend = backend;
            }
            stack.dirty = true;
            return Ok(stack);
        }
        let mut stack = Stack::map(usable, backend)?;
        stack.dirty = true;
        Ok(stack)
    }

    fn map(usable: usize, backend: &'static str) -> Result<Stack, BackendError> {
        overflow::install_handler();
        let guard = page_size();
        let total = usable + guard;
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches
        // no existing memory.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(map_error(usable, "mmap"));
        }
        let base = base as *mut u8;
        // SAFETY: `base..base + guard` is the first page of the mapping we just made.
        if unsafe { libc::mprotect(base as *mut _, guard, libc::PROT_NONE) } != 0 {
            let err = map_error(usable, "mprotect (guard page)");
            // SAFETY: unmapping the mapping we made above, which nothing else references.
            unsafe { libc::munmap(base as *mut _, total) };
            return Err(err);
        }
        // SAFETY: `base + guard .. base + total` is the usable part of our mapping.
        let usable_start = unsafe { base.add(guard) };
        let valgrind_id = valgrind::stack_register(usable_start, aligned_top(base, total));
        guard::insert(base as usize, usable, backend);
        Ok(Stack {
            base,
            total,
            usable,
            valgrind_id,
            backend,
            dirty: false,
        })
    }

    /// The highest address of the stack (exclusive), 16-byte aligned.
    pub(crate) fn top(&self) -> *mut u8 {
        aligned_top(self.base, self.total)
    }

    /// The lowest usable address (just above the guard page).
    pub(crate) fn bottom(&self) -> *mut u8 {
        self.base.wrapping_add(self.total - self.usable)
    }

    /// Makes a used stack's usable pages read as zeros again, as a fresh mapping's do; the
    /// mapping and its guard page stay. The top [`SCRUB_IN_PLACE`] bytes, which every context
    /// touches (its first frames live there), are zeroed in place and stay resident, so that
    /// the stack's next use takes no page faults there; the pages below are given back to the
    /// kernel (`madvise(MADV_DONTNEED)` on a private anonymous mapping: zero-filled on the next
    /// touch; a walk of empty page tables where nothing was touched). Under AddressSanitizer,
    /// whose `memset` would check the shadow of dead frames, every page is given back. Does
    /// nothing to a clean stack.
    pub(crate) fn scrub(&mut self) {
        if !self.dirty {
            return;
        }
        let in_place = if crate::asan::ENABLED {
            0
        } else {
            SCRUB_IN_PLACE
                .next_multiple_of(page_size())
                .min(self.usable)
        };
        let below = self.usable - in_place;
        // SAFETY: the top `in_place` bytes of the usable part of our own writable mapping, on
        // which no context runs any more (only free stacks are scrubbed).
        unsafe { std::ptr::write_bytes(self.top_of_usable().sub(in_place), 0, in_place) };
        // SAFETY: the lowest `below` bytes (whole pages: the usable part and `in_place` are
        // whole pages) of the usable part of our own private anonymous mapping, on which
        // no context runs any more.
        let given_back = below == 0
            || unsafe {
                libc::madvise(
                    self.bottom() as *mut libc::c_void,
                    below,
                    libc::MADV_DONTNEED,
                )
            } == 0;
        // Refused (it cannot be for our own mapping): it stays dirty and is scrubbed again.
        self.dirty = !given_back;
    }

    /// The end of the usable part (the end of the mapping), page aligned.
    fn top_of_usable(&self) -> *mut u8 {
        self.base.wrapping_add(self.total)
    }

    /// Gives the stack back to this thread's pool (or unmaps it when the pool is full or no
    /// hub is live on this thread).
    pub(crate) fn recycle(self) {
        pool::give_back(self);
    }
}

fn aligned_top(base: *mut u8, total: usize) -> *mut u8 {
    let top = base.wrapping_add(total);
    top.wrapping_sub(top as usize % 16)
}

impl Drop for Stack {
    fn drop(&mut self) {
        guard::remove(self.base as usize);
        valgrind::stack_deregister(self.valgrind_id);
        // SAFETY: the mapping is ours and no context runs on it any more (stacks are dropped
        // only for unstarted or dead greenlets, after they switched away for good).
        unsafe { libc::munmap(self.base as *mut _, self.total) };
    }
}

/// The largest mapping a stack (usable bytes plus its guard page) may be: Rust allocations
/// and pointer offsets are limited to `isize::MAX` bytes.
const MAX_MAPPING: usize = isize::MAX as usize;

/// The usable bytes of a stack for a requested `HubConfig::stack_size` of `size` bytes: at
/// least [`MIN_STACK`], rounded up to whole pages; an error naming the size if that and the
/// guard page cannot be one mapping (the rounding or the guard page would overflow, or the
/// total is over [`MAX_MAPPING`]).
fn usable_size(size: usize) -> Result<usize, BackendError> {
    let page = page_size();
    size.max(MIN_STACK)
        .checked_next_multiple_of(page)
        .filter(|usable| usable.checked_add(page).is_some_and(|t| t <= MAX_MAPPING))
        .ok_or_else(|| {
            BackendError(format!(
                "switchyard: greenlet stack size of {size} bytes (HubConfig::stack_size) is too \
                 large: the stack, rounded up to whole pages, and its guard page must fit in one \
                 mapping of at most {MAX_MAPPING} bytes"
            ))
        })
}

/// The error for a failed `mmap` or `mprotect` of a stack with `usable` bytes, naming the
/// cause the system reports: the `vm.max_map_count` limit when the process is at it (each
/// stack takes two mappings), otherwise the address space or memory a stack that size needs.
fn map_error(usable: usize, what: &str) -> BackendError {
    let err = std::io::Error::last_os_error();
    let limit: Option<usize> = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let maps = std::fs::read_to_string("/proc/self/maps")
        .ok()
        .map(|s| s.lines().count());
    let shown = |n: Option<usize>| n.map_or("unknown".to_string(), |n| n.to_string());
    let cause = match (err.raw_os_error(), limit, maps) {
        // A new stack needs room for 2 more mappings (3 while the guard page splits one).
        (Some(libc::ENOMEM), Some(limit), Some(maps)) if maps + 3 > limit => format!(
            "the process reached vm.max_map_count = {limit} memory mappings ({maps} in use; \
             each greenlet stack takes 2: raise it with `sysctl vm.max_map_count=N`, or run \
             fewer greenlets at once)"
        ),
        (Some(libc::ENOMEM), _, _) => format!(
            "not enough free address space or memory for a stack of {usable} bytes (a smaller \
             HubConfig::stack_size, or fewer greenlets at once, would need less; {} memory \
             mappings in use, vm.max_map_count = {})",
            shown(maps),
            shown(limit)
        ),
        _ => "the system refused the mapping".to_string(),
    };
    BackendError(format!(
        "switchyard: cannot map a greenlet stack of {usable} bytes ({what}: {err}): {cause}"
    ))
}

/// What a context runs on: the thread's own stack (a main context, which holds a
/// [`MainGuard`] so the thread's pool lives as long as its hub) or a [`Stack`] of its own,
/// given back to the pool when the context is dropped.
pub(crate) struct ContextStack {
    stack: Option<Stack>,
    _main: Option<MainGuard>,
}

impl ContextStack {
    /// The thread's own stack, for a main context.
    pub(crate) fn main() -> ContextStack {
        ContextStack {
            stack: None,
            _main: Some(MainGuard::new()),
        }
    }

    /// A stack of at least `size` usable bytes for a new context (see [`Stack::take`]).
    pub(crate) fn take(size: usize, backend: &'static str) -> Result<ContextStack, BackendError> {
        Ok(ContextStack {
            stack: Some(Stack::take(size, backend)?),
            _main: None,
        })
    }

    /// The stack of a non-main context (`None` for a main context).
    pub(crate) fn stack(&self) -> Option<&Stack> {
        self.stack.as_ref()
    }
}

impl Drop for ContextStack {
    fn drop(&mut self) {
        if let Some(stack) = self.stack.take() {
            stack.recycle();
        }
    }
}

/// A greenlet's switching state on a stack-per-greenlet backend: the backend's saved state `T`
/// (first, at offset 0, where a backend's assembly can address it) and the stack the context
/// runs on.
#[repr(C)]
pub struct StackContext<T> {
    pub(crate) saved: T,
    /// Whether this is the thread's main context (the one running on the thread stack).
    pub(crate) is_main: bool,
    pub(crate) stack: ContextStack,
}

impl<T> StackContext<T> {
    /// The calling thread's main context, with saved state `saved`.
    pub(crate) fn main(saved: T) -> Self {
        StackContext {
            saved,
            is_main: true,
            stack: ContextStack::main(),
        }
    }

    /// A new context on `stack`, with saved state `saved`.
    pub(crate) fn on(stack: ContextStack, saved: T) -> Self {
        StackContext {
            saved,
            is_main: false,
            stack,
        }
    }

    /// The stack this context runs on, for AddressSanitizer: its own stack's usable part
    /// (the guard page excluded), or the thread's stack for a main context.
    pub(crate) fn bounds(&self) -> crate::switch::StackBounds {
        match self.stack.stack() {
            Some(s) => crate::switch::StackBounds {
                bottom: s.bottom() as usize,
                size: s.top() as usize - s.bottom() as usize,
            },
            None => crate::asan::thread_stack(),
        }
    }
}

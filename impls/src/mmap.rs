//! The `mmap` backend: one `mmap`'d stack per greenlet (lazily committed, with a `PROT_NONE`
//! guard page below it) and an x86-64 register swap written as a naked function.
//!
//! The stack pieces ([`Stack`], the per-thread stack pool, the guard-page registry and the
//! stack-overflow signal handler) are shared with the `ucontext` backend.
//!
//! The swap: `switch` calls `swap(&mut from.sp, to.sp)`, which pushes the callee-saved
//! registers (rbx, rbp, r12-r15) and the MXCSR / x87 control words onto the running stack,
//! stores the stack pointer, loads the target's, pops the same set and returns. Every context
//! is suspended inside a `call` of `swap` and resumed by the matching `ret` on its own stack,
//! so calls and returns stay paired on every stack (a new stack is laid out as if it were
//! suspended in `swap`, returning into a trampoline that calls the entry function).
//!
//! Stack overflow: a greenlet that runs into its guard page takes a SIGSEGV; the handler (on
//! the thread's alternate signal stack) finds the guard page in the registry, writes
//! `switchyard: greenlet stack overflow (mmap backend, stack of N bytes)` to stderr with
//! `write(2)` and aborts. Faults elsewhere go to the handler that was installed before.

use crate::greenlet::BackendError;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;

/// How many free stacks each thread keeps for reuse.
const POOL_LIMIT: usize = 16;

/// The smallest usable stack we hand out.
const MIN_STACK: usize = 64 << 10;

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
}

impl Stack {
    /// A stack with at least `size` usable bytes, from this thread's pool or a new mapping.
    /// `backend` names the backend in the overflow message.
    pub(crate) fn take(size: usize, backend: &'static str) -> Result<Stack, BackendError> {
        let usable = round_up(size.max(MIN_STACK), page_size());
        let pooled = POOL.with(|pool| {
            let mut pool = pool.borrow_mut();
            let i = pool.iter().position(|s| s.usable == usable)?;
            Some(pool.swap_remove(i))
        });
        if let Some(stack) = pooled {
            set_backend_name(&stack, backend);
            return Ok(stack);
        }
        Stack::map(usable, backend)
    }

    fn map(usable: usize, backend: &'static str) -> Result<Stack, BackendError> {
        install_overflow_handler();
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
        let valgrind_id = crate::valgrind::stack_register(usable_start, unsafe_top(base, total));
        registry_insert(base as usize, usable, backend);
        Ok(Stack {
            base,
            total,
            usable,
            valgrind_id,
        })
    }

    /// The highest address of the stack (exclusive), 16-byte aligned.
    pub(crate) fn top(&self) -> *mut u8 {
        unsafe_top(self.base, self.total)
    }

    /// The lowest usable address (just above the guard page).
    pub(crate) fn bottom(&self) -> *mut u8 {
        self.base.wrapping_add(self.total - self.usable)
    }

    /// Gives the stack back to this thread's pool (or unmaps it when the pool is full or no
    /// hub is live on this thread).
    pub(crate) fn recycle(self) {
        let keep = LIVE_MAINS.with(|n| n.get()) > 0;
        if keep {
            let rejected = POOL
                .try_with(|pool| {
                    let mut pool = pool.borrow_mut();
                    if pool.len() < POOL_LIMIT {
                        pool.push(self);
                        None
                    } else {
                        Some(self)
                    }
                })
                .unwrap_or(None);
            drop(rejected);
        } else {
            drop(self);
        }
    }
}

fn unsafe_top(base: *mut u8, total: usize) -> *mut u8 {
    let top = base.wrapping_add(total);
    top.wrapping_sub(top as usize % 16)
}

impl Drop for Stack {
    fn drop(&mut self) {
        registry_remove(self.base as usize);
        crate::valgrind::stack_deregister(self.valgrind_id);
        // SAFETY: the mapping is ours and no context runs on it any more (stacks are dropped
        // only for unstarted or dead greenlets, after they switched away for good).
        unsafe { libc::munmap(self.base as *mut _, self.total) };
    }
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

fn map_error(usable: usize, what: &str) -> BackendError {
    let err = std::io::Error::last_os_error();
    let limit = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string());
    BackendError(format!(
        "switchyard: cannot map a greenlet stack of {usable} bytes ({what}: {err}): out of \
         memory, or the process reached vm.max_map_count = {limit} memory mappings (each \
         greenlet stack takes 2: raise it with `sysctl vm.max_map_count=N`, or run fewer \
         greenlets at once)"
    ))
}

thread_local! {
    /// Free stacks kept for reuse by this thread's hubs.
    static POOL: RefCell<Vec<Stack>> = const { RefCell::new(Vec::new()) };
    /// Live main contexts (hubs) of this thread using mmap'd stacks; the pool is emptied when
    /// the last one goes.
    static LIVE_MAINS: Cell<usize> = const { Cell::new(0) };
}

/// Held by a main context: while any is live on a thread, dead greenlets' stacks are pooled.
pub(crate) struct MainGuard(());

impl MainGuard {
    pub(crate) fn new() -> MainGuard {
        LIVE_MAINS.with(|n| n.set(n.get() + 1));
        ensure_altstack();
        MainGuard(())
    }
}

impl Drop for MainGuard {
    fn drop(&mut self) {
        let left = LIVE_MAINS
            .try_with(|n| {
                n.set(n.get() - 1);
                n.get()
            })
            .unwrap_or(0);
        if left == 0 {
            let stacks = POOL
                .try_with(|pool| std::mem::take(&mut *pool.borrow_mut()))
                .unwrap_or_default();
            drop(stacks);
        }
    }
}

// ---- guard-page registry, readable from the signal handler ----

/// Guard page address -> (usable stack bytes, backend name). Behind a spin lock that the
/// signal handler only tries (so it never deadlocks on a lock its own thread holds).
struct Registry {
    locked: AtomicBool,
    map: std::cell::UnsafeCell<Option<HashMap<usize, (usize, &'static str)>>>,
}

// SAFETY: `map` is only accessed while `locked` is held.
unsafe impl Sync for Registry {}

static REGISTRY: Registry = Registry {
    locked: AtomicBool::new(false),
    map: std::cell::UnsafeCell::new(None),
};

fn with_registry<R>(f: impl FnOnce(&mut HashMap<usize, (usize, &'static str)>) -> R) -> R {
    while REGISTRY
        .locked
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        std::hint::spin_loop();
    }
    // SAFETY: we hold the lock.
    let map = unsafe { &mut *REGISTRY.map.get() };
    let r = f(map.get_or_insert_with(HashMap::new));
    REGISTRY.locked.store(false, Ordering::Release);
    r
}

fn registry_insert(guard: usize, usable: usize, backend: &'static str) {
    with_registry(|m| m.insert(guard, (usable, backend)));
}

fn set_backend_name(stack: &Stack, backend: &'static str) {
    with_registry(|m| m.insert(stack.base as usize, (stack.usable, backend)));
}

fn registry_remove(guard: usize) {
    with_registry(|m| m.remove(&guard));
}

/// Signal-handler lookup: never blocks, never allocates.
fn registry_lookup(page: usize) -> Option<(usize, &'static str)> {
    for _ in 0..1_000_000 {
        if REGISTRY
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            // SAFETY: we hold the lock.
            let map = unsafe { &*REGISTRY.map.get() };
            let r = map.as_ref().and_then(|m| m.get(&page).copied());
            REGISTRY.locked.store(false, Ordering::Release);
            return r;
        }
        std::hint::spin_loop();
    }
    None
}

// ---- the overflow signal handler ----

struct OldActions(std::cell::UnsafeCell<[std::mem::MaybeUninit<libc::sigaction>; 2]>);

// SAFETY: written once inside `Once::call_once` before the handler is installed, read-only
// afterwards.
unsafe impl Sync for OldActions {}

static OLD_ACTIONS: OldActions = OldActions(std::cell::UnsafeCell::new(
    [std::mem::MaybeUninit::uninit(); 2],
));

fn install_overflow_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        page_size();
        for (i, sig) in [libc::SIGSEGV, libc::SIGBUS].into_iter().enumerate() {
            // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; we fill in
            // the handler, and `OLD_ACTIONS` is written before the handler can run.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_fault as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                let old = (*OLD_ACTIONS.0.get())[i].as_mut_ptr();
                libc::sigaction(sig, &action, old);
            }
        }
    });
}

extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SIGSEGV/SIGBUS with SA_SIGINFO.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = addr & !(page_size() - 1);
    if let Some((usable, backend)) = registry_lookup(page) {
        let mut buf = [0u8; 160];
        let mut n = 0;
        for part in [
            "switchyard: greenlet stack overflow (".as_bytes(),
            backend.as_bytes(),
            ", stack of ".as_bytes(),
        ] {
            n += copy(&mut buf[n..], part);
        }
        n += write_decimal(&mut buf[n..], usable);
        n += copy(&mut buf[n..], b" bytes)\n");
        // SAFETY: write(2) and abort(3) are async-signal-safe; `buf[..n]` is initialised.
        unsafe {
            libc::write(2, buf.as_ptr() as *const _, n);
            libc::abort();
        }
    }
    let i = if sig == libc::SIGSEGV { 0 } else { 1 };
    // SAFETY: `OLD_ACTIONS` was filled before this handler was installed and is never written
    // again.
    let old = unsafe { (*OLD_ACTIONS.0.get())[i].assume_init_ref() };
    let handler = old.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // Put the old disposition back and return: the faulting instruction runs again and
        // gets the default behaviour.
        // SAFETY: restoring a sigaction the kernel gave us.
        unsafe { libc::sigaction(sig, old, std::ptr::null_mut()) };
    } else if old.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this type.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(handler) };
        f(sig, info, ctx);
    } else {
        // SAFETY: the previous handler was installed without SA_SIGINFO: a plain handler.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
        f(sig);
    }
}

fn copy(dst: &mut [u8], src: &[u8]) -> usize {
    let n = src.len().min(dst.len());
    dst[..n].copy_from_slice(&src[..n]);
    n
}

fn write_decimal(dst: &mut [u8], mut v: usize) -> usize {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    copy(dst, &digits[i..])
}

/// Makes sure this thread has an alternate signal stack, so the overflow handler can run when
/// a greenlet stack is exhausted. (Rust gives its threads one already; this covers threads
/// made otherwise.)
fn ensure_altstack() {
    struct AltStack(*mut libc::c_void, usize);
    impl Drop for AltStack {
        fn drop(&mut self) {
            // SAFETY: disabling the alternate stack we installed, then unmapping it.
            unsafe {
                let mut ss: libc::stack_t = std::mem::zeroed();
                ss.ss_flags = libc::SS_DISABLE;
                libc::sigaltstack(&ss, std::ptr::null_mut());
                libc::munmap(self.0, self.1);
            }
        }
    }
    thread_local! {
        static ALT: RefCell<Option<AltStack>> = const { RefCell::new(None) };
    }
    // SAFETY: querying the current alternate stack into a zeroed out-parameter.
    let mut old: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::sigaltstack(std::ptr::null(), &mut old) };
    if old.ss_flags & libc::SS_DISABLE == 0 {
        return;
    }
    let size = 64 << 10;
    // SAFETY: a fresh anonymous mapping.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return;
    }
    let ss = libc::stack_t {
        ss_sp: p,
        ss_flags: 0,
        ss_size: size,
    };
    // SAFETY: `p..p + size` is a mapping we own for as long as the thread lives (freed by the
    // thread-local destructor, which first disables it).
    unsafe { libc::sigaltstack(&ss, std::ptr::null_mut()) };
    let _ = ALT.try_with(|a| *a.borrow_mut() = Some(AltStack(p, size)));
}

// ---- the x86-64 backend ----

#[cfg(target_arch = "x86_64")]
pub use self::x86::{Mmap, MmapContext};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{MainGuard, Stack};
    use crate::greenlet::{BackendError, HubConfig};
    use crate::switch::{Entry, StackSwitch};
    use std::ffi::c_void;

    /// The mmap backend: a stack per greenlet and a hand-written register swap.
    pub struct Mmap;

    /// A greenlet's switching state under [`Mmap`].
    pub struct MmapContext {
        /// The saved stack pointer while suspended.
        sp: *mut u8,
        stack: Option<Stack>,
        _main: Option<MainGuard>,
    }

    impl Drop for MmapContext {
        fn drop(&mut self) {
            if let Some(stack) = self.stack.take() {
                stack.recycle();
            }
        }
    }

    /// Default MXCSR (all exceptions masked, round to nearest) and x87 control word.
    const MXCSR_DEFAULT: u64 = 0x1F80;
    const FPCW_DEFAULT: u64 = 0x037F;

    /// `swap(from_sp: *mut *mut u8 [rdi], to_sp: *mut u8 [rsi])`.
    #[unsafe(naked)]
    unsafe extern "sysv64" fn swap(_from_sp: *mut *mut u8, _to_sp: *mut u8) {
        core::arch::naked_asm!(
            "push rbp",
            "push rbx",
            "push r12",
            "push r13",
            "push r14",
            "push r15",
            "sub rsp, 8",
            "stmxcsr [rsp]",
            "fnstcw [rsp + 4]",
            "mov [rdi], rsp",
            "mov rsp, rsi",
            "ldmxcsr [rsp]",
            "fldcw [rsp + 4]",
            "add rsp, 8",
            "pop r15",
            "pop r14",
            "pop r13",
            "pop r12",
            "pop rbx",
            "pop rbp",
            "ret",
        )
    }

    /// Where a new stack's first `swap` returns to: r12 holds the entry, r13 its argument.
    #[unsafe(naked)]
    unsafe extern "sysv64" fn trampoline() {
        core::arch::naked_asm!(
            "mov rdi, r13",
            // rsp is 16-byte aligned here, as a call requires.
            "call r12",
            "ud2",
        )
    }

    // SAFETY: `swap` saves and restores rbx, rbp, r12-r15, rsp, MXCSR and the x87 control
    // word of the suspended context, and each stack is owned by exactly one context.
    unsafe impl StackSwitch for Mmap {
        type Context = MmapContext;

        fn main_context() -> MmapContext {
            MmapContext {
                sp: std::ptr::null_mut(),
                stack: None,
                _main: Some(MainGuard::new()),
            }
        }

        fn new_context(
            config: &HubConfig,
            entry: Entry,
            arg: *mut c_void,
        ) -> Result<MmapContext, BackendError> {
            let stack = Stack::take(config.stack_size, "mmap backend")?;
            let top = stack.top() as *mut u64;
            // Layout, from the top down: [0: fake return address, ends backtraces]
            // [trampoline: popped by `ret`] [rbp=0] [rbx] [r12=entry] [r13=arg] [r14] [r15]
            // [mxcsr | fpcw << 32]. After the `ret`, rsp = top - 16: 16-byte aligned.
            let words: [u64; 10] = [
                MXCSR_DEFAULT | (FPCW_DEFAULT << 32),
                0,                              // r15
                0,                              // r14
                arg as u64,                     // r13
                entry as *const () as u64,      // r12
                0,                              // rbx
                0,                              // rbp
                trampoline as *const () as u64, // return address of the first swap
                0,                              // fake return address of the trampoline
                0,                              // padding up to the top
            ];
            // SAFETY: the 80 bytes below `top` lie in the usable part of our fresh stack.
            let sp = unsafe {
                let sp = top.sub(words.len());
                std::ptr::copy_nonoverlapping(words.as_ptr(), sp, words.len());
                sp
            };
            Ok(MmapContext {
                sp: sp as *mut u8,
                stack: Some(stack),
                _main: None,
            })
        }

        unsafe fn switch(from: *mut MmapContext, to: *mut MmapContext, _from_dying: bool) {
            // SAFETY: the caller guarantees both contexts are live, distinct and of this
            // thread, `to` new or suspended in `swap`; `swap` stores `from`'s stack pointer
            // before loading `to`'s.
            unsafe { swap(&raw mut (*from).sp, (*to).sp) }
        }
    }
}

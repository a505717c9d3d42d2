//! The `mmap` backend: one `mmap`'d stack per greenlet (lazily committed, with a `PROT_NONE`
//! guard page below it) and an x86-64 register swap written as a naked function.
//!
//! The stack pieces ([`Stack`], the per-thread stack pool, the guard-page registry and the
//! stack-overflow signal handler) are shared with the `ucontext` backend.
//!
//! The switch: transfers are asymmetric, between the thread's main context (running on the
//! thread's own stack) and one greenlet at a time. Main resumes a greenlet with a `call` that
//! pushes its return address onto the main stack and switches to the greenlet's stack; the
//! greenlet suspends with the `ret` that returns to exactly that address. A greenlet switching
//! straight to another greenlet suspends back into main's resume loop, naming its target, and
//! main resumes that one: symmetric greenlet switching on top of asymmetric resume/suspend,
//! with main as the trampoline. Both directions go through one `call` instruction (see `transfer`),
//! so every `ret` that continues a context returns where the return-address predictor
//! expects. Saved: rbx, rbp, r12-r15, rsp and the MXCSR / x87 control words, as the x86-64
//! System V ABI requires of a call; nothing else.
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
    use std::ptr::null_mut;

    /// The mmap backend: a stack per greenlet, resumed by a `call` from the thread's main
    /// stack and suspended by the matching `ret` (see the module documentation).
    pub struct Mmap;

    /// A greenlet's switching state under [`Mmap`].
    #[repr(C)]
    pub struct MmapContext {
        /// The stack pointer of whichever side of the pair main ↔ this greenlet is *not*
        /// running: this greenlet's own while it is suspended (or new), the main context's
        /// (inside its resume loop) while it runs. Unused in the main context itself.
        /// `transfer` exchanges it with the live stack pointer; it must stay the first field.
        other_sp: *mut u8,
        /// Whether this is the thread's main context (the one running on the thread stack).
        is_main: bool,
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

    /// MXCSR (all exceptions masked, round to nearest) and x87 control word a new greenlet
    /// starts with.
    const MXCSR_DEFAULT: u32 = 0x1F80;
    const FPCW_DEFAULT: u16 = 0x037F;

    /// The whole switch, as one piece of assembly so that its one `call` (label 2) is the
    /// only call site a suspended context can be continued at.
    ///
    /// `transfer(ctx [rdi], msg [rsi], main_loop [rdx])`. The exchange at label 3 (the
    /// "hop") swaps the live stack pointer with `ctx.other_sp` and `ret`s on the other stack,
    /// handing `msg` over in rsi. With `main_loop` set (the caller is the main context), `ctx`
    /// is the greenlet to resume, and each time the resumed side hops back naming another
    /// greenlet (a non-null rsi) the loop resumes that one; a null name means main itself and
    /// `transfer` returns. Without `main_loop` (the caller is the running greenlet `ctx`),
    /// `msg` is its target (null: main) and `transfer` returns when main resumes `ctx`.
    ///
    /// Pairing: every suspended stack (except a new one) has label 2's return address on
    /// top, and every `ret` at label 3 continues one, so each `ret` returns to the address
    /// the return-address predictor has on top (the `call` just made, on the other stack, at
    /// the same instruction): main's `call` resuming a greenlet is answered by the
    /// greenlet's suspending `ret` into main's frame, and a greenlet's suspending `call` by
    /// the `ret` with which main resumes it.
    ///
    /// Saved on the caller's own stack, as the x86-64 System V ABI requires of a call and
    /// nothing more: rbx, rbp, r12-r15 (rsp is `ctx.other_sp`), the MXCSR (whose control
    /// bits are callee-saved; its exception flags ride along) and the x87 control word,
    /// stored on entry and loaded back on the way out, so a greenlet that changes its
    /// rounding mode or exception masks never leaks them into another context. (Reloading
    /// only when they differ costs more than it saves here: the extra `stmxcsr` is slow.)
    #[unsafe(naked)]
    unsafe extern "sysv64" fn transfer(
        _ctx: *mut MmapContext,
        _msg: *mut MmapContext,
        _main_loop: usize,
    ) {
        core::arch::naked_asm!(
            "push rbp",
            "push rbx",
            "push r12",
            "push r13",
            "push r14",
            "push r15",
            "push rdx",
            "sub rsp, 8",
            "stmxcsr [rsp]",
            "fnstcw [rsp + 4]",
            "2:",
            "call 3f",
            // Continued, on our own stack; rsi is what the other side handed over.
            "cmp qword ptr [rsp + 8], 0",
            "je 4f",
            "test rsi, rsi",
            "jz 4f",
            // Main's loop: resume the greenlet the suspended one named.
            "mov rdi, rsi",
            "xor esi, esi",
            "jmp 2b",
            "4:",
            "ldmxcsr [rsp]",
            "fldcw [rsp + 4]",
            "add rsp, 16",
            "pop r15",
            "pop r14",
            "pop r13",
            "pop r12",
            "pop rbx",
            "pop rbp",
            "ret",
            // The hop: rsp (just below label 2's return address) for the other side's.
            "3:",
            "mov rax, [rdi]",
            "mov [rdi], rsp",
            "mov rsp, rax",
            "ret",
        )
    }

    /// Where a new stack's first hop returns to, with rsp pointing at `[entry][arg][0]`:
    /// starts `entry(arg)` with the default control words and a zero frame pointer, as if
    /// called from a return address of 0 (which ends backtraces). `jmp`, not `call`: entry
    /// never returns, and a `call` would leave an entry on the return-address predictor that
    /// no `ret` ever takes.
    #[unsafe(naked)]
    unsafe extern "sysv64" fn trampoline() {
        core::arch::naked_asm!(
            "pop rax",
            "pop rdi",
            // rsp now points at the 0 return address and is 8 mod 16, as after a call.
            "xor ebp, ebp",
            "mov dword ptr [rsp - 8], {mxcsr}",
            "ldmxcsr [rsp - 8]",
            "mov word ptr [rsp - 8], {fpcw}",
            "fldcw [rsp - 8]",
            "jmp rax",
            mxcsr = const MXCSR_DEFAULT,
            fpcw = const FPCW_DEFAULT,
        )
    }

    // SAFETY: every suspended context is suspended in `transfer`, which keeps rbx, rbp,
    // r12-r15, the MXCSR and the x87 control word on its own stack and restores them before
    // returning, with rsp as it was; each stack is owned by exactly one context.
    unsafe impl StackSwitch for Mmap {
        type Context = MmapContext;

        fn main_context() -> MmapContext {
            MmapContext {
                other_sp: null_mut(),
                is_main: true,
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
            // From the top down: [0: entry's fake return address] [arg] [entry]
            // [trampoline: taken by the first hop's `ret`].
            let words: [u64; 4] = [
                trampoline as *const () as u64,
                entry as *const () as u64,
                arg as u64,
                0,
            ];
            // SAFETY: the 32 bytes below `top` lie in the usable part of our fresh stack.
            let sp = unsafe {
                let sp = top.sub(words.len());
                std::ptr::copy_nonoverlapping(words.as_ptr(), sp, words.len());
                sp
            };
            Ok(MmapContext {
                other_sp: sp as *mut u8,
                is_main: false,
                stack: Some(stack),
                _main: None,
            })
        }

        /// Symmetric switching on top of main ↔ greenlet transfers: main resumes `to` and then
        /// whatever greenlet the resumed one names when it suspends, until one names main; a
        /// greenlet suspends back into that loop, naming `to` (null for main).
        #[inline]
        unsafe fn switch(from: *mut MmapContext, to: *mut MmapContext, _from_dying: bool) {
            // A non-main context only ever runs after main's loop in `transfer` resumed it, so
            // when `from` is not main, main is suspended in that loop with its stack pointer in
            // `from.other_sp`; when `from` is main, every greenlet the loop resumes is new or
            // suspended in `transfer`.
            // SAFETY: the caller guarantees both contexts are live, distinct and of this
            // thread, `to` new or suspended in `switch`; `transfer`'s needs follow (above).
            unsafe {
                if (*from).is_main {
                    transfer(to, null_mut(), 1);
                } else if (*to).is_main {
                    transfer(from, null_mut(), 0);
                } else {
                    transfer(from, to, 0);
                }
            }
        }
    }
}

//! Stack overflow: the SIGSEGV/SIGBUS handler and the alternate signal stack it runs on.
//!
//! A greenlet that runs into its guard page takes a SIGSEGV; the handler (on the thread's
//! alternate signal stack) finds the guard page in the registry ([`super::guard`]), writes
//! `switchyard: greenlet stack overflow (mmap backend, stack of N bytes)` to stderr with
//! `write(2)` and aborts. Faults elsewhere go to the handler that was installed before.

use super::{guard, page_size};
use std::cell::{RefCell, UnsafeCell};
use std::mem::MaybeUninit;
use std::sync::Once;

/// The actions our overflow handler replaced.
static SIGNALS: ChainedSignals<2> = ChainedSignals::new([libc::SIGSEGV, libc::SIGBUS]);

/// Installs the overflow handler for SIGSEGV and SIGBUS, once per process.
pub(super) fn install_handler() {
    page_size();
    SIGNALS.install(on_fault);
}

extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SIGSEGV/SIGBUS with SA_SIGINFO.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = addr & !(page_size() - 1);
    if let Some((usable, backend)) = guard::lookup(page) {
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
    // SAFETY: this is the handler `SIGNALS.install` installed for `sig`, passing on what it
    // received.
    unsafe { SIGNALS.chain(sig, info, ctx) };
}

/// Handlers for a set of signals, installed once per process, that pass what they do not
/// handle on to the actions they replaced ([`chain_signal`]).
pub struct ChainedSignals<const N: usize> {
    signals: [libc::c_int; N],
    old: UnsafeCell<[MaybeUninit<libc::sigaction>; N]>,
    once: Once,
}

// SAFETY: `old` is written only inside `once`, before the handler that reads it is installed,
// and is read-only afterwards.
unsafe impl<const N: usize> Sync for ChainedSignals<N> {}

impl<const N: usize> ChainedSignals<N> {
    /// For `signals`; nothing is installed yet.
    pub const fn new(signals: [libc::c_int; N]) -> Self {
        ChainedSignals {
            signals,
            old: UnsafeCell::new([MaybeUninit::uninit(); N]),
            once: Once::new(),
        }
    }

    /// Installs `handler` for every signal of the set (`SA_SIGINFO | SA_ONSTACK`), keeping the
    /// actions it replaces; only the first call does anything.
    pub fn install(
        &'static self,
        handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void),
    ) {
        self.once.call_once(|| {
            for (i, &sig) in self.signals.iter().enumerate() {
                // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; we fill
                // in the handler, and the old action is stored before the new one can run.
                unsafe {
                    let mut action: libc::sigaction = std::mem::zeroed();
                    action.sa_sigaction = handler as *const () as usize;
                    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                    libc::sigemptyset(&mut action.sa_mask);
                    let old = (*self.old.get())[i].as_mut_ptr();
                    libc::sigaction(sig, &action, old);
                }
            }
        });
    }

    /// Passes `sig` on to the action our handler replaced (see [`chain_signal`]).
    ///
    /// # Safety
    ///
    /// Call only from the handler [`Self::install`] installed, for a signal of the set, with
    /// the `info` and `ctx` it received.
    pub unsafe fn chain(
        &self,
        sig: libc::c_int,
        info: *mut libc::siginfo_t,
        ctx: *mut libc::c_void,
    ) {
        let Some(i) = self.signals.iter().position(|&s| s == sig) else {
            return;
        };
        // SAFETY: the handler runs only after `install` stored the old action for `sig`, and
        // it is never written again.
        let old = unsafe { (*self.old.get())[i].assume_init_ref() };
        // SAFETY: our caller is the SA_SIGINFO handler that replaced `old` for `sig`.
        unsafe { chain_signal(sig, old, info, ctx) };
    }
}

/// Hands a signal on to the action a handler of ours replaced: the default or ignore
/// disposition is put back (the faulting instruction then runs again and gets it), a
/// previous handler is called with what we received. For fault handlers that only report and
/// let the process die the way it would have.
///
/// # Safety
///
/// Call only from a signal handler installed with `SA_SIGINFO` for `sig`, passing the `info`
/// and `ctx` it received and the action it replaced (as `sigaction` returned it).
pub unsafe fn chain_signal(
    sig: libc::c_int,
    old: &libc::sigaction,
    info: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
) {
    let handler = old.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
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
pub(super) fn ensure_altstack() {
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

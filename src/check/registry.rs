//! The backend registry: every greenlet backend switchyard can run, by name. Adding a backend
//! is one module in `impls/` plus one line in [`BACKENDS`].

use crate::interp::{self, Fatal, RtValue, RunResult};
use crate::lang::ast::Program;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use switchyard_impls::greenlet::{Hub, HubConfig};

/// The reference backend every other backend is judged by.
pub const ORACLE: &str = "thread";

/// Stack of the thread each program runs on. The stack-copy backend runs every greenlet of a
/// program on this one stack, and each greenlet starts below the frame that first switched to
/// it, so deep `recurse` in many greenlets adds up. It is reserved, not committed.
pub const PROGRAM_THREAD_STACK: usize = 1 << 30;

/// One registered backend.
pub struct Backend {
    /// The name users pass to `--backend`.
    pub name: &'static str,
    /// One line on how it switches.
    pub summary: &'static str,
    run: fn(&Program, &str, &HubConfig) -> RunResult,
}

impl Backend {
    /// The registry entry for a hub type.
    pub const fn new<H: Hub<RtValue>>(name: &'static str, summary: &'static str) -> Backend {
        Backend {
            name,
            summary,
            run: interp::run::<H>,
        }
    }

    /// Whether this is a deliberately broken backend (`mutant-*`, `crash-*`; registered only
    /// with the `mutants` feature): default backend selections leave these out.
    pub fn is_mutant(&self) -> bool {
        self.name.starts_with("mutant-") || self.name.starts_with("crash-")
    }

    /// Whether this is a mutant whose bug changes no trace, only AddressSanitizer finds it
    /// (`mutant-asan-*`): the detection tests of builds without ASan leave it out.
    pub fn is_asan_only(&self) -> bool {
        self.name.starts_with("mutant-asan-")
    }

    /// Runs `program` on the calling thread (which must have stack enough; see
    /// [`PROGRAM_THREAD_STACK`]).
    pub fn run_here(&self, program: &Program, config: &HubConfig) -> RunResult {
        (self.run)(program, self.name, config)
    }

    /// Runs `program` on this thread's program thread, a long-lived thread with a
    /// [`PROGRAM_THREAD_STACK`] stack, so that every run starts from the same stack depth and
    /// the caller's own stack size does not matter.
    pub fn run(&'static self, program: &Program) -> RunResult {
        self.run_with(program, &HubConfig::default())
    }

    /// [`Backend::run`] with explicit hub settings.
    pub fn run_with(&'static self, program: &Program, config: &HubConfig) -> RunResult {
        let program = program.clone();
        let config = config.clone();
        let (reply, result) = mpsc::channel();
        let job: Job = Box::new(move || {
            let outcome =
                panic::catch_unwind(AssertUnwindSafe(|| self.run_here(&program, &config)));
            let _ = reply.send(outcome.unwrap_or_else(|payload| {
                Err(Fatal::Panic {
                    backend: self.name.to_string(),
                    message: panic_message(&*payload),
                })
            }));
        });
        let sent = PROGRAM_THREAD.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.is_none() {
                *slot = Some(ProgramThread::start()?);
            }
            let thread = slot.as_ref().expect("just started");
            thread.jobs.send(job).map_err(|_| {
                *slot = None;
                "the program thread has ended".to_string()
            })
        });
        if let Err(error) = sent {
            return Err(Fatal::Backend {
                backend: self.name.to_string(),
                error,
            });
        }
        result.recv().unwrap_or_else(|_| {
            PROGRAM_THREAD.with(|cell| *cell.borrow_mut() = None);
            Err(Fatal::Panic {
                backend: self.name.to_string(),
                message: "the program thread died during the run".to_string(),
            })
        })
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// A long-lived thread with a big stack that runs programs one at a time for one caller
/// thread. It ends when its caller thread ends (the job channel closes).
struct ProgramThread {
    jobs: mpsc::Sender<Job>,
}

impl ProgramThread {
    fn start() -> Result<ProgramThread, String> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("switchyard-program".to_string())
            .stack_size(PROGRAM_THREAD_STACK)
            .spawn(move || {
                for job in queue {
                    job();
                }
            })
            .map_err(|e| format!("cannot start the program thread: {e}"))?;
        Ok(ProgramThread { jobs })
    }
}

thread_local! {
    static PROGRAM_THREAD: RefCell<Option<ProgramThread>> = const { RefCell::new(None) };
}

/// The text of a panic payload (the one rendering every backend uses).
pub use switchyard_impls::greenlet::panic_message;

/// The greenlet runtime over a native stack-switching backend, with the register probe at
/// every switch ([`switchyard_impls::probe::Probed`]): a backend that loses a callee-saved
/// register or control word across a switch is a `register-corruption` finding. (The
/// benchmark uses the backends unprobed.)
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
type Native<S> = switchyard_impls::runtime::Runtime<switchyard_impls::probe::Probed<S>, RtValue>;

/// The interpreter's promise for the backends that move stacks (stack-copy and its mutants).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
struct InterpreterKeepsStacksPrivate;

// SAFETY: the interpreter (safe code, no threads of its own) runs greenlet bodies that are
// `'static` closures over heap data (`Arc`s); nothing it runs keeps a pointer into a
// greenlet's stack while that greenlet is suspended, for another greenlet or another thread.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
unsafe impl switchyard_impls::runtime::SharedStackContract for InterpreterKeepsStacksPrivate {}

/// A backend that moves stacks, under the interpreter's promise.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
type Shared<S> = switchyard_impls::runtime::SharedStack<S, InterpreterKeepsStacksPrivate>;

/// A backend that moves stacks (stack-copy and its mutants), probed at every switch, under the
/// interpreter's promise. The probe sits inside the promise so that nothing stands between
/// its assembly and the backend's switch.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
type NativeShared<S> =
    switchyard_impls::runtime::Runtime<Shared<switchyard_impls::probe::Probed<S>>, RtValue>;

/// Defines [`BACKENDS`]: the entries given, then (feature `mutants`) one lost-register mutant
/// per native backend and register, `mutant-BACKEND-lost-REG`
/// (`switchyard_impls::mutants::lost`), for the backends whose `if` predicate holds (a `cfg`).
macro_rules! registry {
    (
        [$($entries:tt)*]
        lost: [$($backend:literal if $pred:meta => $wrap:ident $module:ident [$($ty:ident $reg:literal),*],)*]
    ) => {
        /// Every backend, the oracle first. A backend whose module does not build on this
        /// platform is compiled out of the list.
        pub static BACKENDS: &[Backend] = &[
            $($entries)*
            $($(
                #[cfg(all(feature = "mutants", target_arch = "x86_64", target_os = "linux", $pred))]
                Backend::new::<$wrap<switchyard_impls::mutants::lost::$module::$ty>>(
                    concat!("mutant-", $backend, "-lost-", $reg),
                    concat!("BROKEN ON PURPOSE: ", $backend, " whose switch does not restore ", $reg),
                ),
            )*)*
        ];
    };
}

registry! {
    [
        Backend::new::<switchyard_oracle::ThreadHub<RtValue>>(
            ORACLE,
            "reference oracle: one OS thread per greenlet, a baton handed over on every switch",
        ),
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        Backend::new::<NativeShared<switchyard_impls::stack_copy::StackCopy>>(
            "stack-copy",
            "greenlet's algorithm: one shared stack, overlapping slices copied to and from the heap",
        ),
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        Backend::new::<Native<switchyard_impls::mmap::Mmap>>(
            "mmap",
            "an mmap'd stack per greenlet with a guard page, naked-asm register swap",
        ),
        #[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
        Backend::new::<Native<switchyard_impls::ucontext::Ucontext>>(
            "ucontext",
            "getcontext/makecontext/swapcontext from libc on mmap'd stacks with a guard page",
        ),
        // Deliberately broken backends (see `switchyard_impls::mutants`); `is_mutant` is true.
        #[cfg(all(feature = "mutants", target_arch = "x86_64", target_os = "linux"))]
        Backend::new::<Native<switchyard_impls::mutants::swap::MutantRbx>>(
            "mutant-rbx",
            "BROKEN ON PURPOSE: mmap stacks, register swap that does not restore rbx",
        ),
        #[cfg(all(feature = "mutants", target_arch = "x86_64", target_os = "linux"))]
        Backend::new::<Native<switchyard_impls::mutants::swap::MutantMxcsr>>(
            "mutant-mxcsr",
            "BROKEN ON PURPOSE: mmap stacks, register swap that does not restore MXCSR",
        ),
        #[cfg(all(feature = "mutants", target_arch = "x86_64", target_os = "linux"))]
        Backend::new::<NativeShared<switchyard_impls::mutants::stack_copy::MutantRestoreOffset>>(
            "mutant-restore-offset",
            "BROKEN ON PURPOSE: stack copy restoring partial slices 16 bytes too high",
        ),
        #[cfg(all(feature = "mutants", target_arch = "x86_64", target_os = "linux"))]
        Backend::new::<NativeShared<switchyard_impls::mutants::stack_copy::MutantShortSave>>(
            "mutant-short-save",
            "BROKEN ON PURPOSE: stack copy whose partial saves stop one word short",
        ),
        #[cfg(all(feature = "mutants", target_arch = "x86_64", target_os = "linux"))]
        Backend::new::<switchyard_impls::mutants::hubs::WrongTarget<RtValue>>(
            "mutant-wrong-target",
            "BROKEN ON PURPOSE: some switches to a suspended greenlet go to its suspended parent",
        ),
        #[cfg(all(feature = "mutants", target_arch = "x86_64", target_os = "linux"))]
        Backend::new::<switchyard_impls::mutants::hubs::ParentSkip<RtValue>>(
            "mutant-parent-skip",
            "BROKEN ON PURPOSE: walks past two dead greenlets skip the next parent",
        ),
        #[cfg(all(feature = "mutants", target_arch = "x86_64", target_os = "linux"))]
        Backend::new::<switchyard_impls::mutants::hubs::KillParent<RtValue>>(
            "mutant-kill-parent",
            "BROKEN ON PURPOSE: a kill on the last reference skips `parent := current`",
        ),
        #[cfg(all(feature = "mutants", target_arch = "x86_64", target_os = "linux"))]
        Backend::new::<switchyard_impls::mutants::hubs::Hang<RtValue>>(
            "mutant-hang",
            "BROKEN ON PURPOSE: a switch to a dead greenlet whose parent is dead loops forever",
        ),
        #[cfg(all(feature = "mutants", target_arch = "x86_64", target_os = "linux"))]
        Backend::new::<switchyard_impls::mutants::hubs::CrashSegv<RtValue>>(
            "crash-segv",
            "BROKEN ON PURPOSE: correct, but the third throw into a suspended greenlet is a SIGSEGV",
        ),
        // Found only by AddressSanitizer (`ci/asan.sh`, `cargo fuzz run`): see `is_asan_only`.
        #[cfg(all(feature = "mutants", target_arch = "x86_64", target_os = "linux"))]
        Backend::new::<Native<switchyard_impls::mutants::redzone::RedzoneWrite>>(
            "mutant-asan-redzone",
            "BROKEN ON PURPOSE (ASan finds it): mmap, each switch writes a byte past a live stack buffer of the suspended greenlet it resumes",
        ),
    ]
    lost: [
        "stack-copy" if all() => NativeShared stack_copy [Rbx "rbx", Rbp "rbp", R12 "r12", R13 "r13", R14 "r14", R15 "r15", Mxcsr "mxcsr", X87Cw "x87-cw"],
        "mmap" if all() => Native mmap [Rbx "rbx", Rbp "rbp", R12 "r12", R13 "r13", R14 "r14", R15 "r15", Mxcsr "mxcsr", X87Cw "x87-cw"],
        "ucontext" if target_env = "gnu" => Native ucontext [Rbx "rbx", Rbp "rbp", R12 "r12", R13 "r13", R14 "r14", R15 "r15", Mxcsr "mxcsr", X87Cw "x87-cw"],
    ]
}

/// The backend called `name`.
pub fn find(name: &str) -> Option<&'static Backend> {
    BACKENDS.iter().find(|b| b.name == name)
}

/// The real backends, the oracle included: what a default backend selection should use.
pub fn real() -> impl Iterator<Item = &'static Backend> {
    BACKENDS.iter().filter(|b| !b.is_mutant())
}

/// The deliberately broken backends (none without the `mutants` feature).
pub fn mutants() -> impl Iterator<Item = &'static Backend> {
    BACKENDS.iter().filter(|b| b.is_mutant())
}

/// The oracle.
pub fn oracle() -> &'static Backend {
    find(ORACLE).expect("the oracle is registered")
}

/// Every registered name, comma-separated (for messages).
pub fn names() -> String {
    BACKENDS
        .iter()
        .map(|b| b.name)
        .collect::<Vec<_>>()
        .join(", ")
}

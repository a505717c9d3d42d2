//! The backend registry: every greenlet backend switchyard can run, by name, with where it
//! comes from ([`Provenance`]) and what the checks hold it to ([`Checked`]). Adding a built-in
//! backend is one module in `impls/` plus one line in [`BUILT_IN`]; a program that embeds
//! switchyard adds its own at start-up with [`register`] (`switchyard::cli::main_with` does
//! it for its extras), before anything reads the registry ([`all`]).
//!
//! Native backends (a [`StackSwitch`]) go in with [`Backend::native`] or
//! [`Backend::native_moving_stacks`], which run them under the generic greenlet runtime with
//! the register probe and stack canaries at every switch; `Hub` implementations with
//! [`Backend::new`].

use super::program_thread;
use crate::interp::{self, RtValue, RunResult};
use crate::lang::ast::Program;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use switchyard_impls::greenlet::{Hub, HubConfig};
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
use switchyard_impls::runtime::{SharedStackContract, StableStacks};
use switchyard_impls::switch::{Guarantees, StackSwitch};

/// The reference backend every other backend is judged by.
pub const ORACLE: &str = "thread";

pub use super::program_thread::PROGRAM_THREAD_STACK;

/// Where a backend comes from (`switchyard backends -v` shows it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provenance {
    /// Written in this repository and listed in [`BUILT_IN`].
    BuiltIn,
    /// From a crate: an out-of-tree backend added by the binary that embeds switchyard
    /// (`switchyard::cli::main_with`), or a built-in adapter over a crates.io crate.
    Crate {
        name: &'static str,
        version: &'static str,
    },
    /// Loaded from a shared library at start-up.
    SharedLibrary { path: &'static Path },
}

impl fmt::Display for Provenance {
    /// `built-in`, `crate NAME VERSION`, `shared library PATH`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provenance::BuiltIn => f.write_str("built-in"),
            Provenance::Crate { name, version } => write!(f, "crate {name} {version}"),
            Provenance::SharedLibrary { path } => {
                // Escaped when it holds control characters, as every file name in messages.
                let shown = path.display().to_string();
                if shown.chars().any(char::is_control) {
                    write!(f, "shared library {shown:?}")
                } else {
                    write!(f, "shared library {shown}")
                }
            }
        }
    }
}

/// What the checks can hold a backend to, beyond its traces and the interpreter's stack
/// canaries (every `recurse` frame checks its own bytes, on every backend).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checked {
    /// A native `StackSwitch` under the generic runtime, with the register probe at every
    /// switch: it keeps, and the probe checks, the general-purpose callee-saved registers and
    /// what it declares of the control words.
    Native(Guarantees),
    /// A `Hub` implementation: judged by its traces, crashes and hangs only; `note` says what
    /// applies to it.
    Hub { note: &'static str },
}

impl fmt::Display for Checked {
    /// `all callee-saved state (register probe at every switch)`, or the hub's note.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Checked::Native(g) => write!(f, "{g} (register probe at every switch)"),
            Checked::Hub { note } => f.write_str(note),
        }
    }
}

/// What [`Backend::new`] says of a `Hub` implementation.
pub const HUB_NOTE: &str = "greenlet semantics by trace (Hub-level: no register probe)";

/// One registered backend.
#[derive(Clone, Copy)]
pub struct Backend {
    /// The name users pass to `--backend`.
    pub name: &'static str,
    /// One line on how it switches.
    pub summary: &'static str,
    /// Where it comes from.
    pub provenance: Provenance,
    checked: CheckedBy,
    run: fn(&Arc<Program>, &str, &HubConfig) -> RunResult,
    /// What `switchyard bench` measures: the registered hub type, unless
    /// the native constructors name another (their backend's unprobed runtime, [`Unprobed`]).
    bench: crate::bench::BenchFns,
}

/// [`Checked`], with a native backend's guarantees asked of its type when needed (a trait
/// method, so not callable in a `const fn`).
#[derive(Clone, Copy)]
enum CheckedBy {
    Native(fn() -> Guarantees),
    Hub(&'static str),
}

impl Backend {
    /// The registry entry for a `Hub` implementation (greenlet semantics written directly,
    /// like the thread oracle): judged by its traces, crashes and hangs; not under the register
    /// probe. Provenance [`Provenance::BuiltIn`] until [`Backend::from_crate`] or
    /// [`Backend::from_library`] says otherwise.
    pub const fn new<H: Hub<RtValue> + 'static>(
        name: &'static str,
        summary: &'static str,
    ) -> Backend {
        Backend {
            name,
            summary,
            provenance: Provenance::BuiltIn,
            checked: CheckedBy::Hub(HUB_NOTE),
            run: interp::run_shared::<H>,
            bench: crate::bench::BenchFns::of::<H>(),
        }
    }

    /// The registry entry for a native stack switcher whose greenlets keep their stacks in
    /// place (`S: StableStacks`, e.g. a stack per greenlet): `S` under the generic greenlet
    /// runtime (all of greenlet's semantics) with the register probe and stack canaries at
    /// every switch, exactly as the built-in `mmap` and `ucontext` run. The probe checks
    /// what `S::guarantees()` declares.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    pub const fn native<S: StableStacks>(name: &'static str, summary: &'static str) -> Backend {
        Backend {
            name,
            summary,
            provenance: Provenance::BuiltIn,
            checked: CheckedBy::Native(S::guarantees),
            run: interp::run_shared::<Native<S>>,
            bench: crate::bench::BenchFns::of::<Unprobed<S>>(),
        }
    }

    /// [`Backend::native`] for a switcher that moves suspended stacks (greenlet's stack
    /// copying, say: `S` need not be `StableStacks`), as the built-in `stack-copy` runs: under
    /// the interpreter's [`SharedStackContract`] (the interpreter keeps no pointer into a
    /// suspended greenlet's stack), probed at every switch.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    pub const fn native_moving_stacks<S: StackSwitch>(
        name: &'static str,
        summary: &'static str,
    ) -> Backend {
        Backend {
            name,
            summary,
            provenance: Provenance::BuiltIn,
            checked: CheckedBy::Native(S::guarantees),
            run: interp::run_shared::<NativeShared<S>>,
            bench: crate::bench::BenchFns::of::<Unprobed<Shared<S>>>(),
        }
    }

    /// This backend, from crate `name` `version` (for an out-of-tree backend:
    /// `.from_crate(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))`).
    pub const fn from_crate(self, name: &'static str, version: &'static str) -> Backend {
        Backend {
            provenance: Provenance::Crate { name, version },
            ..self
        }
    }

    /// Measures this backend for `switchyard bench` (see [`crate::bench`]), on the calling
    /// thread, which must have stack enough (see [`PROGRAM_THREAD_STACK`]).
    pub fn bench_here(&self, plan: &crate::bench::Plan) -> crate::bench::Measured {
        (self.bench.measure)(plan, self.name)
    }

    /// One of this backend's figures, made on the calling thread (which must have stack
    /// enough, as for [`Backend::bench_here`]) and sampled on request there: what the paired
    /// goals of `switchyard bench` compare.
    pub fn sampler_here(
        &self,
        figure: crate::bench::Figure,
    ) -> Result<crate::bench::Sample, String> {
        (self.bench.sampler)(figure)
    }

    /// This backend, loaded from the shared library at `path`.
    pub const fn from_library(self, path: &'static Path) -> Backend {
        Backend {
            provenance: Provenance::SharedLibrary { path },
            ..self
        }
    }

    /// A `Hub`-level backend with its own statement of what applies to it (in place of
    /// [`HUB_NOTE`]). No effect on a native backend, whose guarantees are its type's.
    pub const fn hub_note(self, note: &'static str) -> Backend {
        match self.checked {
            CheckedBy::Hub(_) => Backend {
                checked: CheckedBy::Hub(note),
                ..self
            },
            CheckedBy::Native(_) => self,
        }
    }

    /// What the checks hold it to beyond its traces: a native backend's guarantees (what the
    /// register probe checks), or what applies to a `Hub` implementation.
    pub fn checked(&self) -> Checked {
        match self.checked {
            CheckedBy::Native(guarantees) => Checked::Native(guarantees()),
            CheckedBy::Hub(note) => Checked::Hub { note },
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
        (self.run)(&Arc::new(program.clone()), self.name, config)
    }

    /// Runs `program` on a program thread ([`super::program_thread`]), a long-lived thread
    /// with a [`PROGRAM_THREAD_STACK`] stack, so that every run starts from the same stack depth
    /// and the caller's own stack size does not matter. A run that leaves a greenlet hub alive on
    /// the program thread (a [`crate::interp::Fatal::HubLeak`]) retires that thread for later runs, so no later
    /// program is refused a hub because of this one.
    pub fn run(&'static self, program: &Program) -> RunResult {
        self.run_shared(&Arc::new(program.clone()), &HubConfig::default())
    }

    /// [`Backend::run`] with explicit hub settings.
    pub fn run_with(&'static self, program: &Program, config: &HubConfig) -> RunResult {
        self.run_shared(&Arc::new(program.clone()), config)
    }

    /// [`Backend::run_with`] on a program already shared (no copy of it is made: the
    /// differential comparison runs one program on every backend).
    pub fn run_shared(&'static self, program: &Arc<Program>, config: &HubConfig) -> RunResult {
        let program = Arc::clone(program);
        let config = config.clone();
        program_thread::run(self.name, move || (self.run)(&program, self.name, &config))
    }
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend")
            .field("name", &self.name)
            .field("provenance", &self.provenance)
            .field("checked", &self.checked())
            .finish_non_exhaustive()
    }
}

/// The text of a panic payload (the one rendering every backend uses).
pub use switchyard_impls::greenlet::panic_message;

/// The greenlet runtime over a native stack-switching backend, with the register probe at
/// every switch ([`switchyard_impls::probe::Probed`]): a backend that loses a callee-saved
/// register or control word across a switch is a `register-corruption` finding. (The
/// benchmark uses the backends unprobed: [`Unprobed`].)
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub(crate) type Native<S> =
    switchyard_impls::runtime::Runtime<switchyard_impls::probe::Probed<S>, RtValue>;

/// The greenlet runtime over a native backend without the probe: what `switchyard bench`
/// measures.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
type Unprobed<S> = switchyard_impls::runtime::Runtime<S, RtValue>;

/// The interpreter's promise for the backends that move stacks (stack-copy and its mutants).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
struct InterpreterKeepsStacksPrivate;

// SAFETY: the interpreter (safe code, no threads of its own) runs greenlet bodies that are
// `'static` closures over heap data (`Arc`s); nothing it runs keeps a pointer into a
// greenlet's stack while that greenlet is suspended, for another greenlet or another thread.
// The same holds for `switchyard bench`'s bodies (`crate::bench`), which only switch and keep
// local arrays that nothing else sees.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
unsafe impl SharedStackContract for InterpreterKeepsStacksPrivate {}

/// A backend that moves stacks, under the interpreter's promise.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
type Shared<S> = switchyard_impls::runtime::SharedStack<S, InterpreterKeepsStacksPrivate>;

/// A backend that moves stacks (stack-copy and its mutants), probed at every switch, under the
/// interpreter's promise. The probe sits inside the promise so that nothing stands between
/// its assembly and the backend's switch.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
type NativeShared<S> =
    switchyard_impls::runtime::Runtime<Shared<switchyard_impls::probe::Probed<S>>, RtValue>;

/// Defines [`BUILT_IN`]: the entries given, then (feature `mutants`) one lost-register mutant
/// per native backend and register, `mutant-BACKEND-lost-REG`
/// (`switchyard_impls::mutants::lost`), for the backends whose `if` predicate holds (a `cfg`).
macro_rules! registry {
    (
        [$($entries:tt)*]
        lost: [$($backend:literal if $pred:meta => $ctor:ident $module:ident [$($ty:ident $reg:literal),*],)*]
    ) => {
        /// Every built-in backend, the oracle first. A backend whose module does not build on
        /// this platform is compiled out of the list. [`all`] adds the registered ones.
        pub static BUILT_IN: &[Backend] = &[
            $($entries)*
            $($(
                #[cfg(all(feature = "mutants", target_arch = "x86_64", target_os = "linux", $pred))]
                Backend::$ctor::<switchyard_impls::mutants::lost::$module::$ty>(
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
        )
        .hub_note(
            "the reference trace (Hub-level: each greenlet an OS thread, registers kept by the \
             kernel; no register probe)",
        ),
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        Backend::native_moving_stacks::<switchyard_impls::stack_copy::StackCopy>(
            "stack-copy",
            "greenlet's algorithm: one shared stack, overlapping slices copied to and from the heap",
        ),
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        Backend::native::<switchyard_impls::mmap::Mmap>(
            "mmap",
            "an mmap'd stack per greenlet with a guard page, naked-asm register swap",
        ),
        #[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
        Backend::native::<switchyard_impls::ucontext::Ucontext>(
            "ucontext",
            "getcontext/makecontext/swapcontext from libc on mmap'd stacks with a guard page",
        ),
        #[cfg(all(feature = "adapters", target_arch = "x86_64", target_os = "linux"))]
        Backend::native::<switchyard_impls::backend::adapters::corosensei::Corosensei>(
            "corosensei",
            "the corosensei crate's resume/suspend, trampolined through main, on mmap'd stacks",
        )
        .from_crate("corosensei", "0.3.4"),
        #[cfg(all(feature = "adapters", target_arch = "x86_64", target_os = "linux"))]
        Backend::native::<switchyard_impls::backend::adapters::fcontext::Fcontext>(
            "fcontext",
            "the context crate's Boost.Context jump_fcontext on mmap'd stacks",
        )
        .from_crate("context", "3.0.0"),
        // Deliberately broken backends (see `switchyard_impls::mutants`); `is_mutant` is true.
        #[cfg(all(feature = "mutants", target_arch = "x86_64", target_os = "linux"))]
        Backend::native::<switchyard_impls::mutants::swap::MutantRbx>(
            "mutant-rbx",
            "BROKEN ON PURPOSE: mmap stacks, register swap that does not restore rbx",
        ),
        #[cfg(all(feature = "mutants", target_arch = "x86_64", target_os = "linux"))]
        Backend::native::<switchyard_impls::mutants::swap::MutantMxcsr>(
            "mutant-mxcsr",
            "BROKEN ON PURPOSE: mmap stacks, register swap that does not restore MXCSR",
        ),
        #[cfg(all(feature = "mutants", target_arch = "x86_64", target_os = "linux"))]
        Backend::native_moving_stacks::<switchyard_impls::mutants::stack_copy::MutantRestoreOffset>(
            "mutant-restore-offset",
            "BROKEN ON PURPOSE: stack copy restoring partial slices 16 bytes too high",
        ),
        #[cfg(all(feature = "mutants", target_arch = "x86_64", target_os = "linux"))]
        Backend::native_moving_stacks::<switchyard_impls::mutants::stack_copy::MutantShortSave>(
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
        Backend::new::<switchyard_impls::mutants::hubs::HubLeak<RtValue>>(
            "mutant-hub-leak",
            "BROKEN ON PURPOSE: a kill on a last reference leaks a hub handle: the hub outlives the run",
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
        "stack-copy" if all() => native_moving_stacks stack_copy [Rbx "rbx", Rbp "rbp", R12 "r12", R13 "r13", R14 "r14", R15 "r15", Mxcsr "mxcsr", X87Cw "x87-cw"],
        "mmap" if all() => native mmap [Rbx "rbx", Rbp "rbp", R12 "r12", R13 "r13", R14 "r14", R15 "r15", Mxcsr "mxcsr", X87Cw "x87-cw"],
        "ucontext" if target_env = "gnu" => native ucontext [Rbx "rbx", Rbp "rbp", R12 "r12", R13 "r13", R14 "r14", R15 "r15", Mxcsr "mxcsr", X87Cw "x87-cw"],
    ]
}

/// Why [`register`] refused a backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// The registry has already been read (a command, a check or a lookup has run): every
    /// backend must be registered before.
    TooLate,
    /// The name is taken (by a built-in backend or an earlier registration).
    Taken,
    /// The name is empty or has a character other than ASCII letters, digits, `-`, `_`, `.`,
    /// `+` and `:` (as in `lib:NAME`; names go on command lines and into the workers' protocol and file names).
    BadName,
    /// A registered backend must say where it comes from ([`Backend::from_crate`],
    /// [`Backend::from_library`]); only [`BUILT_IN`] entries are built-in.
    NoProvenance,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RegisterError::TooLate => {
                "too late: the registry has been read already (register before any command runs)"
            }
            RegisterError::Taken => "the name is taken",
            RegisterError::BadName => {
                "a name is ASCII letters, digits, '-', '_', '.', '+' and ':', and not empty"
            }
            RegisterError::NoProvenance => {
                "say where it comes from: .from_crate(env!(\"CARGO_PKG_NAME\"), \
                 env!(\"CARGO_PKG_VERSION\")) or .from_library(path)"
            }
        })
    }
}

impl std::error::Error for RegisterError {}

/// Backends registered at start-up, and whether the registry has been read (then it is
/// fixed: [`all`] has handed it out).
struct Registered {
    extra: Vec<&'static Backend>,
    fixed: bool,
}

static REGISTERED: Mutex<Registered> = Mutex::new(Registered {
    extra: Vec::new(),
    fixed: false,
});

static ALL: OnceLock<Vec<&'static Backend>> = OnceLock::new();

/// Adds a backend to the registry, after the built-in ones: an out-of-tree backend of the
/// binary that embeds switchyard (`switchyard::cli::main_with` registers its extras with
/// this), or one loaded from a shared library. It must happen before anything reads the
/// registry ([`RegisterError::TooLate`]), in every process that needs the backend: campaign
/// workers are re-executed copies of the binary, so whatever registers it must run in them
/// too (`main_with` does, for its extras; a backend from a library needs its path passed on).
pub fn register(backend: Backend) -> Result<&'static Backend, RegisterError> {
    let valid = |c: char| c.is_ascii_alphanumeric() || "-_.+:".contains(c);
    if backend.name.is_empty() || !backend.name.chars().all(valid) {
        return Err(RegisterError::BadName);
    }
    if backend.provenance == Provenance::BuiltIn {
        return Err(RegisterError::NoProvenance);
    }
    let mut registered = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
    if registered.fixed {
        return Err(RegisterError::TooLate);
    }
    let taken = BUILT_IN.iter().any(|b| b.name == backend.name)
        || registered.extra.iter().any(|b| b.name == backend.name);
    if taken {
        return Err(RegisterError::Taken);
    }
    let backend: &'static Backend = Box::leak(Box::new(backend));
    registered.extra.push(backend);
    Ok(backend)
}

/// Every backend: the built-in ones (the oracle first), then the registered ones in the order
/// they were registered. The first call fixes the registry.
pub fn all() -> &'static [&'static Backend] {
    ALL.get_or_init(|| {
        let mut registered = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
        registered.fixed = true;
        BUILT_IN
            .iter()
            .chain(registered.extra.iter().copied())
            .collect()
    })
}

/// The backend called `name`.
pub fn find(name: &str) -> Option<&'static Backend> {
    all().iter().copied().find(|b| b.name == name)
}

/// The real backends, the oracle included: what a default backend selection should use.
pub fn real() -> impl Iterator<Item = &'static Backend> {
    all().iter().copied().filter(|b| !b.is_mutant())
}

/// The deliberately broken backends (none without the `mutants` feature).
pub fn mutants() -> impl Iterator<Item = &'static Backend> {
    all().iter().copied().filter(|b| b.is_mutant())
}

/// The oracle.
pub fn oracle() -> &'static Backend {
    BUILT_IN
        .iter()
        .find(|b| b.name == ORACLE)
        .expect("the oracle is registered")
}

/// Every registered name, comma-separated (for messages).
pub fn names() -> String {
    all().iter().map(|b| b.name).collect::<Vec<_>>().join(", ")
}

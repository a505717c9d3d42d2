//! The shared-library backend: a stack-switching library written in C, C++ or assembly that
//! exports the C interface of `include/switchyard.h`, loaded at run time ([`load`], with the
//! `libloading` crate) and run as [`CLib`], a [`StackSwitch`] like any built-in backend
//! (under the generic runtime and the register probe).
//!
//! One library per process: [`StackSwitch`] has no `self`, so the loaded library's functions
//! live in process globals, set once by [`load`] and never unloaded (contexts and code of
//! the library may be in use until the process ends). A second [`load`] of another path is
//! refused.
//!
//! The switch is the library's own: [`CLib::switch`] is a naked function that replaces the
//! runtime's two context slots by the library's context pointers they hold and jumps
//! (`jmp`, no call, no frame, no callee-saved register touched) to `switchyard_switch`, so
//! the register probe's canaries reach the library's switch exactly as they reach a built-in
//! backend's.

use crate::greenlet::{BackendError, HubConfig};
use crate::switch::{Entry, Guarantees, StackSwitch};
use std::ffi::{c_char, c_void};
use std::fmt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// The ABI version this switchyard speaks (`SWITCHYARD_ABI_VERSION` in `include/switchyard.h`).
pub const ABI_VERSION: u32 = 1;

/// `SWITCHYARD_KEEPS_MXCSR`.
const KEEPS_MXCSR: u32 = 1;
/// `SWITCHYARD_KEEPS_X87_CW`.
const KEEPS_X87_CW: u32 = 2;

/// The symbols a backend library exports, in the order they are looked up.
pub const SYMBOLS: [&str; 6] = [
    "switchyard_abi_version",
    "switchyard_guarantees",
    "switchyard_main_context",
    "switchyard_new_context",
    "switchyard_switch",
    "switchyard_free",
];

/// The shared-library backend (see the module documentation). Usable once [`load`] succeeded.
pub struct CLib;

/// A context of the loaded library: its `switchyard_context *`, freed (`switchyard_free`) on
/// drop. `repr(transparent)`, so that the runtime's `*mut CLibContext` points at the
/// library's pointer (what [`CLib::switch`] loads).
#[repr(transparent)]
pub struct CLibContext(NonNull<c_void>);

/// What [`load`] found: the library and how switchyard names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibInfo {
    /// The backend's name: `lib:` and the file name without its `lib` prefix and extension
    /// (`target/shims/boost-fcontext.so` is `lib:boost-fcontext`).
    pub name: String,
    /// The library file, made absolute (so re-executed workers load the same file).
    pub path: PathBuf,
    /// What its switch keeps (`switchyard_guarantees`).
    pub guarantees: Guarantees,
}

/// A library that could not be loaded as a backend: the message names the path and, for a
/// missing symbol or a wrong version, the symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError(pub String);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

type MainContextFn = unsafe extern "C" fn() -> *mut c_void;
type NewContextFn = unsafe extern "C" fn(
    entry: Entry,
    arg: *mut c_void,
    stack_size: usize,
    error: *mut c_char,
    error_len: usize,
) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(ctx: *mut c_void);
type VersionFn = unsafe extern "C" fn() -> u32;

/// The loaded library.
struct Loaded {
    info: LibInfo,
    main_context: MainContextFn,
    new_context: NewContextFn,
    free: FreeFn,
    /// Kept open for the life of the process.
    _library: libloading::os::unix::Library,
}

static LOADED: OnceLock<Loaded> = OnceLock::new();

/// `switchyard_switch` of the loaded library, 0 before [`load`]; what [`CLib::switch`] jumps
/// through.
static SWITCH_FN: AtomicUsize = AtomicUsize::new(0);

/// The library loaded in this process, if any.
pub fn loaded() -> Option<&'static LibInfo> {
    LOADED.get().map(|l| &l.info)
}

/// The backend name of the library at `path` (see [`LibInfo::name`]).
pub fn name_for(path: &Path) -> String {
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = stem.split('.').next().unwrap_or_default();
    let stem = stem
        .strip_prefix("lib")
        .filter(|s| !s.is_empty())
        .unwrap_or(stem);
    format!("lib:{stem}")
}

/// Loads the backend library at `path` for this process (once; loading the same file again
/// returns the same [`LibInfo`]). Checks that it is a shared library, that it exports every
/// one of [`SYMBOLS`], that its `switchyard_abi_version()` is [`ABI_VERSION`] and that its
/// `switchyard_guarantees()` holds only known bits.
///
/// Loading runs the library's initializers: only load libraries you trust as you would any
/// code you run.
pub fn load(path: &Path) -> Result<&'static LibInfo, LoadError> {
    // One loader at a time, so two threads cannot both load (and one of them leak) a library.
    static LOADING: Mutex<()> = Mutex::new(());
    let _guard = LOADING.lock().unwrap_or_else(|e| e.into_inner());
    let shown = path.display();
    let absolute = std::path::absolute(path)
        .map_err(|e| LoadError(format!("cannot load backend library {shown}: {e}")))?;
    if let Some(loaded) = LOADED.get() {
        return if same_file(&loaded.info.path, &absolute) {
            Ok(&loaded.info)
        } else {
            Err(LoadError(format!(
                "cannot load backend library {shown}: {} is loaded already (one backend library \
                 per process)",
                loaded.info.path.display()
            )))
        };
    }
    let loaded = open(&absolute, &shown.to_string())?;
    SWITCH_FN.store(loaded.1, Ordering::Release);
    let loaded = LOADED.get_or_init(|| loaded.0);
    Ok(&loaded.info)
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// Opens the library and checks its interface; returns it and its `switchyard_switch`.
fn open(absolute: &Path, shown: &str) -> Result<(Loaded, usize), LoadError> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    // SAFETY: loading a library runs its initializers; `load` documents that the library is
    // trusted code. RTLD_NOW resolves every symbol now, so a library with a missing
    // dependency fails here, not in the middle of a switch.
    let library = unsafe { Library::open(Some(absolute), RTLD_NOW | RTLD_LOCAL) }.map_err(|e| {
        LoadError(format!(
            "cannot load backend library {shown}: {}",
            cause(&e)
        ))
    })?;
    let symbol = |name: &str| -> Result<usize, LoadError> {
        // SAFETY: the symbol is read as an address only; it is called below through the type
        // include/switchyard.h gives it.
        let found = unsafe { library.get::<*const c_void>(name) };
        match found {
            Ok(address) if !address.is_null() => Ok(*address as usize),
            Ok(_) => Err(LoadError(format!(
                "backend library {shown}: symbol `{name}` is null"
            ))),
            Err(e) => Err(LoadError(format!(
                "backend library {shown} does not export `{name}` (a backend library exports \
                 the {} functions of include/switchyard.h): {}",
                SYMBOLS.len(),
                cause(&e)
            ))),
        }
    };
    let mut addresses = [0usize; SYMBOLS.len()];
    for (address, name) in addresses.iter_mut().zip(SYMBOLS) {
        *address = symbol(name)?;
    }
    let [version, guarantees, main_context, new_context, switch, free] = addresses;
    // SAFETY: each address is the library's definition of the function of that name in
    // include/switchyard.h, which has exactly this type (the same for the four below).
    let version = unsafe { std::mem::transmute::<usize, VersionFn>(version) };
    // SAFETY: as above.
    let guarantees = unsafe { std::mem::transmute::<usize, VersionFn>(guarantees) };
    // SAFETY: as above.
    let main_context = unsafe { std::mem::transmute::<usize, MainContextFn>(main_context) };
    // SAFETY: as above.
    let new_context = unsafe { std::mem::transmute::<usize, NewContextFn>(new_context) };
    // SAFETY: as above.
    let free = unsafe { std::mem::transmute::<usize, FreeFn>(free) };
    // SAFETY: `uint32_t switchyard_abi_version(void)`, no preconditions.
    let abi = unsafe { version() };
    if abi != ABI_VERSION {
        return Err(LoadError(format!(
            "backend library {shown}: `switchyard_abi_version` returned {abi}, but this \
             switchyard speaks ABI version {ABI_VERSION} (include/switchyard.h); rebuild the \
             library against this switchyard's header"
        )));
    }
    // SAFETY: `uint32_t switchyard_guarantees(void)`, no preconditions.
    let bits = unsafe { guarantees() };
    if bits & !(KEEPS_MXCSR | KEEPS_X87_CW) != 0 {
        return Err(LoadError(format!(
            "backend library {shown}: `switchyard_guarantees` returned {bits:#x}, which has \
             bits other than SWITCHYARD_KEEPS_MXCSR (1) and SWITCHYARD_KEEPS_X87_CW (2)"
        )));
    }
    let info = LibInfo {
        name: name_for(absolute),
        path: absolute.to_path_buf(),
        guarantees: Guarantees {
            mxcsr: bits & KEEPS_MXCSR != 0,
            x87_cw: bits & KEEPS_X87_CW != 0,
        },
    };
    Ok((
        Loaded {
            info,
            main_context,
            new_context,
            free,
            _library: library,
        },
        switch,
    ))
}

/// The dynamic loader's own message for a libloading error.
fn cause(e: &libloading::Error) -> String {
    match std::error::Error::source(e) {
        Some(source) => source.to_string(),
        None => e.to_string(),
    }
}

/// The loaded library; a use of [`CLib`] before [`load`] is a bug of the caller.
fn library() -> &'static Loaded {
    match LOADED.get() {
        Some(loaded) => loaded,
        None => not_loaded(),
    }
}

/// Ends the process: [`CLib`] used with no library loaded.
extern "C" fn not_loaded() -> ! {
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        b"switchyard: the shared-library backend was used before a library was loaded\n",
    );
    std::process::abort()
}

impl Drop for CLibContext {
    fn drop(&mut self) {
        // SAFETY: the runtime drops a context only when it is not suspended in a switch
        // (never started, dead and switched away, or the main context after its last
        // switch), which is what `switchyard_free` allows; the pointer came from the library.
        unsafe { (library().free)(self.0.as_ptr()) }
    }
}

// SAFETY: the library promises `StackSwitch`'s contract by implementing include/switchyard.h
// (the same contract, stated there); the register probe checks the register part of it.
unsafe impl StackSwitch for CLib {
    type Context = CLibContext;

    fn main_context() -> CLibContext {
        let loaded = library();
        // SAFETY: `switchyard_main_context(void)`, no preconditions.
        let ctx = unsafe { (loaded.main_context)() };
        match NonNull::new(ctx) {
            Some(ctx) => CLibContext(ctx),
            None => {
                let message = format!(
                    "switchyard: {}: switchyard_main_context returned NULL\n",
                    loaded.info.name
                );
                let _ = std::io::Write::write_all(&mut std::io::stderr(), message.as_bytes());
                std::process::abort()
            }
        }
    }

    // `arg` is handed to the library untouched (it gives it to `entry`), never dereferenced.
    #[allow(clippy::not_unsafe_ptr_arg_deref)]
    fn new_context(
        config: &HubConfig,
        entry: Entry,
        arg: *mut c_void,
    ) -> Result<CLibContext, BackendError> {
        let loaded = library();
        let mut error = [0u8; 512];
        // SAFETY: `entry` and `arg` are the runtime's (the entry never returns); `error` is a
        // writable buffer of the length passed.
        let ctx = unsafe {
            (loaded.new_context)(
                entry,
                arg,
                config.stack_size,
                error.as_mut_ptr().cast(),
                error.len(),
            )
        };
        match NonNull::new(ctx) {
            Some(ctx) => Ok(CLibContext(ctx)),
            None => {
                let end = error.iter().position(|&b| b == 0).unwrap_or(error.len());
                let message = String::from_utf8_lossy(&error[..end]);
                let message = if message.is_empty() {
                    "no message".into()
                } else {
                    message
                };
                Err(BackendError(format!(
                    "switchyard: {}: switchyard_new_context failed: {message}",
                    loaded.info.name
                )))
            }
        }
    }

    /// Loads the library's context pointers out of the two slots and jumps to its
    /// `switchyard_switch` (rdi, rsi and rax only: no callee-saved register, no frame).
    #[unsafe(naked)]
    unsafe extern "C" fn switch(_from: *mut CLibContext, _to: *mut CLibContext, _dying: bool) {
        core::arch::naked_asm!(
            "mov rax, qword ptr [rip + {switch}]",
            "test rax, rax",
            "jz {missing}",
            "mov rdi, qword ptr [rdi]",
            "mov rsi, qword ptr [rsi]",
            "jmp rax",
            switch = sym SWITCH_FN,
            missing = sym not_loaded,
        )
    }

    fn guarantees() -> Guarantees {
        LOADED
            .get()
            .map_or(Guarantees::ALL, |loaded| loaded.info.guarantees)
    }
}

/// Builds the example backend library, the Boost.Context fcontext shim of this repository
/// (`shims/boost-fcontext/`, with its Makefile), into `out`, and returns the file: for tests
/// and benchmarks. With `lose_r12`, the variant that loses r12 across a switch on purpose
/// (`make broken`). Fails, saying what to install, without a C++ compiler, make or
/// Boost.Context (`ci/boost.sh` installs them).
pub fn build_boost_shim(out: &Path, lose_r12: bool) -> Result<PathBuf, String> {
    let shim = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shims/boost-fcontext");
    let mut make = std::process::Command::new("make");
    make.arg("-s")
        .arg("-C")
        .arg(&shim)
        .arg(format!("OUT={}", out.display()));
    if lose_r12 {
        make.arg("broken");
    }
    let made = make
        .output()
        .map_err(|e| format!("cannot run make for {}: {e}", shim.display()))?;
    if !made.status.success() {
        return Err(format!(
            "building {} failed (it needs make, a C++ compiler and Boost.Context: `bash \
             ci/boost.sh` installs them):\n{}",
            shim.display(),
            String::from_utf8_lossy(&made.stderr)
        ));
    }
    Ok(out.join(if lose_r12 {
        "boost-fcontext-lose-r12.so"
    } else {
        "boost-fcontext.so"
    }))
}

// SAFETY: include/switchyard.h requires a library's stacks to stay where they are for the
// life of each context (a stack-copying library does not fit the interface).
unsafe impl crate::runtime::StableStacks for CLib {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_drop_the_lib_prefix_and_the_extensions() {
        assert_eq!(
            name_for(Path::new("a/b/boost-fcontext.so")),
            "lib:boost-fcontext"
        );
        assert_eq!(name_for(Path::new("/x/libfoo.so.1.2")), "lib:foo");
        assert_eq!(name_for(Path::new("lib.so")), "lib:lib");
    }
}

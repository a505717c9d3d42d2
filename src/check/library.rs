//! The backend loaded at run time from a shared library that implements `include/switchyard.h`
//! (`--backend-lib PATH`): [`register`] loads it (`switchyard_impls::backend::clib`) and adds
//! it to the registry as `lib:NAME`, run like a built-in native backend (the generic runtime
//! over it, the register probe at every switch).
//!
//! One library per process (the loader's limit); the backend is made once and lives as long
//! as the process. Worker processes inherit the library through [`ENV`], which [`register`]
//! sets, and register it again at start ([`register_from_env`]).

use crate::check::registry::Backend;
use std::path::Path;
use std::sync::OnceLock;

/// The environment variable naming the backend library: set by [`register`] so that worker
/// processes (re-executed copies of this binary) load the same file; a process started with it
/// set registers that library as if given `--backend-lib`.
pub const ENV: &str = "SWITCHYARD_BACKEND_LIB";

static REGISTERED: OnceLock<&'static Backend> = OnceLock::new();

/// The backend of the loaded library, if one was registered in this process.
pub fn registered() -> Option<&'static Backend> {
    REGISTERED.get().copied()
}

/// Loads the library at `path` and registers it as a backend (again for the same file: the
/// same backend). The error names the path and, for a missing symbol or a wrong ABI version,
/// the symbol.
pub fn register(path: &Path) -> Result<&'static Backend, String> {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        use switchyard_impls::backend::clib::{self, CLib};
        let info = clib::load(path).map_err(|e| e.to_string())?;
        if let Some(backend) = REGISTERED.get() {
            return Ok(backend);
        }
        let summary = format!(
            "a switching library in C, C++ or asm loaded through include/switchyard.h ({})",
            info.path.display()
        );
        let path: &'static Path = Box::leak(info.path.clone().into_boxed_path());
        let backend = crate::check::registry::register(
            Backend::native::<CLib>(
                Box::leak(info.name.clone().into_boxed_str()),
                Box::leak(summary.into_boxed_str()),
            )
            .from_library(path),
        )
        .map_err(|e| {
            format!(
                "cannot register backend library {}: {e}",
                info.path.display()
            )
        })?;
        let backend = *REGISTERED.get_or_init(|| backend);
        // Workers (and anything else this process starts) load the same file. Set while
        // only this thread runs: registration happens first thing in `main`.
        std::env::set_var(ENV, &info.path);
        Ok(backend)
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        let _ = &REGISTERED;
        Err(format!(
            "cannot load backend library {}: shared-library backends need x86-64 Linux",
            path.display()
        ))
    }
}

/// Registers the library [`ENV`] names, if it is set (a worker process's start).
pub fn register_from_env() -> Result<Option<&'static Backend>, String> {
    match std::env::var_os(ENV) {
        Some(path) if !path.is_empty() => register(Path::new(&path)).map(Some),
        _ => Ok(None),
    }
}

/// The library file of `backend`, when it is the registered library's backend (for replay
/// commands: `--backend-lib PATH`).
pub fn path_of(backend: &str) -> Option<std::path::PathBuf> {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    if let (Some(b), Some(info)) = (registered(), switchyard_impls::backend::clib::loaded()) {
        if b.name == backend {
            return Some(info.path.clone());
        }
    }
    let _ = backend;
    None
}

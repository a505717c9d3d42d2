//! Registering backends at start-up (`switchyard::check::registry::register`): what is
//! refused and why, the order `all` hands them out in, and that the registry is fixed once
//! read. One test: the registry is the process's.

#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use std::ffi::c_void;
use std::path::Path;
use switchyard::check::registry::{self, Backend, Checked, Provenance, RegisterError};
use switchyard::lang::parse::parse;
use switchyard_impls::greenlet::{BackendError, HubConfig};
use switchyard_impls::mmap::Mmap;
use switchyard_impls::runtime::StableStacks;
use switchyard_impls::switch::{Entry, Guarantees, StackSwitch};

/// A crate's backend: the built-in mmap switch under another name.
const EXTRA: Backend = Backend::native::<switchyard_impls::mmap::Mmap>("extra-mmap", "mmap again")
    .from_crate("some-crate", "1.2.3");

/// The mmap switch, declaring that it does not keep the MXCSR.
struct KeepsNoMxcsr;

// SAFETY: every call goes to `Mmap` unchanged, which keeps more than this declares.
unsafe impl StackSwitch for KeepsNoMxcsr {
    type Context = <Mmap as StackSwitch>::Context;
    fn main_context() -> Self::Context {
        Mmap::main_context()
    }
    fn new_context(
        config: &HubConfig,
        entry: Entry,
        arg: *mut c_void,
    ) -> Result<Self::Context, BackendError> {
        Mmap::new_context(config, entry, arg)
    }
    unsafe extern "C" fn switch(from: *mut Self::Context, to: *mut Self::Context, dying: bool) {
        // SAFETY: switch's contract, passed on.
        unsafe { Mmap::switch(from, to, dying) }
    }
    fn guarantees() -> Guarantees {
        Guarantees {
            mxcsr: false,
            x87_cw: true,
        }
    }
}

// SAFETY: `Mmap`'s stacks, which stay in place.
unsafe impl StableStacks for KeepsNoMxcsr {}

/// [`EXTRA`] under another name.
fn named(name: &'static str) -> Backend {
    let mut backend = EXTRA;
    backend.name = name;
    backend
}

#[test]
fn registration_checks_names_and_provenance_and_ends_when_the_registry_is_read() {
    let library = Backend::native::<switchyard_impls::mmap::Mmap>("lib-mmap", "from a library")
        .from_library(Path::new("/opt/libswitch.so"));
    let hub = Backend::new::<switchyard_oracle::ThreadHub<switchyard::interp::RtValue>>(
        "extra-hub",
        "the oracle's hub again",
    )
    .from_crate("some-crate", "1.2.3");

    let partial = Backend::native::<KeepsNoMxcsr>("no-mxcsr", "mmap, declared without MXCSR")
        .from_crate("some-crate", "1.2.3");
    assert_eq!(
        partial.checked().to_string(),
        "all callee-saved state but mxcsr (register probe at every switch)"
    );
    registry::register(partial).unwrap();
    let extra = registry::register(EXTRA).expect("a new name with a provenance");
    assert_eq!(extra.name, "extra-mmap");
    assert_eq!(registry::register(library).unwrap().name, "lib-mmap");
    registry::register(hub).unwrap();

    let err = |b: Backend| registry::register(b).unwrap_err();
    assert_eq!(err(EXTRA), RegisterError::Taken);
    assert_eq!(err(named("mmap")), RegisterError::Taken);
    assert_eq!(err(named("")), RegisterError::BadName);
    assert_eq!(err(named("a,b")), RegisterError::BadName);
    assert_eq!(err(named("a b")), RegisterError::BadName);
    let unsourced = Backend::native::<switchyard_impls::mmap::Mmap>("unsourced", "");
    assert_eq!(err(unsourced), RegisterError::NoProvenance);
    assert!(err(unsourced).to_string().contains("from_crate"));

    // Reading fixes it: the built-in backends first (the oracle first of all), then the
    // registered ones in order.
    let names: Vec<&str> = registry::all().iter().map(|b| b.name).collect();
    assert_eq!(names[0], registry::ORACLE);
    assert_eq!(
        names[names.len() - 3..],
        ["extra-mmap", "lib-mmap", "extra-hub"]
    );
    assert_eq!(err(named("late")), RegisterError::TooLate);

    let found = registry::find("extra-mmap").unwrap();
    assert_eq!(
        found.provenance,
        Provenance::Crate {
            name: "some-crate",
            version: "1.2.3"
        }
    );
    assert_eq!(found.provenance.to_string(), "crate some-crate 1.2.3");
    assert_eq!(found.checked(), Checked::Native(Guarantees::ALL));
    assert_eq!(
        registry::find("lib-mmap").unwrap().provenance.to_string(),
        "shared library /opt/libswitch.so"
    );
    assert!(matches!(
        registry::find("extra-hub").unwrap().checked(),
        Checked::Hub { .. }
    ));
    assert!(registry::real().any(|b| b.name == "extra-hub"));

    // A registered backend runs like a built-in one, probed.
    let program = parse(
        "t",
        b"def f0 { switch main 1 }\nmain {\n  spawn g0 f0\n  switch g0 none\n}\n",
    )
    .unwrap();
    let findings = switchyard::check::differential::check(
        &program,
        &[found, registry::find("no-mxcsr").unwrap()],
    );
    assert_eq!(findings, []);
    let before = switchyard_impls::probe::checks();
    found.run_here(&program, &HubConfig::default()).unwrap();
    assert!(switchyard_impls::probe::checks() > before, "not probed");
}

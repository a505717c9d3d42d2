//! Route 2, a switcher written in C: the Boost.Context fcontext shim (`shims/boost-fcontext/`,
//! the example implementation of `include/switchyard.h`) loaded as a backend agrees with the
//! oracle on the corpus and on seeded random programs, in this process and through the
//! command line's worker processes; its deliberately broken build (r12 lost) is a
//! register-corruption finding; libraries that do not implement the interface are refused
//! with exit 2 and a message naming the path and the symbol.
//!
//! `SWITCHYARD_LIB_PROGRAMS` (default 2,000) and `SWITCHYARD_LIB_DEEP` (default 400) set how
//! many random programs of the default and the deep profile run.

mod common;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use switchyard::check::differential::{check, check_seeded};
use switchyard::check::registry::{self, Backend};
use switchyard::check::{corpus, library};
use switchyard::gen::GenConfig;
use switchyard::lang::parse::parse;
use switchyard::lang::print::print;

fn out_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("shims")
}

/// The shim, built once per test process (`lose_r12`: the broken build).
fn shim(lose_r12: bool) -> &'static Path {
    static GOOD: OnceLock<PathBuf> = OnceLock::new();
    static BROKEN: OnceLock<PathBuf> = OnceLock::new();
    let cell = if lose_r12 { &BROKEN } else { &GOOD };
    cell.get_or_init(|| {
        switchyard_impls::backend::clib::build_boost_shim(&out_dir(), lose_r12)
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

/// The shim registered as this process's library backend.
fn backend() -> &'static Backend {
    library::register(shim(false)).unwrap_or_else(|e| panic!("{e}"))
}

use common::env_u64;

#[test]
fn the_shim_registers_as_lib_boost_fcontext_keeping_every_control_word() {
    let b = backend();
    assert_eq!(b.name, "lib:boost-fcontext");
    assert_eq!(
        b.checked().to_string(),
        "all callee-saved state (register probe at every switch)"
    );
    assert!(std::ptr::eq(
        registry::find("lib:boost-fcontext").unwrap(),
        b
    ));
    assert!(registry::real().any(|r| std::ptr::eq(r, b)));
    // The same file again is the same backend; another library is refused (one a process).
    assert!(std::ptr::eq(library::register(shim(false)).unwrap(), b));
    let Err(other) = library::register(shim(true)) else {
        panic!("a second library was registered");
    };
    assert!(other.contains("one backend library per process"), "{other}");
}

#[test]
fn the_corpus_agrees_with_the_oracle_on_the_shim() {
    let b = backend();
    let files = corpus::files(&corpus::default_dir());
    assert!(files.len() >= 30);
    let mut failures = Vec::new();
    for path in files {
        let program = parse(&path.display().to_string(), &std::fs::read(&path).unwrap()).unwrap();
        for finding in check(&program, &[b]) {
            failures.push(format!("{}: {finding}", path.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn seeded_agree(seed: u64, count: u64, config: &GenConfig) {
    let failed = check_seeded(seed, count, config, &[backend()], 2);
    if let Some(first) = failed.first() {
        let findings: Vec<String> = first.findings.iter().map(|f| f.to_string()).collect();
        panic!(
            "{} of {count} programs failed; first: program {} of seed {seed}:\n{}\n{}",
            failed.len(),
            first.index,
            findings.join("\n"),
            print(&first.program)
        );
    }
}

#[test]
fn random_programs_agree_with_the_oracle_on_the_shim() {
    seeded_agree(
        31,
        env_u64("SWITCHYARD_LIB_PROGRAMS", 2_000),
        &GenConfig::default(),
    );
}

#[test]
fn deep_random_programs_agree_with_the_oracle_on_the_shim() {
    seeded_agree(47, env_u64("SWITCHYARD_LIB_DEEP", 400), &GenConfig::deep());
}

fn switchyard(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove(library::ENV)
        .output()
        .expect("run switchyard");
    (
        out.status.code().expect("exited"),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn corpus_args() -> Vec<String> {
    corpus::files(&corpus::default_dir())
        .iter()
        .map(|p| p.display().to_string())
        .collect()
}

#[test]
fn run_loads_the_shim_in_its_worker_processes_and_agrees() {
    let lib = shim(false).display().to_string();
    let mut args = vec![
        "run",
        "--backend-lib",
        &lib,
        "--backend",
        "lib:boost-fcontext",
    ];
    let files = corpus_args();
    args.extend(files.iter().map(String::as_str));
    let (code, _, err) = switchyard(&args);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn fuzz_runs_the_shim_in_its_workers_and_finds_nothing() {
    let lib = shim(false).display().to_string();
    let out = out_dir().join(format!("fuzz-{}", std::process::id()));
    let out = out.display().to_string();
    let (code, _, err) = switchyard(&[
        "fuzz",
        "--backend-lib",
        &lib,
        "--backend",
        "lib:boost-fcontext",
        "--programs",
        "300",
        "--jobs",
        "2",
        "--seed",
        "7",
        "--out",
        &out,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("--backend-lib {lib} --backend lib:boost-fcontext")),
        "the replay command loads the library: {err}"
    );
    assert!(err.contains("300 programs in"), "{err}");
    assert!(err.contains("0 findings written"), "{err}");
}

#[test]
fn backends_lists_the_library_with_its_path() {
    let lib = shim(false).display().to_string();
    let (code, out, err) = switchyard(&["backends", "--backend-lib", &lib]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().last(), Some("lib:boost-fcontext"));
    let (code, out, _) = switchyard(&["backends", "-v", "--backend-lib", &lib]);
    assert_eq!(code, 0);
    let entry: Vec<&str> = out
        .lines()
        .skip_while(|l| *l != "lib:boost-fcontext")
        .collect();
    assert_eq!(entry.len(), 4, "{out}");
    assert_eq!(
        entry[2],
        format!("  from:       shared library {lib}"),
        "{out}"
    );
    assert!(
        entry[3].starts_with("  guarantees: all callee-saved state"),
        "{out}"
    );
}

#[test]
fn a_library_that_loses_r12_is_a_register_corruption_finding() {
    let lib = shim(true).display().to_string();
    let (code, _, err) = switchyard(&[
        "run",
        "--backend-lib",
        &lib,
        "--backend",
        "lib:boost-fcontext-lose-r12",
        "corpus/ping_pong.gp",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("lib:boost-fcontext-lose-r12: register-corruption")
            && err.contains("r12 expected"),
        "{err}"
    );
}

/// Compiles `source` (C, with include/switchyard.h) into a shared library called `name`.
fn c_library(name: &str, source: &str) -> String {
    let dir = out_dir().join("bad");
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, source).unwrap();
    let so = dir.join(format!("{name}.so"));
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&c)
        .arg("-I")
        .arg(include)
        .status()
        .expect("run cc");
    assert!(status.success());
    so.display().to_string()
}

/// Every function of include/switchyard.h but `switchyard_switch` (which `with_switch` adds),
/// with the given ABI version: libraries that are refused before anything is called.
fn interface(version: u32, with_switch: bool) -> String {
    let mut s = format!(
        "#include \"switchyard.h\"\n\
         uint32_t switchyard_abi_version(void) {{ return {version}; }}\n\
         uint32_t switchyard_guarantees(void) {{ return 3; }}\n\
         switchyard_context *switchyard_main_context(void) {{ return 0; }}\n\
         switchyard_context *switchyard_new_context(switchyard_entry e, void *a, size_t n,\n\
             char *error, size_t len) {{ (void)e; (void)a; (void)n; (void)len;\n\
             error[0] = 0; return 0; }}\n\
         void switchyard_free(switchyard_context *c) {{ (void)c; }}\n"
    );
    if with_switch {
        s.push_str(
            "void switchyard_switch(switchyard_context *f, switchyard_context *t, bool d) \
             { (void)f; (void)t; (void)d; }\n",
        );
    }
    s
}

/// `run` with `--backend-lib lib` exits 2 before anything runs, with a message holding every
/// one of `wanted`.
fn refused(lib: &str, wanted: &[&str]) {
    let (code, out, err) = switchyard(&["run", "--backend-lib", lib, "corpus/ping_pong.gp"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(out, "", "nothing may run");
    assert!(err.starts_with("switchyard: "), "{err}");
    for w in wanted {
        assert!(err.contains(w), "{w:?} not in {err}");
    }
}

#[test]
fn a_missing_file_is_refused_with_exit_2() {
    let missing = out_dir().join("no-such-library.so").display().to_string();
    refused(
        &missing,
        &["cannot load backend library", &missing, "No such file"],
    );
}

#[test]
fn a_file_that_is_not_a_shared_library_is_refused_with_exit_2() {
    refused(
        "README.md",
        &[
            "cannot load backend library README.md",
            "invalid ELF header",
        ],
    );
}

#[test]
fn a_library_without_switchyard_switch_is_refused_with_exit_2() {
    let lib = c_library("no-switch", &interface(1, false));
    refused(&lib, &[&lib, "does not export `switchyard_switch`"]);
}

#[test]
fn a_library_of_another_abi_version_is_refused_with_exit_2() {
    let lib = c_library("abi-2", &interface(2, true));
    refused(
        &lib,
        &[&lib, "`switchyard_abi_version` returned 2", "ABI version 1"],
    );
}

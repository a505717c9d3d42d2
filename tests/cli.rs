//! The `switchyard` command as a user runs it: exit statuses, error positions, listings.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn switchyard(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run switchyard");
    (
        out.status.code().expect("exited"),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn temp_file(name: &str, text: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("switchyard-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn backends_lists_the_oracle_first() {
    let (code, out, _) = switchyard(&["backends"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().next(), Some("thread"));
}

#[test]
fn backends_verbose_says_where_each_comes_from_and_what_it_guarantees() {
    let (code, names, _) = switchyard(&["backends"]);
    assert_eq!(code, 0);
    let (code, out, err) = switchyard(&["backends", "-v"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    // A name, then its summary, provenance and guarantees, for every backend in order.
    let blocks: Vec<&[&str]> = lines.chunks(4).collect();
    assert_eq!(blocks.len(), names.lines().count(), "{out}");
    for (block, name) in blocks.iter().zip(names.lines()) {
        assert_eq!(block[0], name, "{out}");
        assert!(
            block[1].starts_with("  summary:    ") && block[1].len() > 20,
            "{out}"
        );
        let from = match name {
            "corosensei" => "crate corosensei 0.3.4",
            "fcontext" => "crate context 3.0.0",
            _ => "built-in",
        };
        assert_eq!(block[2], format!("  from:       {from}"), "{out}");
        let guarantees = block[3]
            .strip_prefix("  guarantees: ")
            .expect("a guarantees line");
        let expected = match name {
            "thread" => "the reference trace (Hub-level: each greenlet an OS thread, registers kept by the kernel; no register probe)",
            "corosensei" => "all callee-saved state but mxcsr and x87-cw (register probe at every switch)",
            _ => "all callee-saved state (register probe at every switch)",
        };
        assert_eq!(guarantees, expected, "{name}");
    }
}

#[test]
fn run_prints_the_spec_example_trace_and_exits_0() {
    let file = temp_file(
        "example.gp",
        b"def child {\n  switch parent 10\n  try { switch main 11 } catch E3 { return \"done\" }\n}\nmain {\n  spawn g0 child\n  switch g0 1\n  switch g0 2\n  throw g0 E3\n  observe g0\n}\n",
    );
    let (code, out, err) = switchyard(&["run", &file]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "#0 spawn #1\n#1 start 1\n#0 recv 10\n#1 recv 2\n#0 recv 11\n#1 caught E3\n#1 finish \"done\"\n#0 recv \"done\"\n#0 observe #1 dead parent #0\n#0 finish none\nend\n"
    );
}

#[test]
fn malformed_files_exit_2_with_positions_and_nothing_runs() {
    let good = temp_file("good.gp", b"main { }\n");
    let bad = temp_file("bad.gp", b"main {\n  swtich g0 1\n}\n");
    let (code, out, err) = switchyard(&["run", &good, &bad]);
    assert_eq!(code, 2);
    assert_eq!(out, "", "nothing may run when a file is malformed");
    assert_eq!(err.trim(), format!("{bad}:2:3: unknown statement 'swtich'"));
}

#[test]
fn unknown_backend_exits_2() {
    let good = temp_file("good2.gp", b"main { }\n");
    let (code, _, err) = switchyard(&["run", "--backend", "nope", &good]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown backend 'nope'"), "{err}");
}

#[test]
fn gen_is_deterministic_and_parses() {
    let (_, a, _) = switchyard(&["gen", "--seed", "7", "--count", "3"]);
    let (_, b, _) = switchyard(&["gen", "--seed", "7", "--count", "3"]);
    assert_eq!(a, b);
    let file = temp_file(
        "gen.gp",
        switchyard(&["gen", "--seed", "7", "--start", "2"])
            .1
            .as_bytes(),
    );
    let (code, _, err) = switchyard(&["run", &file]);
    assert_eq!(code, 0, "{err}");
}

/// Runs switchyard with its stdout going to `stdout`.
fn switchyard_to(args: &[&str], stdout: impl Into<Stdio>) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .expect("run switchyard");
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn a_closed_stdout_ends_the_command_quietly_with_141() {
    let file = temp_file(
        "pipe.gp",
        b"def f0 {\n  switch parent 1\n}\nmain {\n  spawn g0 f0\n  switch g0 2\n  observe g0\n}\n",
    );
    // `switchyard gen | head -1`: the reader goes away after one line.
    let mut gen = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["gen", "--count", "100000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run switchyard gen");
    let mut first = String::new();
    BufReader::new(gen.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("# generated: "), "{first}");
    let out = gen.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    // A pipe whose reader is already gone, for every command that prints.
    for args in [
        &["run", &file][..],
        &["backends"],
        &["gen"],
        &["stats", "--programs", "5"],
        &["--help"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let (code, err) = switchyard_to(args, writer);
        assert_eq!(code, Some(141), "{args:?}: {err}");
        assert_eq!(err, "", "{args:?}");
    }
}

#[test]
fn a_full_stdout_is_a_clear_error_with_status_3() {
    for args in [
        &["backends"][..],
        &["gen", "--count", "3"],
        &["run", &temp_file("full.gp", b"main {\n  observe main\n}\n")],
        &["backends", "--help"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let (code, err) = switchyard_to(args, full);
        assert_eq!(code, Some(3), "{args:?}: {err}");
        assert_eq!(
            err, "switchyard: cannot write to stdout: No space left on device (os error 28)\n",
            "{args:?}"
        );
    }
}

#[test]
fn gen_refuses_a_range_past_the_last_index_and_prints_the_last_program() {
    let max = u64::MAX.to_string();
    let (code, out, err) = switchyard(&["gen", "--start", &max, "--count", "2"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(out, "");
    assert!(err.contains("goes past the last program index"), "{err}");
    let (code, out, err) = switchyard(&["gen", "--start", &max, "--count", "1"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!(
            "# generated: switchyard gen --seed 0 --start {max}\n"
        )),
        "{out}"
    );
    let (code, out, _) = switchyard(&["gen", "--count", "0"]);
    assert_eq!((code, out.as_str()), (0, ""));
}

#[test]
fn a_file_name_with_a_newline_cannot_forge_a_line() {
    let bad = temp_file(
        "bad\nforged.gp:1:1: fake error.gp",
        b"main {\n  swtich g0 1\n}\n",
    );
    let (code, _, err) = switchyard(&["run", &bad]);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        err.trim_end(),
        format!("{bad:?}:2:3: unknown statement 'swtich'")
    );
}

#[test]
fn every_help_states_the_exit_statuses() {
    let (code, out, _) = switchyard(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Exit status"), "{out}");
    for command in [
        "run",
        "backends",
        "gen",
        "crosscheck",
        "fuzz",
        "minimize",
        "stats",
        "artifact",
    ] {
        let (code, out, _) = switchyard(&[command, "--help"]);
        assert_eq!(code, 0, "{command}");
        for status in ["\n  0 ", "\n  1 ", "\n  2 ", "\n  3 ", "130", "141"] {
            assert!(
                out.contains(status),
                "{command} --help lacks {status:?}:\n{out}"
            );
        }
    }
}

#[test]
fn run_reports_a_crashing_or_hanging_backend_instead_of_dying() {
    let file = temp_file(
        "isolated.gp",
        b"def f {\n  switch parent 1\n}\nmain {\n  spawn g0 f\n  switch g0 2\n}\n",
    );
    // Injected into the worker processes `run` starts for the native backends (program
    // index 0: a file).
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["run", &file])
        .env("SWITCHYARD_TEST_CRASH", "segv@mmap#0,hang@ucontext#0")
        .output()
        .expect("run switchyard");
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stdout.starts_with("#0 spawn #1\n#1 start 2\n#0 recv 1\n") && stdout.ends_with("end\n"),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!("{file}: mmap: crash-SIGSEGV: killed by SIGSEGV")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{file}: ucontext: timeout: ucontext took more than"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("stack-copy"), "{stderr}");
}

/// How stderr is given to the command in [`switchyard_stderr`].
enum Stderr {
    /// Closed (`2>&-`).
    Closed,
    /// `/dev/full` (every write fails with ENOSPC).
    Full,
}

/// Runs `switchyard ARGS` with stdout discarded and stderr `how`: its exit status, or the
/// signal that ended it.
fn switchyard_stderr(args: &[&str], how: &Stderr) -> (Option<i32>, Option<i32>) {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null());
    match how {
        Stderr::Closed => {
            // SAFETY: runs in the forked child before exec; close(2) is async-signal-safe and
            // touches only the child's own descriptor table.
            unsafe {
                command.pre_exec(|| {
                    libc::close(2);
                    Ok(())
                });
            }
        }
        Stderr::Full => {
            let full = std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap();
            command.stderr(full);
        }
    }
    let status = command.status().expect("run switchyard");
    (status.code(), status.signal())
}

/// Issue 9 (b): every message goes to stderr through one path that never panics: with stderr
/// closed or full, each command ends with its documented status (a panic would be 101).
#[test]
fn a_closed_or_full_stderr_never_panics_and_keeps_the_exit_status() {
    let bad = temp_file("stderr-bad.gp", b"main {\n  swtich g0 1\n}\n");
    let good = temp_file("stderr-good.gp", b"main {\n  observe main\n}\n");
    let out = std::env::temp_dir().join(format!("switchyard-cli-{}-stderr", std::process::id()));
    let out = out.display().to_string();
    let cases: [(&[&str], i32); 6] = [
        (&["run", &bad], 2),
        (&["run", "/nonexistent/x.gp"], 2),
        (&["run", &good], 0),
        (&["run", "--backend", "no-such-backend", &good], 2),
        (&["minimize", &good], 2),
        (
            &["fuzz", "--programs", "3", "--jobs", "1", "--out", &out],
            0,
        ),
    ];
    for how in [Stderr::Closed, Stderr::Full] {
        for (args, expected) in &cases {
            let (code, signal) = switchyard_stderr(args, &how);
            assert_eq!(
                (code, signal),
                (Some(*expected), None),
                "{args:?} with stderr {}",
                match how {
                    Stderr::Closed => "closed",
                    Stderr::Full => "/dev/full",
                }
            );
        }
    }
    let _ = std::fs::remove_dir_all(&out);
}

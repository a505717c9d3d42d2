//! The fuzzing campaign, the worker protocol and `minimize` as a user runs them. Crashes are
//! injected with the test-only `SWITCHYARD_TEST_CRASH` variable of the worker (see
//! `src/campaign/inject.rs`), since no registered backend crashes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use switchyard::campaign::{Job, Mode, Outcome, Timeouts, Worker, CRASH_ENV};
use switchyard::gen::Profile;

const EXE: &str = env!("CARGO_BIN_EXE_switchyard");

fn switchyard(args: &[&str], crash: Option<&str>) -> (i32, String, String) {
    let mut command = Command::new(EXE);
    command.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    command.env_remove(CRASH_ENV);
    if let Some(spec) = crash {
        command.env(CRASH_ENV, spec);
    }
    let out = command.output().expect("run switchyard");
    (
        out.status.code().expect("exited"),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("switchyard-campaign-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn summary(stderr: &str) -> &str {
    stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("switchyard fuzz: ") && l.contains(" programs in "))
        .unwrap_or_else(|| panic!("no summary line in:\n{stderr}"))
}

#[test]
fn a_campaign_on_the_real_backends_finds_nothing_and_writes_nothing() {
    let dir = temp_dir("clean");
    let out = dir.join("findings");
    let (code, _, err) = switchyard(
        &[
            "fuzz",
            "--programs",
            "400",
            "--seed",
            "12",
            "--jobs",
            "2",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let line = summary(&err);
    assert!(line.contains("400 programs in"), "{line}");
    assert!(
        line.contains("0 divergences, 0 fatal, 0 crashes, 0 findings written"),
        "{line}"
    );
    assert!(err.contains("seed 12"), "{err}");
    assert!(entries(&out).is_empty());
}

#[test]
fn crashed_workers_are_isolated_minimized_deduplicated_and_the_campaign_goes_on() {
    let dir = temp_dir("crash");
    let out = dir.join("findings");
    let out_arg = out.to_str().unwrap();
    // Two SIGSEGVs on mmap (the same minimized finding), a SIGKILL on stack-copy, a stack
    // overflow message on the oracle.
    let crash = "segv@mmap#5,kill@stack-copy#11,segv@mmap#20,overflow@thread#33";
    let args = [
        "fuzz",
        "--programs",
        "60",
        "--seed",
        "3",
        "--jobs",
        "2",
        "--out",
        out_arg,
    ];
    let (code, _, err) = switchyard(&args, Some(crash));
    assert_eq!(code, 1, "{err}");
    let line = summary(&err);
    assert!(line.contains("60 programs in"), "{line}");
    assert!(line.contains("4 crashes, 3 findings written"), "{line}");
    assert!(line.contains("1 duplicates not written"), "{line}");
    let files = entries(&out);
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(files
        .iter()
        .all(|f| !f.starts_with('.') && f.ends_with(".gp")));
    for (prefix, kind) in [
        ("mmap-crash-SIGSEGV-", "crash-SIGSEGV"),
        ("stack-copy-crash-SIGKILL-", "crash-SIGKILL"),
        ("thread-stack-overflow-", "stack-overflow"),
    ] {
        let name = files
            .iter()
            .find(|f| f.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} file in {files:?}"));
        let text = std::fs::read_to_string(out.join(name)).unwrap();
        assert!(text.contains(&format!("# failure: {kind}\n")), "{text}");
        assert!(text.contains("# seed: 3\n"), "{text}");
        assert!(
            text.contains("# replay: switchyard run --backend "),
            "{text}"
        );
        // The crash depends only on the program index, so everything can go.
        assert!(text.ends_with("main {}\n"), "{text}");
        switchyard::lang::parse::parse(name, text.as_bytes()).expect("a finding parses");
    }

    // The same campaign again: every finding is already there.
    let before: Vec<_> = files
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect();
    let (code, _, err) = switchyard(&args, Some(crash));
    assert_eq!(code, 1, "{err}");
    let line = summary(&err);
    assert!(line.contains("0 findings written"), "{line}");
    assert!(line.contains("4 duplicates not written"), "{line}");
    let after: Vec<_> = files
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect();
    assert_eq!(entries(&out), files);
    assert_eq!(before, after);
}

#[test]
fn a_hanging_worker_is_killed_at_the_timeout() {
    let dir = temp_dir("hang");
    let out = dir.join("findings");
    let (code, _, err) = switchyard(
        &[
            "fuzz",
            "--programs",
            "8",
            "--seed",
            "4",
            "--jobs",
            "1",
            "--timeout-ms",
            "300",
            "--minimize-runs",
            "3",
            "--out",
            out.to_str().unwrap(),
        ],
        Some("hang@ucontext#2"),
    );
    assert_eq!(code, 1, "{err}");
    assert!(summary(&err).contains("8 programs in"), "{err}");
    let files = entries(&out);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].starts_with("ucontext-timeout-"), "{files:?}");
}

fn job(index: u64, text: Option<&str>) -> Job {
    Job {
        mode: Mode::Check,
        backends: vec!["stack-copy".into(), "mmap".into()],
        seed: 9,
        index,
        profile: Profile::Default,
        text: text.map(str::to_string),
    }
}

#[test]
fn the_worker_protocol_survives_signals_and_external_kills() {
    let timeout = Duration::from_secs(20);
    let mut worker = Worker::new(Path::new(EXE)).env(CRASH_ENV, "segv@mmap#2,kill@thread#3");
    assert_eq!(
        worker.run(&job(0, None), timeout).unwrap(),
        Outcome::Done(vec![])
    );
    let outcome = worker.run(&job(2, None), timeout).unwrap();
    assert!(
        matches!(&outcome, Outcome::Crashed { kind, .. } if kind.to_string() == "crash-SIGSEGV"),
        "{outcome:?}"
    );
    assert_eq!(
        worker.run(&job(1, None), timeout).unwrap(),
        Outcome::Done(vec![])
    );
    let outcome = worker.run(&job(3, Some("main {}\n")), timeout).unwrap();
    assert!(
        matches!(&outcome, Outcome::Crashed { kind, .. } if kind.to_string() == "crash-SIGKILL"),
        "{outcome:?}"
    );
    // Killed from outside while idle: the next job finds it dead, the one after runs.
    assert_eq!(
        worker
            .run(&job(4, Some("main {\n  observe main\n}\n")), timeout)
            .unwrap(),
        Outcome::Done(vec![])
    );
    let pid = worker.pid().expect("running");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(100));
    let outcome = worker.run(&job(5, None), timeout).unwrap();
    assert!(
        matches!(&outcome, Outcome::Crashed { kind, .. } if kind.to_string() == "crash-SIGKILL"),
        "{outcome:?}"
    );
    assert_eq!(
        worker.run(&job(5, None), timeout).unwrap(),
        Outcome::Done(vec![])
    );
    // Garbage on the worker's stdout, or a stdout closed by a live worker: a protocol error,
    // never a stuck campaign.
    let mut worker =
        Worker::new(Path::new(EXE)).env(CRASH_ENV, "garbage@mmap#8,close@stack-copy#9");
    for index in [8, 9] {
        let outcome = worker.run(&job(index, None), timeout).unwrap();
        assert!(
            matches!(&outcome, Outcome::Crashed { kind, .. } if kind.to_string() == "protocol-error"),
            "{outcome:?}"
        );
        assert_eq!(
            worker.run(&job(1, None), timeout).unwrap(),
            Outcome::Done(vec![])
        );
    }
    // A request the worker cannot run is an error, not a hang.
    let outcome = worker.run(&job(6, Some("main {\n")), timeout).unwrap();
    assert!(
        matches!(&outcome, Outcome::Crashed { kind, .. } if kind.to_string() == "worker-error"),
        "{outcome:?}"
    );
}

#[test]
fn finding_files_are_written_atomically() {
    let dir = temp_dir("atomic");
    let path = dir.join("a.gp");
    switchyard::campaign::findings::write_atomically(&path, b"main {}\n").unwrap();
    switchyard::campaign::findings::write_atomically(&path, b"main {\n  observe main\n}\n")
        .unwrap();
    assert_eq!(entries(&dir), ["a.gp"]);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "main {\n  observe main\n}\n"
    );
    // A failed write leaves neither the file nor a temporary behind.
    let missing = dir.join("no-such-dir").join("b.gp");
    assert!(switchyard::campaign::findings::write_atomically(&missing, b"x").is_err());
    assert_eq!(entries(&dir), ["a.gp"]);
}

#[test]
fn minimize_exit_codes() {
    let dir = temp_dir("minimize");
    let good = dir.join("good.gp");
    std::fs::write(
        &good,
        "def f0 {\n  switch parent 1\n}\nmain {\n  spawn g0 f0\n  switch g0 2\n}\n",
    )
    .unwrap();
    let good = good.to_str().unwrap();
    let (code, out, err) = switchyard(&["minimize", good], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does not fail"), "{err}");
    assert_eq!(out, "");

    let bad = dir.join("bad.gp");
    std::fs::write(&bad, "main {\n  swtich g0 1\n}\n").unwrap();
    let (code, _, err) = switchyard(&["minimize", bad.to_str().unwrap()], None);
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.gp:2:3: unknown statement 'swtich'"),
        "{err}"
    );

    let (code, _, err) = switchyard(&["minimize", "--backend", "nope", good], None);
    assert_eq!(code, 2);
    assert!(err.contains("unknown backend 'nope'"), "{err}");

    // A program that crashes mmap (injected): minimized, printed, written with --out.
    let crashing = dir.join("crashing.gp");
    std::fs::write(
        &crashing,
        "# seed: 1\n# program: 7\ndef f0 {\n  switch parent 1\n}\nmain {\n  spawn g0 f0\n  switch g0 2\n  observe g0\n}\n",
    )
    .unwrap();
    let min = dir.join("min.gp");
    let (code, out, err) = switchyard(
        &[
            "minimize",
            crashing.to_str().unwrap(),
            "--out",
            min.to_str().unwrap(),
        ],
        Some("abort@mmap#7"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("# backend: mmap\n# failure: crash-SIGABRT\n"),
        "{out}"
    );
    assert!(out.ends_with("main {}\n"), "{out}");
    assert_eq!(std::fs::read_to_string(&min).unwrap(), out);
}

#[test]
fn fuzz_rejects_bad_arguments_with_2() {
    for args in [
        &["fuzz", "--backend", "nope", "--programs", "1"][..],
        &["fuzz", "--seconds", "1", "--programs", "1"],
        &["fuzz", "--jobs", "0", "--programs", "1"],
        &["fuzz", "--seconds", "-1"],
        &["fuzz", "--profile", "shallow", "--programs", "1"],
    ] {
        let (code, _, err) = switchyard(args, None);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
}

#[test]
fn minimize_names_a_hand_written_file_as_the_source_not_a_seed() {
    let dir = temp_dir("provenance");
    let hand = dir.join("hand.gp");
    std::fs::write(
        &hand,
        "def f0 {\n  switch parent 1\n}\nmain {\n  spawn g0 f0\n  switch g0 2\n}\n",
    )
    .unwrap();
    let min = dir.join("min.gp");
    let (hand, min) = (hand.to_str().unwrap(), min.to_str().unwrap());
    let (code, out, err) = switchyard(&["minimize", hand, "--out", min], Some("abort@mmap#0"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("# source: {hand}\n")), "{out}");
    assert!(
        out.contains(&format!("# original program: the file {hand}\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!("# replay: switchyard run --backend mmap {min}\n")),
        "{out}"
    );
    assert!(
        !out.contains("# seed:") && !out.contains("# program:"),
        "{out}"
    );
    assert!(!out.contains("switchyard gen"), "{out}");
    // Minimized again, the finding keeps its source.
    let again = dir.join("again.gp");
    let (code, out, err) = switchyard(
        &["minimize", min, "--out", again.to_str().unwrap()],
        Some("abort@mmap#0"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("# source: {hand}\n")), "{out}");
    // A program from a seed keeps its seed.
    let seeded = dir.join("seeded.gp");
    std::fs::write(
        &seeded,
        "# seed: 1\n# program: 7\n# profile: deep\nmain {\n  observe main\n}\n",
    )
    .unwrap();
    let (code, out, err) = switchyard(
        &["minimize", seeded.to_str().unwrap()],
        Some("abort@mmap#7"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("# seed: 1\n# program: 7\n# profile: deep\n")
            && out
                .contains("# original program: switchyard gen --seed 1 --start 7 --profile deep\n"),
        "{out}"
    );
    assert!(!out.contains("# source:"), "{out}");
}

/// The replay command in a finding's header reproduces it: a hand-written program on which
/// the deliberately broken `mutant-mxcsr` fails (it corrupts MXCSR), minimized, replayed as
/// the header says.
#[cfg(feature = "mutants")]
#[test]
fn replay_of_a_minimized_hand_written_file_reproduces_it() {
    let dir = temp_dir("replay");
    let hand = dir.join("hand.gp");
    std::fs::write(
        &hand,
        "def child {\n  switch parent 10\n  try { switch main 11 } catch E3 { return \"done\" }\n}\nmain {\n  spawn g0 child\n  switch g0 1\n  switch g0 2\n  throw g0 E3\n  observe g0\n}\n",
    )
    .unwrap();
    let min = dir.join("min.gp");
    let (code, out, err) = switchyard(
        &[
            "minimize",
            "--backend",
            "mutant-mxcsr",
            hand.to_str().unwrap(),
            "--out",
            min.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("# failure: register-corruption\n"), "{out}");
    let replay = out
        .lines()
        .find_map(|l| l.strip_prefix("# replay: switchyard "))
        .expect("a replay line");
    let args: Vec<&str> = replay.split_whitespace().collect();
    assert_eq!(args.last(), Some(&min.to_str().unwrap()), "{replay}");
    let (code, _, err) = switchyard(&args, None);
    assert_eq!(code, 1, "the replay does not fail: {replay}\n{err}");
    assert!(
        err.contains("register corruption on backend mutant-mxcsr"),
        "{err}"
    );
}

/// A ping-pong 4,000 frames deep: correct and equal on every backend, but stack-copy copies
/// the deep stack on every switch and takes far longer than the oracle.
const DEEP_PING_PONG: &str = "fuel 1000000
def f {
  recurse 1000 { recurse 1000 { recurse 1000 { recurse 1000 {
    repeat 1000 { switch parent none }
  } } } }
}
main {
  spawn g0 f
  repeat 1000 { switch g0 none }
}
";

#[test]
fn a_correct_but_slow_backend_is_not_a_timeout() {
    let mut worker = Worker::new(Path::new(EXE));
    let job = Job {
        backends: vec!["stack-copy".into(), "mmap".into(), "ucontext".into()],
        ..job(0, Some(DEEP_PING_PONG))
    };
    assert_eq!(
        worker.run(&job, Timeouts::default()).unwrap(),
        Outcome::Done(vec![])
    );
}

#[test]
fn a_tiny_timeout_never_blames_the_oracle_nor_counts_start_up() {
    // Worker start-up and the oracle's own run have their own bound (--oracle-timeout-ms):
    // a 1 ms floor for the backends does not make the oracle time out.
    let dir = temp_dir("tiny-timeout");
    let out = dir.join("findings");
    let (_, _, err) = switchyard(
        &[
            "fuzz",
            "--programs",
            "40",
            "--seed",
            "5",
            "--jobs",
            "2",
            "--timeout-ms",
            "1",
            "--minimize-runs",
            "0",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(summary(&err).contains("40 programs in"), "{err}");
    let files = if out.exists() {
        entries(&out)
    } else {
        Vec::new()
    };
    assert!(
        files.iter().all(|f| !f.starts_with("thread-")),
        "{files:?}\n{err}"
    );
}

#[test]
fn a_hang_is_pinned_on_the_backend_running_and_stop_after_cancels_work_in_flight() {
    // Every program hangs on ucontext (injected on each index); with --stop-after 1 the
    // campaign ends once the first finding is minimized, killing the workers that hang.
    let dir = temp_dir("stop-after");
    let out = dir.join("findings");
    let crash: Vec<String> = (0..400).map(|i| format!("hang@ucontext#{i}")).collect();
    let started = std::time::Instant::now();
    let (code, _, err) = switchyard(
        &[
            "fuzz",
            "--programs",
            "400",
            "--seed",
            "6",
            "--jobs",
            "2",
            "--stop-after",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
        Some(&crash.join(",")),
    );
    assert_eq!(code, 1, "{err}");
    let files = entries(&out);
    // One finding minimized; the other worker's, seen while that one was minimized, may stay
    // as written (unminimized), but no more: new programs wait while a finding is pending.
    let (minimized, unminimized): (Vec<&String>, Vec<&String>) =
        files.iter().partition(|f| !f.ends_with("-unminimized.gp"));
    assert_eq!(minimized.len(), 1, "{files:?}\n{err}");
    assert!(unminimized.len() <= 1, "{files:?}\n{err}");
    // The minimized finding is pinned on ucontext. The other may have been stopped before its
    // isolation ended: then it is still named by every backend its worker ran (written so
    // before isolating, so that a stop loses nothing), never by another backend alone.
    assert!(minimized[0].starts_with("ucontext-timeout-"), "{files:?}");
    assert!(
        unminimized
            .iter()
            .all(|f| f.starts_with("ucontext-timeout-")
                || f.starts_with("stack-copy+mmap+ucontext-timeout-")),
        "{files:?}"
    );
    let text = std::fs::read_to_string(out.join(minimized[0])).unwrap();
    assert!(
        text.contains("# detail: ucontext took more than "),
        "{text}"
    );
    // Not 400 programs of waiting: the campaign stopped at the first finding.
    assert!(!summary(&err).contains("400 programs"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn raising_the_cancel_flag_kills_a_hung_worker_at_once() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let flag = Arc::new(AtomicBool::new(false));
    let mut worker = Worker::new(Path::new(EXE))
        .env(CRASH_ENV, "hang@mmap#7")
        .cancel_on(Arc::clone(&flag));
    let raiser = {
        let flag = Arc::clone(&flag);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            flag.store(true, Ordering::Relaxed);
        })
    };
    let started = std::time::Instant::now();
    let outcome = worker.run(&job(7, None), Duration::from_secs(60)).unwrap();
    raiser.join().unwrap();
    assert_eq!(outcome, Outcome::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(worker.pid(), None, "the hung worker is gone");
}

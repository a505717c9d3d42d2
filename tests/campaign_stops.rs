//! A campaign that cannot write its findings, or that is stopped by a signal, as a user would
//! see it: findings already seen stay on disk (unminimized when they had no time to be
//! minimized), the summary says where they are, the exit status says why it stopped, and no
//! worker process outlives `fuzz` or `minimize` (even killed with SIGKILL).
//!
//! Crashes and hangs are injected with the test-only `SWITCHYARD_TEST_CRASH` variable of the
//! worker (`src/campaign/inject.rs`). Every process a test starts carries a unique
//! `SWITCHYARD_TEST_TAG` in its environment; a guard kills whatever still carries it when the
//! test ends, and tmpfs mounts are unmounted by a guard too.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use switchyard::campaign::CRASH_ENV;

const EXE: &str = env!("CARGO_BIN_EXE_switchyard");
const TAG_ENV: &str = "SWITCHYARD_TEST_TAG";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-stops-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The pids of live processes whose environment has `TAG_ENV=tag` (zombies have none).
fn tagged(tag: &str) -> Vec<u32> {
    let needle = format!("{TAG_ENV}={tag}");
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ
            .split(|b| *b == 0)
            .any(|var| var == needle.as_bytes())
        {
            pids.push(pid);
        }
    }
    pids
}

/// Whether `pid` runs `switchyard __worker`.
fn is_worker(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == b"__worker"))
}

/// Kills every process still carrying its tag when dropped (a failed test leaves nothing).
struct Tag(String);

impl Tag {
    fn new(name: &str) -> Tag {
        Tag(format!("{}-{name}", std::process::id()))
    }

    fn workers(&self) -> Vec<u32> {
        tagged(&self.0)
            .into_iter()
            .filter(|p| is_worker(*p))
            .collect()
    }

    /// Waits until no process carries the tag; the ones left after `limit`.
    fn gone_within(&self, limit: Duration) -> Vec<u32> {
        let deadline = Instant::now() + limit;
        loop {
            let left = tagged(&self.0);
            if left.is_empty() || Instant::now() >= deadline {
                return left;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tag {
    fn drop(&mut self) {
        for pid in tagged(&self.0) {
            kill("-KILL", &pid.to_string());
        }
    }
}

fn kill(signal: &str, target: &str) {
    let status = Command::new("kill")
        .args([signal, "--", target])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {target}");
}

fn command(args: &[&str], crash: Option<&str>, tag: &Tag) -> Command {
    let mut command = Command::new(EXE);
    command
        .args(args)
        .env_remove(CRASH_ENV)
        .env(TAG_ENV, &tag.0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(spec) = crash {
        command.env(CRASH_ENV, spec);
    }
    command
}

/// Waits for `child` to exit (killing it after `limit`: the test then fails on its status).
fn finish(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Waits until `ready` holds (panics after a minute).
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
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

/// Mounts a tmpfs of `size` at `dir` (read-only with `ro`); unmounts it when dropped. `None`
/// where mounting is not permitted.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, options: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Limits the size of files the command may write (`RLIMIT_FSIZE`): a write past it fails
/// with EFBIG, as on a full disk.
fn limit_file_size(command: &mut Command, bytes: u64) {
    // SAFETY: the closure runs in the forked child before exec and only calls setrlimit, an
    // async-signal-safe system call, on a stack value.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// What every campaign stopped by a write error shows: exit 3, the file and the error named,
/// the summary, and a list of findings whose files all exist and parse.
fn assert_stopped_by_write(output: &Output, out: &Path, error: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    let stopped = stderr
        .lines()
        .find(|l| l.starts_with("switchyard fuzz: stopped early: cannot write "))
        .unwrap_or_else(|| panic!("no stop line:\n{stderr}"));
    assert!(stopped.contains(out.to_str().unwrap()), "{stopped}");
    assert!(stopped.contains(error), "{stopped}");
    assert!(
        summary(&stderr).contains("stopped: cannot write "),
        "{stderr}"
    );
    assert!(
        stderr.contains("switchyard fuzz: findings so far ("),
        "{stderr}"
    );
    // Every finding listed as written is there; the others say how to regenerate them.
    let mut listed = 0;
    for line in stderr.lines().filter(|l| l.starts_with("  ")) {
        listed += 1;
        let path = [" (not minimized): ", " (minimized): "]
            .iter()
            .find_map(|mark| line.trim().split_once(mark).map(|(path, _)| path));
        if let Some(path) = path {
            let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert!(text.contains("# seed: 3\n"), "{text}");
            switchyard::lang::parse::parse(path, text.as_bytes()).expect("a finding parses");
        } else {
            assert!(
                line.contains("NOT WRITTEN") && line.contains("switchyard gen --seed 3 --start "),
                "{line}"
            );
        }
    }
    assert!(listed >= 1, "{stderr}");
}

const TWO_CRASHES: &str = "segv@mmap#1,segv@ucontext#3";

fn fuzz_args(out: &Path) -> Vec<String> {
    [
        "fuzz",
        "--seconds",
        "600",
        "--seed",
        "3",
        "--jobs",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]
    .map(str::to_string)
    .to_vec()
}

#[test]
fn a_full_disk_stops_the_campaign_at_once_and_says_where_each_finding_is() {
    let tag = Tag::new("full");
    let dir = temp_dir("full");
    let args = fuzz_args(&dir.join("f"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    // A file-size limit (works without privileges): the probe file fits, a finding does not.
    let mut limited = command(&args, Some(TWO_CRASHES), &tag);
    limit_file_size(&mut limited, 256);
    let output = finish(limited.spawn().unwrap(), Duration::from_secs(120));
    assert_stopped_by_write(&output, &dir.join("f"), "File too large");
    assert!(files(&dir.join("f")).iter().all(|f| !f.ends_with(".tmp")));

    // A real full file system, where mounting is permitted: a 64 KiB tmpfs with room for
    // three inodes (its root, `f` and one file), so that the probe (removed at once) and the
    // first finding fit and the next one does not. (Its block count would not do: tmpfs
    // counts blocks per CPU, approximately near the limit; it counts inodes exactly.)
    let mount = dir.join("mnt");
    if let Some(_tmpfs) = Tmpfs::mount(&mount, "size=64k,nr_inodes=3") {
        let args = fuzz_args(&mount.join("f"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = finish(
            command(&args, Some(TWO_CRASHES), &tag).spawn().unwrap(),
            Duration::from_secs(120),
        );
        assert_stopped_by_write(&output, &mount.join("f"), "No space left on device");
        let written = files(&mount.join("f"));
        assert_eq!(written.len(), 1, "{written:?}");
        assert!(written[0].ends_with("-unminimized.gp"), "{written:?}");
    } else {
        eprintln!("tmpfs not mountable here: the full-disk case ran with RLIMIT_FSIZE only");
    }
    assert_eq!(tag.gone_within(Duration::from_secs(10)), Vec::<u32>::new());
}

#[test]
fn an_out_directory_that_cannot_be_written_is_refused_at_start_with_its_path() {
    let tag = Tag::new("out");
    let dir = temp_dir("out");
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let read_only = dir.join("ro");
    let tmpfs = Tmpfs::mount(&read_only, "size=64k,ro");
    let mut cases = vec![
        (file.clone(), "File exists"),
        (file.join("below"), "Not a directory"),
    ];
    if tmpfs.is_some() {
        cases.push((read_only.join("f"), "Read-only file system"));
        cases.push((read_only.clone(), "Read-only file system"));
    } else {
        eprintln!("tmpfs not mountable here: the read-only case is left out");
    }
    for (out, error) in cases {
        let args = ["fuzz", "--programs", "10", "--out", out.to_str().unwrap()];
        let output = finish(
            command(&args, Some(TWO_CRASHES), &tag).spawn().unwrap(),
            Duration::from_secs(60),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{out:?}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("switchyard fuzz: --out: cannot write ")
                && last.contains(dir.to_str().unwrap())
                && last.contains(error),
            "{out:?}: {stderr}"
        );
        assert!(
            !stderr.contains(" programs in "),
            "nothing may run: {stderr}"
        );
    }
    // RLIMIT_FSIZE 0: nothing can be written, not even the probe.
    let out = dir.join("limited");
    let args = ["fuzz", "--programs", "10", "--out", out.to_str().unwrap()];
    let mut limited = command(&args, None, &tag);
    limit_file_size(&mut limited, 0);
    let output = finish(limited.spawn().unwrap(), Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("File too large"), "{stderr}");
    assert_eq!(files(&out), Vec::<String>::new());
    drop(tmpfs);
    assert_eq!(tag.gone_within(Duration::from_secs(10)), Vec::<u32>::new());
}

#[test]
fn ctrl_c_while_minimizing_keeps_the_finding_and_prints_the_summary() {
    let tag = Tag::new("int");
    let out = temp_dir("int").join("f");
    // A hang on mmap: isolating and minimizing it takes a timeout per run. Three programs
    // only (the campaign then waits for the minimizer), so that no other program can be slow
    // enough under load to time out too.
    let args = [
        "fuzz",
        "--programs",
        "3",
        "--seed",
        "3",
        "--jobs",
        "2",
        "--timeout-ms",
        "1000",
        "--out",
        out.to_str().unwrap(),
    ];
    let mut child = command(&args, Some("hang@mmap#2"), &tag);
    child.process_group(0); // as a shell runs a job: Ctrl-C goes to the whole group
    let child = child.spawn().unwrap();
    let pgid = child.id();
    // Its unminimized file is written once the hang is isolated; minimizing it then takes
    // many runs of a second each.
    wait_for("the unminimized finding", || {
        files(&out)
            .iter()
            .any(|f| f.starts_with("mmap-timeout-") && f.ends_with("-unminimized.gp"))
    });
    std::thread::sleep(Duration::from_millis(300));
    kill("-INT", &format!("-{pgid}"));
    let output = finish(child, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    let line = summary(&stderr);
    assert!(line.ends_with("interrupted by SIGINT; seed 3"), "{line}");
    assert!(line.contains("1 findings left unminimized"), "{line}");
    let written = files(&out);
    assert_eq!(written.len(), 1, "{written:?}");
    let text = std::fs::read_to_string(out.join(&written[0])).unwrap();
    assert!(text.contains("# failure: timeout\n"), "{text}");
    assert!(text.contains("# seed: 3\n# program: 2\n"), "{text}");
    assert!(text.contains("# not minimized: "), "{text}");
    assert!(stderr.contains(&format!(
        "{} (not minimized)",
        out.join(&written[0]).display()
    )));
    assert_eq!(tag.gone_within(Duration::from_secs(10)), Vec::<u32>::new());
}

#[test]
fn sigterm_and_sighup_stop_the_campaign_and_its_workers() {
    for (signal, status, name) in [("-TERM", 143, "SIGTERM"), ("-HUP", 129, "SIGHUP")] {
        let tag = Tag::new(name);
        let out = temp_dir(name).join("f");
        let args = fuzz_args(&out);
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        // A worker that hangs on program 0 for ever (a timeout of 10 minutes).
        args.extend(["--timeout-ms", "600000"]);
        let child = command(&args, Some("hang@mmap#0"), &tag).spawn().unwrap();
        wait_for("a worker", || !tag.workers().is_empty());
        std::thread::sleep(Duration::from_millis(300));
        // To the parent alone.
        kill(signal, &child.id().to_string());
        let output = finish(child, Duration::from_secs(30));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(status), "{stderr}");
        assert!(
            summary(&stderr).ends_with(&format!("interrupted by {name}; seed 3")),
            "{stderr}"
        );
        assert!(
            stderr.contains("switchyard fuzz: no findings so far"),
            "{stderr}"
        );
        assert_eq!(tag.gone_within(Duration::from_secs(10)), Vec::<u32>::new());
    }
}

#[test]
fn workers_die_with_a_parent_killed_by_sigkill() {
    let tag = Tag::new("kill");
    let out = temp_dir("kill").join("f");
    let args = fuzz_args(&out);
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend(["--timeout-ms", "600000"]);
    let fuzz = command(&args, Some("hang@mmap#0,hang@mmap#1"), &tag)
        .spawn()
        .unwrap();
    wait_for("two workers", || tag.workers().len() == 2);
    kill("-KILL", &fuzz.id().to_string());
    let _ = finish(fuzz, Duration::from_secs(10));
    assert_eq!(tag.gone_within(Duration::from_secs(10)), Vec::<u32>::new());

    // The workers of `minimize` too (it keeps the default action of SIGTERM).
    let dir = temp_dir("kill-minimize");
    let file = dir.join("hangs.gp");
    std::fs::write(&file, "main {\n  observe main\n}\n").unwrap();
    let args = ["minimize", file.to_str().unwrap(), "--timeout-ms", "600000"];
    for signal in ["-KILL", "-TERM"] {
        let minimize = command(&args, Some("hang@mmap#0"), &tag).spawn().unwrap();
        wait_for("a minimize worker", || !tag.workers().is_empty());
        kill(signal, &minimize.id().to_string());
        let _ = finish(minimize, Duration::from_secs(10));
        assert_eq!(
            tag.gone_within(Duration::from_secs(10)),
            Vec::<u32>::new(),
            "{signal}"
        );
    }
}

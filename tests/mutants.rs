//! Deliberately broken backends (`--features mutants`) against the thread oracle: each mutant
//! must be found by the differential check on generated programs, in the default and the deep
//! profile. A finding is a trace that differs from the oracle's, a fatal finding (stack or
//! register corruption, a panic), or the process dying by a signal: mutants corrupt stacks and
//! registers, so every check runs in a child process (this test binary, filtered to the
//! `worker` test and told what to do through `SWITCHYARD_MUTANT_WORK`), and a child killed by a
//! signal counts as detection.
//!
//! For each mutant and profile two children run: `first` checks programs 0, 1, 2, ... one at a
//! time with `differential::check` until the first finding (or death), and reports how many
//! programs and how long that took; `seeded` runs `differential::check_seeded` over the whole
//! batch and reports how many programs failed. Run with `--nocapture` to see the measurements.
//!
//! Hook for the campaign test: once `switchyard fuzz` (workers in child processes, minimizer)
//! exists, a test should run it with `--backend crash-segv` and each `mutant-*` and assert it
//! reports a finding (a crashed worker for `crash-segv`) instead of dying itself;
//! `registry::mutants()` lists them and `Backend::is_mutant` keeps them out of default
//! selections (`registry::real()`).

mod common;

#[cfg(not(feature = "mutants"))]
#[test]
fn without_the_feature_only_the_real_backends_are_registered() {
    use switchyard::check::registry;
    let names: Vec<&str> = registry::all().iter().map(|b| b.name).collect();
    assert_eq!(names, common::real_backend_names());
    assert_eq!(registry::mutants().count(), 0);
    assert_eq!(registry::real().count(), names.len());
}

#[cfg(all(feature = "mutants", target_arch = "x86_64", target_os = "linux"))]
mod mutants {
    use std::io::Write;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    use switchyard::check::differential::{check, check_seeded};
    use switchyard::check::registry::{self, Backend};
    use switchyard::gen::{self, GenConfig};

    const WORK: &str = "SWITCHYARD_MUTANT_WORK";
    /// Marks every line the worker reports (the test harness prints its own text too, and
    /// may put it before ours on the same line).
    const TAG: &str = "@@ ";
    /// SIGSEGV's number on Linux.
    const SIGSEGV: i32 = 11;
    /// A child that takes longer than this is a failure (a hang is not a detection).
    const CHILD_TIMEOUT: Duration = Duration::from_secs(300);

    #[derive(Clone, Copy, Debug)]
    enum Profile {
        Default,
        Deep,
    }

    impl Profile {
        fn name(self) -> &'static str {
            match self {
                Profile::Default => "default",
                Profile::Deep => "deep",
            }
        }
        fn parse(s: &str) -> Profile {
            match s {
                "default" => Profile::Default,
                "deep" => Profile::Deep,
                _ => panic!("unknown profile {s}"),
            }
        }
        fn config(self) -> GenConfig {
            match self {
                Profile::Default => GenConfig::default(),
                Profile::Deep => GenConfig::deep(),
            }
        }
        fn seed(self) -> u64 {
            match self {
                Profile::Default => 101,
                Profile::Deep => 202,
            }
        }
        /// Programs checked per profile.
        fn count(self) -> u64 {
            match self {
                Profile::Default => 3000,
                Profile::Deep => 2000,
            }
        }
    }

    fn backend(name: &str) -> &'static Backend {
        registry::find(name).unwrap_or_else(|| panic!("backend {name} is not registered"))
    }

    fn say(line: String) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{TAG}{line}");
        let _ = out.flush();
    }

    /// The child's side: does the work `SWITCHYARD_MUTANT_WORK` names ("BACKEND PROFILE MODE"),
    /// printing one line per step to stdout; without it, nothing.
    #[test]
    fn worker() {
        let Ok(work) = std::env::var(WORK) else {
            return;
        };
        let words: Vec<&str> = work.split_whitespace().collect();
        let [name, profile, mode] = words[..] else {
            panic!("bad {WORK}: {work}");
        };
        let b = backend(name);
        let profile = Profile::parse(profile);
        let config = profile.config();
        let started = Instant::now();
        match mode {
            "first" => {
                for index in 0..profile.count() {
                    say(format!("program {index} {}", started.elapsed().as_micros()));
                    let program = gen::seeded::program(profile.seed(), index, &config);
                    if let Some(finding) = check(&program, &[b]).first() {
                        say(format!(
                            "found {index} {} {finding}",
                            started.elapsed().as_micros()
                        ));
                        return;
                    }
                }
                say("none".to_string());
            }
            "seeded" => {
                let failed = check_seeded(profile.seed(), profile.count(), &config, &[b], 1);
                let first = failed
                    .first()
                    .map(|f| format!("{} {}", f.index, f.findings[0]))
                    .unwrap_or_default();
                say(format!(
                    "failed {} {} {first}",
                    failed.len(),
                    started.elapsed().as_micros()
                ));
            }
            _ => panic!("unknown mode {mode}"),
        }
    }

    /// What a child reported.
    struct Report {
        stdout: String,
        /// The signal that killed it, if one did.
        signal: Option<i32>,
        wall: Duration,
    }

    fn run_child(name: &str, profile: Profile, mode: &str) -> Report {
        let exe = std::env::current_exe().expect("test binary path");
        let started = Instant::now();
        let mut child = Command::new(exe)
            .args([
                "--exact",
                "mutants::worker",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(WORK, format!("{name} {} {mode}", profile.name()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the worker");
        let mut stdout = child.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
            s
        });
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the worker") {
                break status;
            }
            if started.elapsed() > CHILD_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name} ({}, {mode}): worker hung", profile.name());
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let wall = started.elapsed();
        let stdout = reader.join().expect("stdout reader");
        if status.signal().is_none() && !status.success() {
            panic!(
                "{name} ({}, {mode}): worker failed with {status}:\n{stdout}",
                profile.name()
            );
        }
        Report {
            stdout,
            signal: status.signal(),
            wall,
        }
    }

    /// How a mutant was found in one profile.
    #[derive(Debug)]
    struct Detection {
        /// Programs checked up to and including the first finding.
        programs: u64,
        /// Time until the first finding, in the child (µs).
        micros: u128,
        /// The finding, or the signal.
        how: String,
        /// `check_seeded` over the whole batch: programs that failed, or the signal that
        /// killed the batch.
        seeded: String,
    }

    /// The last line the worker reported, without its tag.
    fn last_report(stdout: &str) -> String {
        stdout
            .lines()
            .filter_map(|l| l.find(TAG).map(|i| &l[i + TAG.len()..]))
            .next_back()
            .unwrap_or("")
            .to_string()
    }

    fn hunt(name: &str, profile: Profile) -> Detection {
        let first = run_child(name, profile, "first");
        let last = last_report(&first.stdout);
        let mut words = last.splitn(4, ' ');
        let (tag, index, micros) = (words.next(), words.next(), words.next());
        let parse = |w: Option<&str>| w.and_then(|w| w.parse::<u64>().ok());
        let detection = match (first.signal, tag) {
            (Some(sig), Some("program")) => Detection {
                programs: parse(index).expect("index") + 1,
                micros: first.wall.as_micros(),
                how: format!("killed by signal {sig}"),
                seeded: String::new(),
            },
            (None, Some("found")) => Detection {
                programs: parse(index).expect("index") + 1,
                micros: u128::from(parse(micros).expect("micros")),
                how: words.next().unwrap_or("").to_string(),
                seeded: String::new(),
            },
            _ => panic!(
                "{name} ({}): not detected in {} programs (last line: {last:?}, signal {:?})",
                profile.name(),
                profile.count(),
                first.signal
            ),
        };
        let seeded = run_child(name, profile, "seeded");
        let seeded_line = last_report(&seeded.stdout);
        let seeded = match seeded.signal {
            Some(sig) => format!("check_seeded killed by signal {sig}"),
            None => {
                let mut w = seeded_line.split(' ');
                assert_eq!(w.next(), Some("failed"), "{name}: {seeded_line:?}");
                let failed: u64 = w.next().and_then(|n| n.parse().ok()).expect("count");
                let micros: u64 = w.next().and_then(|n| n.parse().ok()).expect("micros");
                assert!(
                    failed > 0,
                    "{name} ({}): check_seeded found nothing in {} programs",
                    profile.name(),
                    profile.count()
                );
                format!(
                    "check_seeded: {failed} of {} programs failed ({} ms)",
                    profile.count(),
                    micros / 1000
                )
            }
        };
        Detection {
            seeded,
            ..detection
        }
    }

    /// Finds mutant `name` in both profiles, printing the measurements.
    fn detect(name: &str) -> [Detection; 2] {
        assert!(backend(name).is_mutant());
        [Profile::Default, Profile::Deep].map(|profile| {
            let d = hunt(name, profile);
            println!(
                "{name} [{}]: first finding at program {} after {:.1} ms: {}; {}",
                profile.name(),
                d.programs,
                d.micros as f64 / 1000.0,
                d.how,
                d.seeded
            );
            d
        })
    }

    #[test]
    fn mutants_are_registered_and_kept_apart() {
        let names: Vec<&str> = registry::mutants().map(|b| b.name).collect();
        assert_eq!(
            names[..11],
            [
                "mutant-rbx",
                "mutant-mxcsr",
                "mutant-restore-offset",
                "mutant-short-save",
                "mutant-wrong-target",
                "mutant-parent-skip",
                "mutant-kill-parent",
                "mutant-hub-leak",
                "mutant-hang",
                "crash-segv",
                "mutant-asan-redzone",
            ]
        );
        // A lost-register mutant for every native backend and every callee-saved register or
        // control word, and nothing else.
        let mut lost = Vec::new();
        for backend in ["stack-copy", "mmap", "ucontext"] {
            for reg in ["rbx", "rbp", "r12", "r13", "r14", "r15", "mxcsr", "x87-cw"] {
                lost.push(format!("mutant-{backend}-lost-{reg}"));
            }
        }
        assert_eq!(names[11..], lost);
        let asan_only: Vec<&str> = registry::mutants()
            .filter(|b| b.is_asan_only())
            .map(|b| b.name)
            .collect();
        assert_eq!(asan_only, ["mutant-asan-redzone"]);
        let real: Vec<&str> = registry::real().map(|b| b.name).collect();
        assert_eq!(real, super::common::real_backend_names());
    }

    /// `mutant-asan-redzone` writes a suspended greenlet's byte back unchanged: without
    /// AddressSanitizer no check sees it (ci/asan.sh proves ASan does; the README has the
    /// figures). Run only in builds without ASan, which would abort on the first switch.
    #[test]
    fn mutant_asan_redzone_changes_no_trace() {
        let b = backend("mutant-asan-redzone");
        let failed = check_seeded(101, 300, &Profile::Default.config(), &[b], 1);
        assert!(failed.is_empty(), "{} programs failed", failed.len());
        let failed = check_seeded(202, 100, &Profile::Deep.config(), &[b], 1);
        assert!(failed.is_empty(), "{} deep programs failed", failed.len());
    }

    #[test]
    fn mutant_rbx_is_found() {
        detect("mutant-rbx");
    }

    #[test]
    fn mutant_mxcsr_is_found() {
        detect("mutant-mxcsr");
    }

    #[test]
    fn mutant_restore_offset_is_found() {
        detect("mutant-restore-offset");
    }

    #[test]
    fn mutant_short_save_is_found() {
        detect("mutant-short-save");
    }

    #[test]
    fn mutant_wrong_target_is_found() {
        detect("mutant-wrong-target");
    }

    #[test]
    fn mutant_parent_skip_is_found() {
        detect("mutant-parent-skip");
    }

    #[test]
    fn mutant_kill_parent_is_found() {
        detect("mutant-kill-parent");
    }

    /// Its failure is the hub it leaves alive (`Fatal::HubLeak`), in both profiles.
    #[test]
    fn mutant_hub_leak_is_found() {
        for d in detect("mutant-hub-leak") {
            assert!(d.how.contains("left its greenlet hub alive"), "{}", d.how);
        }
    }

    /// The crashing backend kills the process with SIGSEGV on some programs (and only by
    /// crashing: its traces are right until then).
    #[test]
    fn crash_segv_kills_its_process() {
        for d in detect("crash-segv") {
            assert_eq!(d.how, format!("killed by signal {SIGSEGV}"));
        }
    }
}

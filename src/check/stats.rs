//! What the generator really tests: the distribution of seeded programs, measured by running
//! them on the thread oracle (`switchyard stats`).
//!
//! Where each number comes from:
//! - statement kinds: static, every statement of the program texts (bodies that never run
//!   included);
//! - trace lengths and greenlets suspended at once: read from the oracle's traces (a greenlet
//!   is alive from its `start` to its `finish`/`fail`; main always; at every `start` and `recv`
//!   event the alive greenlets other than the one recording are suspended);
//! - recursion depth at a switch: static, the sum of the `recurse` counts around each `switch`
//!   and `throw` within its own body (not the frames of the greenlet's caller; a greenlet has
//!   a stack of its own on every backend but stack-copy);
//! - switch and throw targets: counted at run time by the interpreter, which looks at each
//!   `switch`/`throw` statement's target state just before the switch (`interp::RunCounts`;
//!   teardown's throws are not statements and are not counted);
//! - fuel exhaustion, teardown and kills on a last reference (`#I kill #J`): read from the
//!   traces;
//! - register probe checks: each program is also run on the `mmap` backend (with the register
//!   probe, as the registry runs every native backend), counting the backend switches the
//!   probe checked (`switchyard_impls::probe::checks`); every native backend makes the same
//!   switches, the runtime being the same.

use crate::check::registry::PROGRAM_THREAD_STACK;
use crate::gen;
use crate::gen::Profile;
use crate::interp::{self, RtValue};
use crate::lang::ast::{Block, Program, Stmt};
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

use switchyard_impls::greenlet::HubConfig;
use switchyard_oracle::ThreadHub;

/// The measured distribution of `programs` programs.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub seed: u64,
    pub programs: u64,
    pub profile: &'static str,
    /// Statement kind -> count (static).
    pub kinds: BTreeMap<&'static str, u64>,
    /// Per program: trace lines.
    pub trace_lengths: Vec<u64>,
    /// Per program: the most greenlets suspended at once.
    pub max_suspended: Vec<u64>,
    /// Per program with a switch or throw: the deepest recursion around one (static).
    pub switch_depths: Vec<u64>,
    /// `switch`/`throw` calls by the target's state: unstarted, running, suspended, dead.
    pub targets: [u64; 4],
    /// Programs whose main failed with `fuel`.
    pub main_out_of_fuel: u64,
    /// Programs with any `fail fuel` or `caught fuel`.
    pub any_fuel: u64,
    /// Programs with a teardown event.
    pub teardown: u64,
    /// Per program: kill-on-last-reference events (`#I kill #J`).
    pub kills: Vec<u64>,
    /// Programs on which the oracle made a fatal finding.
    pub fatal: u64,
    /// Per program: backend switches the register probe checked on `mmap` (empty where that
    /// backend does not exist).
    pub register_checks: Vec<u64>,
}

// ---- static measures ----

fn kind(stmt: &Stmt) -> &'static str {
    match stmt {
        Stmt::Spawn { .. } => "spawn",
        Stmt::Switch(..) => "switch",
        Stmt::Throw(..) => "throw",
        Stmt::Return(_) => "return",
        Stmt::Raise(_) => "raise",
        Stmt::Try { .. } => "try",
        Stmt::Repeat(..) => "repeat",
        Stmt::Recurse(..) => "recurse",
        Stmt::Reparent(..) => "reparent",
        Stmt::Observe(_) => "observe",
        Stmt::Drop(_) => "drop",
    }
}

fn count_kinds(block: &Block, kinds: &mut BTreeMap<&'static str, u64>) {
    for s in block {
        *kinds.entry(kind(s)).or_default() += 1;
        for b in s.children() {
            count_kinds(b, kinds);
        }
    }
}

/// The deepest `recurse` sum around a `switch`/`throw` in `block`, `None` without one.
pub fn deepest_switch(block: &Block, depth: u64) -> Option<u64> {
    block
        .iter()
        .filter_map(|s| match s {
            Stmt::Switch(..) | Stmt::Throw(..) => Some(depth),
            Stmt::Recurse(n, b) => deepest_switch(b, depth + u64::from(*n)),
            other => other
                .children()
                .filter_map(|b| deepest_switch(b, depth))
                .max(),
        })
        .max()
}

fn program_switch_depth(p: &Program) -> Option<u64> {
    p.blocks().filter_map(|b| deepest_switch(b, 0)).max()
}

// ---- trace measures ----

/// The most greenlets suspended at once in a trace (see the module doc).
pub fn max_suspended(lines: &[String]) -> u64 {
    let mut alive: HashSet<u64> = HashSet::from([0]);
    let mut most = 0;
    for line in lines {
        let mut words = line.split_whitespace();
        let (Some(id), Some(event)) = (words.next(), words.next()) else {
            continue;
        };
        let Some(id) = id.strip_prefix('#').and_then(|i| i.parse::<u64>().ok()) else {
            continue;
        };
        match event {
            "start" => {
                alive.insert(id);
                most = most.max(alive.len() as u64 - 1);
            }
            "recv" => most = most.max(alive.len() as u64 - 1),
            "finish" | "fail" if id != 0 => {
                alive.remove(&id);
            }
            _ => {}
        }
    }
    most
}

// ---- the measurement ----

/// Runs programs `0 .. programs` of `seed` from `profile` on the oracle (on `threads` threads)
/// and measures them.
pub fn measure(seed: u64, programs: u64, profile: Profile, threads: usize) -> Stats {
    let config = profile.config();
    let threads = threads.max(1) as u64;
    let parts: Vec<Stats> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let config = &config;
                std::thread::Builder::new()
                    .stack_size(PROGRAM_THREAD_STACK)
                    .spawn_scoped(scope, move || {
                        let mut s = Stats::default();
                        for index in (t..programs).step_by(threads as usize) {
                            measure_one(&gen::seeded::program(seed, index, config), &mut s);
                        }
                        s
                    })
                    .expect("start a measuring thread")
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("measuring thread"))
            .collect()
    });
    let mut total = Stats {
        seed,
        programs,
        profile: profile.name(),
        ..Stats::default()
    };
    for p in parts {
        for (k, n) in p.kinds {
            *total.kinds.entry(k).or_default() += n;
        }
        total.trace_lengths.extend(p.trace_lengths);
        total.max_suspended.extend(p.max_suspended);
        total.switch_depths.extend(p.switch_depths);
        total.kills.extend(p.kills);
        total.main_out_of_fuel += p.main_out_of_fuel;
        total.any_fuel += p.any_fuel;
        total.teardown += p.teardown;
        total.fatal += p.fatal;
        total.register_checks.extend(p.register_checks);
        for (sum, n) in total.targets.iter_mut().zip(p.targets) {
            *sum += n;
        }
    }
    total
}

fn measure_one(program: &Program, s: &mut Stats) {
    count_kinds(&program.main, &mut s.kinds);
    for d in &program.defs {
        count_kinds(&d.body, &mut s.kinds);
    }
    if let Some(depth) = program_switch_depth(program) {
        s.switch_depths.push(depth);
    }
    let (result, counts) = interp::run_counted::<ThreadHub<RtValue>>(
        program,
        crate::check::registry::ORACLE,
        &HubConfig::default(),
    );
    for (sum, n) in s.targets.iter_mut().zip(counts.targets) {
        *sum += n;
    }
    if let Some(probed) = crate::check::registry::find("mmap") {
        let before = switchyard_impls::probe::checks();
        let _ = probed.run_here(program, &HubConfig::default());
        s.register_checks
            .push(switchyard_impls::probe::checks() - before);
    }
    let trace = match result {
        Ok(t) => t,
        Err(_) => {
            s.fatal += 1;
            return;
        }
    };
    let lines = &trace.lines;
    s.trace_lengths.push(lines.len() as u64);
    s.max_suspended.push(max_suspended(lines));
    if lines.iter().any(|l| l == "#0 fail fuel") {
        s.main_out_of_fuel += 1;
    }
    if lines
        .iter()
        .any(|l| l.ends_with(" fail fuel") || l.ends_with(" caught fuel"))
    {
        s.any_fuel += 1;
    }
    s.kills
        .push(lines.iter().filter(|l| l.contains(" kill #")).count() as u64);
    let teardowns = lines.iter().filter(|l| l.contains(" teardown ")).count() as u64;
    if teardowns > 0 {
        s.teardown += 1;
    }
    // Counted here per part, subtracted from the suspended targets when the parts are added.
    s.targets[2] += teardowns;
}

fn percent(part: u64, whole: u64) -> f64 {
    100.0 * part as f64 / (whole.max(1)) as f64
}

/// (min, median, p90, max) of `values`.
pub fn quantiles(values: &[u64]) -> (u64, u64, u64, u64) {
    if values.is_empty() {
        return (0, 0, 0, 0);
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (v[0], at(0.5), at(0.9), v[v.len() - 1])
}

impl Stats {
    /// The report `switchyard stats` prints.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let n = self.programs;
        let _ = writeln!(
            out,
            "{n} programs of seed {}, profile {}, run on the thread oracle",
            self.seed, self.profile
        );
        let statements: u64 = self.kinds.values().sum();
        let _ = writeln!(
            out,
            "\nstatement kinds (static: % of the {statements} statements in the program texts, {:.1} a program):",
            statements as f64 / n.max(1) as f64
        );
        let mut kinds: Vec<_> = self.kinds.iter().collect();
        kinds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (k, c) in kinds {
            let _ = writeln!(out, "  {k:<9} {:>5.1}%", percent(*c, statements));
        }
        let q = quantiles(&self.trace_lengths);
        let _ = writeln!(
            out,
            "\ntrace length (lines, `end` included): min {}, median {}, p90 {}, max {}",
            q.0, q.1, q.2, q.3
        );
        let q = quantiles(&self.max_suspended);
        let _ = writeln!(
            out,
            "greenlets suspended at once (from the traces; per program, the most at any start/recv event): min {}, median {}, p90 {}, max {}",
            q.0, q.1, q.2, q.3
        );
        let q = quantiles(&self.switch_depths);
        let deep = self.switch_depths.iter().filter(|&&d| d >= 100).count() as u64;
        let _ = writeln!(
            out,
            "recursion depth at a switch (static: sum of the recurse counts around each switch/throw in its body; per program, the deepest): min {}, median {}, p90 {}, max {}; {:.1}% of programs have a switch 100+ frames deep",
            q.0,
            q.1,
            q.2,
            q.3,
            percent(deep, n)
        );
        let t = self.targets;
        let calls: u64 = t.iter().sum();
        let _ = writeln!(
            out,
            "switch/throw targets (run time, counted by the interpreter before each switch; teardown's throws excluded): {calls} calls: suspended {:.1}%, unstarted {:.1}%, current {:.1}%, dead {:.1}%; live (not dead) {:.1}%",
            percent(t[2], calls),
            percent(t[0], calls),
            percent(t[1], calls),
            percent(t[3], calls),
            percent(t[0] + t[1] + t[2], calls)
        );
        let _ = writeln!(
            out,
            "programs ending by fuel exhaustion (main fails with fuel): {:.1}%; with any fuel failure (`fail fuel` or `caught fuel`): {:.1}%",
            percent(self.main_out_of_fuel, n),
            percent(self.any_fuel, n)
        );
        let _ = writeln!(
            out,
            "programs with teardown events: {:.1}%",
            percent(self.teardown, n)
        );
        if !self.register_checks.is_empty() {
            let q = quantiles(&self.register_checks);
            let total: u64 = self.register_checks.iter().sum();
            let none = self.register_checks.iter().filter(|&&c| c == 0).count() as u64;
            let _ = writeln!(
                out,
                "register probe (backend switches checked for rbx, rbp, r12-r15, MXCSR and the x87 control word, run on mmap): per program min {}, median {}, p90 {}, max {}, mean {:.1}; {:.1}% of programs have none",
                q.0,
                q.1,
                q.2,
                q.3,
                total as f64 / self.register_checks.len() as f64,
                percent(none, self.register_checks.len() as u64)
            );
        }
        let killed = self.kills.iter().filter(|&&k| k > 0).count() as u64;
        let kills: u64 = self.kills.iter().sum();
        let q = quantiles(&self.kills);
        let _ = writeln!(
            out,
            "programs reaching a kill on a last reference (`#I kill #J`): {:.1}%; kills: {kills} in all, {:.2} a program (per program: median {}, p90 {}, max {})",
            percent(killed, n),
            kills as f64 / n.max(1) as f64,
            q.1,
            q.2,
            q.3
        );
        if self.fatal > 0 {
            let _ = writeln!(
                out,
                "programs with a fatal finding on the oracle (not measured): {}",
                self.fatal
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::trace::Trace;

    #[test]
    fn suspended_count_follows_start_and_finish() {
        let t = Trace::from_text(
            "#0 spawn #1\n#1 start 1\n#0 recv 10\n#1 recv 2\n#0 recv 11\n#1 caught E3\n#1 finish \"done\"\n#0 recv \"done\"\n#0 finish none\nend\n",
        );
        assert_eq!(max_suspended(&t.lines), 1);
    }

    #[test]
    fn measures_a_small_run() {
        let s = measure(1, 40, Profile::Default, 2);
        assert_eq!(s.trace_lengths.len() as u64 + s.fatal, 40);
        assert!(s.kinds["switch"] > 0);
        assert!(s.targets.iter().sum::<u64>() > 0);
        assert!(s.report().contains("statement kinds"));
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        {
            assert_eq!(s.register_checks.len(), 40);
            assert!(s.register_checks.iter().sum::<u64>() > 0);
            assert!(s.report().contains("register probe"));
        }
        assert!(s.report().contains("programs reaching a kill"));
    }
}

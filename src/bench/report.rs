//! `switchyard bench`'s outputs in words: the table (figures, then the goals of issue 12 as
//! measured ratios) and the JSON for tracking in CI.

use super::{show_ns, Measured, Report, Timing};
use serde_json::{json, Value};
use std::fmt::Write;

/// One goal of issue 12, as measured.
pub struct Goal {
    /// What is compared, in words.
    pub what: String,
    /// The measured ratio (or bytes, for the bookkeeping goal).
    pub value: f64,
    /// The limit it must not pass.
    pub limit: f64,
    /// The unit of `value` and `limit`: `×` or `B`.
    pub unit: &'static str,
}

impl Goal {
    /// Whether it is met.
    pub fn met(&self) -> bool {
        self.value <= self.limit
    }
}

fn rt_at(m: &Measured, depth: usize) -> Option<f64> {
    let rows = m.round_trip.as_ref().ok()?;
    rows.iter()
        .find(|r| r.depth == depth)
        .map(|r| r.time.median_ns)
}

/// The goals this run can judge (a goal whose figures were not measured is left out).
pub fn goals(report: &Report) -> Vec<Goal> {
    let mut goals = Vec::new();
    let peers = report.peers.as_ref();
    let mmap = report.backend("mmap");
    let ratio = |what: String, a: f64, b: f64, limit: f64| Goal {
        what,
        value: a / b,
        limit,
        unit: "×",
    };
    if let (Some(m), Some(c)) = (mmap, peers.and_then(|p| p.corosensei_round_trip)) {
        if let Some(rt) = rt_at(m, 0) {
            goals.push(ratio(
                "mmap round trip / corosensei resume+suspend".into(),
                rt,
                c.median_ns,
                1.5,
            ));
        }
    }
    if let Some(p) = peers {
        let raw = p.raw_switch.iter().find(|(name, _)| *name == "mmap");
        if let (Some((_, Ok(raw))), Some(c)) = (raw, p.corosensei_round_trip) {
            goals.push(ratio(
                "mmap backend switch alone / corosensei resume+suspend".into(),
                raw.median_ns,
                c.median_ns,
                1.5,
            ));
        }
    }
    if let (Some(sc), Some(m), Some(p)) = (report.backend("stack-copy"), mmap, peers) {
        for row in sc.round_trip.iter().flatten() {
            let bytes = row.copied().round() as usize;
            let copy = p
                .memcpy
                .iter()
                .find(|(n, _)| *n == bytes)
                .map_or(Some(0.0), |(_, t)| Some(t.median_ns));
            let mmap_rt = rt_at(m, row.depth).or_else(|| rt_at(m, 0));
            if let (Some(copy), Some(mmap_rt)) = (copy, mmap_rt) {
                goals.push(ratio(
                    format!(
                        "stack-copy round trip at {} KiB / (mmap round trip + memcpy of its {bytes} B)",
                        row.depth >> 10
                    ),
                    row.time.median_ns,
                    mmap_rt + copy,
                    1.5,
                ));
            }
        }
    }
    if let Some(Some(Ok(offsets))) = report.backend("stack-copy").map(|m| &m.page_offsets) {
        let worst = offsets.iter().copied().fold(f64::MIN, f64::max);
        let best = offsets.iter().copied().fold(f64::MAX, f64::min);
        goals.push(ratio(
            "stack-copy 4 KiB round trip, worst / best of 8 page offsets".into(),
            worst,
            best,
            1.5,
        ));
    }
    if let (Some(t), Some(raw)) = (
        report.backend("thread"),
        peers.and_then(|p| p.thread_round_trip),
    ) {
        if let Some(rt) = rt_at(t, 0) {
            goals.push(ratio(
                "thread round trip / raw Mutex+Condvar ping-pong".into(),
                rt,
                raw.median_ns,
                1.5,
            ));
        }
    }
    if let (Some(u), Some(Some(Ok(raw)))) = (
        report.backend("ucontext"),
        peers.map(|p| &p.swapcontext_round_trip),
    ) {
        if let Some(rt) = rt_at(u, 0) {
            goals.push(ratio(
                "ucontext round trip / raw swapcontext ping-pong".into(),
                rt,
                raw.median_ns,
                1.1,
            ));
        }
    }
    if let Some(c) = peers.and_then(|p| p.corosensei_spawn_reused_stack) {
        for m in report.backends.iter().filter(|m| m.backend != "thread") {
            if let Ok(s) = &m.spawn_to_finish {
                goals.push(ratio(
                    format!(
                        "{} spawn to finish / corosensei's on a reused stack",
                        m.backend
                    ),
                    s.median_ns,
                    c.median_ns,
                    2.0,
                ));
            }
        }
    }
    if let Some(Some(Ok(mem))) = report.backend("stack-copy").map(|m| &m.memory) {
        goals.push(Goal {
            what: "stack-copy bytes per suspended greenlet beyond its saved stack".into(),
            value: mem.bookkeeping(),
            limit: 128.0,
            unit: "B",
        });
    }
    goals
}

fn cell(t: &Result<Timing, String>) -> String {
    match t {
        Ok(t) => t.show(),
        Err(_) => "failed".into(),
    }
}

/// The table: every figure, then the goals.
pub fn table(report: &Report) -> String {
    let mut s = String::new();
    let load = |l: Option<f64>| l.map_or("?".to_string(), |l| format!("{l:.2}"));
    let _ = writeln!(
        s,
        "switchyard bench: {} cores, load average {} before, {} after; {:.0} s; every time is \
         the median of {} samples (fastest in brackets)",
        report.cores,
        load(report.load_before),
        load(report.load_after),
        report.seconds,
        report.plan.iterations.map_or(report.plan.samples, |_| 1),
    );
    let _ = writeln!(
        s,
        "\nRound trip (main -> greenlet -> main) by the depth the greenlet switches from below \
         its start; copied: stack-copy's bytes per round trip (saved + restored)"
    );
    let _ = write!(s, "{:<14}", "backend");
    for d in &report.plan.depths {
        let _ = write!(s, "{:>18}", format!("{} KiB", d >> 10));
    }
    let _ = writeln!(s);
    let mut errors = Vec::new();
    for m in &report.backends {
        let _ = write!(s, "{:<14}", m.backend);
        match &m.round_trip {
            Ok(rows) => {
                for r in rows {
                    let _ = write!(
                        s,
                        "{:>18}",
                        format!("{} [{}]", r.time.show(), show_ns(r.time.min_ns))
                    );
                }
                let _ = writeln!(s);
                if rows.iter().any(|r| r.copied() > 0.0) {
                    let _ = write!(s, "{:<14}", "  copied");
                    for r in rows {
                        let _ = write!(s, "{:>18}", format!("{:.0} B", r.copied()));
                    }
                    let _ = writeln!(s);
                }
            }
            Err(e) => {
                let _ = writeln!(s, "  failed");
                errors.push(format!("{}: round trip: {e}", m.backend));
            }
        }
    }
    let _ = writeln!(
        s,
        "\n{:<14}{:>16}{:>14}{:>14}{:>14}{:>14}{:>14}{:>12}",
        "backend",
        "spawn->finish",
        "memory/susp.",
        "heap",
        "page tables",
        "saved stack",
        "bookkeeping",
        "4K offsets"
    );
    for m in &report.backends {
        if let Err(e) = &m.spawn_to_finish {
            errors.push(format!("{}: spawn to finish: {e}", m.backend));
        }
        let (rss, heap, pte, saved, books) = match &m.memory {
            Some(Ok(mem)) => (
                format!("{:.0} B", mem.rss),
                mem.heap.map_or_else(|| "-".into(), |h| format!("{h:.0} B")),
                format!("{:.0} B", mem.page_tables),
                format!("{:.0} B", mem.saved),
                format!("{:.0} B", mem.bookkeeping()),
            ),
            Some(Err(e)) => {
                errors.push(format!("{}: memory: {e}", m.backend));
                ("failed".into(), "".into(), "".into(), "".into(), "".into())
            }
            None => ("-".into(), "-".into(), "-".into(), "-".into(), "-".into()),
        };
        let offsets = match &m.page_offsets {
            Some(Ok(v)) if !v.is_empty() => {
                let worst = v.iter().copied().fold(f64::MIN, f64::max);
                let best = v.iter().copied().fold(f64::MAX, f64::min);
                format!("{:.2}", worst / best)
            }
            Some(Err(e)) => {
                errors.push(format!("{}: page offsets: {e}", m.backend));
                "failed".into()
            }
            _ => "-".into(),
        };
        let _ = writeln!(
            s,
            "{:<14}{:>16}{:>14}{:>14}{:>14}{:>14}{:>14}{:>12}",
            m.backend,
            cell(&m.spawn_to_finish),
            rss,
            heap,
            pte,
            saved,
            books,
            offsets
        );
    }
    if let Some(p) = &report.peers {
        let _ = writeln!(s, "\nPeers, same run:");
        let mut peer = |what: &str, t: Option<Result<Timing, String>>| match t {
            Some(Ok(t)) => {
                let _ = writeln!(s, "  {what:<52}{:>12}", t.show());
            }
            Some(Err(e)) => {
                let _ = writeln!(s, "  {what:<52}{:>12}", "failed");
                errors.push(format!("{what}: {e}"));
            }
            None => {}
        };
        peer(
            "corosensei resume + suspend",
            p.corosensei_round_trip.map(Ok),
        );
        peer(
            "corosensei spawn to finish, new stack",
            p.corosensei_spawn_new_stack.map(Ok),
        );
        peer(
            "corosensei spawn to finish, reused stack",
            p.corosensei_spawn_reused_stack.map(Ok),
        );
        for (name, t) in &p.raw_switch {
            peer(
                &format!("{name} backend switch alone (StackSwitch::switch, no runtime)"),
                Some(t.clone()),
            );
        }
        peer(
            "raw swapcontext ping-pong round trip",
            p.swapcontext_round_trip.clone(),
        );
        peer(
            "raw Mutex+Condvar two-thread ping-pong round trip",
            p.thread_round_trip.map(Ok),
        );
        for (n, t) in &p.memcpy {
            peer(&format!("hot memcpy of {n} B"), Some(Ok(*t)));
        }
        if p.corosensei_round_trip.is_none() {
            let _ = writeln!(s, "  (corosensei: not built; feature `peers` is off)");
        }
    }
    let goals = goals(report);
    if !goals.is_empty() {
        let _ = writeln!(s, "\nGoals (issue 12), measured in this run:");
        for g in &goals {
            let _ = writeln!(
                s,
                "  {:<84}{:>8}  <= {}{}  {}",
                g.what,
                if g.unit == "B" {
                    format!("{:.0} B", g.value)
                } else {
                    format!("{:.2}×", g.value)
                },
                g.limit,
                g.unit,
                if g.met() { "met" } else { "NOT met" }
            );
        }
    }
    for e in errors {
        let _ = writeln!(s, "error: {e}");
    }
    s
}

fn timing(t: &Timing) -> Value {
    json!({
        "median_ns": t.median_ns,
        "min_ns": t.min_ns,
        "iterations": t.iterations,
        "samples": t.samples,
    })
}

fn result<T>(r: &Result<T, String>, f: impl Fn(&T) -> Value) -> Value {
    match r {
        Ok(v) => f(v),
        Err(e) => json!({ "error": e }),
    }
}

/// The JSON document: every figure and goal, in ns and bytes.
pub fn json(report: &Report) -> Value {
    let backends: Vec<Value> = report
        .backends
        .iter()
        .map(|m| {
            json!({
                "name": m.backend,
                "round_trip": result(&m.round_trip, |rows| {
                    Value::Array(rows.iter().map(|r| json!({
                        "depth_bytes": r.depth,
                        "time": timing(&r.time),
                        "saved_bytes": r.saved,
                        "restored_bytes": r.restored,
                    })).collect())
                }),
                "page_offsets_ns": m.page_offsets.as_ref().map(|r| result(r, |v| json!(v))),
                "spawn_to_finish": result(&m.spawn_to_finish, timing),
                "memory": m.memory.as_ref().map(|r| result(r, |mem| json!({
                    "greenlets": mem.greenlets,
                    "rss_bytes": mem.rss,
                    "heap_bytes": mem.heap,
                    "page_table_bytes": mem.page_tables,
                    "saved_bytes": mem.saved,
                    "bookkeeping_bytes": mem.bookkeeping(),
                }))),
            })
        })
        .collect();
    let peers = report.peers.as_ref().map(|p| {
        json!({
            "corosensei_round_trip": p.corosensei_round_trip.as_ref().map(timing),
            "corosensei_spawn_new_stack": p.corosensei_spawn_new_stack.as_ref().map(timing),
            "corosensei_spawn_reused_stack": p.corosensei_spawn_reused_stack.as_ref().map(timing),
            "raw_switch": p.raw_switch.iter().map(|(name, r)| json!({"backend": name, "time": result(r, timing)})).collect::<Vec<_>>(),
            "swapcontext_round_trip": p.swapcontext_round_trip.as_ref().map(|r| result(r, timing)),
            "thread_round_trip": p.thread_round_trip.as_ref().map(timing),
            "memcpy": p.memcpy.iter().map(|(n, t)| json!({"bytes": n, "time": timing(t)})).collect::<Vec<_>>(),
        })
    });
    let goals: Vec<Value> = goals(report)
        .iter()
        .map(|g| {
            json!({
                "what": g.what,
                "value": g.value,
                "limit": g.limit,
                "unit": g.unit,
                "met": g.met(),
            })
        })
        .collect();
    json!({
        "cores": report.cores,
        "load_average_before": report.load_before,
        "load_average_after": report.load_after,
        "seconds": report.seconds,
        "samples": report.plan.samples,
        "fixed_iterations": report.plan.iterations,
        "backends": backends,
        "peers": peers,
        "goals": goals,
    })
}

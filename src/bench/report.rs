//! `switchyard bench`'s outputs in words: the table (figures, then the goals of issue 12 as
//! measured ratios) and the JSON for tracking in CI.

use super::{show_ns, Report, Timing};
use serde_json::{json, Value};
use std::fmt::Write;

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
            Some(Ok(v)) if !v.is_empty() => format!("{:.2}", super::goals::spread(v)),
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
    if !report.goals.is_empty() {
        let paired = report.goals.iter().any(|g| g.rounds.is_some());
        let _ = writeln!(
            s,
            "\nGoals (issue 12), measured in this run{}:",
            if paired {
                "; each timed goal's figures measured again in alternating rounds: the median \
                 round's ratio (the page offsets: the spread of their medians) [lowest-highest \
                 round]"
            } else {
                ", from the medians above"
            }
        );
        for g in &report.goals {
            let value = if g.unit == "B" {
                format!("{:.0} B", g.value)
            } else {
                format!("{:.2}×", g.value)
            };
            let spread = g
                .rounds
                .as_ref()
                .map_or(String::new(), |r| format!("[{:.2}-{:.2}]", r.low, r.high));
            let _ = writeln!(
                s,
                "  {:<84}{:>8} {:>12}  <= {}{}  {}",
                g.what,
                value,
                spread,
                g.limit,
                g.unit,
                if g.met() { "met" } else { "NOT met" }
            );
            if let Some(e) = &g.error {
                errors.push(format!(
                    "goal {}: the paired measurement failed (the value is the table's): {e}",
                    g.what
                ));
            }
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
    let goals: Vec<Value> = report
        .goals
        .iter()
        .map(|g| {
            json!({
                "what": g.what,
                "value": g.value,
                "limit": g.limit,
                "unit": g.unit,
                "met": g.met(),
                "rounds": g.rounds.as_ref().map(|r| json!({
                    "count": r.count,
                    "low": r.low,
                    "high": r.high,
                    "values": r.values,
                })),
                "error": g.error,
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

//! Scale: many greenlets suspended at once, then all finished, on each native backend
//! (100,000; stack-copy 1,000,000), and the process's memory returns near where it started.
//! Where a system limit stops a backend first (each mmap'd stack takes two memory mappings
//! and `vm.max_map_count` is usually 65,530), the backend must say so in a clear error rather
//! than crash.

#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use switchyard::interp::RtValue;
use switchyard_impls::greenlet::{Hub, HubConfig};
use switchyard_impls::mmap::Mmap;
use switchyard_impls::runtime::{Runtime, SharedStack, SharedStackContract, StableStacks};
use switchyard_impls::stack_copy::StackCopy;
use switchyard_impls::ucontext::Ucontext;

/// This test's promise for its stack-copy hub.
struct ScaleKeepsStacksPrivate;

// SAFETY: the greenlets here pass only owned values; nothing keeps a pointer into a
// suspended greenlet's stack.
unsafe impl SharedStackContract for ScaleKeepsStacksPrivate {}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// Spawns up to `n` greenlets, starts each (it suspends back to main at once), then finishes
/// them all. Returns how many were suspended at once and the error that stopped spawning, if
/// any.
fn suspend_then_finish<S: StableStacks>(n: usize) -> (usize, Option<String>) {
    let hub = Runtime::<S, RtValue>::new(&HubConfig::default()).unwrap();
    let main = hub.main();
    let mut suspended = Vec::with_capacity(n);
    let mut stopped = None;
    for i in 0..n {
        let to_main = main.clone();
        let body = Box::new(move |h: &Runtime<S, RtValue>, _| {
            let got = h.switch(to_main.clone(), RtValue::Int(i as i64))?;
            Ok(got)
        });
        match hub.spawn(body, None) {
            Ok(g) => {
                assert_eq!(
                    hub.switch(g.clone(), RtValue::None),
                    Ok(RtValue::Int(i as i64))
                );
                suspended.push(g);
            }
            Err(e) => {
                stopped = Some(e.to_string());
                break;
            }
        }
    }
    let count = suspended.len();
    for g in &suspended {
        assert_eq!(
            hub.switch(g.clone(), RtValue::Int(-1)),
            Ok(RtValue::Int(-1))
        );
    }
    drop(suspended);
    drop(hub);
    (count, stopped)
}

fn check<S: StableStacks>(name: &str, n: usize, slack_kib: u64) {
    // A warm-up round, so that one-off allocations (thread-locals, pools) are not counted.
    suspend_then_finish::<S>(1000);
    let before = rss_kib();
    let (count, stopped) = suspend_then_finish::<S>(n);
    let after = rss_kib();
    match &stopped {
        None => assert_eq!(count, n),
        Some(message) => {
            assert!(
                message.contains("vm.max_map_count"),
                "{name}: spawning stopped after {count} greenlets without naming the limit: {message}"
            );
            assert!(
                count >= 10_000,
                "{name}: only {count} greenlets before the limit"
            );
        }
    }
    eprintln!(
        "{name}: {count} greenlets suspended at once{}; VmRSS {before} KiB before, {after} KiB after",
        stopped.map(|m| format!(" (stopped by: {m})")).unwrap_or_default()
    );
    assert!(
        after <= before + slack_kib,
        "{name}: VmRSS grew from {before} KiB to {after} KiB"
    );
}

/// One test, so that nothing else runs in this process while memory is measured.
#[test]
fn many_suspended_greenlets_then_memory_returns() {
    check::<SharedStack<StackCopy, ScaleKeepsStacksPrivate>>("stack-copy", 1_000_000, 16 * 1024);
    check::<Mmap>("mmap", 100_000, 16 * 1024);
    check::<Ucontext>("ucontext", 100_000, 16 * 1024);
}

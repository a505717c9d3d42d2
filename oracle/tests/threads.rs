//! Thread hygiene: thousands of hubs with suspended greenlets leave no threads behind.

mod common;

use std::time::{Duration, Instant};

use common::*;
use switchyard_greenlet::Hub;

fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn five_thousand_hubs_leak_no_threads() {
    let t = Instant::now();
    let mut peak = 0;
    let base = threads();
    for i in 0..5000 {
        let hub = hub();
        let mut keep = Vec::new();
        for j in 0..4 {
            let g = hub
                .spawn(
                    body(move |h, _| {
                        // One resists its kill (caught exit, switches back) to exercise release.
                        loop {
                            let r = h.switch(h.main(), Val::Int(j));
                            if j != 3 {
                                r?;
                            }
                        }
                    }),
                    None,
                )
                .unwrap();
            if j < 3 {
                hub.switch(g.clone(), Val::None).unwrap();
            }
            keep.push(g);
        }
        if i % 2 == 0 {
            drop(keep);
            drop(hub);
        } else {
            drop(hub);
            drop(keep);
        }
        if i % 500 == 0 {
            peak = peak.max(threads());
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    let after = threads();
    eprintln!(
        "threads: base {base}, peak {peak}, after {after}, idle {}, {:?}",
        switchyard_oracle::pool::idle_workers(),
        t.elapsed()
    );
    assert!(after <= base + switchyard_oracle::pool::MAX_IDLE, "{after}");
    assert!(
        peak <= base + switchyard_oracle::pool::MAX_IDLE + 8,
        "{peak}"
    );
}

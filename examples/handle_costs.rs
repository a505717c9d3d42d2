//! `handle_costs [N]`: what the greenlet trait's handle costs on this machine before any
//! switch, beside corosensei's spawn to finish on a reused stack (issue 12's spawn goal is 2×
//! that). A `Hub::Greenlet` is `Clone + Send` and counts as a reference (the last one gone
//! kills its greenlet), and a greenlet's parent link is a reference too, so a spawn to finish
//! makes at least: one shared, atomically counted allocation (the handle), a weak reference
//! the hub keeps to it (to hand out equal handles: `getcurrent`, `parent`), a clone of the
//! parent's handle, and their drops. This times exactly that with `std::sync::Arc`, as the
//! runtime does, plus a 16-byte box and its free, in N iterations (default 2,000,000), best
//! of 7; the runtime's own spawn does all of it and the two switches, the record and the stack.

use std::hint::black_box;
use std::sync::{Arc, Weak};
use std::time::Instant;

/// The size of the runtime's token (slot and hub serial).
struct Token {
    _slot: u32,
    _hub: u32,
}

fn best_of_7<F: FnMut()>(name: &str, n: u64, mut f: F) {
    let mut best = f64::MAX;
    for _ in 0..7 {
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        best = best.min(start.elapsed().as_nanos() as f64 / n as f64);
    }
    println!("{name:64} {best:7.2} ns");
}

fn main() {
    let n = std::env::args()
        .nth(1)
        .map(|a| match a.parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("usage: handle_costs [N]   (N > 0 iterations per figure)");
                std::process::exit(2);
            }
        })
        .unwrap_or(2_000_000);
    let parent = Arc::new(Token { _slot: 0, _hub: 1 });
    best_of_7(
        "Arc::new(token) and its drop (malloc 24 B, free)",
        n,
        || {
            black_box(Arc::new(black_box(Token { _slot: 1, _hub: 2 })));
        },
    );
    best_of_7(
        "Arc clone and drop (two atomic read-modify-writes)",
        n,
        || {
            black_box(parent.clone());
        },
    );
    best_of_7(
        "Arc::downgrade and the Weak's drop (two atomic RMWs)",
        n,
        || {
            let weak: Weak<Token> = Arc::downgrade(black_box(&parent));
            black_box(weak);
        },
    );
    best_of_7(
        "a handle's life: new, downgrade, parent clone, all dropped",
        n,
        || {
            let handle = Arc::new(black_box(Token { _slot: 1, _hub: 2 }));
            let weak = Arc::downgrade(&handle);
            let parent_link = parent.clone();
            black_box((&handle, &weak, &parent_link));
            drop(parent_link);
            drop(handle);
            drop(weak);
        },
    );
    best_of_7(
        "Box::new(16 bytes) and its drop (malloc 16 B, free)",
        n,
        || {
            black_box(Box::new(black_box([0u64; 2])));
        },
    );
    #[cfg(feature = "peers")]
    {
        // As `switchyard bench` times it (`bench/peers.rs`).
        use corosensei::stack::DefaultStack;
        use corosensei::{Coroutine, Yielder};
        let mut stack = Some(DefaultStack::default());
        best_of_7("corosensei spawn to finish on a reused stack", n, || {
            let s = stack.take().unwrap_or_default();
            let mut co = Coroutine::with_stack(s, |_: &Yielder<u64, ()>, v: u64| v + 1);
            black_box(co.resume(3));
            stack = Some(co.into_stack());
        });
    }
}

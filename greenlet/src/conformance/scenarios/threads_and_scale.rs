//! Threads, stacks and scale: handles across threads, hubs side by side, deep recursion, big
//! frames, many greenlets. Listed in `conformance_tests!`; the quoted Python experiments were run
//! on CPython greenlet 3.5.6.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::{body, s, Setup, Val};
use crate::{Body, Hub, State};

/// Handles are `Send`, equal exactly when they are the same greenlet, and a hub made on
/// another thread has another main; a handle dropped on another thread kills nothing.
pub fn handles_are_send_and_compare_by_identity<H: Hub<Val> + 'static>(setup: &Setup) {
    fn is_send<T: Send + 'static>(_: &T) {}
    let hub = setup.hub::<H>();
    let g = hub.spawn(body(|_: &H, _| Ok(Val::None)), None).unwrap();
    is_send(&g);
    let g2 = g.clone();
    assert_eq!(g, g2);
    let other = hub.spawn(body(|_, _| Ok(Val::None)), None).unwrap();
    assert_ne!(g, other);
    assert_ne!(g, hub.main());
    let s2 = setup.clone();
    let other_main = setup
        .spawn_thread(move || s2.hub::<H>().main())
        .join()
        .unwrap();
    assert_ne!(hub.main(), other_main);
    // Dropped on another thread: no kill from there (the handle is to an unstarted greenlet).
    setup.spawn_thread(move || drop(g2)).join().unwrap();
    assert_eq!(hub.state(&g), State::Unstarted);
    assert_eq!(hub.switch(g.clone(), Val::None), Ok(Val::None));
}

/// A switch from another thread's hub to this thread's greenlet panics (before anything is
/// switched or changed); dropping the handle there is harmless.
pub fn a_handle_used_on_another_thread_panics_and_changes_nothing<H: Hub<Val> + 'static>(
    setup: &Setup,
) {
    let h = setup.hub::<H>();
    let g = h.spawn(body(|_: &H, _| Ok(Val::None)), None).unwrap();
    let g2 = g.clone();
    let s2 = setup.clone();
    let r = setup
        .spawn_thread(move || {
            let other = s2.hub::<H>();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _ = other.switch(g2.clone(), Val::None);
            }));
            drop(g2); // dropping on the wrong thread is harmless
            r.map_err(|e| crate::panic_message(&*e))
        })
        .join()
        .unwrap();
    let msg = r.expect_err("a switch to another thread's greenlet must panic");
    assert!(!msg.is_empty());
    assert_eq!(h.state(&g), State::Unstarted);
    assert_eq!(h.switch(g.clone(), Val::Int(1)), Ok(Val::None));
}

/// Two threads, a hub each, switching 20,000 times at the same time.
pub fn hubs_on_two_threads_run_side_by_side<H: Hub<Val> + 'static>(setup: &Setup) {
    let ts: Vec<_> = (0..2)
        .map(|t| {
            let s2 = setup.clone();
            setup.spawn_thread(move || {
                let h = s2.hub::<H>();
                let m = h.main();
                let g = h
                    .spawn(
                        body(move |h: &H, _| {
                            let mut n = 0;
                            loop {
                                n += 1;
                                if let Val::Str(_) = h.switch(m.clone(), Val::Int(n))? {
                                    return Ok(Val::Int(n * 1000 + t));
                                }
                            }
                        }),
                        None,
                    )
                    .unwrap();
                for i in 1..=20_000 {
                    assert_eq!(h.switch(g.clone(), Val::None), Ok(Val::Int(i)));
                }
                h.switch(g.clone(), s("stop")).unwrap()
            })
        })
        .collect();
    for (t, j) in ts.into_iter().enumerate() {
        assert_eq!(j.join().unwrap(), Val::Int(20_000 * 1000 + t as i64));
    }
}

/// 8,000 nested calls with a 512-byte frame each.
pub fn deep_recursion_fits_in_the_default_stack<H: Hub<Val> + 'static>(setup: &Setup) {
    fn recurse(n: usize) -> usize {
        let buf = [n as u8; 512];
        if n == 0 {
            buf.len()
        } else {
            let below = recurse(n - 1);
            // Keep the frame's buffer alive across the call (and check it survived).
            assert_eq!(std::hint::black_box(buf)[n % 512], n as u8);
            below
        }
    }
    let hub = setup.hub::<H>();
    let g = hub
        .spawn(body(|_: &H, _| Ok(Val::Int(recurse(8_000) as i64))), None)
        .unwrap();
    assert_eq!(hub.switch(g.clone(), Val::None), Ok(Val::Int(512)));
}

#[inline(never)]
fn deep(h_switch: &dyn Fn(i64), depth: usize, max: usize) -> u64 {
    let mut frame = [0u8; 100_000];
    for (i, b) in frame.iter_mut().enumerate() {
        *b = (i ^ depth) as u8;
    }
    std::hint::black_box(&mut frame);
    h_switch(depth as i64);
    let below = if depth < max {
        deep(h_switch, depth + 1, max)
    } else {
        0
    };
    h_switch(-(depth as i64));
    for (i, b) in frame.iter().enumerate() {
        assert_eq!(*b, (i ^ depth) as u8, "stack corrupted at depth {depth}");
    }
    below + frame.iter().map(|&b| b as u64).sum::<u64>()
}

/// Two greenlets each recurse 120 frames of 100 kB (12 MB, in a 16 MiB default stack),
/// switching to main at every level on the way down and up, interleaved: every frame's bytes
/// survive.
pub fn big_frames_survive_interleaved_switches<H: Hub<Val> + 'static>(setup: &Setup) {
    let h = setup.hub::<H>();
    let m = h.main();
    let depth = 120;
    let mk = |m: H::Greenlet| -> Body<H, Val> {
        body(move |h: &H, _| {
            let sw = |d: i64| {
                assert_eq!(h.switch(m.clone(), Val::Int(d)), Ok(Val::None));
            };
            let sum = deep(&sw, 0, depth);
            Ok(Val::Int(sum as i64))
        })
    };
    let a = h.spawn(mk(m.clone()), None).unwrap();
    let b = h.spawn(mk(m.clone()), None).unwrap();
    let mut switches = 0;
    let result = loop {
        let ra = h.switch(a.clone(), Val::None).unwrap();
        let rb = h.switch(b.clone(), Val::None).unwrap();
        assert_eq!(ra, rb);
        switches += 1;
        if h.state(&a) == State::Dead {
            break ra;
        }
    };
    assert_eq!(h.state(&b), State::Dead);
    assert_eq!(switches, 2 * (depth + 1) + 1);
    assert!(matches!(result, Val::Int(n) if n > 0));
}

/// 64 greenlets, 11 rounds of switches, well under half a second.
pub fn sixty_four_greenlets_run_fast<H: Hub<Val> + 'static>(setup: &Setup) {
    let t = Instant::now();
    let hub = setup.hub::<H>();
    let mut gs = Vec::new();
    for i in 0..64 {
        let g = hub
            .spawn(
                body(move |h: &H, v| {
                    let mut acc = match v {
                        Some(Val::Int(n)) => n,
                        _ => 0,
                    };
                    for _ in 0..10 {
                        match h.switch(h.main(), Val::Int(acc))? {
                            Val::Int(n) => acc += n,
                            _ => unreachable!(),
                        }
                    }
                    Ok(Val::Int(acc + i))
                }),
                None,
            )
            .unwrap();
        gs.push(g);
    }
    for round in 0..11 {
        for g in &gs {
            let r = hub.switch(g.clone(), Val::Int(1)).unwrap();
            if round == 10 {
                assert_eq!(hub.state(g), State::Dead);
                assert!(matches!(r, Val::Int(n) if n >= 11));
            }
        }
    }
    drop(gs);
    drop(hub);
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
}

/// `n` greenlets suspended at once, then each resumed to the end. With `tolerate_limit`, a
/// spawn may fail after 10,000 greenlets (a system limit such as `vm.max_map_count`, shared
/// with the tests running alongside) if the backend says why.
fn many<H: Hub<Val> + 'static>(setup: &Setup, n: usize, tolerate_limit: bool) {
    let h = setup.hub::<H>();
    let finished = Arc::new(AtomicUsize::new(0));
    let mut gs = Vec::with_capacity(n);
    for i in 0..n {
        let m = h.main();
        let f = finished.clone();
        let g = match h.spawn(
            body(move |h: &H, v| {
                let r = h.switch(m.clone(), v.unwrap())?;
                f.fetch_add(1, Ordering::Relaxed);
                Ok(r)
            }),
            None,
        ) {
            Ok(g) => g,
            Err(e) if tolerate_limit => {
                assert!(!e.0.is_empty(), "a backend error without a reason");
                assert!(i >= 10_000, "only {i} greenlets: {e}");
                break;
            }
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            h.switch(g.clone(), Val::Int(i as i64)),
            Ok(Val::Int(i as i64))
        );
        gs.push(g);
    }
    let made = gs.len();
    for (i, g) in gs.iter().enumerate() {
        assert_eq!(
            h.switch(g.clone(), Val::Int(-(i as i64))),
            Ok(Val::Int(-(i as i64)))
        );
        assert_eq!(h.state(g), State::Dead);
    }
    assert_eq!(finished.load(Ordering::Relaxed), made);
}

pub fn ten_thousand_greenlets_can_be_suspended_at_once<H: Hub<Val> + 'static>(setup: &Setup) {
    many::<H>(setup, 10_000, false);
}

pub fn a_hundred_thousand_greenlets_can_be_suspended_or_the_limit_is_reported<
    H: Hub<Val> + 'static,
>(
    setup: &Setup,
) {
    many::<H>(setup, 100_000, true);
}

//! Greenlet semantics of the generic runtime, run on every native backend.

mod common;

use common::{body, hub, Err, Val, H};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use switchyard_impls::greenlet::{Hub, HubConfig, ParentError, State};
use switchyard_impls::runtime::Greenlet;
use switchyard_impls::switch::StackSwitch;

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn push(log: &Log, s: impl Into<String>) {
    log.lock().unwrap().push(s.into());
}

fn take(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

pub fn ping_pong<S: StackSwitch>() {
    let h = hub::<S>();
    let main = h.main();
    let m2 = main.clone();
    let g = h
        .spawn(
            body::<S>(move |h, start| {
                assert_eq!(start, Some(Val::Int(1)));
                let mut n = 1;
                loop {
                    match h.switch(&m2, Val::Int(n * 10))? {
                        Val::Int(k) => n = k,
                        Val::Str(s) => return Ok(Val::Str(s + "!")),
                        v => panic!("unexpected {v:?}"),
                    }
                }
            }),
            None,
        )
        .unwrap();
    assert_eq!(h.state(&g), State::Unstarted);
    assert_eq!(h.parent(&g), Some(main.clone()));
    assert_eq!(h.parent(&main), None);
    assert_eq!(h.current(), main);
    for i in 1..100 {
        assert_eq!(h.switch(&g, Val::Int(i)), Ok(Val::Int(i * 10)));
        assert_eq!(h.state(&g), State::Suspended);
    }
    assert_eq!(
        h.switch(&g, Val::Str("end".into())),
        Ok(Val::Str("end!".into()))
    );
    assert_eq!(h.state(&g), State::Dead);
    assert_eq!(h.state(&main), State::Running);
}

/// The example of program-language.md.
pub fn doc_example<S: StackSwitch>() {
    let h = hub::<S>();
    let l = log();
    let l2 = l.clone();
    let g0 = h
        .spawn(
            body::<S>(move |h, start| {
                push(&l2, format!("#1 start {start:?}"));
                let p = h.parent(&h.current()).unwrap();
                let r = h.switch(&p, Val::Int(10))?;
                push(&l2, format!("#1 recv {r:?}"));
                match h.switch(&h.main(), Val::Int(11)) {
                    Err(Err::E(3)) => {
                        push(&l2, "#1 caught E3");
                        Ok(Val::Str("done".into()))
                    }
                    other => panic!("{other:?}"),
                }
            }),
            None,
        )
        .unwrap();
    assert_eq!(h.switch(&g0, Val::Int(1)), Ok(Val::Int(10)));
    assert_eq!(h.switch(&g0, Val::Int(2)), Ok(Val::Int(11)));
    assert_eq!(h.throw(&g0, Err::E(3)), Ok(Val::Str("done".into())));
    assert_eq!(h.state(&g0), State::Dead);
    assert_eq!(
        take(&l),
        vec!["#1 start Some(Int(1))", "#1 recv Int(2)", "#1 caught E3"]
    );
}

/// A body returning to an unstarted parent starts it with the value; an uncaught error
/// reaching an unstarted parent kills it and goes on up.
pub fn return_to_unstarted_parent<S: StackSwitch>() {
    let h = hub::<S>();
    let l = log();
    let l2 = l.clone();
    let p = h
        .spawn(
            body::<S>(move |_, start| {
                push(&l2, format!("p start {start:?}"));
                Ok(Val::Int(7))
            }),
            None,
        )
        .unwrap();
    let c = h
        .spawn(body::<S>(|_, _| Ok(Val::Int(5))), Some(&p))
        .unwrap();
    // c returns 5 to unstarted p, which starts with 5 and returns 7 to main.
    assert_eq!(h.switch(&c, Val::None), Ok(Val::Int(7)));
    assert_eq!(take(&l), vec!["p start Some(Int(5))"]);

    // Error into unstarted parent: parent dies unrun, error reaches main.
    let l3 = l.clone();
    let p = h
        .spawn(
            body::<S>(move |_, _| {
                push(&l3, "never");
                Ok(Val::None)
            }),
            None,
        )
        .unwrap();
    let c = h.spawn(body::<S>(|_, _| Err(Err::E(4))), Some(&p)).unwrap();
    assert_eq!(h.switch(&c, Val::None), Err(Err::E(4)));
    assert_eq!(h.state(&p), State::Dead);
    assert_eq!(take(&l), Vec::<String>::new());
}

/// An uncaught GreenletExit becomes a value; reaching an unstarted greenlet it starts it with
/// no value at all.
pub fn exit_value_quirk<S: StackSwitch>() {
    let h = hub::<S>();
    let c = h.spawn(body::<S>(|_, _| Err(Err::Exit)), None).unwrap();
    assert_eq!(h.switch(&c, Val::None), Ok(Val::Exit));
    let l = log();
    let l2 = l.clone();
    let p = h
        .spawn(
            body::<S>(move |_, start| {
                push(&l2, format!("p start {start:?}"));
                Ok(Val::Int(1))
            }),
            None,
        )
        .unwrap();
    let c = h.spawn(body::<S>(|_, _| Err(Err::Exit)), Some(&p)).unwrap();
    assert_eq!(h.switch(&c, Val::None), Ok(Val::Int(1)));
    assert_eq!(take(&l), vec!["p start None"]);
}

/// Throw into an unstarted greenlet kills it unrun; the error goes to its parent (GreenletExit
/// as a value).
pub fn throw_unstarted<S: StackSwitch>() {
    let h = hub::<S>();
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    let g = h
        .spawn(
            body::<S>(move |_, _| {
                r2.store(true, Ordering::SeqCst);
                Ok(Val::None)
            }),
            None,
        )
        .unwrap();
    assert_eq!(h.throw(&g, Err::E(1)), Err(Err::E(1)));
    assert_eq!(h.state(&g), State::Dead);
    let r3 = ran.clone();
    let g = h
        .spawn(
            body::<S>(move |_, _| {
                r3.store(true, Ordering::SeqCst);
                Ok(Val::None)
            }),
            None,
        )
        .unwrap();
    assert_eq!(h.throw(&g, Err::Exit), Ok(Val::Exit));
    assert!(!ran.load(Ordering::SeqCst));

    // Parent suspended: the error is raised at its suspension point.
    let m = h.main();
    let p = h
        .spawn(
            body::<S>(move |h, _| {
                let child = h.spawn(body::<S>(|_, _| Ok(Val::None)), None).unwrap();
                let r = h.switch(&m, Val::Str("child ready".into()));
                assert_eq!(h.state(&child), State::Unstarted);
                drop(child);
                match r {
                    Err(Err::E(9)) => Ok(Val::Str("parent caught".into())),
                    other => panic!("{other:?}"),
                }
            }),
            None,
        )
        .unwrap();
    assert_eq!(h.switch(&p, Val::None), Ok(Val::Str("child ready".into())));
}

/// Throw into a suspended greenlet raises at its suspension point.
pub fn throw_suspended<S: StackSwitch>() {
    let h = hub::<S>();
    let m = h.main();
    let g = h
        .spawn(
            body::<S>(move |h, _| match h.switch(&m, Val::Int(1)) {
                Err(Err::E(2)) => Err(Err::E(5)),
                other => panic!("{other:?}"),
            }),
            None,
        )
        .unwrap();
    assert_eq!(h.switch(&g, Val::None), Ok(Val::Int(1)));
    assert_eq!(h.throw(&g, Err::E(2)), Err(Err::E(5)));
    assert_eq!(h.state(&g), State::Dead);
}

/// Throw into / switch to a dead greenlet walks up its parent chain.
pub fn dead_targets<S: StackSwitch>() {
    let h = hub::<S>();
    let m = h.main();
    // p suspended (child of main), g dead child of p.
    let m2 = m.clone();
    let p = h
        .spawn(
            body::<S>(move |h, _| {
                let mut got = vec![];
                loop {
                    match h.switch(&m2, Val::Int(got.len() as i64)) {
                        Ok(v) => got.push(format!("{v:?}")),
                        Err(e) => got.push(format!("err {e:?}")),
                    }
                    if got.len() == 3 {
                        return Ok(Val::Str(got.join(",")));
                    }
                }
            }),
            None,
        )
        .unwrap();
    assert_eq!(h.switch(&p, Val::None), Ok(Val::Int(0)));
    let g = h.spawn(body::<S>(|_, _| Ok(Val::None)), Some(&p)).unwrap();
    // g starts, returns None to p, p (suspended) receives it and switches back to main.
    assert_eq!(h.switch(&g, Val::None), Ok(Val::Int(1)));
    assert_eq!(h.state(&g), State::Dead);
    // Switch to dead g -> p gets 42.
    assert_eq!(h.switch(&g, Val::Int(42)), Ok(Val::Int(2)));
    // Throw exit into dead g -> p gets the exit value.
    assert_eq!(
        h.throw(&g, Err::Exit),
        Ok(Val::Str("None,Int(42),Exit".into()))
    );
    // Everything dead up to main: a switch to g comes straight back.
    assert_eq!(h.switch(&g, Val::Int(3)), Ok(Val::Int(3)));
    assert_eq!(h.throw(&g, Err::E(1)), Err(Err::E(1)));
    assert_eq!(h.throw(&g, Err::Exit), Ok(Val::Exit));

    // Dead greenlet whose first live ancestor is unstarted: error kills it and goes on.
    let q = h
        .spawn(body::<S>(|_, _| panic!("must not run")), None)
        .unwrap();
    let d = h.spawn(body::<S>(|_, _| Ok(Val::None)), Some(&q)).unwrap();
    h.set_parent(&d, &m).unwrap();
    assert_eq!(h.switch(&d, Val::None), Ok(Val::None));
    h.set_parent(&d, &q).unwrap();
    assert_eq!(h.throw(&d, Err::E(7)), Err(Err::E(7)));
    assert_eq!(h.state(&q), State::Dead);
    // ... and a value (exit) starts it with no value.
    let l = log();
    let l2 = l.clone();
    let q = h
        .spawn(
            body::<S>(move |_, s| {
                push(&l2, format!("{s:?}"));
                Ok(Val::Int(8))
            }),
            None,
        )
        .unwrap();
    h.set_parent(&d, &q).unwrap();
    assert_eq!(h.throw(&d, Err::Exit), Ok(Val::Int(8)));
    assert_eq!(take(&l), vec!["None"]);
}

/// switch / throw to the current greenlet return at once.
pub fn to_current<S: StackSwitch>() {
    let h = hub::<S>();
    let m = h.main();
    assert_eq!(h.switch(&m, Val::Int(1)), Ok(Val::Int(1)));
    assert_eq!(h.throw(&m, Err::E(1)), Err(Err::E(1)));
    assert_eq!(h.throw(&m, Err::Exit), Err(Err::Exit));
    let g = h
        .spawn(
            body::<S>(|h, _| {
                let me = h.current();
                assert_eq!(h.state(&me), State::Running);
                assert_eq!(h.switch(&me, Val::Int(2)), Ok(Val::Int(2)));
                assert_eq!(h.throw(&me, Err::E(3)), Err(Err::E(3)));
                Ok(Val::Int(4))
            }),
            None,
        )
        .unwrap();
    assert_eq!(h.switch(&g, Val::None), Ok(Val::Int(4)));
}

pub fn set_parent_rules<S: StackSwitch>() {
    let h = hub::<S>();
    let m = h.main();
    let a = h.spawn(body::<S>(|_, _| Ok(Val::None)), None).unwrap();
    let b = h.spawn(body::<S>(|_, _| Ok(Val::None)), Some(&a)).unwrap();
    assert_eq!(h.set_parent(&m, &a), Err(ParentError::Main));
    assert_eq!(h.set_parent(&a, &a), Err(ParentError::Cycle));
    assert_eq!(h.set_parent(&a, &b), Err(ParentError::Cycle));
    assert_eq!(h.parent(&a), Some(m.clone()));
    assert_eq!(h.set_parent(&b, &m), Ok(()));
    assert_eq!(h.set_parent(&a, &b), Ok(()));
    assert_eq!(h.parent(&a), Some(b.clone()));
    // a returns to b (unstarted) which starts with a's value and returns to main.
    assert_eq!(h.switch(&a, Val::None), Ok(Val::None));
    assert_eq!(h.state(&b), State::Dead);
}

pub fn panics_caught<S: StackSwitch>() {
    let h = hub::<S>();
    let g = h
        .spawn(body::<S>(|_, _| panic!("boom {}", 42)), None)
        .unwrap();
    assert_eq!(h.switch(&g, Val::None), Err(Err::Panic("boom 42".into())));
    assert_eq!(h.state(&g), State::Dead);
    // A panic deep in a chain goes to the parent's suspension point.
    let m = h.main();
    let p = h
        .spawn(
            body::<S>(move |h, _| {
                let c = h.spawn(body::<S>(|_, _| panic!("inner")), None).unwrap();
                let r = h.switch(&c, Val::None);
                h.switch(&m, Val::Str(format!("{r:?}")))
            }),
            None,
        )
        .unwrap();
    assert_eq!(
        h.switch(&p, Val::None),
        Ok(Val::Str("Err(Panic(\"inner\"))".into()))
    );
}

/// Dropping the last handle to a suspended greenlet kills it (GreenletExit, parent := current).
pub fn kill_on_drop<S: StackSwitch>() {
    let h = hub::<S>();
    let l = log();
    let l2 = l.clone();
    let m = h.main();
    let g = h
        .spawn(
            body::<S>(move |h, _| {
                let r = h.switch(&m, Val::Int(1));
                push(&l2, format!("got {r:?}"));
                let cur = h.current();
                let parent = h.parent(&cur).unwrap();
                push(&l2, format!("parent is main: {}", parent == h.main()));
                r
            }),
            None,
        )
        .unwrap();
    assert_eq!(h.switch(&g, Val::None), Ok(Val::Int(1)));
    drop(g);
    assert_eq!(take(&l), vec!["got Err(Exit)", "parent is main: true"]);

    // A greenlet that survives the kill (catches exit and suspends) is left alone until the
    // hub goes away.
    let m = h.main();
    let count = Arc::new(AtomicUsize::new(0));
    let c2 = count.clone();
    let g = h
        .spawn(
            body::<S>(move |h, _| loop {
                match h.switch(&m, Val::Int(1)) {
                    Err(Err::Exit) => {
                        if c2.fetch_add(1, Ordering::SeqCst) == 2 {
                            return Ok(Val::None);
                        }
                    }
                    other => panic!("{other:?}"),
                }
            }),
            None,
        )
        .unwrap();
    h.switch(&g, Val::None).unwrap();
    drop(g);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    drop(h);
    assert_eq!(count.load(Ordering::SeqCst), 3);

    // Greenlets still suspended when the hub goes away are killed.
    let h = hub::<S>();
    let killed = Arc::new(AtomicUsize::new(0));
    let mut keep = vec![];
    for _ in 0..10 {
        let k = killed.clone();
        let m = h.main();
        let g = h
            .spawn(
                body::<S>(move |h, _| {
                    let r = h.switch(&m, Val::None);
                    assert_eq!(r, Err(Err::Exit));
                    k.fetch_add(1, Ordering::SeqCst);
                    r
                }),
                None,
            )
            .unwrap();
        h.switch(&g, Val::None).unwrap();
        keep.push(g);
    }
    drop(h);
    assert_eq!(killed.load(Ordering::SeqCst), 10);
    drop(keep);
}

/// A greenlet that drops its own last handle while running is killed once it suspends; a
/// chain of suspended greenlets held only by parent links dies with its leaf.
pub fn kill_when_orphaned<S: StackSwitch>() {
    let h = hub::<S>();
    let l = log();
    let slot: Arc<Mutex<Option<Greenlet>>> = Arc::new(Mutex::new(None));
    let s2 = slot.clone();
    let l2 = l.clone();
    let m = h.main();
    let g = h
        .spawn(
            body::<S>(move |h, _| {
                drop(s2.lock().unwrap().take());
                let r = h.switch(&m, Val::Int(1));
                push(&l2, format!("orphan got {r:?}"));
                r
            }),
            None,
        )
        .unwrap();
    *slot.lock().unwrap() = Some(g.clone());
    drop(g);
    let g = slot.lock().unwrap().clone().unwrap();
    // g drops the handle in the slot; we still hold `g` until the switch returns.
    assert_eq!(h.switch(&g, Val::None), Ok(Val::Int(1)));
    assert!(take(&l).is_empty());
    drop(g); // last handle to a suspended greenlet
    assert_eq!(take(&l), vec!["orphan got Err(Exit)"]);

    // Chain: main <- a <- b <- c, all suspended, only c has a handle.
    let order = log();
    let mut prev: Option<Greenlet> = None;
    let mut handles = vec![];
    for name in ["a", "b", "c"] {
        let o = order.clone();
        let m = h.main();
        let g = h
            .spawn(
                body::<S>(move |h, _| {
                    let r = h.switch(&m, Val::None);
                    push(&o, format!("{name} {r:?}"));
                    r
                }),
                prev.as_ref(),
            )
            .unwrap();
        h.switch(&g, Val::None).unwrap();
        prev = Some(g.clone());
        handles.push(g);
    }
    drop(prev);
    let c = handles.pop().unwrap();
    drop(handles);
    assert!(take(&order).is_empty());
    drop(c);
    assert_eq!(
        take(&order),
        vec!["c Err(Exit)", "b Err(Exit)", "a Err(Exit)"]
    );
}

pub fn one_hub_per_thread<S: StackSwitch>() {
    let h1 = hub::<S>();
    let h2 = hub::<S>();
    assert_eq!(h1.main(), h2.main());
    let g = h1.spawn(body::<S>(|_, v| Ok(v.unwrap())), None).unwrap();
    assert_eq!(h2.switch(&g, Val::Int(3)), Ok(Val::Int(3)));
    // Hub::new inside a greenlet gives the same hub.
    let g = h1
        .spawn(
            body::<S>(|h, _| {
                let again = hub::<S>();
                Ok(Val::Int((again.current() == h.current()) as i64))
            }),
            None,
        )
        .unwrap();
    assert_eq!(h1.switch(&g, Val::None), Ok(Val::Int(1)));
}

pub fn wrong_thread_panics<S: StackSwitch>() {
    let h = hub::<S>();
    let g = h.spawn(body::<S>(|_, _| Ok(Val::None)), None).unwrap();
    let g2 = g.clone();
    let r = std::thread::spawn(move || {
        let other = hub::<S>();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = other.switch(&g2, Val::None);
        }));
        drop(g2); // dropping on the wrong thread is harmless
        r.map_err(|e| e.downcast_ref::<String>().cloned().unwrap_or_default())
    })
    .join()
    .unwrap();
    let msg = r.unwrap_err();
    assert!(msg.contains("own thread"), "{msg}");
    assert_eq!(h.state(&g), State::Unstarted);
    assert_eq!(h.switch(&g, Val::Int(1)), Ok(Val::None));
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

pub fn deep_recursion<S: StackSwitch>() {
    let h = hub::<S>();
    let m = h.main();
    let depth = 120; // 12 MB of frames in a 16 MiB stack
    let mk = |m: switchyard_impls::runtime::Greenlet| {
        body::<S>(move |h, _| {
            let sw = |d: i64| {
                assert_eq!(h.switch(&m, Val::Int(d)), Ok(Val::None));
            };
            let sum = deep(&sw, 0, depth);
            Ok(Val::Int(sum as i64))
        })
    };
    let a = h.spawn(mk(m.clone()), None).unwrap();
    let b = h.spawn(mk(m.clone()), None).unwrap();
    let mut results = vec![];
    loop {
        let ra = h.switch(&a, Val::None).unwrap();
        let rb = h.switch(&b, Val::None).unwrap();
        assert_eq!(ra, rb);
        if h.state(&a) == State::Dead {
            results.push(ra);
            break;
        }
    }
    assert!(matches!(results[0], Val::Int(n) if n > 0));
}

pub fn threads<S: StackSwitch>() {
    let ts: Vec<_> = (0..2)
        .map(|t| {
            std::thread::spawn(move || {
                let h = hub::<S>();
                let m = h.main();
                let g = h
                    .spawn(
                        body::<S>(move |h, _| {
                            let mut n = 0;
                            loop {
                                n += 1;
                                if let Val::Str(_) = h.switch(&m, Val::Int(n))? {
                                    return Ok(Val::Int(n * 1000 + t));
                                }
                            }
                        }),
                        None,
                    )
                    .unwrap();
                for i in 1..=20_000 {
                    assert_eq!(h.switch(&g, Val::None), Ok(Val::Int(i)));
                }
                h.switch(&g, Val::Str("stop".into())).unwrap()
            })
        })
        .collect();
    for (t, j) in ts.into_iter().enumerate() {
        assert_eq!(j.join().unwrap(), Val::Int(20_000 * 1000 + t as i64));
    }
}

pub fn many<S: StackSwitch>(n: usize, tolerate_map_limit: bool) {
    let h = hub::<S>();
    let finished = Arc::new(AtomicUsize::new(0));
    let mut gs = Vec::with_capacity(n);
    for i in 0..n {
        let m = h.main();
        let f = finished.clone();
        let g = match h.spawn(
            body::<S>(move |h, v| {
                let r = h.switch(&m, v.unwrap())?;
                f.fetch_add(1, Ordering::Relaxed);
                Ok(r)
            }),
            None,
        ) {
            Ok(g) => g,
            Err(e) if tolerate_map_limit => {
                assert!(e.0.contains("max_map_count"), "{e}");
                // The map limit is per process: tests running alongside share it.
                assert!(i >= 10_000, "only {i} greenlets");
                break;
            }
            Err(e) => panic!("{e}"),
        };
        assert_eq!(h.switch(&g, Val::Int(i as i64)), Ok(Val::Int(i as i64)));
        gs.push(g);
    }
    let made = gs.len();
    for (i, g) in gs.iter().enumerate() {
        assert_eq!(
            h.switch(g, Val::Int(-(i as i64))),
            Ok(Val::Int(-(i as i64)))
        );
        assert_eq!(h.state(g), State::Dead);
    }
    assert_eq!(finished.load(Ordering::Relaxed), made);
}

pub fn mixed_backends_refused<S: StackSwitch, T: StackSwitch>() {
    let _h = hub::<S>();
    let other = H::<T>::new(&HubConfig::default());
    assert!(other.unwrap_err().0.contains("one hub per OS thread"));
}

/// The MXCSR.
fn mxcsr() -> u32 {
    let mut v = 0u32;
    // SAFETY: stores the MXCSR into a local.
    unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut v, options(nostack)) };
    v
}

/// The x87 control word.
fn fpcw() -> u16 {
    let mut v = 0u16;
    // SAFETY: stores the x87 control word into a local.
    unsafe { std::arch::asm!("fnstcw [{}]", in(reg) &mut v, options(nostack)) };
    v
}

/// Sets the MXCSR control bits (rounding mode, masks) and the x87 control word.
fn set_control(mxcsr: u32, fpcw: u16) {
    // SAFETY: loads valid control values (every exception stays masked).
    unsafe {
        std::arch::asm!(
            "ldmxcsr [{m}]",
            "fldcw [{f}]",
            m = in(reg) &mxcsr,
            f = in(reg) &fpcw,
            options(nostack),
        )
    };
}

/// The MXCSR control bits (the exception flags are caller-saved and may change).
fn mxcsr_control() -> u32 {
    mxcsr() & 0xFFC0
}

/// Each greenlet's MXCSR control bits and x87 control word survive its suspension, whatever
/// the greenlets it switched to (directly, greenlet to greenlet, too) set meanwhile.
pub fn control_words<S: StackSwitch>() {
    let h = hub::<S>();
    let (base_m, base_f) = (mxcsr(), fpcw());
    let g2 = h
        .spawn(
            body::<S>(|h, _| {
                set_control(0x3F80, 0x077F); // round down
                h.switch(&h.main(), Val::None)?;
                assert_eq!((mxcsr_control(), fpcw()), (0x3F80, 0x077F));
                Ok(Val::None)
            }),
            None,
        )
        .unwrap();
    let g2c = g2.clone();
    let g1 = h
        .spawn(
            body::<S>(move |h, _| {
                set_control(0x7F80, 0x0F7F); // round toward zero
                let main = h.main();
                h.switch(&main, Val::Int(1))?;
                assert_eq!((mxcsr_control(), fpcw()), (0x7F80, 0x0F7F));
                h.switch(&g2c, Val::Int(2))?; // g2 sets its own mode, switches to main
                assert_eq!((mxcsr_control(), fpcw()), (0x7F80, 0x0F7F));
                Ok(Val::Int(3))
            }),
            None,
        )
        .unwrap();
    assert_eq!(h.switch(&g1, Val::None), Ok(Val::Int(1)));
    assert_eq!((mxcsr(), fpcw()), (base_m, base_f));
    set_control(0x5F80, 0x0B7F); // round up
    assert_eq!(h.switch(&g1, Val::None), Ok(Val::None)); // g1 -> g2 -> main
    assert_eq!((mxcsr_control(), fpcw()), (0x5F80, 0x0B7F));
    assert_eq!(h.switch(&g1, Val::None), Ok(Val::Int(3)));
    assert_eq!((mxcsr_control(), fpcw()), (0x5F80, 0x0B7F));
    assert_eq!(h.switch(&g2, Val::Int(4)), Ok(Val::None));
    assert_eq!((mxcsr_control(), fpcw()), (0x5F80, 0x0B7F));
    set_control(base_m, base_f);
}

#[test]
fn stack_copy_control_words() {
    control_words::<switchyard_impls::stack_copy::StackCopy>();
}

macro_rules! backend_tests {
    ($name:ident, $S:ty, $Other:ty) => {
        mod $name {
            type B = $S;
            #[test]
            fn ping_pong() {
                super::ping_pong::<B>();
            }
            #[test]
            fn doc_example() {
                super::doc_example::<B>();
            }
            #[test]
            fn return_to_unstarted_parent() {
                super::return_to_unstarted_parent::<B>();
            }
            #[test]
            fn exit_value_quirk() {
                super::exit_value_quirk::<B>();
            }
            #[test]
            fn throw_unstarted() {
                super::throw_unstarted::<B>();
            }
            #[test]
            fn throw_suspended() {
                super::throw_suspended::<B>();
            }
            #[test]
            fn dead_targets() {
                super::dead_targets::<B>();
            }
            #[test]
            fn to_current() {
                super::to_current::<B>();
            }
            #[test]
            fn set_parent_rules() {
                super::set_parent_rules::<B>();
            }
            #[test]
            fn panics_caught() {
                super::panics_caught::<B>();
            }
            #[test]
            fn kill_on_drop() {
                super::kill_on_drop::<B>();
            }
            #[test]
            fn kill_when_orphaned() {
                super::kill_when_orphaned::<B>();
            }
            #[test]
            fn one_hub_per_thread() {
                super::one_hub_per_thread::<B>();
            }
            #[test]
            fn wrong_thread_panics() {
                super::wrong_thread_panics::<B>();
            }
            #[test]
            fn deep_recursion() {
                super::deep_recursion::<B>();
            }
            #[test]
            fn threads() {
                super::threads::<B>();
            }
            #[test]
            fn ten_thousand() {
                super::many::<B>(10_000, false);
            }
            #[test]
            #[ignore = "slow; may hit vm.max_map_count, which must then be reported clearly"]
            fn hundred_thousand() {
                super::many::<B>(100_000, true);
            }
            #[test]
            fn control_words() {
                super::control_words::<B>();
            }
            #[test]
            fn mixed_backends_refused() {
                super::mixed_backends_refused::<B, $Other>();
            }
        }
    };
}

backend_tests!(
    mmap,
    switchyard_impls::mmap::Mmap,
    switchyard_impls::ucontext::Ucontext
);
backend_tests!(
    ucontext,
    switchyard_impls::ucontext::Ucontext,
    switchyard_impls::mmap::Mmap
);

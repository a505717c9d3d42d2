//! Greenlet semantics of the thread oracle, cross-checked against CPython greenlet 3.5.6
//! (`/tmp/gv/bin/python`); the Python experiments are quoted where a case is subtle.

mod common;

use std::time::{Duration, Instant};

use common::*;
use switchyard_greenlet::{Hub, ParentError, State};

#[test]
fn language_doc_example() {
    let hub = hub();
    let log = Log::default();
    let l = log.clone();
    let g = hub
        .spawn(
            body(move |h, start| {
                l.push(format!("start {start:?}"));
                let p = h.parent(&h.current()).unwrap();
                let r = h.switch(&p, Val::Int(10));
                l.push(format!("recv {r:?}"));
                match h.switch(&h.main(), Val::Int(11)) {
                    Err(Err::E(3)) => l.push("caught E3"),
                    other => panic!("unexpected {other:?}"),
                }
                Ok(s("done"))
            }),
            None,
        )
        .unwrap();
    assert_eq!(hub.state(&g), State::Unstarted);
    assert_eq!(hub.switch(&g, Val::Int(1)), Ok(Val::Int(10)));
    assert_eq!(hub.state(&g), State::Suspended);
    assert_eq!(hub.switch(&g, Val::Int(2)), Ok(Val::Int(11)));
    assert_eq!(hub.throw(&g, Err::E(3)), Ok(s("done")));
    assert_eq!(hub.state(&g), State::Dead);
    assert_eq!(hub.parent(&g), Some(hub.main()));
    assert_eq!(
        log.take(),
        vec!["start Some(Int(1))", "recv Ok(Int(2))", "caught E3"]
    );
}

#[test]
fn main_and_current() {
    let hub = hub();
    let main = hub.main();
    assert_eq!(hub.current(), main);
    assert_eq!(hub.state(&main), State::Running);
    assert_eq!(hub.parent(&main), None);
    let m2 = main.clone();
    let g = hub
        .spawn(
            body(move |h, _| {
                let me = h.current();
                assert_eq!(h.state(&me), State::Running);
                assert_eq!(h.state(&m2), State::Suspended);
                assert_ne!(me, m2);
                Ok(Val::Int(me.id() as i64))
            }),
            None,
        )
        .unwrap();
    assert_eq!(hub.switch(&g, Val::None), Ok(Val::Int(1)));
    assert_eq!(format!("{g:?}"), "Greenlet#1");
}

#[test]
fn switch_and_throw_to_self() {
    let hub = hub();
    let main = hub.main();
    assert_eq!(hub.switch(&main, Val::Int(5)), Ok(Val::Int(5)));
    assert_eq!(hub.throw(&main, Err::E(1)), Err(Err::E(1)));
    // GreenletExit thrown into the current greenlet is raised right there, not turned into a value.
    assert_eq!(hub.throw(&main, Err::Exit), Err(Err::Exit));
    let g = hub
        .spawn(
            body(|h, v| {
                let me = h.current();
                assert_eq!(h.switch(&me, Val::Int(7)), Ok(Val::Int(7)));
                assert_eq!(h.throw(&me, Err::E(2)), Err(Err::E(2)));
                Ok(v.unwrap())
            }),
            None,
        )
        .unwrap();
    assert_eq!(hub.switch(&g, s("x")), Ok(s("x")));
}

#[test]
fn switch_to_dead_forwards_up_a_chain_of_dead_greenlets() {
    let hub = hub();
    let log = Log::default();
    // x: suspended, waiting for a value.
    let l = log.clone();
    let x = hub
        .spawn(
            body(move |h, _| {
                let r = h.switch(&h.main(), s("x suspended"));
                l.push(format!("x recv {r:?}"));
                Ok(s("x done"))
            }),
            None,
        )
        .unwrap();
    assert_eq!(hub.switch(&x, Val::None), Ok(s("x suspended")));
    // a, b, c: a chain of dead greenlets c -> b -> a -> x.
    let a = hub.spawn(body(|_, _| Ok(Val::Int(1))), None).unwrap();
    let b = hub.spawn(body(|_, _| Ok(Val::Int(2))), Some(&a)).unwrap();
    let c = hub.spawn(body(|_, _| Ok(Val::Int(3))), Some(&b)).unwrap();
    assert_eq!(hub.switch(&a, Val::None), Ok(Val::Int(1)));
    assert_eq!(hub.switch(&b, Val::None), Ok(Val::Int(2))); // b's parent a is dead: to main
    assert_eq!(hub.switch(&c, Val::None), Ok(Val::Int(3)));
    // With main at the top, switching to c comes straight back.
    assert_eq!(hub.switch(&c, Val::Int(9)), Ok(Val::Int(9)));
    hub.set_parent(&a, &x).unwrap();
    // Now the walk c -> b -> a -> x reaches suspended x.
    assert_eq!(hub.switch(&c, Val::Int(42)), Ok(s("x done")));
    assert_eq!(log.take(), vec!["x recv Ok(Int(42))"]);
}

#[test]
fn return_to_an_unstarted_parent_starts_it() {
    // Python: k2 = greenlet(lambda: 5, parent=u2); k2.switch() -> ('u2 started with', (5,))
    let hub = hub();
    let log = Log::default();
    let l = log.clone();
    let p = hub
        .spawn(
            body(move |_, v| {
                l.push(format!("p start {v:?}"));
                Ok(s("p"))
            }),
            None,
        )
        .unwrap();
    let c = hub.spawn(body(|_, _| Ok(Val::Int(5))), Some(&p)).unwrap();
    assert_eq!(hub.switch(&c, Val::None), Ok(s("p")));
    assert_eq!(log.take(), vec!["p start Some(Int(5))"]);
    assert_eq!(hub.state(&p), State::Dead);
}

#[test]
fn uncaught_exit_becomes_the_exit_value() {
    let hub = hub();
    let g = hub.spawn(body(|_, _| Err(Err::Exit)), None).unwrap();
    assert_eq!(hub.switch(&g, Val::None), Ok(Val::Exit));
    assert_eq!(hub.state(&g), State::Dead);
}

#[test]
fn exit_value_reaching_an_unstarted_greenlet_starts_it_with_nothing() {
    // Python: k3 = greenlet(raises GreenletExit, parent=u3); k3.switch() -> ('u3 started with', ())
    let hub = hub();
    let log = Log::default();
    let l = log.clone();
    let p = hub
        .spawn(
            body(move |_, v| {
                l.push(format!("p start {v:?}"));
                Ok(s("p"))
            }),
            None,
        )
        .unwrap();
    let c = hub.spawn(body(|_, _| Err(Err::Exit)), Some(&p)).unwrap();
    assert_eq!(hub.switch(&c, Val::None), Ok(s("p")));
    assert_eq!(log.take(), vec!["p start None"]);
}

#[test]
fn throw_into_unstarted_kills_it_without_running_its_body() {
    // Python: u.throw(KeyError) raises KeyError in main, u.dead; u.throw(GreenletExit) returns
    // GreenletExit() as a value.
    let hub = hub();
    let log = Log::default();
    let l = log.clone();
    let u = hub
        .spawn(
            body(move |_, _| {
                l.push("ran");
                Ok(Val::None)
            }),
            None,
        )
        .unwrap();
    assert_eq!(hub.throw(&u, Err::E(4)), Err(Err::E(4)));
    assert_eq!(hub.state(&u), State::Dead);
    let l = log.clone();
    let u2 = hub
        .spawn(
            body(move |_, _| {
                l.push("ran");
                Ok(Val::None)
            }),
            None,
        )
        .unwrap();
    assert_eq!(hub.throw(&u2, Err::Exit), Ok(Val::Exit));
    assert_eq!(hub.state(&u2), State::Dead);
    // A thrown exit that kills an unstarted greenlet whose parent is unstarted starts the parent
    // with nothing. Python: k.throw(GreenletExit) with k.parent = u2 unstarted -> ('u2 started', ())
    let l = log.clone();
    let p = hub
        .spawn(
            body(move |_, v| {
                l.push(format!("p start {v:?}"));
                Ok(s("p"))
            }),
            None,
        )
        .unwrap();
    let l = log.clone();
    let k = hub
        .spawn(
            body(move |_, _| {
                l.push("k ran");
                Ok(Val::None)
            }),
            Some(&p),
        )
        .unwrap();
    assert_eq!(hub.throw(&k, Err::Exit), Ok(s("p")));
    assert_eq!(log.take(), vec!["p start None"]);
}

#[test]
fn throw_into_suspended_raises_at_its_switch() {
    let hub = hub();
    let g = hub
        .spawn(
            body(|h, _| match h.switch(&h.main(), Val::Int(1)) {
                Err(e) => Ok(s(&format!("caught {e:?}"))),
                Ok(v) => Ok(v),
            }),
            None,
        )
        .unwrap();
    assert_eq!(hub.switch(&g, Val::None), Ok(Val::Int(1)));
    assert_eq!(hub.throw(&g, Err::E(7)), Ok(s("caught E(7)")));
    // An uncaught exit thrown into a suspended greenlet comes back as the exit value.
    // Python: s.throw(GreenletExit) -> GreenletExit() (a value), s.dead
    let g2 = hub
        .spawn(
            body(|h, _| {
                h.switch(&h.main(), Val::Int(1))?;
                Ok(Val::None)
            }),
            None,
        )
        .unwrap();
    hub.switch(&g2, Val::None).unwrap();
    assert_eq!(hub.throw(&g2, Err::Exit), Ok(Val::Exit));
    assert_eq!(hub.state(&g2), State::Dead);
}

#[test]
fn throw_into_dead_goes_up_the_chain() {
    // Python: d dead, d.parent = x (suspended, catches KeyError): d.throw(KeyError) ->
    // ('x caught', ...); d dead with parent main: d.throw(GreenletExit) -> GreenletExit() value.
    let hub = hub();
    let d = hub.spawn(body(|_, _| Ok(Val::None)), None).unwrap();
    hub.switch(&d, Val::None).unwrap();
    assert_eq!(hub.throw(&d, Err::E(1)), Err(Err::E(1)));
    assert_eq!(hub.throw(&d, Err::Exit), Ok(Val::Exit));
    let x = hub
        .spawn(
            body(|h, _| match h.switch(&h.main(), s("x suspended")) {
                Err(e) => Ok(s(&format!("x caught {e:?}"))),
                Ok(v) => Ok(v),
            }),
            None,
        )
        .unwrap();
    hub.switch(&x, Val::None).unwrap();
    hub.set_parent(&d, &x).unwrap();
    assert_eq!(hub.throw(&d, Err::E(2)), Ok(s("x caught E(2)")));
    // Exit into dead with an unstarted parent starts the parent with nothing.
    // Python: d.parent = u (unstarted); d.throw(GreenletExit) -> ('u started', ())
    let u = hub
        .spawn(body(|_, v| Ok(s(&format!("u {v:?}")))), None)
        .unwrap();
    hub.set_parent(&d, &u).unwrap();
    assert_eq!(hub.throw(&d, Err::Exit), Ok(s("u None")));
    // A plain switch to dead d landing on an unstarted greenlet starts it with the value.
    // Python: d2.parent = u3; d2.switch(9) -> ('u3 started', (9,))
    let u3 = hub
        .spawn(body(|_, v| Ok(s(&format!("u3 {v:?}")))), None)
        .unwrap();
    hub.set_parent(&d, &u3).unwrap();
    assert_eq!(hub.switch(&d, Val::Int(9)), Ok(s("u3 Some(Int(9))")));
}

#[test]
fn error_through_an_unstarted_parent_kills_it() {
    // Python: k = greenlet(raises KeyError, parent=u); k.switch() raises KeyError in main, u.dead
    let hub = hub();
    let log = Log::default();
    let l = log.clone();
    let u = hub
        .spawn(
            body(move |_, _| {
                l.push("u ran");
                Ok(Val::None)
            }),
            None,
        )
        .unwrap();
    let k = hub.spawn(body(|_, _| Err(Err::E(2))), Some(&u)).unwrap();
    assert_eq!(hub.switch(&k, Val::None), Err(Err::E(2)));
    assert_eq!(hub.state(&u), State::Dead);
    assert_eq!(hub.state(&k), State::Dead);
    assert!(log.take().is_empty());
}

#[test]
fn set_parent_refuses_cycles_and_main() {
    // Python: main.parent = main and main.parent = g -> "cannot set the parent of a main
    // greenlet" (checked before the cycle); g.parent = g, g.parent = h (h.parent = g) ->
    // "cyclic parent chain".
    let hub = hub();
    let main = hub.main();
    let g = hub.spawn(body(|_, _| Ok(Val::None)), None).unwrap();
    let h = hub.spawn(body(|_, _| Ok(Val::None)), Some(&g)).unwrap();
    assert_eq!(hub.set_parent(&main, &main), Err(ParentError::Main));
    assert_eq!(hub.set_parent(&main, &g), Err(ParentError::Main));
    assert_eq!(hub.set_parent(&g, &g), Err(ParentError::Cycle));
    assert_eq!(hub.set_parent(&g, &h), Err(ParentError::Cycle));
    assert_eq!(hub.parent(&g), Some(main.clone()));
    assert_eq!(hub.parent(&h), Some(g.clone()));
    assert_eq!(hub.set_parent(&h, &main), Ok(()));
    assert_eq!(hub.set_parent(&g, &h), Ok(()));
    assert_eq!(hub.parent(&g), Some(h.clone()));
}

#[test]
fn panic_in_a_body_is_raised_in_the_parent() {
    let hub = hub();
    let g = hub
        .spawn(body(|_, _| panic!("boom in body")), None)
        .unwrap();
    assert_eq!(
        hub.switch(&g, Val::None),
        Err(Err::Panic("boom in body".into()))
    );
    assert_eq!(hub.state(&g), State::Dead);
    // The panic goes up the chain like any error: through a suspended parent that catches it.
    let p = hub
        .spawn(
            body(|h, _| {
                let c = h
                    .spawn(body(|_, _| panic!("{}", String::from("deep"))), None)
                    .unwrap();
                match h.switch(&c, Val::None) {
                    Err(e) => Ok(s(&format!("p caught {e:?}"))),
                    Ok(v) => Ok(v),
                }
            }),
            None,
        )
        .unwrap();
    assert_eq!(hub.switch(&p, Val::None), Ok(s("p caught Panic(\"deep\")")));
}

#[test]
fn sixty_four_greenlets_run_fast() {
    let t = Instant::now();
    let hub = hub();
    let mut gs = Vec::new();
    for i in 0..64 {
        let g = hub
            .spawn(
                body(move |h, v| {
                    let mut acc = match v {
                        Some(Val::Int(n)) => n,
                        _ => 0,
                    };
                    for _ in 0..10 {
                        match h.switch(&h.main(), Val::Int(acc))? {
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
            let r = hub.switch(g, Val::Int(1)).unwrap();
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

#[test]
fn dropping_the_last_handle_kills_a_suspended_greenlet() {
    // Python (E6): g6 = greenlet(b6) spawned and switched into by `starter`; starter sets
    // g6 = None -> b6 catches GreenletExit with getcurrent().parent is starter (the current
    // greenlet), and the kill runs before `g6 = None` completes:
    // ['starter: dropping', ('caught, parent is current', True), 'starter: dropped']
    let hub = hub();
    let log = Log::default();
    let l = log.clone();
    let starter = hub
        .spawn(
            body(move |h, _| {
                let me = h.current();
                let l2 = l.clone();
                let me2 = me.clone();
                let g6 = h
                    .spawn(
                        body(move |h, _| match h.switch(&h.main(), Val::Int(1)) {
                            Err(Err::Exit) => {
                                let p = h.parent(&h.current()).unwrap();
                                l2.push(format!("caught exit, parent is starter: {}", p == me2));
                                Ok(s("bye"))
                            }
                            other => panic!("{other:?}"),
                        }),
                        None,
                    )
                    .unwrap();
                h.switch(&g6, Val::None)?;
                l.push("starter: dropping");
                drop(g6);
                l.push("starter: dropped");
                h.switch(&h.main(), s("s"))
            }),
            None,
        )
        .unwrap();
    assert_eq!(hub.switch(&starter, Val::None), Ok(Val::Int(1)));
    assert_eq!(hub.switch(&starter, Val::None), Ok(s("s")));
    assert_eq!(
        log.take(),
        vec![
            "starter: dropping",
            "caught exit, parent is starter: true",
            "starter: dropped"
        ]
    );
}

#[test]
fn a_parent_link_keeps_a_greenlet_alive() {
    let hub = hub();
    let log = Log::default();
    let l = log.clone();
    let p = hub
        .spawn(
            body(move |h, _| {
                let r = h.switch(&h.main(), Val::None);
                l.push(format!("p recv {r:?}"));
                Ok(Val::None)
            }),
            None,
        )
        .unwrap();
    hub.switch(&p, Val::None).unwrap();
    let c = hub.spawn(body(|_, _| Ok(Val::None)), Some(&p)).unwrap();
    drop(p);
    assert!(log.take().is_empty(), "p is still referenced as c's parent");
    let p = hub.parent(&c).unwrap();
    assert_eq!(hub.state(&p), State::Suspended);
    drop(p);
    drop(c); // c unstarted: released; then p's last reference goes: killed
    assert_eq!(log.take(), vec!["p recv Err(Exit)"]);
}

#[test]
fn dropping_an_unstarted_handle_drops_its_body_unrun() {
    struct Guard(Log);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.push("body dropped");
        }
    }
    let hub = hub();
    let log = Log::default();
    let guard = Guard(log.clone());
    let l = log.clone();
    let g = hub
        .spawn(
            body(move |_, _| {
                let _g = &guard;
                l.push("ran");
                Ok(Val::None)
            }),
            None,
        )
        .unwrap();
    let g2 = g.clone();
    drop(g);
    assert!(log.take().is_empty());
    drop(g2);
    assert_eq!(log.take(), vec!["body dropped"]);
}

#[test]
fn a_greenlet_suspending_with_no_references_is_killed_by_the_next_one_to_run() {
    // Python (E1): the body sets the only global reference to itself to None, then
    // main.switch(1): the kill runs in main's context before main's switch returns:
    // ['exit caught in body', ('main recv', 1)].
    // Python (E5): when it switches to an unstarted greenlet instead, the kill happens when that
    // one next switches (to main): [('other start', 1), 'exit caught in body', ('main recv', ...)].
    let hub = hub();
    let log = Log::default();
    let slot = Slot::default();
    let (l, sl) = (log.clone(), slot.clone());
    let g = hub
        .spawn(
            body(move |h, _| {
                sl.clear();
                match h.switch(&h.main(), Val::Int(1)) {
                    Err(Err::Exit) => {
                        l.push("exit caught in body");
                        Err(Err::Exit)
                    }
                    other => {
                        l.push(format!("resumed {other:?}"));
                        Ok(Val::None)
                    }
                }
            }),
            None,
        )
        .unwrap();
    slot.set(&g);
    let r = hub.switch(&g, Val::None);
    drop(g);
    log.push(format!("main recv {r:?}"));
    assert_eq!(
        log.take(),
        vec!["exit caught in body", "main recv Ok(Int(1))"]
    );

    let (l, sl) = (log.clone(), slot.clone());
    let l2 = log.clone();
    let other = hub
        .spawn(
            body(move |h, v| {
                l2.push(format!("other start {v:?}"));
                h.switch(&h.main(), s("from other"))
            }),
            None,
        )
        .unwrap();
    let other2 = other.clone();
    let g = hub
        .spawn(
            body(move |h, _| {
                sl.clear();
                match h.switch(&other2, Val::Int(1)) {
                    Err(Err::Exit) => {
                        l.push("exit caught in body");
                        Err(Err::Exit)
                    }
                    other => {
                        l.push(format!("resumed {other:?}"));
                        Ok(Val::None)
                    }
                }
            }),
            None,
        )
        .unwrap();
    slot.set(&g);
    let r = hub.switch(&g, Val::None);
    drop(g);
    log.push(format!("main recv {r:?}"));
    assert_eq!(
        log.take(),
        vec![
            "other start Some(Int(1))",
            "exit caught in body",
            "main recv Ok(Str(\"from other\"))"
        ]
    );
    drop(other);
}

#[test]
fn a_greenlet_resisting_its_kill_is_released_by_the_hub_without_running_more() {
    // Python (E4): a greenlet that catches GreenletExit and switches back to main survives its
    // kill ("GreenletExit did not kill <greenlet ...>") and stays suspended.
    let hub = hub();
    let log = Log::default();
    let l = log.clone();
    let g = hub
        .spawn(
            body(move |h, _| {
                let main = h.main();
                loop {
                    let r = h.switch(&main, Val::Int(1));
                    l.push(format!("recv {r:?}"));
                }
            }),
            None,
        )
        .unwrap();
    hub.switch(&g, Val::None).unwrap();
    drop(g);
    assert_eq!(log.take(), vec!["recv Err(Exit)"]);
    drop(hub); // teardown throws exit once more, then releases the thread
    assert_eq!(log.take(), vec!["recv Err(Exit)"]);
    std::thread::sleep(Duration::from_millis(50));
    assert!(log.take().is_empty());
}

#[test]
fn dropping_the_hub_kills_suspended_greenlets_in_id_order() {
    let hub = hub();
    let log = Log::default();
    let mut keep = Vec::new();
    for i in 1..=3 {
        let l = log.clone();
        let g = hub
            .spawn(
                body(move |h, _| {
                    let r = h.switch(&h.main(), Val::None);
                    l.push(format!("#{i} recv {r:?}"));
                    let p = h.parent(&h.current()).unwrap();
                    l.push(format!("#{i} parent #{}", p.id()));
                    r
                }),
                None,
            )
            .unwrap();
        keep.push(g);
    }
    // #2 is suspended under #1 (parent #1), #3 stays unstarted.
    hub.set_parent(&keep[1], &keep[0]).unwrap();
    hub.switch(&keep[0], Val::None).unwrap();
    hub.switch(&keep[1], Val::None).unwrap();
    drop(hub);
    assert_eq!(
        log.take(),
        vec![
            "#1 recv Err(Exit)",
            "#1 parent #0",
            "#2 recv Err(Exit)",
            "#2 parent #0"
        ]
    );
    drop(keep);
    assert!(log.take().is_empty());
}

#[test]
fn handles_are_send_and_compare_by_identity() {
    fn is_send<T: Send + 'static>(_: &T) {}
    let hub = hub();
    let g = hub.spawn(body(|_, _| Ok(Val::None)), None).unwrap();
    is_send(&g);
    let g2 = g.clone();
    assert_eq!(g, g2);
    let other = hub.spawn(body(|_, _| Ok(Val::None)), None).unwrap();
    assert_ne!(g, other);
    let hub2 = common::hub();
    assert_ne!(hub.main(), hub2.main());
    // Dropped on another thread: no kill from there (the handle is to an unstarted greenlet).
    std::thread::spawn(move || drop(g2)).join().unwrap();
    assert_eq!(hub.state(&g), State::Unstarted);
}

#[test]
fn deep_recursion_fits_in_the_default_stack() {
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
    let hub = hub();
    let g = hub
        .spawn(body(|_, _| Ok(Val::Int(recurse(8_000) as i64))), None)
        .unwrap();
    assert_eq!(hub.switch(&g, Val::None), Ok(Val::Int(512)));
}

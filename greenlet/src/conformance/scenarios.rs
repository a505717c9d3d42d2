//! The scenarios, one function each, generic over the hub. `conformance_tests!` lists every
//! one of them. The quoted Python experiments were run on CPython greenlet 3.5.6.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use super::kills::*;
use super::{body, s, Err, Log, Setup, Slot, Val};
use crate::{Body, Hub, ParentError, State};

/// The example of docs/language.md.
pub fn the_language_doc_example_runs_as_documented<H: Hub<Val> + 'static>(setup: &Setup) {
    let hub = setup.hub::<H>();
    let log = Log::default();
    let l = log.clone();
    let g = hub
        .spawn(
            body(move |h: &H, start| {
                l.push(format!("start {start:?}"));
                let p = h.parent(&h.current()).unwrap();
                let r = h.switch(p.clone(), Val::Int(10));
                l.push(format!("recv {r:?}"));
                match h.switch(h.main(), Val::Int(11)) {
                    Err(Err::E(3)) => l.push("caught E3"),
                    other => panic!("unexpected {other:?}"),
                }
                Ok(s("done"))
            }),
            None,
        )
        .unwrap();
    assert_eq!(hub.state(&g), State::Unstarted);
    assert_eq!(hub.switch(g.clone(), Val::Int(1)), Ok(Val::Int(10)));
    assert_eq!(hub.state(&g), State::Suspended);
    assert_eq!(hub.switch(g.clone(), Val::Int(2)), Ok(Val::Int(11)));
    assert_eq!(hub.throw(g.clone(), Err::E(3)), Ok(s("done")));
    assert_eq!(hub.state(&g), State::Dead);
    assert_eq!(hub.parent(&g), Some(hub.main()));
    assert_eq!(
        log.take(),
        vec!["start Some(Int(1))", "recv Ok(Int(2))", "caught E3"]
    );
}

/// Main is the current, running greenlet and has no parent; inside a greenlet, that greenlet is
/// current and running and main is suspended.
pub fn main_is_current_until_a_greenlet_runs<H: Hub<Val> + 'static>(setup: &Setup) {
    let hub = setup.hub::<H>();
    let main = hub.main();
    assert_eq!(hub.current(), main);
    assert_eq!(hub.state(&main), State::Running);
    assert_eq!(hub.parent(&main), None);
    let m2 = main.clone();
    let slot = Slot::default();
    let sl = slot.clone();
    let g = hub
        .spawn(
            body(move |h: &H, _| {
                let me = h.current();
                assert_eq!(h.state(&me), State::Running);
                assert_eq!(h.state(&m2), State::Suspended);
                assert_ne!(me, m2);
                sl.set(&me);
                Ok(Val::Int(1))
            }),
            None,
        )
        .unwrap();
    assert_eq!(hub.switch(g.clone(), Val::None), Ok(Val::Int(1)));
    assert_eq!(
        slot.get(),
        g,
        "`current` inside the body is the spawned greenlet"
    );
    assert_eq!(hub.current(), main);
}

/// GreenletExit thrown into the current greenlet is raised right there, not turned into a value.
pub fn switch_and_throw_to_the_current_greenlet_return_at_once<H: Hub<Val> + 'static>(
    setup: &Setup,
) {
    let hub = setup.hub::<H>();
    let main = hub.main();
    assert_eq!(hub.switch(main.clone(), Val::Int(5)), Ok(Val::Int(5)));
    assert_eq!(hub.throw(main.clone(), Err::E(1)), Err(Err::E(1)));
    assert_eq!(hub.throw(main.clone(), Err::Exit), Err(Err::Exit));
    let g = hub
        .spawn(
            body(|h: &H, v| {
                let me = h.current();
                assert_eq!(h.switch(me.clone(), Val::Int(7)), Ok(Val::Int(7)));
                assert_eq!(h.throw(me.clone(), Err::E(2)), Err(Err::E(2)));
                assert_eq!(h.throw(me.clone(), Err::Exit), Err(Err::Exit));
                assert_eq!(h.state(&me), State::Running);
                Ok(v.unwrap())
            }),
            None,
        )
        .unwrap();
    assert_eq!(hub.switch(g.clone(), s("x")), Ok(s("x")));
}

/// A hundred round trips, then the body's return value comes back to main.
pub fn values_ping_pong_between_main_and_a_greenlet<H: Hub<Val> + 'static>(setup: &Setup) {
    let h = setup.hub::<H>();
    let main = h.main();
    let m2 = main.clone();
    let g = h
        .spawn(
            body(move |h: &H, start| {
                assert_eq!(start, Some(Val::Int(1)));
                let mut n = 1;
                loop {
                    match h.switch(m2.clone(), Val::Int(n * 10))? {
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
        assert_eq!(h.switch(g.clone(), Val::Int(i)), Ok(Val::Int(i * 10)));
        assert_eq!(h.state(&g), State::Suspended);
    }
    assert_eq!(h.switch(g.clone(), s("end")), Ok(s("end!")));
    assert_eq!(h.state(&g), State::Dead);
    assert_eq!(h.state(&main), State::Running);
}

/// Python: k2 = greenlet(lambda: 5, parent=u2); k2.switch() -> ('u2 started with', (5,))
pub fn return_to_an_unstarted_parent_starts_it<H: Hub<Val> + 'static>(setup: &Setup) {
    let hub = setup.hub::<H>();
    let log = Log::default();
    let l = log.clone();
    let p = hub
        .spawn(
            body(move |_: &H, v| {
                l.push(format!("p start {v:?}"));
                Ok(s("p"))
            }),
            None,
        )
        .unwrap();
    let c = hub.spawn(body(|_, _| Ok(Val::Int(5))), Some(&p)).unwrap();
    assert_eq!(hub.switch(c.clone(), Val::None), Ok(s("p")));
    assert_eq!(log.take(), vec!["p start Some(Int(5))"]);
    assert_eq!(hub.state(&p), State::Dead);
}

/// Python: k = greenlet(raises KeyError, parent=u); k.switch() raises KeyError in main, u.dead
pub fn error_through_an_unstarted_parent_kills_it<H: Hub<Val> + 'static>(setup: &Setup) {
    let hub = setup.hub::<H>();
    let log = Log::default();
    let l = log.clone();
    let u = hub
        .spawn(
            body(move |_: &H, _| {
                l.push("u ran");
                Ok(Val::None)
            }),
            None,
        )
        .unwrap();
    let k = hub.spawn(body(|_, _| Err(Err::E(2))), Some(&u)).unwrap();
    assert_eq!(hub.switch(k.clone(), Val::None), Err(Err::E(2)));
    assert_eq!(hub.state(&u), State::Dead);
    assert_eq!(hub.state(&k), State::Dead);
    assert!(log.take().is_empty());
}

pub fn uncaught_exit_becomes_the_exit_value<H: Hub<Val> + 'static>(setup: &Setup) {
    let hub = setup.hub::<H>();
    let g = hub.spawn(body(|_: &H, _| Err(Err::Exit)), None).unwrap();
    assert_eq!(hub.switch(g.clone(), Val::None), Ok(Val::Exit));
    assert_eq!(hub.state(&g), State::Dead);
}

/// Python: k3 = greenlet(raises GreenletExit, parent=u3); k3.switch() -> ('u3 started with', ())
pub fn exit_value_reaching_an_unstarted_greenlet_starts_it_with_nothing<H: Hub<Val> + 'static>(
    setup: &Setup,
) {
    let hub = setup.hub::<H>();
    let log = Log::default();
    let l = log.clone();
    let p = hub
        .spawn(
            body(move |_: &H, v| {
                l.push(format!("p start {v:?}"));
                Ok(s("p"))
            }),
            None,
        )
        .unwrap();
    let c = hub.spawn(body(|_, _| Err(Err::Exit)), Some(&p)).unwrap();
    assert_eq!(hub.switch(c.clone(), Val::None), Ok(s("p")));
    assert_eq!(log.take(), vec!["p start None"]);
}

/// Python: u.throw(KeyError) raises KeyError in main, u.dead; u.throw(GreenletExit) returns
/// GreenletExit() as a value.
pub fn throw_into_unstarted_kills_it_without_running_its_body<H: Hub<Val> + 'static>(
    setup: &Setup,
) {
    let hub = setup.hub::<H>();
    let ran = Arc::new(AtomicBool::new(false));
    let log = Log::default();
    let (l, r) = (log.clone(), ran.clone());
    let u = hub
        .spawn(
            body(move |_: &H, _| {
                r.store(true, Ordering::SeqCst);
                l.push("ran");
                Ok(Val::None)
            }),
            None,
        )
        .unwrap();
    assert_eq!(hub.throw(u.clone(), Err::E(4)), Err(Err::E(4)));
    assert_eq!(hub.state(&u), State::Dead);
    let (l, r) = (log.clone(), ran.clone());
    let u2 = hub
        .spawn(
            body(move |_: &H, _| {
                r.store(true, Ordering::SeqCst);
                l.push("ran");
                Ok(Val::None)
            }),
            None,
        )
        .unwrap();
    assert_eq!(hub.throw(u2.clone(), Err::Exit), Ok(Val::Exit));
    assert_eq!(hub.state(&u2), State::Dead);
    assert!(!ran.load(Ordering::SeqCst));
    // A thrown exit that kills an unstarted greenlet whose parent is unstarted starts the parent
    // with nothing. Python: k.throw(GreenletExit) with k.parent = u2 unstarted -> ('u2 started', ())
    let l = log.clone();
    let p = hub
        .spawn(
            body(move |_: &H, v| {
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
    assert_eq!(hub.throw(k.clone(), Err::Exit), Ok(s("p")));
    assert_eq!(log.take(), vec!["p start None"]);
}

/// Python: s.throw(GreenletExit) -> GreenletExit() (a value), s.dead
pub fn throw_into_suspended_raises_at_its_switch<H: Hub<Val> + 'static>(setup: &Setup) {
    let hub = setup.hub::<H>();
    let g = hub
        .spawn(
            body(|h: &H, _| match h.switch(h.main(), Val::Int(1)) {
                Err(e) => Ok(s(&format!("caught {e:?}"))),
                Ok(v) => Ok(v),
            }),
            None,
        )
        .unwrap();
    assert_eq!(hub.switch(g.clone(), Val::None), Ok(Val::Int(1)));
    assert_eq!(hub.throw(g.clone(), Err::E(7)), Ok(s("caught E(7)")));
    // An uncaught exit thrown into a suspended greenlet comes back as the exit value.
    let g2 = hub
        .spawn(
            body(|h: &H, _| {
                h.switch(h.main(), Val::Int(1))?;
                Ok(Val::None)
            }),
            None,
        )
        .unwrap();
    hub.switch(g2.clone(), Val::None).unwrap();
    assert_eq!(hub.throw(g2.clone(), Err::Exit), Ok(Val::Exit));
    assert_eq!(hub.state(&g2), State::Dead);
}

/// A greenlet that answers a throw by failing with another error: that error is raised in its
/// parent, the thrower.
pub fn an_error_a_thrown_greenlet_fails_with_reaches_the_thrower<H: Hub<Val> + 'static>(
    setup: &Setup,
) {
    let h = setup.hub::<H>();
    let m = h.main();
    let g = h
        .spawn(
            body(move |h: &H, _| match h.switch(m.clone(), Val::Int(1)) {
                Err(Err::E(2)) => Err(Err::E(5)),
                other => panic!("{other:?}"),
            }),
            None,
        )
        .unwrap();
    assert_eq!(h.switch(g.clone(), Val::None), Ok(Val::Int(1)));
    assert_eq!(h.throw(g.clone(), Err::E(2)), Err(Err::E(5)));
    assert_eq!(h.state(&g), State::Dead);
}

/// A greenlet holding an unstarted child it spawned is thrown into while suspended: the error
/// is raised at its switch; dropping the child there leaves the body running normally.
pub fn throw_into_a_suspended_parent_of_an_unstarted_child_raises_at_its_switch<
    H: Hub<Val> + 'static,
>(
    setup: &Setup,
) {
    let h = setup.hub::<H>();
    let m = h.main();
    let p = h
        .spawn(
            body(move |h: &H, _| {
                let child = h.spawn(body(|_, _| Ok(Val::None)), None).unwrap();
                let r = h.switch(m.clone(), s("child ready"));
                assert_eq!(h.state(&child), State::Unstarted);
                drop(child);
                match r {
                    Err(Err::E(9)) => Ok(s("parent caught")),
                    other => panic!("{other:?}"),
                }
            }),
            None,
        )
        .unwrap();
    assert_eq!(h.switch(p.clone(), Val::None), Ok(s("child ready")));
    assert_eq!(h.throw(p.clone(), Err::E(9)), Ok(s("parent caught")));
    assert_eq!(h.state(&p), State::Dead);
}

pub fn switch_to_dead_forwards_up_a_chain_of_dead_greenlets<H: Hub<Val> + 'static>(setup: &Setup) {
    let hub = setup.hub::<H>();
    let log = Log::default();
    // x: suspended, waiting for a value.
    let l = log.clone();
    let x = hub
        .spawn(
            body(move |h: &H, _| {
                let r = h.switch(h.main(), s("x suspended"));
                l.push(format!("x recv {r:?}"));
                Ok(s("x done"))
            }),
            None,
        )
        .unwrap();
    assert_eq!(hub.switch(x.clone(), Val::None), Ok(s("x suspended")));
    // a, b, c: a chain of dead greenlets c -> b -> a -> x.
    let a = hub.spawn(body(|_, _| Ok(Val::Int(1))), None).unwrap();
    let b = hub.spawn(body(|_, _| Ok(Val::Int(2))), Some(&a)).unwrap();
    let c = hub.spawn(body(|_, _| Ok(Val::Int(3))), Some(&b)).unwrap();
    assert_eq!(hub.switch(a.clone(), Val::None), Ok(Val::Int(1)));
    assert_eq!(hub.switch(b.clone(), Val::None), Ok(Val::Int(2))); // b's parent a is dead: to main
    assert_eq!(hub.switch(c.clone(), Val::None), Ok(Val::Int(3)));
    // With main at the top, switching to c comes straight back.
    assert_eq!(hub.switch(c.clone(), Val::Int(9)), Ok(Val::Int(9)));
    hub.set_parent(&a, &x).unwrap();
    // Now the walk c -> b -> a -> x reaches suspended x.
    assert_eq!(hub.switch(c.clone(), Val::Int(42)), Ok(s("x done")));
    assert_eq!(log.take(), vec!["x recv Ok(Int(42))"]);
}

/// Python: d dead, d.parent = x (suspended, catches KeyError): d.throw(KeyError) ->
/// ('x caught', ...); d dead with parent main: d.throw(GreenletExit) -> GreenletExit() value.
pub fn throw_into_dead_goes_up_the_chain<H: Hub<Val> + 'static>(setup: &Setup) {
    let hub = setup.hub::<H>();
    let d = hub.spawn(body(|_: &H, _| Ok(Val::None)), None).unwrap();
    hub.switch(d.clone(), Val::None).unwrap();
    assert_eq!(hub.throw(d.clone(), Err::E(1)), Err(Err::E(1)));
    assert_eq!(hub.throw(d.clone(), Err::Exit), Ok(Val::Exit));
    let x = hub
        .spawn(
            body(|h: &H, _| match h.switch(h.main(), s("x suspended")) {
                Err(e) => Ok(s(&format!("x caught {e:?}"))),
                Ok(v) => Ok(v),
            }),
            None,
        )
        .unwrap();
    hub.switch(x.clone(), Val::None).unwrap();
    hub.set_parent(&d, &x).unwrap();
    assert_eq!(hub.throw(d.clone(), Err::E(2)), Ok(s("x caught E(2)")));
    // Exit into dead with an unstarted parent starts the parent with nothing.
    // Python: d.parent = u (unstarted); d.throw(GreenletExit) -> ('u started', ())
    let u = hub
        .spawn(body(|_, v| Ok(s(&format!("u {v:?}")))), None)
        .unwrap();
    hub.set_parent(&d, &u).unwrap();
    assert_eq!(hub.throw(d.clone(), Err::Exit), Ok(s("u None")));
    // A plain switch to dead d landing on an unstarted greenlet starts it with the value.
    // Python: d2.parent = u3; d2.switch(9) -> ('u3 started', (9,))
    let u3 = hub
        .spawn(body(|_, v| Ok(s(&format!("u3 {v:?}")))), None)
        .unwrap();
    hub.set_parent(&d, &u3).unwrap();
    assert_eq!(hub.switch(d.clone(), Val::Int(9)), Ok(s("u3 Some(Int(9))")));
}

/// Switches and throws to a dead greenlet whose ancestors are suspended, dead up to main, or
/// unstarted.
pub fn switch_and_throw_to_dead_walk_up_to_the_first_greenlet_not_dead<H: Hub<Val> + 'static>(
    setup: &Setup,
) {
    let h = setup.hub::<H>();
    let m = h.main();
    // p suspended (child of main), g dead child of p.
    let m2 = m.clone();
    let p = h
        .spawn(
            body(move |h: &H, _| {
                let mut got = vec![];
                loop {
                    match h.switch(m2.clone(), Val::Int(got.len() as i64)) {
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
    assert_eq!(h.switch(p.clone(), Val::None), Ok(Val::Int(0)));
    let g = h.spawn(body(|_, _| Ok(Val::None)), Some(&p)).unwrap();
    // g starts, returns None to p, p (suspended) receives it and switches back to main.
    assert_eq!(h.switch(g.clone(), Val::None), Ok(Val::Int(1)));
    assert_eq!(h.state(&g), State::Dead);
    // Switch to dead g -> p gets 42.
    assert_eq!(h.switch(g.clone(), Val::Int(42)), Ok(Val::Int(2)));
    // Throw exit into dead g -> p gets the exit value.
    assert_eq!(h.throw(g.clone(), Err::Exit), Ok(s("None,Int(42),Exit")));
    // Everything dead up to main: a switch to g comes straight back.
    assert_eq!(h.switch(g.clone(), Val::Int(3)), Ok(Val::Int(3)));
    assert_eq!(h.throw(g.clone(), Err::E(1)), Err(Err::E(1)));
    assert_eq!(h.throw(g.clone(), Err::Exit), Ok(Val::Exit));

    // Dead greenlet whose first live ancestor is unstarted: error kills it and goes on.
    let q = h.spawn(body(|_, _| panic!("must not run")), None).unwrap();
    let d = h.spawn(body(|_, _| Ok(Val::None)), Some(&q)).unwrap();
    h.set_parent(&d, &m).unwrap();
    assert_eq!(h.switch(d.clone(), Val::None), Ok(Val::None));
    h.set_parent(&d, &q).unwrap();
    assert_eq!(h.throw(d.clone(), Err::E(7)), Err(Err::E(7)));
    assert_eq!(h.state(&q), State::Dead);
    // ... and a value (exit) starts it with no value.
    let log = Log::default();
    let l2 = log.clone();
    let q = h
        .spawn(
            body(move |_, v| {
                l2.push(format!("{v:?}"));
                Ok(Val::Int(8))
            }),
            None,
        )
        .unwrap();
    h.set_parent(&d, &q).unwrap();
    assert_eq!(h.throw(d.clone(), Err::Exit), Ok(Val::Int(8)));
    assert_eq!(log.take(), vec!["None"]);
}

/// Python: main.parent = main and main.parent = g -> "cannot set the parent of a main
/// greenlet" (checked before the cycle); g.parent = g, g.parent = h (h.parent = g) ->
/// "cyclic parent chain".
pub fn set_parent_refuses_cycles_and_main<H: Hub<Val> + 'static>(setup: &Setup) {
    let hub = setup.hub::<H>();
    let main = hub.main();
    let g = hub.spawn(body(|_: &H, _| Ok(Val::None)), None).unwrap();
    let h = hub
        .spawn(body(|_, v| Ok(s(&format!("h {v:?}")))), Some(&g))
        .unwrap();
    assert_eq!(hub.set_parent(&main, &main), Err(ParentError::Main));
    assert_eq!(hub.set_parent(&main, &g), Err(ParentError::Main));
    assert_eq!(hub.set_parent(&g, &g), Err(ParentError::Cycle));
    assert_eq!(hub.set_parent(&g, &h), Err(ParentError::Cycle));
    assert_eq!(hub.parent(&g), Some(main.clone()));
    assert_eq!(hub.parent(&h), Some(g.clone()));
    assert_eq!(hub.set_parent(&h, &main), Ok(()));
    assert_eq!(hub.set_parent(&g, &h), Ok(()));
    assert_eq!(hub.parent(&g), Some(h.clone()));
    // The new parent counts: g returns to h (unstarted), which starts with g's value and
    // returns to main.
    assert_eq!(hub.switch(g.clone(), Val::None), Ok(s("h Some(None)")));
    assert_eq!(hub.state(&g), State::Dead);
    assert_eq!(hub.state(&h), State::Dead);
}

pub fn panic_in_a_body_is_raised_in_the_parent<H: Hub<Val> + 'static>(setup: &Setup) {
    let hub = setup.hub::<H>();
    let g = hub
        .spawn(body(|_: &H, _| panic!("boom {}", 42)), None)
        .unwrap();
    assert_eq!(
        hub.switch(g.clone(), Val::None),
        Err(Err::Panic("boom 42".into()))
    );
    assert_eq!(hub.state(&g), State::Dead);
    let g = hub
        .spawn(body(|_: &H, _| panic!("boom in body")), None)
        .unwrap();
    assert_eq!(
        hub.switch(g.clone(), Val::None),
        Err(Err::Panic("boom in body".into()))
    );
    // The panic goes up the chain like any error: to a suspended parent's switch.
    let p = hub
        .spawn(
            body(|h: &H, _| {
                let c = h
                    .spawn(body(|_, _| panic!("{}", String::from("deep"))), None)
                    .unwrap();
                match h.switch(c.clone(), Val::None) {
                    Err(e) => Ok(s(&format!("p caught {e:?}"))),
                    Ok(v) => Ok(v),
                }
            }),
            None,
        )
        .unwrap();
    assert_eq!(
        hub.switch(p.clone(), Val::None),
        Ok(s("p caught Panic(\"deep\")"))
    );
}

/// Python (E6): g6 = greenlet(b6) spawned and switched into by `starter`; starter sets
/// g6 = None -> b6 catches GreenletExit with getcurrent().parent is starter (the current
/// greenlet), and the kill runs before `g6 = None` completes:
/// ['starter: dropping', ('caught, parent is current', True), 'starter: dropped']
pub fn dropping_the_last_handle_kills_a_suspended_greenlet<H: Hub<Val> + 'static>(setup: &Setup) {
    let hub = setup.hub::<H>();
    let log = Log::default();
    let l = log.clone();
    let starter = hub
        .spawn(
            body(move |h: &H, _| {
                let me = h.current();
                let l2 = l.clone();
                let me2 = me.clone();
                let g6 = h
                    .spawn(
                        body(move |h: &H, _| match h.switch(h.main(), Val::Int(1)) {
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
                h.switch(g6.clone(), Val::None)?;
                l.push("starter: dropping");
                drop(g6);
                l.push("starter: dropped");
                h.switch(h.main(), s("s"))
            }),
            None,
        )
        .unwrap();
    assert_eq!(hub.switch(starter.clone(), Val::None), Ok(Val::Int(1)));
    assert_eq!(hub.switch(starter.clone(), Val::None), Ok(s("s")));
    assert_eq!(
        log.take(),
        vec![
            "starter: dropping",
            "caught exit, parent is starter: true",
            "starter: dropped"
        ]
    );
}

/// Dropped by main: GreenletExit is raised at the greenlet's switch, with main as its parent;
/// what the killed body returns is discarded.
pub fn a_greenlet_killed_from_main_gets_main_as_parent<H: Hub<Val> + 'static>(setup: &Setup) {
    let h = setup.hub::<H>();
    let log = Log::default();
    let l2 = log.clone();
    let m = h.main();
    let g = h
        .spawn(
            body(move |h: &H, _| {
                let r = h.switch(m.clone(), Val::Int(1));
                l2.push(format!("got {r:?}"));
                let cur = h.current();
                let parent = h.parent(&cur).unwrap();
                l2.push(format!("parent is main: {}", parent == h.main()));
                r
            }),
            None,
        )
        .unwrap();
    assert_eq!(h.switch(g.clone(), Val::None), Ok(Val::Int(1)));
    drop(g);
    assert_eq!(log.take(), vec!["got Err(Exit)", "parent is main: true"]);
    assert_eq!(h.current(), h.main());
}

/// Python (E4): a greenlet that catches GreenletExit and switches back to main survives its
/// kill ("GreenletExit did not kill <greenlet ...>") and stays suspended. The hub leaves it
/// alone until it goes away; then it throws GreenletExit into it again (how many times, for a
/// greenlet that keeps resisting, is the backend's choice: at least once), and once the hub
/// is gone no more body code runs.
pub fn a_greenlet_surviving_its_kill_is_left_alone_until_the_hub_goes_away<
    H: Hub<Val> + 'static,
>(
    setup: &Setup,
) {
    let h = setup.hub::<H>();
    let m = h.main();
    let log = Log::default();
    let count = Arc::new(AtomicUsize::new(0));
    let (c2, l) = (count.clone(), log.clone());
    let g = h
        .spawn(
            body(move |h: &H, _| loop {
                let r = h.switch(m.clone(), Val::Int(1));
                l.push(format!("recv {r:?}"));
                match r {
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
    h.switch(g.clone(), Val::None).unwrap();
    drop(g);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert_eq!(log.take(), vec!["recv Err(Exit)"]);
    // Other greenlets come and go; the survivor is not killed again meanwhile.
    let other = h.spawn(body(|_, v| Ok(v.unwrap())), None).unwrap();
    assert_eq!(h.switch(other.clone(), Val::Int(2)), Ok(Val::Int(2)));
    drop(other);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    drop(h);
    let after = count.load(Ordering::SeqCst);
    assert!(after >= 2, "the hub going away threw no GreenletExit");
    assert!(log.take().iter().all(|e| e == "recv Err(Exit)"));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(count.load(Ordering::SeqCst), after);
    assert!(log.take().is_empty());
}

/// Greenlets still suspended when the hub goes away are killed (GreenletExit at their switch);
/// handles outliving the hub are harmless.
pub fn dropping_the_hub_kills_every_suspended_greenlet<H: Hub<Val> + 'static>(setup: &Setup) {
    let h = setup.hub::<H>();
    let killed = Arc::new(AtomicUsize::new(0));
    let mut keep = vec![];
    for _ in 0..10 {
        let k = killed.clone();
        let m = h.main();
        let g = h
            .spawn(
                body(move |h: &H, _| {
                    let r = h.switch(m.clone(), Val::None);
                    assert_eq!(r, Err(Err::Exit));
                    k.fetch_add(1, Ordering::SeqCst);
                    r
                }),
                None,
            )
            .unwrap();
        h.switch(g.clone(), Val::None).unwrap();
        keep.push(g);
    }
    drop(h);
    assert_eq!(killed.load(Ordering::SeqCst), 10);
    drop(keep);
}

/// The hub's kills go in spawn order, each with main as the parent; unstarted greenlets are
/// not run.
pub fn dropping_the_hub_kills_suspended_greenlets_in_spawn_order<H: Hub<Val> + 'static>(
    setup: &Setup,
) {
    let hub = setup.hub::<H>();
    let log = Log::default();
    let mut keep = Vec::new();
    for i in 1..=3 {
        let l = log.clone();
        let g = hub
            .spawn(
                body(move |h: &H, _| {
                    let r = h.switch(h.main(), Val::None);
                    l.push(format!("#{i} recv {r:?}"));
                    let p = h.parent(&h.current()).unwrap();
                    l.push(format!("#{i} parent is main: {}", p == h.main()));
                    r
                }),
                None,
            )
            .unwrap();
        keep.push(g);
    }
    // #2 is suspended under #1 (parent #1), #3 stays unstarted.
    hub.set_parent(&keep[1], &keep[0]).unwrap();
    hub.switch(keep[0].clone(), Val::None).unwrap();
    hub.switch(keep[1].clone(), Val::None).unwrap();
    drop(hub);
    assert_eq!(
        log.take(),
        vec![
            "#1 recv Err(Exit)",
            "#1 parent is main: true",
            "#2 recv Err(Exit)",
            "#2 parent is main: true"
        ]
    );
    drop(keep);
    assert!(log.take().is_empty());
}

pub fn a_parent_link_keeps_a_greenlet_alive<H: Hub<Val> + 'static>(setup: &Setup) {
    let hub = setup.hub::<H>();
    let log = Log::default();
    let l = log.clone();
    let p = hub
        .spawn(
            body(move |h: &H, _| {
                let r = h.switch(h.main(), Val::None);
                l.push(format!("p recv {r:?}"));
                Ok(Val::None)
            }),
            None,
        )
        .unwrap();
    hub.switch(p.clone(), Val::None).unwrap();
    let c = hub.spawn(body(|_, _| Ok(Val::None)), Some(&p)).unwrap();
    drop(p);
    assert!(log.take().is_empty(), "p is still referenced as c's parent");
    let p = hub.parent(&c).unwrap();
    assert_eq!(hub.state(&p), State::Suspended);
    drop(p);
    drop(c); // c unstarted: released; then p's last reference goes: killed
    assert_eq!(log.take(), vec!["p recv Err(Exit)"]);
}

/// main <- a <- b <- c, all suspended, only c has a handle: dropping it kills c, which
/// releases b, and so on up.
pub fn a_chain_held_only_by_parent_links_dies_with_its_leaf<H: Hub<Val> + 'static>(setup: &Setup) {
    let h = setup.hub::<H>();
    let order = Log::default();
    let mut prev: Option<H::Greenlet> = None;
    let mut handles = vec![];
    for name in ["a", "b", "c"] {
        let o = order.clone();
        let m = h.main();
        let g = h
            .spawn(
                body(move |h: &H, _| {
                    let r = h.switch(m.clone(), Val::None);
                    o.push(format!("{name} {r:?}"));
                    r
                }),
                prev.as_ref(),
            )
            .unwrap();
        h.switch(g.clone(), Val::None).unwrap();
        prev = Some(g.clone());
        handles.push(g);
    }
    drop(prev);
    let c = handles.pop().unwrap();
    drop(handles);
    assert!(order.take().is_empty());
    drop(c);
    assert_eq!(
        order.take(),
        vec!["c Err(Exit)", "b Err(Exit)", "a Err(Exit)"]
    );
}

pub fn dropping_an_unstarted_handle_drops_its_body_unrun<H: Hub<Val> + 'static>(setup: &Setup) {
    struct Guard(Log);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.push("body dropped");
        }
    }
    let hub = setup.hub::<H>();
    let log = Log::default();
    let guard = Guard(log.clone());
    let l = log.clone();
    let g = hub
        .spawn(
            body(move |_: &H, _| {
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

/// Python (E1): the body sets the only global reference to itself to None, then
/// main.switch(1): the kill runs in main's context before main's switch returns:
/// ['exit caught in body', ('main recv', 1)].
/// Python (E5): when it switches to an unstarted greenlet instead, the kill happens when that
/// one next switches (to main): [('other start', 1), 'exit caught in body', ('main recv', ...)].
pub fn a_greenlet_suspending_with_no_references_is_killed_by_the_next_one_to_run<
    H: Hub<Val> + 'static,
>(
    setup: &Setup,
) {
    let hub = setup.hub::<H>();
    let log = Log::default();
    let slot = Slot::default();
    let (l, sl) = (log.clone(), slot.clone());
    let g = hub
        .spawn(
            body(move |h: &H, _| {
                sl.clear();
                match h.switch(h.main(), Val::Int(1)) {
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
    // Main still holds `g` while the switch runs: the body's drop is not the last one.
    let r = hub.switch(g.clone(), Val::None);
    assert!(log.take().is_empty());
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
            body(move |h: &H, v| {
                l2.push(format!("other start {v:?}"));
                h.switch(h.main(), s("from other"))
            }),
            None,
        )
        .unwrap();
    let other2 = other.clone();
    let g = hub
        .spawn(
            body(move |h: &H, _| {
                sl.clear();
                match h.switch(other2.clone(), Val::Int(1)) {
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
    let r = hub.switch(g.clone(), Val::None);
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

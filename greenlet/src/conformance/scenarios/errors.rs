//! Parents, errors and throw: returns and errors through unstarted parents, GreenletExit as a
//! value, throw into unstarted / suspended / dead greenlets, switches and throws to dead greenlets
//! walking up the chain. Listed in `conformance_tests!`; the quoted Python experiments were run on
//! CPython greenlet 3.5.6.

use super::super::fixtures::{logs_if_run, logs_its_start, waits_at_main};
use super::super::{body, s, Err, Log, Setup, Val};
use crate::{Hub, State};

/// Python: k2 = greenlet(lambda: 5, parent=u2); k2.switch() -> ('u2 started with', (5,))
pub fn return_to_an_unstarted_parent_starts_it<H: Hub<Val> + 'static>(setup: &Setup) {
    let hub = setup.hub::<H>();
    let log = Log::default();
    let p = hub.spawn(logs_its_start(&log, "p"), None).unwrap();
    let c = hub.spawn(body(|_, _| Ok(Val::Int(5))), Some(&p)).unwrap();
    assert_eq!(hub.switch(c.clone(), Val::None), Ok(s("p")));
    assert_eq!(log.take(), vec!["p start Some(Int(5))"]);
    assert_eq!(hub.state(&p), State::Dead);
}

/// Python: k = greenlet(raises KeyError, parent=u); k.switch() raises KeyError in main, u.dead
pub fn error_through_an_unstarted_parent_kills_it<H: Hub<Val> + 'static>(setup: &Setup) {
    let hub = setup.hub::<H>();
    let log = Log::default();
    let u = hub.spawn(logs_if_run(&log, "u ran"), None).unwrap();
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
    let p = hub.spawn(logs_its_start(&log, "p"), None).unwrap();
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
    let log = Log::default();
    let u = hub.spawn(logs_if_run(&log, "ran"), None).unwrap();
    assert_eq!(hub.throw(u.clone(), Err::E(4)), Err(Err::E(4)));
    assert_eq!(hub.state(&u), State::Dead);
    let u2 = hub.spawn(logs_if_run(&log, "ran"), None).unwrap();
    assert_eq!(hub.throw(u2.clone(), Err::Exit), Ok(Val::Exit));
    assert_eq!(hub.state(&u2), State::Dead);
    assert!(log.take().is_empty(), "neither body ran");
    // A thrown exit that kills an unstarted greenlet whose parent is unstarted starts the parent
    // with nothing. Python: k.throw(GreenletExit) with k.parent = u2 unstarted -> ('u2 started', ())
    let p = hub.spawn(logs_its_start(&log, "p"), None).unwrap();
    let k = hub.spawn(logs_if_run(&log, "k ran"), Some(&p)).unwrap();
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
    let x = hub
        .spawn(
            waits_at_main(&log, "x", s("x suspended"), |_: &H, _| Ok(s("x done"))),
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

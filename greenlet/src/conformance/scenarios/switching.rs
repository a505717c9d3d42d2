//! Switching: the language doc's example, main and current, switch and throw to the current
//! greenlet, values ping-ponging. Listed in `conformance_tests!`; the quoted Python experiments
//! were run on CPython greenlet 3.5.6.

use super::super::{body, s, Err, Log, Setup, Slot, Val};
use crate::{Hub, State};

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

/// `switch_ref` and `throw_ref` do what `switch` and `throw` with a clone do: start, resume,
/// raise at the pending switch, walk a dead greenlet's parent chain (an `exit` thrown into a
/// dead greenlet arrives as the exit value), and switch to the current greenlet at once; the
/// caller's handle stays a reference, so dropping it afterwards kills a suspended greenlet.
pub fn switch_ref_and_throw_ref_act_as_switch_and_throw_with_a_clone<H: Hub<Val> + 'static>(
    setup: &Setup,
) {
    let h = setup.hub::<H>();
    let main = h.main();
    let m2 = main.clone();
    let log = Log::default();
    let l = log.clone();
    let g = h
        .spawn(
            body(move |h: &H, start| {
                l.push(format!("start {start:?}"));
                assert_eq!(h.switch_ref(&h.current(), Val::Int(7)), Ok(Val::Int(7)));
                let r = h.switch_ref(&m2, Val::Int(10));
                l.push(format!("recv {r:?}"));
                let r = h.switch_ref(&m2, Val::Int(11));
                l.push(format!("recv {r:?}"));
                let r = h.switch_ref(&m2, Val::Int(12));
                l.push(format!("then {r:?}"));
                Ok(s("ended after the kill"))
            }),
            None,
        )
        .unwrap();
    assert_eq!(h.switch_ref(&g, Val::Int(1)), Ok(Val::Int(10)));
    assert_eq!(h.switch_ref(&g, Val::Int(2)), Ok(Val::Int(11)));
    assert_eq!(h.throw_ref(&g, Err::E(4)), Ok(Val::Int(12)));
    assert_eq!(h.state(&g), State::Suspended);
    assert_eq!(h.switch_ref(&main, Val::Int(5)), Ok(Val::Int(5)));
    drop(g);
    assert_eq!(
        log.take(),
        vec![
            "start Some(Int(1))",
            "recv Ok(Int(2))",
            "recv Err(E(4))",
            "then Err(Exit)",
        ]
    );
    let done = h.spawn(body(|_: &H, _| Ok(s("done"))), None).unwrap();
    assert_eq!(h.switch_ref(&done, Val::None), Ok(s("done")));
    assert_eq!(h.state(&done), State::Dead);
    assert_eq!(h.switch_ref(&done, Val::Int(3)), Ok(Val::Int(3)));
    assert_eq!(h.throw_ref(&done, Err::Exit), Ok(Val::Exit));
    assert_eq!(h.throw_ref(&done, Err::E(1)), Err(Err::E(1)));
}

//! The kill-on-last-reference scenarios (CPython greenlet 3.5.6's deallocation, the rule of
//! `docs/language.md` section 15, whose experiments `docs/experiments/drop/eNN` are cited):
//! the killer as parent during the kill and the old parent restored after it, the killed
//! greenlet switching away (the dropper left suspended inside its drop, resumed by any switch or
//! throw), errors swallowed into the unraisable hook, nested kills, a greenlet dropping its own
//! last handle, an error into an unstarted greenlet making it the killer, and weak handles.
//! Re-exported by `scenarios`, listed in `conformance_tests!`.

use std::sync::{Arc, Mutex};

use super::fixtures::{logs_if_run, parent_is_main};
use super::{body, s, Err, Log, Setup, Slot, Val};
use crate::{Body, Hub, State};

/// The unraisable hook, logging what it sees as `unraisable ERR`.
fn log_unraisable<H: Hub<Val> + 'static>(hub: &H, log: &Log) {
    let l = log.clone();
    hub.set_unraisable_hook(Box::new(move |_: &H, e: &Err| {
        l.push(format!("unraisable {e:?}"))
    }));
}

/// The greenlet a victim expects to be killed by (its parent during the kill): a weak handle,
/// shared with the victim's body, set once the killer exists.
struct Killer<H: Hub<Val>>(Arc<Mutex<Option<H::Weak>>>);

impl<H: Hub<Val>> Killer<H> {
    /// Not known yet: [`Killer::is`] names it later.
    fn unknown() -> Self {
        Killer(Arc::new(Mutex::new(None)))
    }

    /// Main.
    fn main(hub: &H) -> Self {
        Killer(Arc::new(Mutex::new(Some(hub.downgrade(&hub.main())))))
    }

    /// From now on the expected killer is `g`.
    fn is(&self, hub: &H, g: &H::Greenlet) {
        *self.0.lock().unwrap() = Some(hub.downgrade(g));
    }
}

/// A body that suspends to main with `s(NAME)`, and on a kill logs `NAME killed, parent is
/// killer: BOOL` (comparing its parent with `killer`) and then does `then`.
fn victim<H: Hub<Val> + 'static>(
    name: &'static str,
    log: &Log,
    killer: &Killer<H>,
    then: impl FnOnce(&H) -> Result<Val, Err> + Send + 'static,
) -> Body<H, Val> {
    let (l, k) = (log.clone(), Arc::clone(&killer.0));
    body(move |h: &H, _| match h.switch(h.main(), s(name)) {
        Err(Err::Exit) => {
            let parent = h.parent(&h.current()).map(|p| h.downgrade(&p));
            let expected = k.lock().unwrap().clone();
            l.push(format!(
                "{name} killed, parent is killer: {}",
                parent.is_some() && parent == expected
            ));
            then(h)
        }
        other => panic!("{name}: {other:?}"),
    })
}

/// Spawns `victim` under `parent` (main if `None`), switches into it until it suspends with
/// `s(NAME)`, and moves its only handle into a slot, whose clearing then kills it.
fn suspend_into_slot<H: Hub<Val> + 'static>(
    hub: &H,
    victim: Body<H, Val>,
    parent: Option<&H::Greenlet>,
    name: &str,
) -> Slot<H::Greenlet> {
    let v = hub.spawn(victim, parent).unwrap();
    assert_eq!(hub.switch(v.clone(), Val::None), Ok(s(name)));
    let slot = Slot::default();
    slot.set(&v);
    slot
}

/// A body, X, that drops the handle in `slot` (its victim's last one), logging `x drops v`
/// before and `x after drop` after, and returns `s("x done")`.
fn drops_the_victim<H: Hub<Val> + 'static>(log: &Log, slot: &Slot<H::Greenlet>) -> Body<H, Val> {
    let (l, sl) = (log.clone(), slot.clone());
    body(move |_: &H, _| {
        l.push("x drops v");
        sl.clear();
        l.push("x after drop");
        Ok(s("x done"))
    })
}

/// e06: during the kill the victim's parent is the killer (here a greenlet X, not main, and
/// not the victim's own parent P); after the kill its old parent P is back, and a victim
/// that survives (it switched to main instead of dying) is a zombie: suspended, weakly
/// reachable, never killed again.
pub fn a_kill_makes_the_killer_the_parent_and_restores_the_old_parent<H: Hub<Val> + 'static>(
    setup: &Setup,
) {
    let hub = setup.hub::<H>();
    let log = Log::default();
    let killer = Killer::unknown();
    // P: a suspended greenlet, the victim's parent.
    let p = hub
        .spawn(body(|h: &H, _| h.switch(h.main(), s("p"))), None)
        .unwrap();
    assert_eq!(hub.switch(p.clone(), Val::None), Ok(s("p")));
    let survives = victim("v", &log, &killer, |h: &H| {
        h.switch(h.main(), s("v survived"))
    });
    let slot = suspend_into_slot(&hub, survives, Some(&p), "v");
    let weak_v = hub.downgrade(&slot.get());
    let x = hub.spawn(drops_the_victim(&log, &slot), None).unwrap();
    killer.is(&hub, &x);
    // V switches to main while handling the kill: X is left suspended inside its drop.
    assert_eq!(hub.switch(x.clone(), Val::None), Ok(s("v survived")));
    assert_eq!(hub.state(&x), State::Suspended);
    let during = hub.upgrade(&weak_v).expect("v is alive");
    assert_eq!(hub.parent(&during), Some(x.clone()));
    drop(during);
    // Any switch resumes X inside its drop; the value is discarded.
    assert_eq!(hub.switch(x.clone(), s("ignored")), Ok(s("x done")));
    assert_eq!(
        log.take(),
        vec![
            "x drops v",
            "v killed, parent is killer: true",
            "x after drop"
        ]
    );
    let zombie = hub.upgrade(&weak_v).expect("a zombie still exists");
    assert_eq!(hub.state(&zombie), State::Suspended);
    assert_eq!(hub.parent(&zombie), Some(p.clone()));
    // Dropping a new handle to the zombie does not kill it again.
    drop(zombie);
    assert!(log.take().is_empty());
    assert_eq!(
        hub.state(&hub.upgrade(&weak_v).expect("still there")),
        State::Suspended
    );
    drop(p);
}

/// e01, e05 `return`, `raise_other`: what a killed greenlet ends with goes nowhere: its
/// value is discarded and its error goes to the unraisable hook; the dropper's drop returns
/// normally.
pub fn a_killed_greenlets_result_is_discarded_and_its_error_swallowed<H: Hub<Val> + 'static>(
    setup: &Setup,
) {
    let hub = setup.hub::<H>();
    let log = Log::default();
    log_unraisable(&hub, &log);
    let killer = Killer::main(&hub);
    let a = hub
        .spawn(victim("a", &log, &killer, |_| Ok(s("a value"))), None)
        .unwrap();
    let b = hub
        .spawn(victim("b", &log, &killer, |_| Err(Err::E(3))), None)
        .unwrap();
    assert_eq!(hub.switch(a.clone(), Val::None), Ok(s("a")));
    assert_eq!(hub.switch(b.clone(), Val::None), Ok(s("b")));
    let weak_a = hub.downgrade(&a);
    drop(a);
    log.push("a dropped");
    drop(b);
    log.push("b dropped");
    assert_eq!(
        log.take(),
        vec![
            "a killed, parent is killer: true",
            "a dropped",
            "b killed, parent is killer: true",
            "unraisable E(3)",
            "b dropped"
        ]
    );
    assert_eq!(hub.upgrade(&weak_a), None, "a dead victim is freed");
    assert_eq!(hub.current(), hub.main());
}

/// e07 `throw_E1`: a dropper left suspended inside its drop (its victim switched to main)
/// is resumed there by a throw as well: the error is swallowed (the unraisable hook sees it)
/// and the dropper goes on after its drop.
pub fn a_throw_into_a_dropper_suspended_in_its_drop_is_swallowed<H: Hub<Val> + 'static>(
    setup: &Setup,
) {
    let hub = setup.hub::<H>();
    let log = Log::default();
    log_unraisable(&hub, &log);
    let killer = Killer::unknown();
    let to_main = victim("v", &log, &killer, |h: &H| {
        h.switch(h.main(), s("v to main"))
    });
    let slot = suspend_into_slot(&hub, to_main, None, "v");
    let x = hub.spawn(drops_the_victim(&log, &slot), None).unwrap();
    killer.is(&hub, &x);
    assert_eq!(hub.switch(x.clone(), Val::None), Ok(s("v to main")));
    assert_eq!(hub.throw(x.clone(), Err::E(1)), Ok(s("x done")));
    assert_eq!(
        log.take(),
        vec![
            "x drops v",
            "v killed, parent is killer: true",
            "unraisable E(1)",
            "x after drop"
        ]
    );
}

/// e05 `drop_other`: a greenlet being killed that drops the last handle of another suspended
/// greenlet kills it at once, as its killer.
pub fn nested_kills_run_at_once_with_the_victim_as_killer<H: Hub<Val> + 'static>(setup: &Setup) {
    let hub = setup.hub::<H>();
    let log = Log::default();
    let by_main = Killer::main(&hub);
    let by_v = Killer::unknown();
    let o = victim("o", &log, &by_v, |_| Ok(Val::None));
    let slot = suspend_into_slot(&hub, o, None, "o");
    let (l, sl) = (log.clone(), slot.clone());
    let v = hub
        .spawn(
            victim("v", &log, &by_main, move |_| {
                sl.clear();
                l.push("v after drop");
                Ok(Val::None)
            }),
            None,
        )
        .unwrap();
    by_v.is(&hub, &v);
    assert_eq!(hub.switch(v.clone(), Val::None), Ok(s("v")));
    drop(v);
    assert_eq!(
        log.take(),
        vec![
            "v killed, parent is killer: true",
            "o killed, parent is killer: true",
            "v after drop"
        ]
    );
}

/// e04 `switch_main`: a greenlet that dropped its own last handle is killed when it switches
/// away, by the greenlet it switched to, before that one's switch returns; what it sent is
/// delivered afterwards.
pub fn dropping_your_own_last_handle_kills_you_when_you_switch_away<H: Hub<Val> + 'static>(
    setup: &Setup,
) {
    let hub = setup.hub::<H>();
    let log = Log::default();
    let slot = Slot::default();
    let (l, sl) = (log.clone(), slot.clone());
    let a = hub
        .spawn(
            body(move |h: &H, _| {
                sl.clear();
                l.push(format!("a still {:?}", h.state(&h.current())));
                match h.switch(h.main(), s("a to main")) {
                    Err(Err::Exit) => {
                        l.push(format!("a killed, parent is main: {}", parent_is_main(h)));
                        Err(Err::Exit)
                    }
                    other => panic!("{other:?}"),
                }
            }),
            None,
        )
        .unwrap();
    slot.set(&a);
    let weak = hub.downgrade(&a);
    // `switch` takes main's handle: the slot is the only reference while `a` runs.
    let r = hub.switch(a, Val::None);
    log.push(format!("main recv {r:?}"));
    assert_eq!(
        log.take(),
        vec![
            "a still Running",
            "a killed, parent is main: true",
            "main recv Ok(Str(\"a to main\"))"
        ]
    );
    assert_eq!(hub.upgrade(&weak), None);
}

/// e09 `throw`: an error thrown into an unstarted greenlet starts it for a moment (greenlet's
/// `g_initialstub`), so a thrower that dropped its own last handle is killed by that
/// greenlet, which then dies with the error without running its body.
pub fn an_error_into_an_unstarted_greenlet_makes_it_the_killer<H: Hub<Val> + 'static>(
    setup: &Setup,
) {
    let hub = setup.hub::<H>();
    let log = Log::default();
    let u = hub.spawn(logs_if_run(&log, "u body runs"), None).unwrap();
    let weak_u = hub.downgrade(&u);
    let slot = Slot::default();
    let (l, sl, u2) = (log.clone(), slot.clone(), Slot::default());
    u2.set(&u);
    let x = hub
        .spawn(
            body(move |h: &H, _| {
                sl.clear();
                let target = u2.get();
                u2.clear();
                match h.throw(target, Err::E(1)) {
                    Err(Err::Exit) => {
                        let p = h.parent(&h.current()).map(|p| h.downgrade(&p));
                        l.push(format!(
                            "x killed, parent is u: {}",
                            p == Some(weak_u.clone())
                        ));
                        Err(Err::Exit)
                    }
                    other => panic!("{other:?}"),
                }
            }),
            None,
        )
        .unwrap();
    slot.set(&x);
    let r = hub.switch(x, Val::None);
    log.push(format!("main got {r:?}"));
    assert_eq!(
        log.take(),
        vec!["x killed, parent is u: true", "main got Err(E(1))"]
    );
    assert_eq!(hub.state(&u), State::Dead);
}

/// Weak handles are not references: an unstarted or dead greenlet whose last handle goes is
/// gone for them; equal weak handles name the same greenlet.
pub fn weak_handles_do_not_keep_greenlets_alive<H: Hub<Val> + 'static>(setup: &Setup) {
    let hub = setup.hub::<H>();
    let g = hub.spawn(body(|_: &H, v| Ok(v.unwrap())), None).unwrap();
    let w = hub.downgrade(&g);
    assert_eq!(w, hub.downgrade(&g.clone()));
    assert_eq!(hub.upgrade(&w), Some(g.clone()));
    assert_eq!(hub.switch(g.clone(), Val::Int(5)), Ok(Val::Int(5)));
    assert_eq!(hub.state(&hub.upgrade(&w).unwrap()), State::Dead);
    drop(g);
    assert_eq!(hub.upgrade(&w), None);
    let other = hub.spawn(body(|_: &H, _| Ok(Val::None)), None).unwrap();
    assert_ne!(hub.downgrade(&other), w);
    assert_eq!(hub.upgrade(&hub.downgrade(&hub.main())), Some(hub.main()));
}

//! Set-up the scenarios share: the shapes of greenlet body several scenarios spawn (one that
//! logs how it was started, one whose running is the thing checked, one that waits at a switch
//! to main and logs what comes back, a survivor of its kill), and the check that the current
//! greenlet's parent is main. The helpers build a body or answer a question, and the scenarios
//! spawn, switch and assert themselves, so each one reads top to bottom; the one exception,
//! [`leave_a_kill_survivor`], does the whole set-up two tests share (spawn, start, drop, one
//! kill checked).
//! Public because the backends' own tests use them too (`impls/tests/conformance.rs`).

use std::fmt::Display;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::{body, s, Err, Log, Val};
use crate::{Body, Hub, Outcome};

/// A body that logs `NAME start VALUE` (what it was started with, `{:?}`) and returns
/// `s(NAME)`.
pub fn logs_its_start<H: Hub<Val>>(log: &Log, name: &'static str) -> Body<H, Val> {
    let l = log.clone();
    body(move |_: &H, v| {
        l.push(format!("{name} start {v:?}"));
        Ok(s(name))
    })
}

/// A body whose running is what a scenario checks: it logs `event` and returns `Val::None`.
pub fn logs_if_run<H: Hub<Val>>(log: &Log, event: &'static str) -> Body<H, Val> {
    let l = log.clone();
    body(move |_: &H, _| {
        l.push(event);
        Ok(Val::None)
    })
}

/// A body that switches to main with `sent`; when it is resumed it logs `NAME recv RESULT`
/// (the switch's result, `{:?}`) and ends with what `then` makes of that result (`then` gets
/// the hub too, for one more log line or check).
pub fn waits_at_main<H: Hub<Val>>(
    log: &Log,
    name: impl Display + Send + 'static,
    sent: Val,
    then: impl FnOnce(&H, Outcome<Val>) -> Outcome<Val> + Send + 'static,
) -> Body<H, Val> {
    let l = log.clone();
    body(move |h: &H, _| {
        let r = h.switch(h.main(), sent);
        l.push(format!("{name} recv {r:?}"));
        then(h, r)
    })
}

/// Whether the current greenlet's parent is main (`false` for main, which has none).
pub fn parent_is_main<H: Hub<Val>>(h: &H) -> bool {
    h.parent(&h.current()) == Some(h.main())
}

/// Spawns a greenlet that resists its kills, runs it to its first switch and drops its only
/// handle, and checks that this killed it once (which it survived, left suspended). From then
/// on each GreenletExit it gets is logged (`recv Err(Exit)`) and counted in `kills` (the first
/// included), and it gives up (returns `Val::None`) at the `gives_up_at`-th; anything but
/// GreenletExit fails the scenario.
pub fn leave_a_kill_survivor<H: Hub<Val>>(
    hub: &H,
    log: &Log,
    kills: &Arc<AtomicUsize>,
    gives_up_at: usize,
) {
    let g = hub
        .spawn(resists_kills(log, kills, gives_up_at), None)
        .unwrap();
    hub.switch(g.clone(), Val::None).unwrap();
    drop(g);
    assert_eq!(
        kills.load(Ordering::SeqCst),
        1,
        "dropping it killed it once"
    );
}

/// The body [`leave_a_kill_survivor`] spawns: it switches to main with `Int(1)` again and
/// again.
fn resists_kills<H: Hub<Val>>(
    log: &Log,
    kills: &Arc<AtomicUsize>,
    gives_up_at: usize,
) -> Body<H, Val> {
    let (l, k) = (log.clone(), Arc::clone(kills));
    body(move |h: &H, _| loop {
        let r = h.switch(h.main(), Val::Int(1));
        l.push(format!("recv {r:?}"));
        match r {
            Err(Err::Exit) => {
                if k.fetch_add(1, Ordering::SeqCst) + 1 == gives_up_at {
                    return Ok(Val::None);
                }
            }
            other => panic!("{other:?}"),
        }
    })
}

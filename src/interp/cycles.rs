//! Parent cycles (`docs/language.md`, section 8, "Parent cycles"): the walks up a parent chain
//! that would never end. A kill's parent restore (section 15, step 6) can close a cycle in the
//! parent links; greenlet 3.5.6 then loops forever, in C and without fuel, when it walks round
//! it (a switch or throw to a dead greenlet, a body's result or error going to its parent) or
//! when a new parent's chain runs into it (greenlet's parent setter, which `reparent` and
//! `spawn` use). The language bounds every such walk; this module finds them before the hub is
//! asked to make one, so that the hubs (which walk exactly as greenlet does) never loop. The
//! reference runner (`tools/greenlet_runner.py`) makes the same checks with the same rules.

use super::RtValue;
use crate::lang::ast;
use switchyard_impls::greenlet::{Hub, State};

/// Whether the walk from `start` up its parent chain comes back to a greenlet it has passed,
/// the walk passing exactly the greenlets `passes` says (it stops at the first other one).
fn walk_loops<H: Hub<RtValue>>(
    hub: &H,
    start: H::Greenlet,
    passes: impl Fn(&H::Greenlet, State) -> bool,
) -> bool {
    // Weak handles only: the walk must not add references (a strong handle lives one step).
    let mut passed: Vec<H::Weak> = Vec::new();
    let mut g = start;
    loop {
        if !passes(&g, hub.state(&g)) {
            return false;
        }
        let weak = hub.downgrade(&g);
        if passed.contains(&weak) {
            return true;
        }
        passed.push(weak);
        match hub.parent(&g) {
            Some(p) => g = p,
            None => return false,
        }
    }
}

/// `switch target V`: a value passes dead greenlets only.
pub(super) fn switch_loops<H: Hub<RtValue>>(hub: &H, target: &H::Greenlet) -> bool {
    walk_loops(hub, target.clone(), |_, s| s == State::Dead)
}

/// `throw target E`: an error passes dead and unstarted greenlets (an unstarted one dies of
/// it); `exit` is the value `exit` once it has passed the target (section 7).
pub(super) fn throw_loops<H: Hub<RtValue>>(
    hub: &H,
    target: &H::Greenlet,
    error: ast::Error,
) -> bool {
    if error == ast::Error::Exit {
        walk_loops(hub, target.clone(), |g, s| {
            s == State::Dead || (s == State::Unstarted && g == target)
        })
    } else {
        walk_loops(hub, target.clone(), |_, s| {
            s == State::Dead || s == State::Unstarted
        })
    }
}

/// The current greenlet's body ends, with a value (`exit` included) or with an error: its
/// result walks up from it, the ending greenlet counting as dead.
pub(super) fn end_loops<H: Hub<RtValue>>(hub: &H, error: bool) -> bool {
    let me = hub.current();
    walk_loops(hub, me.clone(), |g, s| {
        g == &me || s == State::Dead || (error && s == State::Unstarted)
    })
}

/// Whether `parent`'s chain, followed whatever the states, runs into a cycle before it reaches
/// main or `child` (greenlet's parent setter would loop on it; reaching `child` is the
/// ordinary `badparent` the hub reports).
pub(super) fn chain_loops<H: Hub<RtValue>>(
    hub: &H,
    parent: &H::Greenlet,
    child: Option<&H::Greenlet>,
) -> bool {
    walk_loops(hub, parent.clone(), |g, _| Some(g) != child)
}

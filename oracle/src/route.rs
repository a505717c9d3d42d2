//! The hub's state machine under its lock: routing a switch or a throw (walking past dead
//! greenlets, killing unstarted ones hit by an error, starting or resuming the one reached),
//! reference counts, and what a last reference's release does (free, kill, zombie). Runs with
//! the `HubState` mutex held; it never blocks, never runs user code and wakes no thread (the
//! caller passes the [`Baton`] a routed switch returns once the lock is released).

use super::*;

impl<V: Payload> HubState<V> {
    pub(crate) fn rec(&mut self, id: Id) -> &mut Record<V> {
        self.records
            .get_mut(&id)
            .expect("switchyard-oracle: a referenced greenlet has no record")
    }

    pub(crate) fn on_current_thread(&self) -> bool {
        self.records
            .get(&self.current)
            .is_some_and(|r| r.thread == thread::current().id())
    }

    /// Routes `msg` to `target` (greenlet semantics, see `switchyard_greenlet`), making the
    /// greenlet it reaches current. `inner` is needed to start bodies.
    pub(crate) fn route(
        &mut self,
        inner: &Arc<Inner<V>>,
        mut target: Id,
        mut msg: Outcome<V>,
        garbage: &mut Garbage<V>,
    ) -> Step<V> {
        loop {
            let current = self.current;
            let rec = self.rec(target);
            if let Phase::Dead = rec.phase {
                // Up the chain; an exit error becomes the exit value on the way.
                msg = match msg {
                    Err(e) if V::is_exit(&e) => {
                        garbage.outcomes.push(Err(e));
                        Ok(V::exit_value())
                    }
                    m => m,
                };
                target = rec.parent.expect("main is never dead");
                continue;
            }
            if target == current {
                return Step::Immediate(msg);
            }
            match std::mem::replace(&mut rec.phase, Phase::Started) {
                Phase::Unstarted { body, worker } => {
                    // An error starts it too (greenlet's `g_initialstub`): it is current for a
                    // moment, releases the greenlet that switched to it, and dies with the
                    // error without running its body (see `run_body`).
                    let start = match msg {
                        Err(e) => Err(e),
                        Ok(v) if v.is_exit_value() => {
                            garbage.outcomes.push(Ok(v));
                            Ok(None)
                        }
                        Ok(v) => Ok(Some(v)),
                    };
                    self.current = target;
                    let inner = Arc::clone(inner);
                    let id = target;
                    let job: pool::Job = Box::new(move || run_body(inner, id, body, start));
                    return Step::Handed(Baton::Start(worker, job));
                }
                Phase::Started => {
                    rec.inbox = Some(msg);
                    let cv = Arc::clone(&rec.cv);
                    self.current = target;
                    return Step::Handed(Baton::Resume(cv));
                }
                Phase::Dead => unreachable!("handled above"),
            }
        }
    }

    /// Drops one reference to `id`, releasing whatever reaches zero (see the crate doc).
    pub(crate) fn dec_ref(&mut self, id: Id, garbage: &mut Garbage<V>) {
        let mut work = vec![id];
        while let Some(id) = work.pop() {
            if id == MAIN {
                continue;
            }
            let current = self.current;
            let Some(rec) = self.records.get_mut(&id) else {
                continue;
            };
            rec.refs -= 1;
            if rec.refs > 0 || rec.held() {
                continue;
            }
            match rec.phase {
                Phase::Unstarted { .. } | Phase::Dead => {
                    let rec = self.records.remove(&id).expect("present");
                    work.extend(rec.parent);
                    garbage.records.push(rec);
                }
                Phase::Started => {
                    if id != current && !rec.held() {
                        self.pending_kills.push(id);
                    }
                }
            }
        }
    }

    pub(crate) fn inc_ref(&mut self, id: Id) {
        if let Some(rec) = self.records.get_mut(&id) {
            rec.refs += 1;
        }
    }

    /// Prepares the kill of suspended `id`: takes the kill's reference and sets its parent to
    /// the current greenlet. `None`: nothing to kill. `Some(old)`: the old parent, whose link
    /// (still counted) the caller puts back with `finish_kill`.
    pub(crate) fn prepare_kill(&mut self, id: Id) -> Option<Option<Id>> {
        let current = self.current;
        let rec = self.records.get_mut(&id)?;
        if !matches!(rec.phase, Phase::Started) || id == current {
            return None;
        }
        rec.killing += 1;
        let old = rec.parent.replace(current);
        self.inc_ref(current);
        Some(old)
    }

    /// Ends a kill of `id`: drops the kill's reference, puts the old parent back (releasing the
    /// killer's link), and frees or zombifies the victim if nothing refers to it.
    pub(crate) fn finish_kill(&mut self, id: Id, old: Option<Id>, garbage: &mut Garbage<V>) {
        let current = self.current;
        let Some(rec) = self.records.get_mut(&id) else {
            return;
        };
        rec.killing -= 1;
        let killer = std::mem::replace(&mut rec.parent, old);
        let unreferenced = rec.refs == 0 && !rec.held() && id != current;
        if unreferenced {
            match rec.phase {
                Phase::Started => rec.zombie = true,
                Phase::Unstarted { .. } | Phase::Dead => {
                    let rec = self.records.remove(&id).expect("present");
                    self.dec_ref_opt(rec.parent, garbage);
                    garbage.records.push(rec);
                }
            }
        }
        self.dec_ref_opt(killer, garbage);
    }

    pub(crate) fn dec_ref_opt(&mut self, id: Option<Id>, garbage: &mut Garbage<V>) {
        if let Some(id) = id {
            self.dec_ref(id, garbage);
        }
    }
}

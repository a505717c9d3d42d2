//! The interpreter: runs a [`Program`] on any greenlet backend, driving greenlets only through
//! the [`Hub`] trait, and records the program's trace (`docs/language.md`).
//!
//! Program errors travel as values ([`Raised`]), never as panics, so that the interpreter runs
//! unchanged under libFuzzer (whose panic hook aborts on every panic, even a caught one).
//! Findings that are not trace events (stack corruption, a panic in a body, a backend that
//! cannot create a greenlet) end the run with a [`Fatal`].
//!
//! Contract: depends on [`crate::lang`] and, of `switchyard_impls`, the greenlet trait, the
//! register probe and `runtime::live_hub` (a run must leave no hub alive on its thread) only. This
//! file is the executor of every statement kind, with its shared state and fuel (one state
//! machine, kept in one place so that each statement's semantics is written once); `values`
//! holds the run-time values, errors and findings.

use crate::lang::ast::{self, Block, Catch, Program, Ref, Stmt, MAX_SPAWNS};
use crate::lang::trace::Trace;
use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, MutexGuard};
use switchyard_impls::greenlet::{BackendError, Body, Hub, HubConfig, State};
use switchyard_impls::{probe, runtime};

mod cycles;
mod values;
pub use values::{Fatal, Raised, RtValue, RunCounts, RunResult};

/// The weak handle type of hub `H`.
type WeakOf<H> = <H as Hub<RtValue>>::Weak;

/// State shared by every greenlet of one run. It is locked only briefly, never across a hub
/// call, so that no greenlet ever waits for a lock held by a suspended one.
///
/// The run holds exactly the references the language counts (`docs/language.md`, "drop"):
/// the slots, and the greenlets a `spawn` overwrote (`kept`, for good). Every other handle the
/// interpreter makes lives only during one statement and is given up before any switch
/// (`switch`/`throw` take it), so that the hub's reference counts are the program's.
struct Shared<G, W> {
    fuel: u64,
    slots: [Option<G>; ast::SLOTS as usize],
    /// Greenlets whose slot a `spawn` overwrote: referenced until the end of the run.
    kept: Vec<G>,
    /// Every greenlet spawned, weakly, in id order (greenlet `#i` is at index `i - 1`).
    greenlets: Vec<W>,
    trace: Vec<String>,
    /// Set once `end` is recorded or a fatal finding is made: every statement then halts.
    halted: bool,
    fatal: Option<Fatal>,
    counts: RunCounts,
}

/// Everything one greenlet's execution needs.
struct Exec<'a, H: Hub<RtValue>> {
    hub: &'a H,
    program: &'a Arc<Program>,
    shared: &'a Arc<Mutex<Shared<H::Greenlet, WeakOf<H>>>>,
    backend: &'a str,
    /// The id of the greenlet executing.
    me: usize,
    /// Whether this run fills [`RunCounts`].
    counting: bool,
}

/// How a block stops early.
enum Flow {
    Return(RtValue),
    Raise(Raised),
}

type Step = Result<(), Flow>;

/// Runs `program` on backend `H` (named `backend` in findings) on the calling thread.
pub fn run<H: Hub<RtValue>>(program: &Program, backend: &str, config: &HubConfig) -> RunResult {
    run_shared::<H>(&Arc::new(program.clone()), backend, config)
}

/// [`run`] on a program already shared: the greenlets' bodies refer to it, no copy is made
/// (the differential comparison runs one program on every backend).
pub fn run_shared<H: Hub<RtValue>>(
    program: &Arc<Program>,
    backend: &str,
    config: &HubConfig,
) -> RunResult {
    run_hub::<H>(program, backend, config, false).0
}

/// [`run`], also returning what the run did that its trace does not show (counting costs a
/// state look-up and a lock on every switch, so plain runs do not count).
pub fn run_counted<H: Hub<RtValue>>(
    program: &Program,
    backend: &str,
    config: &HubConfig,
) -> (RunResult, RunCounts) {
    run_hub::<H>(&Arc::new(program.clone()), backend, config, true)
}

fn run_hub<H: Hub<RtValue>>(
    program: &Arc<Program>,
    backend: &str,
    config: &HubConfig,
    counting: bool,
) -> (RunResult, RunCounts) {
    // A corruption left over from an earlier run on this thread is not this run's.
    let _ = probe::take_corruption();
    // A hub that was alive before the run (the caller's own) is not this run's leak.
    let hub_before = runtime::live_hub().is_some();
    let checks_before = probe::checks();
    let hub = match H::new(config) {
        Ok(hub) => hub,
        Err(e) => return (Err(backend_fatal(backend, &e)), RunCounts::default()),
    };
    let shared = Arc::new(Mutex::new(Shared {
        fuel: program.fuel(),
        slots: Default::default(),
        kept: Vec::new(),
        greenlets: Vec::new(),
        trace: Vec::new(),
        halted: false,
        fatal: None,
        counts: RunCounts::default(),
    }));
    let program = Arc::clone(program);
    hub.set_unraisable_hook(unraisable_hook::<H>(Arc::clone(&shared), backend));
    let main = Exec {
        hub: &hub,
        program: &program,
        shared: &shared,
        backend,
        me: 0,
        counting,
    };
    match main.block(&program.main) {
        Ok(()) => main.record(format_args!("finish none")),
        Err(Flow::Return(v)) => main.record(format_args!("finish {v}")),
        Err(Flow::Raise(e)) => main.record_failure(&e),
    }
    main.teardown();
    main.record_end();
    // Release everything outside the lock: dropping the last handle of a suspended greenlet
    // makes the backend kill it, which runs its body (halting at once, recording nothing).
    let (trace, fatal, kept, slots, counts) = {
        let mut s = main.lock();
        s.halted = true;
        (
            std::mem::take(&mut s.trace),
            s.fatal.take(),
            std::mem::take(&mut s.kept),
            std::mem::take(&mut s.slots),
            s.counts,
        )
    };
    drop(slots);
    drop(kept);
    drop(hub);
    // Switches made outside the statements' checks (kills on the last handle's drop) are
    // checked here.
    let fatal = fatal.or_else(|| {
        probe::take_corruption().map(|c| Fatal::RegisterCorruption {
            backend: backend.to_string(),
            detail: format!("{c} (a switch during the run's clean-up)"),
        })
    });
    // Every handle the run made is gone: no hub may survive it on this thread (a leaked one
    // would make every later hub of another backend here fail).
    let fatal = fatal.or_else(|| {
        let leaked = if hub_before {
            None
        } else {
            runtime::live_hub()
        };
        leaked.map(|detail| Fatal::HubLeak {
            backend: backend.to_string(),
            detail,
        })
    });
    let result = match fatal {
        Some(f) => Err(f),
        None => Ok(Trace { lines: trace }),
    };
    let counts = RunCounts {
        register_checks: probe::checks() - checks_before,
        ..counts
    };
    (result, counts)
}

/// The trace id of greenlet `g` (`#?` for one the run never spawned).
fn id_in<H: Hub<RtValue>>(
    hub: &H,
    shared: &Mutex<Shared<H::Greenlet, WeakOf<H>>>,
    g: &H::Greenlet,
) -> String {
    if *g == hub.main() {
        return "#0".to_string();
    }
    let weak = hub.downgrade(g);
    let s = shared.lock().unwrap_or_else(|p| p.into_inner());
    match s.greenlets.iter().position(|x| *x == weak) {
        Some(i) => format!("#{}", i + 1),
        None => "#?".to_string(),
    }
}

/// Records `#I kill #J` for the current greenlet J, killed by I (its parent during the kill).
fn record_kill<H: Hub<RtValue>>(hub: &H, shared: &Mutex<Shared<H::Greenlet, WeakOf<H>>>) {
    let victim = hub.current();
    let killer = match hub.parent(&victim) {
        Some(p) => id_in(hub, shared, &p),
        None => "-".to_string(),
    };
    let victim = id_in(hub, shared, &victim);
    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
    if !s.halted {
        s.trace.push(format!("{killer} kill {victim}"));
    }
}

/// The hook that sees the errors the hub swallows: a kill that reached a greenlet suspended
/// inside a release (recorded like any kill), and the errors killed greenlets end with
/// (ignored, as greenlet's unraisable hook does in the reference runner), except a panic,
/// which is a finding.
fn unraisable_hook<H: Hub<RtValue>>(
    shared: Arc<Mutex<Shared<H::Greenlet, WeakOf<H>>>>,
    backend: &str,
) -> switchyard_impls::greenlet::UnraisableHook<H, RtValue> {
    let backend = backend.to_string();
    Box::new(move |hub: &H, error: &Raised| match error {
        Raised::Kill => record_kill(hub, &shared),
        Raised::Panic(message) => {
            let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
            if s.fatal.is_none() {
                s.fatal = Some(Fatal::Panic {
                    backend: backend.clone(),
                    message: message.clone(),
                });
            }
            s.halted = true;
        }
        _ => {}
    })
}

fn backend_fatal(backend: &str, error: &BackendError) -> Fatal {
    Fatal::Backend {
        backend: backend.to_string(),
        error: error.to_string(),
    }
}

impl<'a, H: Hub<RtValue>> Exec<'a, H> {
    fn lock(&self) -> MutexGuard<'a, Shared<H::Greenlet, WeakOf<H>>> {
        // A poisoned lock can only come from a panic already reported as a finding.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `#me EVENT` unless the run has halted (the line formatted once, in place).
    fn record(&self, event: fmt::Arguments<'_>) {
        let mut s = self.lock();
        if s.halted {
            return;
        }
        let mut line = String::with_capacity(24);
        let _ = write!(line, "#{} {event}", self.me);
        s.trace.push(line);
    }

    /// Records the bare `end` that ends every trace, unless the run has halted.
    fn record_end(&self) {
        let mut s = self.lock();
        if !s.halted {
            s.trace.push("end".to_string());
        }
    }

    /// Records the failure of a body, unless the error is the run halting.
    fn record_failure(&self, error: &Raised) {
        match error {
            Raised::Error(e) => self.record(format_args!("fail {e}")),
            Raised::Fuel => self.record(format_args!("fail fuel")),
            Raised::Halt | Raised::Panic(_) => {}
            Raised::Kill => self.record(format_args!("fail exit")),
        }
    }

    /// Makes a fatal finding (the first one wins) and halts the run.
    fn fatal(&self, finding: Fatal) -> Flow {
        let mut s = self.lock();
        if s.fatal.is_none() {
            s.fatal = Some(finding);
        }
        s.halted = true;
        Flow::Raise(Raised::Halt)
    }

    /// An error that reached this greenlet from a switch or throw.
    fn raised(&self, error: Raised) -> Flow {
        match error {
            Raised::Panic(message) => self.fatal(Fatal::Panic {
                backend: self.backend.to_string(),
                message,
            }),
            other => Flow::Raise(other),
        }
    }

    fn block(&self, block: &Block) -> Step {
        for stmt in block {
            self.stmt(stmt)?;
        }
        Ok(())
    }

    fn pay_fuel(&self) -> Step {
        let mut s = self.lock();
        if s.halted {
            return Err(Flow::Raise(Raised::Halt));
        }
        if s.fuel == 0 {
            return Err(Flow::Raise(Raised::Fuel));
        }
        s.fuel -= 1;
        Ok(())
    }

    fn resolve(&self, r: Ref) -> Result<H::Greenlet, Flow> {
        let unbound = || Flow::Raise(Raised::Error(ast::Error::Unbound));
        match r {
            Ref::Slot(k) => self.lock().slots[k as usize].clone().ok_or_else(unbound),
            Ref::Main => Ok(self.hub.main()),
            Ref::Current => Ok(self.hub.current()),
            Ref::Parent => self.hub.parent(&self.hub.current()).ok_or_else(unbound),
        }
    }

    /// The trace id of a greenlet.
    fn id_of(&self, g: &H::Greenlet) -> String {
        id_in(self.hub, self.shared, g)
    }

    /// A fatal finding if the register probe saw a backend switch corrupt a register during
    /// the hub call just made (`what`).
    fn check_registers(&self, what: &str) -> Step {
        match probe::take_corruption() {
            None => Ok(()),
            Some(c) => Err(self.fatal(Fatal::RegisterCorruption {
                backend: self.backend.to_string(),
                detail: format!("{c} (seen by greenlet #{} after a {what})", self.me),
            })),
        }
    }

    /// Counts a `switch`/`throw` target by its state before the switch.
    fn count_target(&self, target: &H::Greenlet) {
        if !self.counting {
            return;
        }
        let index = RunCounts::index(self.hub.state(target));
        self.lock().counts.targets[index] += 1;
    }

    fn after_switch(&self, outcome: Result<RtValue, Raised>) -> Step {
        match outcome {
            Ok(v) => {
                self.record(format_args!("recv {v}"));
                Ok(())
            }
            Err(Raised::Kill) => {
                record_kill(self.hub, self.shared);
                Err(Flow::Raise(Raised::Error(ast::Error::Exit)))
            }
            Err(e) => Err(self.raised(e)),
        }
    }

    fn stmt(&self, stmt: &Stmt) -> Step {
        self.pay_fuel()?;
        match stmt {
            Stmt::Spawn { slot, body, parent } => self.spawn(*slot, body, *parent),
            Stmt::Switch(r, v) => {
                let target = self.resolve(*r)?;
                // A value that would go round a parent cycle goes to main instead.
                let target = if cycles::switch_loops(self.hub, &target) {
                    self.hub.main()
                } else {
                    target
                };
                self.count_target(&target);
                let outcome = self.hub.switch(target, RtValue::from(v));
                self.check_registers("switch")?;
                self.after_switch(outcome)
            }
            Stmt::Throw(r, e) => {
                let target = self.resolve(*r)?;
                // An error that would go round a parent cycle is thrown to main instead.
                let target = if cycles::throw_loops(self.hub, &target, *e) {
                    self.hub.main()
                } else {
                    target
                };
                self.count_target(&target);
                let outcome = self.hub.throw(target, Raised::Error(*e));
                self.check_registers("throw")?;
                self.after_switch(outcome)
            }
            Stmt::Return(v) => Err(Flow::Return(RtValue::from(v))),
            Stmt::Raise(e) => Err(Flow::Raise(Raised::Error(*e))),
            Stmt::Try {
                body,
                catch,
                handler,
            } => match self.block(body) {
                Err(Flow::Raise(Raised::Error(e)))
                    if *catch == Catch::Any || *catch == Catch::Error(e) =>
                {
                    self.record(format_args!("caught {e}"));
                    self.block(handler)
                }
                other => other,
            },
            Stmt::Repeat(n, block) => {
                for _ in 0..*n {
                    self.block(block)?;
                }
                Ok(())
            }
            Stmt::Recurse(n, block) => self.recurse(*n, block),
            Stmt::Reparent(a, b) => {
                let greenlet = self.resolve(*a)?;
                let parent = self.resolve(*b)?;
                if cycles::chain_loops(self.hub, &parent, Some(&greenlet)) {
                    return Err(Flow::Raise(Raised::Error(ast::Error::BadParent)));
                }
                self.hub
                    .set_parent(&greenlet, &parent)
                    .map_err(|_| Flow::Raise(Raised::Error(ast::Error::BadParent)))
            }
            Stmt::Observe(r) => {
                let g = self.resolve(*r)?;
                let state = self.hub.state(&g);
                let parent = match self.hub.parent(&g) {
                    Some(p) => self.id_of(&p),
                    None => "-".to_string(),
                };
                let id = self.id_of(&g);
                self.record(format_args!(
                    "observe {id} {} parent {parent}",
                    state.as_str()
                ));
                Ok(())
            }
            Stmt::Drop(k) => {
                let held = self.lock().slots[*k as usize].take();
                let Some(greenlet) = held else {
                    return Err(Flow::Raise(Raised::Error(ast::Error::Unbound)));
                };
                // The slot's reference goes here, outside the lock: a kill runs inside it.
                drop(greenlet);
                Ok(())
            }
        }
    }

    fn spawn(&self, slot: u8, body: &str, parent: Option<Ref>) -> Step {
        let parent = match parent {
            Some(r) => Some(self.resolve(r)?),
            None => None,
        };
        let id = {
            let s = self.lock();
            if s.greenlets.len() >= MAX_SPAWNS {
                return Err(Flow::Raise(Raised::Error(ast::Error::Limit)));
            }
            s.greenlets.len() + 1
        };
        // A parent whose chain runs into a cycle is refused, as `reparent` refuses it.
        let looped = match &parent {
            Some(p) => cycles::chain_loops(self.hub, p, None),
            None => cycles::chain_loops(self.hub, &self.hub.current(), None),
        };
        if looped {
            return Err(Flow::Raise(Raised::Error(ast::Error::BadParent)));
        }
        let Some(def) = self.program.def_index(body) else {
            // The parser rejects undefined bodies; a program built by hand may still have one.
            return Err(self.fatal(Fatal::Panic {
                backend: self.backend.to_string(),
                message: format!("spawn names undefined body '{body}'"),
            }));
        };
        let greenlet = match self.hub.spawn(self.body(def, id), parent.as_ref()) {
            Ok(g) => g,
            Err(e) => return Err(self.fatal(backend_fatal(self.backend, &e))),
        };
        let weak = self.hub.downgrade(&greenlet);
        let mut s = self.lock();
        s.greenlets.push(weak);
        if !s.halted {
            s.trace.push(format!("#{} spawn #{id}", self.me));
        }
        // Overwriting a slot does not release its greenlet: the run keeps it (the language's
        // choice, which keeps every trace of programs without `drop` as it was).
        if let Some(old) = s.slots[slot as usize].replace(greenlet) {
            s.kept.push(old);
        }
        Ok(())
    }

    /// The body closure of greenlet `id` running def number `def`.
    fn body(&self, def: usize, id: usize) -> Body<H, RtValue> {
        let program = Arc::clone(self.program);
        let shared = Arc::clone(self.shared);
        let backend = self.backend.to_string();
        let counting = self.counting;
        Box::new(move |hub: &H, start: Option<RtValue>| {
            let exec = Exec {
                hub,
                program: &program,
                shared: &shared,
                backend: &backend,
                me: id,
                counting,
            };
            if exec.lock().halted {
                return Err(Raised::Halt);
            }
            match &start {
                Some(v) => exec.record(format_args!("start {v}")),
                None => exec.record(format_args!("start ()")),
            }
            match exec.block(&program.defs[def].body) {
                Ok(()) => {
                    exec.record(format_args!("finish none"));
                    exec.end_walk(false);
                    Ok(RtValue::None)
                }
                Err(Flow::Return(v)) => {
                    exec.record(format_args!("finish {v}"));
                    exec.end_walk(false);
                    Ok(v)
                }
                Err(Flow::Raise(e)) => {
                    exec.record_failure(&e);
                    match e {
                        Raised::Kill | Raised::Error(ast::Error::Exit) => exec.end_walk(false),
                        Raised::Error(_) | Raised::Fuel => exec.end_walk(true),
                        Raised::Halt | Raised::Panic(_) => {}
                    }
                    Err(e)
                }
            }
        })
    }

    /// Just before the current body ends: if its result (an `error` or a value) would go round
    /// a parent cycle, main becomes its parent, so that main receives it.
    fn end_walk(&self, error: bool) {
        if cycles::end_loops(self.hub, error) {
            // Main's chain is main alone: setting it cannot fail.
            let _ = self.hub.set_parent(&self.hub.current(), &self.hub.main());
        }
    }

    /// `recurse n block`: `n` real nested native frames, each holding data on its own stack
    /// that it checks after the block returns.
    #[inline(never)]
    fn recurse(&self, n: u32, block: &Block) -> Step {
        if n == 0 {
            return self.block(block);
        }
        let expected = frame_pattern(n, self.me);
        let mut on_stack = expected;
        // The pattern's address escapes, so it must really live in this frame's memory and be
        // read back from there below.
        std::hint::black_box(&mut on_stack);
        let result = self.recurse(n - 1, block);
        let seen = *std::hint::black_box(&mut on_stack);
        if seen != expected {
            return Err(self.fatal(Fatal::StackCorruption {
                backend: self.backend.to_string(),
                detail: format!(
                    "greenlet #{} recurse frame {n}: expected {expected:016x?}, found {seen:016x?}",
                    self.me
                ),
            }));
        }
        result
    }

    /// Teardown: one pass over the greenlets in id order (ones spawned meanwhile included,
    /// zombies too); each suspended one gets main as parent and GreenletExit thrown into it.
    fn teardown(&self) {
        let mut index = 0;
        loop {
            let weak = {
                let s = self.lock();
                if s.halted || index >= s.greenlets.len() {
                    return;
                }
                s.greenlets[index].clone()
            };
            index += 1;
            let Some(greenlet) = self.hub.upgrade(&weak) else {
                continue; // freed: it was unstarted or dead
            };
            if self.hub.state(&greenlet) != State::Suspended {
                continue;
            }
            self.record(format_args!("teardown #{index}"));
            let main = self.hub.main();
            if self.hub.set_parent(&greenlet, &main).is_err() {
                self.fatal(Fatal::Panic {
                    backend: self.backend.to_string(),
                    message: format!("teardown could not set #{index}'s parent to main"),
                });
                return;
            }
            // Releasing J's old parent may have run a kill that dropped J's last slot: J goes
            // when this handle does, and is thrown into only if it still exists then.
            drop(greenlet);
            let Some(greenlet) = self.hub.upgrade(&weak) else {
                continue;
            };
            let outcome = self.hub.throw(greenlet, Raised::Error(ast::Error::Exit));
            if self.check_registers("teardown throw").is_err() {
                return;
            }
            match outcome {
                Ok(v) => self.record(format_args!("recv {v}")),
                Err(Raised::Error(e)) => self.record(format_args!("caught {e}")),
                Err(Raised::Fuel) => self.record(format_args!("caught fuel")),
                Err(Raised::Halt) => return,
                Err(Raised::Kill) => self.record(format_args!("caught exit")),
                Err(Raised::Panic(message)) => {
                    self.fatal(Fatal::Panic {
                        backend: self.backend.to_string(),
                        message,
                    });
                    return;
                }
            }
        }
    }
}

/// The data a `recurse` frame keeps: distinct per depth and per greenlet.
fn frame_pattern(depth: u32, greenlet: usize) -> [u64; 4] {
    let mut x = (u64::from(depth) << 32) ^ (greenlet as u64) ^ 0x9e37_79b9_7f4a_7c15;
    let mut out = [0u64; 4];
    for slot in &mut out {
        // splitmix64
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        *slot = z ^ (z >> 31);
    }
    out
}

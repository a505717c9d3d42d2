//! The runtime's safety boundary, on every native backend (stack-copy under the tests' own
//! `SharedStackContract`):
//! - a borrow lent to a `std::thread::scope` thread stays valid while its greenlet is
//!   suspended (mmap, ucontext; stack-copy hubs cannot be made without `unsafe`, see the
//!   compile-fail doc tests of `switchyard_impls::runtime::sharing`);
//! - a switch from a greenlet that is unwinding a panic is refused: no panic state reaches
//!   another greenlet, no innocent mutex is poisoned, and the unwinding greenlet dies (its hub
//!   clone with it);
//! - a handle dropped during unwinding kills nothing then; the greenlet is killed later, when
//!   nothing is unwinding;
//! - a hub whose thread exits is torn down even when a suspended greenlet holds a clone;
//! - every `HubConfig::stack_size` gives a working greenlet or a `BackendError` naming the
//!   cause;
//! - a `Payload` method that switches while the runtime is resolving a greenlet's death is
//!   refused, and the greenlet never reports itself dead while it runs.

#![cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]

mod common;

use common::{body, hub, StackCopy, Val, H};
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use switchyard_greenlet::conformance::Err as E;
use switchyard_impls::greenlet::{BackendError, Hub, HubConfig, Outcome, Payload, State};
use switchyard_impls::mmap::Mmap;
use switchyard_impls::runtime::{Greenlet, Runtime, StableStacks};
use switchyard_impls::ucontext::Ucontext;

/// Runs `f` on each native backend.
macro_rules! on_every_backend {
    ($f:ident) => {
        mod $f {
            #[test]
            fn mmap() {
                super::$f::<super::Mmap>();
            }
            #[test]
            fn ucontext() {
                super::$f::<super::Ucontext>();
            }
            #[test]
            fn stack_copy() {
                super::$f::<super::StackCopy>();
            }
        }
    };
}

#[inline(never)]
fn scribble(depth: u32, tag: u64) -> u64 {
    let mut frame = [tag; 64];
    std::hint::black_box(&mut frame);
    let below = if depth == 0 {
        0
    } else {
        scribble(depth - 1, tag.wrapping_mul(3))
    };
    assert!(frame.iter().all(|&x| x == tag), "greenlet frame damaged");
    // Wrapping: the tags grow threefold per frame and overflow, which a debug build checks.
    below.wrapping_add(frame[depth as usize % 64])
}

/// Main lends a local to a scoped thread, then runs a greenlet that writes deep stack frames
/// while the thread keeps writing the local: on a stack-per-greenlet backend neither sees the
/// other's bytes.
fn a_borrow_lent_to_a_scoped_thread_survives_switches<S: StableStacks>() {
    let h = hub::<S>();
    let main = h.main();
    let g = h
        .spawn(
            body::<S>(move |h, _| loop {
                let n = scribble(200, 7);
                h.switch(main.clone(), Val::Int(n as i64))?;
            }),
            None,
        )
        .unwrap();
    let counter = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        // Stops the thread on the way out of the scope, which waits for it: at the end, and
        // when a failing assertion below unwinds (so that a failure fails the test, not hangs
        // it).
        let _stop_on_exit = StopOnDrop(&stop);
        let expected = h.switch(g.clone(), Val::None).unwrap();
        for _ in 0..2_000 {
            assert_eq!(h.switch(g.clone(), Val::None).unwrap(), expected);
        }
        while counter.load(Ordering::Relaxed) < 1_000 {
            std::hint::spin_loop();
        }
    });
    assert!(counter.load(Ordering::Relaxed) >= 1_000);
}

/// Sets its flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn a_borrow_lent_to_a_scoped_thread_survives_switches_mmap() {
    a_borrow_lent_to_a_scoped_thread_survives_switches::<Mmap>();
}

#[test]
fn a_borrow_lent_to_a_scoped_thread_survives_switches_ucontext() {
    a_borrow_lent_to_a_scoped_thread_survives_switches::<Ucontext>();
}

/// Switches to `to` when dropped, recording what the switch returned.
struct SwitchOnDrop<S: StableStacks> {
    hub: H<S>,
    to: Greenlet,
    got: Arc<Mutex<Vec<String>>>,
}

impl<S: StableStacks> Drop for SwitchOnDrop<S> {
    fn drop(&mut self) {
        let r = self.hub.switch(self.to.clone(), Val::Int(1));
        self.got.lock().unwrap().push(format!("{r:?}"));
    }
}

/// A greenlet's destructor switches to main while the greenlet unwinds a panic: the switch
/// is refused, main never runs as if panicking (its mutex is not poisoned), the greenlet dies
/// with its panic, and the hub clone it held goes with it (so the thread can make a hub of
/// another backend once main's handles are gone).
fn a_switch_while_unwinding_is_refused<S: StableStacks>() {
    let h = hub::<S>();
    let main = h.main();
    let got = Arc::new(Mutex::new(vec![]));
    let got2 = got.clone();
    let g = h
        .spawn(
            body::<S>(move |h, _| {
                let _guard = SwitchOnDrop::<S> {
                    hub: h.clone(),
                    to: main,
                    got: got2,
                };
                panic!("boom");
            }),
            None,
        )
        .unwrap();
    let r = h.switch(g.clone(), Val::None);
    assert!(!std::thread::panicking());
    let innocent = Mutex::new(0);
    drop(innocent.lock().unwrap());
    assert!(
        !innocent.is_poisoned(),
        "main ran with the greenlet's panic state"
    );
    assert_eq!(r, Err(E::Panic("boom".to_string())));
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains("switch refused") && got[0].contains("unwinding a panic"),
        "{got:?}"
    );
    assert_eq!(h.state(&g), State::Dead);
    drop(g);
    drop(h);
    // The hub is gone (the greenlet's clone died with it): another backend may have the thread.
    another_backend::<S>().unwrap();
}

/// Makes (and drops) a hub of a backend other than `S` on this thread.
fn another_backend<S: StableStacks>() -> Result<(), BackendError> {
    if std::any::TypeId::of::<S>() == std::any::TypeId::of::<Mmap>() {
        H::<Ucontext>::new(&HubConfig::default()).map(drop)
    } else {
        H::<Mmap>::new(&HubConfig::default()).map(drop)
    }
}
on_every_backend!(a_switch_while_unwinding_is_refused);

/// Main unwinds a panic (caught) and drops the last handle to a suspended greenlet on the
/// way: the greenlet is not run while the thread is panicking; it is killed when the hub
/// goes away, with nothing unwinding.
fn a_handle_dropped_while_unwinding_kills_nothing_then<S: StableStacks>() {
    let h = hub::<S>();
    let main = h.main();
    let log = Arc::new(Mutex::new(vec![]));
    let log2 = log.clone();
    let g = h
        .spawn(
            body::<S>(move |h, _| {
                let r = h.switch(main.clone(), Val::None);
                log2.lock()
                    .unwrap()
                    .push(format!("{r:?} panicking={}", std::thread::panicking()));
                r
            }),
            None,
        )
        .unwrap();
    h.switch(g.clone(), Val::None).unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _g = g;
        panic!("main unwinds");
    }));
    assert!(caught.is_err());
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
    drop(h);
    assert_eq!(*log.lock().unwrap(), ["Err(Exit) panicking=false"]);
}
on_every_backend!(a_handle_dropped_while_unwinding_kills_nothing_then);

/// Records its drop.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A thread's hub whose main greenlet let go of every hub handle while a suspended greenlet
/// still holds a clone of it: the hub refuses another backend while it lives (saying why),
/// and is torn down when the thread exits (the suspended greenlet is killed, an unstarted
/// one's body dropped).
fn a_hub_is_torn_down_when_its_thread_exits<S: StableStacks>() {
    let killed = Arc::new(AtomicBool::new(false));
    let body_dropped = Arc::new(AtomicBool::new(false));
    let (k, b) = (killed.clone(), body_dropped.clone());
    let refusal = std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(move || {
            let h = hub::<S>();
            let main = h.main();
            let g = h
                .spawn(
                    body::<S>(move |h, _| {
                        let _mine = h.clone();
                        let r = h.switch(main.clone(), Val::None);
                        if r == Err(E::Exit) {
                            k.store(true, Ordering::SeqCst);
                        }
                        r
                    }),
                    None,
                )
                .unwrap();
            h.switch(g.clone(), Val::None).unwrap();
            let flag = DropFlag(b);
            let unstarted = h
                .spawn(
                    body::<S>(move |_, _| {
                        let _keep = flag;
                        Ok(Val::None)
                    }),
                    None,
                )
                .unwrap();
            // Main keeps the greenlets (so dropping handles kills nothing) but not the hub.
            std::mem::forget(g);
            std::mem::forget(unstarted);
            drop(h);
            another_backend::<S>().unwrap_err().0
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(refusal.contains("suspended greenlet"), "{refusal}");
    assert!(
        killed.load(Ordering::SeqCst),
        "the suspended greenlet was not killed"
    );
    assert!(
        body_dropped.load(Ordering::SeqCst),
        "the unstarted greenlet's body was not dropped"
    );
}
on_every_backend!(a_hub_is_torn_down_when_its_thread_exits);

/// The error `spawn` gives with `stack_size`, or `None` if a greenlet ran on it.
fn spawn_with_stack<S: StableStacks>(stack_size: usize) -> Option<String> {
    let h = Runtime::<S, Val>::new(&HubConfig { stack_size }).unwrap();
    match h.spawn(body::<S>(|_, v| Ok(v.unwrap())), None) {
        Ok(g) => {
            assert_eq!(h.switch(g.clone(), Val::Int(5)), Ok(Val::Int(5)));
            None
        }
        Err(e) => Some(e.0),
    }
}

/// Sizes that cannot be a mapping are refused naming the size; sizes the address space
/// cannot hold are refused naming the address space; small and ordinary sizes work.
fn every_stack_size_works_or_names_the_cause<S: StableStacks>() {
    for size in [usize::MAX, usize::MAX - 4095, isize::MAX as usize] {
        let e = spawn_with_stack::<S>(size).expect("an error");
        assert!(
            e.contains("is too large") && e.contains(&size.to_string()),
            "{e}"
        );
    }
    let e = spawn_with_stack::<S>(1 << 62).expect("an error");
    assert!(e.contains("not enough free address space"), "{e}");
    for size in [0, 1, 4097, 1 << 20] {
        assert_eq!(spawn_with_stack::<S>(size), None, "stack_size {size}");
    }
}

#[test]
fn every_stack_size_works_or_names_the_cause_mmap() {
    every_stack_size_works_or_names_the_cause::<Mmap>();
}

#[test]
fn every_stack_size_works_or_names_the_cause_ucontext() {
    every_stack_size_works_or_names_the_cause::<Ucontext>();
}

/// Stack-copy runs greenlets on the thread's stack: it ignores `stack_size`, whatever it is.
#[test]
fn stack_copy_ignores_every_stack_size() {
    for size in [usize::MAX, usize::MAX - 4095, 0] {
        assert_eq!(spawn_with_stack::<StackCopy>(size), None);
    }
}

/// A payload whose methods, on a `Trigger`, switch to main from wherever the runtime calls
/// them (through `REENTER`).
#[derive(Debug, PartialEq)]
enum P {
    Int(i64),
    Trigger,
    Exit,
}

#[derive(Debug, PartialEq)]
enum PErr {
    Trigger,
    Exit,
    Panic(String),
}

thread_local! {
    static REENTER: Cell<Option<fn()>> = const { Cell::new(None) };
    static SEEN: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn reenter() {
    if let Some(f) = REENTER.get() {
        f();
    }
}

impl Payload for P {
    type Error = PErr;
    fn exit_error() -> PErr {
        PErr::Exit
    }
    fn is_exit(error: &PErr) -> bool {
        if *error == PErr::Trigger {
            reenter();
        }
        *error == PErr::Exit
    }
    fn exit_value() -> P {
        P::Exit
    }
    fn is_exit_value(&self) -> bool {
        if *self == P::Trigger {
            reenter();
        }
        *self == P::Exit
    }
    fn panic_error(message: String) -> PErr {
        PErr::Panic(message)
    }
}

/// From inside a `Payload` method: what the current greenlet's state is, and what a switch
/// to main returns.
fn switch_to_main_from_payload<S: StableStacks>() {
    let h = Runtime::<S, P>::new(&HubConfig::default()).unwrap();
    let state = h.state(&h.current());
    let r: Outcome<P> = h.switch(h.main(), P::Int(99));
    SEEN.with(|s| s.borrow_mut().push(format!("{state:?} {r:?}")));
}

/// A greenlet fails with an error whose `is_exit` switches to main while the runtime is
/// resolving its death; and main switches a value whose `is_exit_value` switches, to an
/// unstarted greenlet. Both switches are refused; the dying greenlet reports itself running.
fn a_payload_method_cannot_switch_while_the_runtime_resolves<S: StableStacks>() {
    REENTER.set(Some(switch_to_main_from_payload::<S>));
    let h = Runtime::<S, P>::new(&HubConfig::default()).unwrap();
    let g = h.spawn(Box::new(|_, _| Err(PErr::Trigger)), None).unwrap();
    assert_eq!(h.switch(g.clone(), P::Int(0)), Err(PErr::Trigger));
    assert_eq!(h.state(&g), State::Dead);
    let g2 = h.spawn(Box::new(|_, v| Ok(v.unwrap())), None).unwrap();
    assert_eq!(h.switch(g2.clone(), P::Trigger), Ok(P::Trigger));
    REENTER.set(None);
    let seen = SEEN.with(|s| std::mem::take(&mut *s.borrow_mut()));
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen[0].starts_with(
            "Running Err(Panic(\"switchyard: switch refused: called from a Payload method"
        ),
        "{seen:?}"
    );
    assert!(
        seen[1].starts_with("Running Err(Panic(\"switchyard: switch refused"),
        "{seen:?}"
    );
}
on_every_backend!(a_payload_method_cannot_switch_while_the_runtime_resolves);

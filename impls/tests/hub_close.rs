//! A hub closes when the program's last handle to it goes, whatever its greenlets did: it is
//! torn down (suspended greenlets killed) and stops being the thread's hub, so the thread can
//! make a hub of another backend at once. Each test runs on a thread of its own and checks
//! `runtime::live_hub` afterwards, on every native backend:
//! - a greenlet suspended inside a kill it started (it dropped the last handle of a greenlet
//!   that then switched away; found by `switchyard fuzz --seed 20261206`, program 321373,
//!   `corpus/hub_closes_with_killer_suspended.gp`);
//! - the last handle dropped inside a greenlet (closed once main runs the runtime again);
//! - a greenlet that keeps a handle of its own keeps the hub, and `live_hub` says so.

#![cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]

mod common;

use common::{body, hub, StackCopy, Val, H};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use switchyard_greenlet::conformance::Err as E;
use switchyard_impls::greenlet::{BackendError, Hub, HubConfig};
use switchyard_impls::mmap::Mmap;
use switchyard_impls::runtime::{live_hub, Greenlet, StableStacks};
use switchyard_impls::ucontext::Ucontext;

/// Runs `f` on each native backend, each on a fresh thread.
macro_rules! on_every_backend {
    ($f:ident) => {
        mod $f {
            fn fresh(f: fn()) {
                std::thread::Builder::new()
                    .stack_size(16 << 20)
                    .spawn(f)
                    .unwrap()
                    .join()
                    .unwrap();
            }
            #[test]
            fn mmap() {
                fresh(super::$f::<super::Mmap>);
            }
            #[test]
            fn ucontext() {
                fresh(super::$f::<super::Ucontext>);
            }
            #[test]
            fn stack_copy() {
                fresh(super::$f::<super::StackCopy>);
            }
        }
    };
}

/// A hub of a backend other than `S` on this thread.
fn another_backend<S: StableStacks>() -> Result<(), BackendError> {
    if std::any::TypeId::of::<S>() == std::any::TypeId::of::<Mmap>() {
        H::<Ucontext>::new(&HubConfig::default()).map(drop)
    } else {
        H::<Mmap>::new(&HubConfig::default()).map(drop)
    }
}

/// The thread has no hub left, and makes one of another backend.
fn closed<S: StableStacks>() {
    assert_eq!(live_hub(), None, "a hub survived its last handle");
    another_backend::<S>().expect("a hub of another backend");
    assert_eq!(live_hub(), None);
}

/// The soak's leak: killer A drops the last handle of suspended B (B's parent is A), so A kills
/// B; B catches GreenletExit and switches to main, leaving A suspended inside the kill (the
/// runtime's own reference to the hub on its stack) while B's kill keeps B, and B's parent
/// link keeps A. Main then lets go of everything.
fn a_hub_closes_while_a_greenlet_is_suspended_inside_a_kill<S: StableStacks>() {
    let h = hub::<S>();
    let main = h.main();
    let b_slot: Arc<Mutex<Option<Greenlet>>> = Arc::default();
    let a_finished = Arc::new(AtomicBool::new(false));
    let (slot, finished) = (b_slot.clone(), a_finished.clone());
    let a = h
        .spawn(
            body::<S>(move |_, _| {
                // B's last handle: dropping it kills B, which switches to main meanwhile.
                drop(slot.lock().unwrap().take());
                finished.store(true, Ordering::SeqCst);
                Ok(Val::None)
            }),
            None,
        )
        .unwrap();
    let to_main = main.clone();
    let b = h
        .spawn(
            body::<S>(move |h, _| {
                let first = h.switch(to_main.clone(), Val::Int(1));
                assert_eq!(first, Err(E::Exit), "B is killed by A");
                h.switch(to_main.clone(), Val::Int(2))
            }),
            Some(&a),
        )
        .unwrap();
    assert_eq!(h.switch(b.clone(), Val::None), Ok(Val::Int(1)));
    *b_slot.lock().unwrap() = Some(b);
    // A kills B; B switches to main from inside the kill.
    assert_eq!(h.switch(a.clone(), Val::None), Ok(Val::Int(2)));
    drop(a); // A is still referenced by B's parent link (B's kill keeps B)
    assert!(live_hub().is_some());
    drop(h);
    assert!(
        a_finished.load(Ordering::SeqCst),
        "the killer suspended in its kill was not resumed by the hub's teardown"
    );
    closed::<S>();
}
on_every_backend!(a_hub_closes_while_a_greenlet_is_suspended_inside_a_kill);

/// Main gives its last hub handle away to G (G holds a clone), then drops G's last handle: G
/// is killed and drops the hub's last handle while it runs. The hub cannot close on G's
/// stack; it closes as soon as main is back (the end of the kill).
fn a_hub_whose_last_handle_goes_inside_a_greenlet_closes_on_main<S: StableStacks>() {
    let h = hub::<S>();
    let main = h.main();
    let killed = Arc::new(AtomicBool::new(false));
    let k = killed.clone();
    let g = h
        .spawn(
            body::<S>(move |h, _| {
                let mine = h.clone();
                let r = mine.switch(main.clone(), Val::None);
                k.store(r == Err(E::Exit), Ordering::SeqCst);
                drop(mine); // the last handle, inside this greenlet
                r
            }),
            None,
        )
        .unwrap();
    h.switch(g.clone(), Val::None).unwrap();
    drop(h);
    assert!(live_hub().is_some(), "G's handle keeps the hub");
    drop(g);
    assert!(killed.load(Ordering::SeqCst), "G was not killed");
    closed::<S>();
}
on_every_backend!(a_hub_whose_last_handle_goes_inside_a_greenlet_closes_on_main);

/// A greenlet that keeps a handle of its own keeps the hub alive (the documented rule), and
/// `live_hub` describes it.
fn a_handle_held_by_a_suspended_greenlet_keeps_the_hub<S: StableStacks>() {
    let h = hub::<S>();
    let main = h.main();
    let g = h
        .spawn(
            body::<S>(move |h, _| {
                let _mine = h.clone();
                h.switch(main.clone(), Val::None)
            }),
            None,
        )
        .unwrap();
    h.switch(g.clone(), Val::None).unwrap();
    std::mem::forget(g);
    drop(h);
    let live = live_hub().expect("the greenlet's handle keeps the hub");
    assert!(
        live.contains("1 handle(s) and 1 suspended greenlet(s)"),
        "{live}"
    );
    assert!(another_backend::<S>().is_err());
}
on_every_backend!(a_handle_held_by_a_suspended_greenlet_keeps_the_hub);

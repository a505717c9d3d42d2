//! The guard-page registry: which guard page belongs to which greenlet stack (its usable size
//! and the backend name for the overflow message). Written by [`super::Stack`] as stacks are
//! mapped, renamed and unmapped; read by the overflow signal handler ([`super::overflow`]),
//! which must never block or allocate, so the map sits behind a spin lock that the handler
//! only tries.

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Guard page address -> (usable stack bytes, backend name). Behind a spin lock that the
/// signal handler only tries (so it never deadlocks on a lock its own thread holds).
struct Registry {
    locked: AtomicBool,
    map: UnsafeCell<Option<HashMap<usize, (usize, &'static str)>>>,
}

// SAFETY: `map` is only accessed while `locked` is held.
unsafe impl Sync for Registry {}

static REGISTRY: Registry = Registry {
    locked: AtomicBool::new(false),
    map: UnsafeCell::new(None),
};

fn with_registry<R>(f: impl FnOnce(&mut HashMap<usize, (usize, &'static str)>) -> R) -> R {
    while REGISTRY
        .locked
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        std::hint::spin_loop();
    }
    // SAFETY: we hold the lock.
    let map = unsafe { &mut *REGISTRY.map.get() };
    let r = f(map.get_or_insert_with(HashMap::new));
    REGISTRY.locked.store(false, Ordering::Release);
    r
}

/// Records (or renames) the guard page at `guard` of a stack with `usable` bytes, used by
/// `backend`.
pub(super) fn insert(guard: usize, usable: usize, backend: &'static str) {
    with_registry(|m| m.insert(guard, (usable, backend)));
}

/// Forgets the guard page at `guard` (its stack is being unmapped).
pub(super) fn remove(guard: usize) {
    with_registry(|m| m.remove(&guard));
}

/// Signal-handler lookup: never blocks, never allocates.
pub(super) fn lookup(page: usize) -> Option<(usize, &'static str)> {
    for _ in 0..1_000_000 {
        if REGISTRY
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            // SAFETY: we hold the lock.
            let map = unsafe { &*REGISTRY.map.get() };
            let r = map.as_ref().and_then(|m| m.get(&page).copied());
            REGISTRY.locked.store(false, Ordering::Release);
            return r;
        }
        std::hint::spin_loop();
    }
    None
}

//! The per-thread stack pool: free stacks kept for reuse by the thread's hubs, across hubs, at
//! most [`POOL_LIMIT`] of them, unmapped when the thread exits.
//!
//! A stack kept past the last live hub of its thread (a [`MainGuard`]) is scrubbed when that
//! hub goes ([`Stack::scrub`]: its pages given back to the kernel, so that they read as zeros
//! again, as a fresh mapping's do). So every hub starts from stacks whose contents are those of
//! new mappings, whatever ran before it on the thread: a program replayed in a fresh process
//! sees the same stack contents as it did in a long-running one, while the mapping, its guard
//! page and its guard-registry entry are made once per thread instead of once per greenlet.

use super::{overflow, Stack};
use std::cell::{Cell, RefCell};

/// How many free stacks each thread keeps for reuse.
const POOL_LIMIT: usize = 16;

thread_local! {
    /// Free stacks kept for reuse by this thread's hubs.
    static POOL: RefCell<Vec<Stack>> = const { RefCell::new(Vec::new()) };
    /// Live main contexts (hubs) of this thread using mmap'd stacks; the pool is scrubbed when
    /// the last one goes.
    static LIVE_MAINS: Cell<usize> = const { Cell::new(0) };
}

/// A pooled stack with exactly `usable` bytes, if this thread has one.
pub(super) fn take(usable: usize) -> Option<Stack> {
    POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        let i = pool.iter().position(|s| s.usable == usable)?;
        Some(pool.swap_remove(i))
    })
    .ok()
    .flatten()
}

/// Gives `stack` back to this thread's pool (or unmaps it when the pool is full or the thread
/// is exiting). A stack given back while no hub is live on the thread is scrubbed at once.
pub(super) fn give_back(mut stack: Stack) {
    if LIVE_MAINS.try_with(|n| n.get()).unwrap_or(0) == 0 {
        stack.scrub();
    }
    let rejected = POOL
        .try_with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.len() < POOL_LIMIT {
                pool.push(stack);
                None
            } else {
                Some(stack)
            }
        })
        // The thread's pool is already gone (the thread is exiting): the closure was dropped
        // uncalled, and `stack` with it (unmapped).
        .unwrap_or(None);
    drop(rejected);
}

/// Held by a main context: while any is live on a thread, dead greenlets' stacks go back to
/// the pool as they are; when the last one goes, the pool is scrubbed.
pub(crate) struct MainGuard(());

impl MainGuard {
    pub(crate) fn new() -> MainGuard {
        LIVE_MAINS.with(|n| n.set(n.get() + 1));
        overflow::ensure_altstack();
        MainGuard(())
    }
}

impl Drop for MainGuard {
    fn drop(&mut self) {
        let left = LIVE_MAINS
            .try_with(|n| {
                n.set(n.get() - 1);
                n.get()
            })
            .unwrap_or(0);
        if left == 0 {
            let _ = POOL.try_with(|pool| {
                for stack in pool.borrow_mut().iter_mut() {
                    stack.scrub();
                }
            });
        }
    }
}

//! The per-thread stack pool: free stacks kept for reuse while a hub (a main context holding a
//! [`MainGuard`]) is live on the thread, emptied when the last one goes.

use super::{overflow, Stack};
use std::cell::{Cell, RefCell};

/// How many free stacks each thread keeps for reuse.
const POOL_LIMIT: usize = 16;

thread_local! {
    /// Free stacks kept for reuse by this thread's hubs.
    static POOL: RefCell<Vec<Stack>> = const { RefCell::new(Vec::new()) };
    /// Live main contexts (hubs) of this thread using mmap'd stacks; the pool is emptied when
    /// the last one goes.
    static LIVE_MAINS: Cell<usize> = const { Cell::new(0) };
}

/// A pooled stack with exactly `usable` bytes, if this thread has one.
pub(super) fn take(usable: usize) -> Option<Stack> {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let i = pool.iter().position(|s| s.usable == usable)?;
        Some(pool.swap_remove(i))
    })
}

/// Gives `stack` back to this thread's pool (or unmaps it when the pool is full or no hub is
/// live on this thread).
pub(super) fn give_back(stack: Stack) {
    let keep = LIVE_MAINS.with(|n| n.get()) > 0;
    if keep {
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
            .unwrap_or(None);
        drop(rejected);
    } else {
        drop(stack);
    }
}

/// Held by a main context: while any is live on a thread, dead greenlets' stacks are pooled.
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
            let stacks = POOL
                .try_with(|pool| std::mem::take(&mut *pool.borrow_mut()))
                .unwrap_or_default();
            drop(stacks);
        }
    }
}

//! The reference figures `switchyard bench` puts beside the backends, measured in the same
//! run: corosensei's `resume` + `suspend` and spawn-to-finish (feature `peers`), the mmap and
//! stack-copy backends' `StackSwitch::switch` alone (no runtime), a raw
//! `swapcontext` ping-pong (the floor of the `ucontext` backend), a raw two-thread `Mutex` +
//! `Condvar` ping-pong (the floor of the `thread` oracle) and a hot `memcpy` of the bytes
//! stack-copy copies (with the mmap round trip, its floor).

use super::{time, Peers, Plan, Timing};
use std::hint::black_box;
use std::sync::{Arc, Condvar, Mutex};

/// Every peer figure; `memcpy_sizes` are the byte counts of the hot `memcpy` rows.
pub fn measure(plan: &Plan, memcpy_sizes: &[usize]) -> Peers {
    let mut peers = Peers::default();
    #[cfg(feature = "peers")]
    {
        let (rt, new_stack, reused) = corosensei_figures(plan);
        plan.note("corosensei", "resume + suspend", &rt);
        plan.note("corosensei", "spawn to finish, new stack", &new_stack);
        plan.note("corosensei", "spawn to finish, reused stack", &reused);
        peers.corosensei_round_trip = Some(rt);
        peers.corosensei_spawn_new_stack = Some(new_stack);
        peers.corosensei_spawn_reused_stack = Some(reused);
    }
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        use switchyard_impls::{mmap::Mmap, stack_copy::StackCopy};
        for (name, t) in [
            ("mmap", raw_switch::<Mmap>(plan)),
            ("stack-copy", raw_switch::<StackCopy>(plan)),
        ] {
            if let Ok(t) = &t {
                plan.note(
                    name,
                    "backend switch alone (StackSwitch::switch, no runtime)",
                    t,
                );
            }
            peers.raw_switch.push((name, t));
        }
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let t = swapcontext_round_trip(plan);
        if let Ok(t) = &t {
            plan.note("raw swapcontext", "ping-pong round trip", t);
        }
        peers.swapcontext_round_trip = Some(t);
    }
    let t = thread_round_trip(plan);
    plan.note("raw Mutex+Condvar threads", "ping-pong round trip", &t);
    peers.thread_round_trip = Some(t);
    for &n in memcpy_sizes {
        let t = memcpy(plan, n);
        plan.note("hot memcpy", &format!("{n} B"), &t);
        peers.memcpy.push((n, t));
    }
    peers
}

/// corosensei: round trip on one coroutine; spawn-to-finish with a new stack each time and
/// with one stack reused.
#[cfg(feature = "peers")]
fn corosensei_figures(plan: &Plan) -> (Timing, Timing, Timing) {
    use corosensei::stack::DefaultStack;
    use corosensei::{Coroutine, Yielder};
    let mut co = Coroutine::new(|y: &Yielder<u64, u64>, mut v: u64| loop {
        v = y.suspend(v + 1);
    });
    let rt = time(plan, |n| {
        for _ in 0..n {
            black_box(co.resume(black_box(2)));
        }
    });
    let new_stack = time(plan, |n| {
        for _ in 0..n {
            let mut co = Coroutine::new(|_: &Yielder<u64, ()>, v: u64| v + 1);
            black_box(co.resume(3));
        }
    });
    let mut stack = Some(DefaultStack::default());
    let reused = time(plan, |n| {
        for _ in 0..n {
            let s = stack.take().unwrap_or_default();
            let mut co = Coroutine::with_stack(s, |_: &Yielder<u64, ()>, v: u64| v + 1);
            black_box(co.resume(3));
            stack = Some(co.into_stack());
        }
    });
    (rt, new_stack, reused)
}

/// A backend's switch alone: main → greenlet → main with `S::switch` and no runtime.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn raw_switch<S: switchyard_impls::switch::StackSwitch>(plan: &Plan) -> Result<Timing, String> {
    let mut pair =
        switchyard_impls::backend::raw::PingPong::<S>::new().map_err(|e| e.to_string())?;
    Ok(time(plan, |n| pair.run(n)))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
thread_local! {
    /// The raw swapcontext pair: (main's context, the coroutine's).
    static PAIR: std::cell::Cell<(*mut libc::ucontext_t, *mut libc::ucontext_t)> =
        const { std::cell::Cell::new((std::ptr::null_mut(), std::ptr::null_mut())) };
}

/// The raw coroutine: swaps back to main for ever.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" fn swap_back_forever() {
    let (main, co) = PAIR.with(|p| p.get());
    loop {
        // SAFETY: both point to live boxed contexts of this thread (see
        // `swapcontext_round_trip`), `main` suspended in its swapcontext.
        unsafe { libc::swapcontext(co, main) };
    }
}

/// A raw `swapcontext` there and back: the floor of the `ucontext` backend (each swap makes
/// the same `rt_sigprocmask` system call the backend's does).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn swapcontext_round_trip(plan: &Plan) -> Result<Timing, String> {
    // SAFETY: all-zero bytes are a valid ucontext_t to fill in.
    let mut main: Box<libc::ucontext_t> = Box::new(unsafe { std::mem::zeroed() });
    // SAFETY: as above.
    let mut co: Box<libc::ucontext_t> = Box::new(unsafe { std::mem::zeroed() });
    let mut stack = vec![0u8; 256 << 10];
    // SAFETY: `co` is a boxed (never moving) context to fill in.
    if unsafe { libc::getcontext(&mut *co) } != 0 {
        return Err("getcontext failed".into());
    }
    co.uc_stack.ss_sp = stack.as_mut_ptr().cast();
    co.uc_stack.ss_size = stack.len();
    co.uc_link = std::ptr::null_mut();
    // SAFETY: `swap_back_forever` takes no arguments and never returns; its stack is `stack`,
    // which outlives every switch into it (the coroutine is left suspended, never resumed
    // after this function).
    unsafe { libc::makecontext(&mut *co, swap_back_forever, 0) };
    let (m, c): (*mut libc::ucontext_t, *mut libc::ucontext_t) = (&mut *main, &mut *co);
    PAIR.with(|p| p.set((m, c)));
    let t = time(plan, |n| {
        for _ in 0..n {
            // SAFETY: `m` is running (this code), `c` new or suspended in its swapcontext,
            // both boxed and alive until the end of this function.
            unsafe { libc::swapcontext(m, c) };
        }
    });
    PAIR.with(|p| p.set((std::ptr::null_mut(), std::ptr::null_mut())));
    drop(stack);
    Ok(t)
}

/// A raw two-thread ping-pong over one `Mutex` + `Condvar`: the floor of the thread oracle.
fn thread_round_trip(plan: &Plan) -> Timing {
    /// Whose turn: 0 this thread's, 1 the other's, 2 the other stops.
    struct Baton {
        turn: Mutex<u8>,
        changed: Condvar,
    }
    let baton = Arc::new(Baton {
        turn: Mutex::new(0),
        changed: Condvar::new(),
    });
    let other = {
        let baton = baton.clone();
        std::thread::spawn(move || {
            let mut turn = baton.turn.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                while *turn == 0 {
                    turn = baton.changed.wait(turn).unwrap_or_else(|e| e.into_inner());
                }
                if *turn == 2 {
                    return;
                }
                *turn = 0;
                baton.changed.notify_one();
            }
        })
    };
    let t = time(plan, |n| {
        let mut turn = baton.turn.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..n {
            *turn = 1;
            baton.changed.notify_one();
            while *turn == 1 {
                turn = baton.changed.wait(turn).unwrap_or_else(|e| e.into_inner());
            }
        }
    });
    *baton.turn.lock().unwrap_or_else(|e| e.into_inner()) = 2;
    baton.changed.notify_one();
    let _ = other.join();
    t
}

/// A hot `memcpy` of `n` bytes between two buffers at the same offset within a page (as
/// stack-copy places its heap copies).
fn memcpy(plan: &Plan, n: usize) -> Timing {
    let mut src = vec![1u8; n + 4096];
    let mut dst = vec![0u8; n + 4096];
    let s = src.as_mut_ptr();
    let d = dst.as_mut_ptr();
    let (s, d) = (
        s.wrapping_add(s.align_offset(4096)),
        d.wrapping_add(d.align_offset(4096)),
    );
    time(plan, |k| {
        for _ in 0..k {
            // SAFETY: both point `n` bytes into buffers of `n + 4096` bytes, at most 4095
            // bytes in; the two buffers are distinct.
            unsafe { std::ptr::copy_nonoverlapping(black_box(s), black_box(d), n) };
        }
    })
}

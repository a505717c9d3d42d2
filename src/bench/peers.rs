//! The reference figures `switchyard bench` puts beside the backends, measured in the same
//! run: corosensei's `resume` + `suspend` and spawn-to-finish (feature `peers`), the mmap and
//! stack-copy backends' `StackSwitch::switch` alone (no runtime), a raw
//! `swapcontext` ping-pong (the floor of the `ucontext` backend), a raw two-thread `Mutex` +
//! `Condvar` ping-pong (the floor of the `thread` oracle) and a hot `memcpy` of the bytes
//! stack-copy copies (with the mmap round trip, its floor).

use super::goals::PeerFig;
use super::{time_fallible, Peers, Plan, Sample, Timing};
use std::hint::black_box;
use std::sync::{Arc, Condvar, Mutex};

/// Every peer figure; `memcpy_sizes` are the byte counts of the hot `memcpy` rows.
pub fn measure(plan: &Plan, memcpy_sizes: &[usize]) -> Peers {
    let mut peers = Peers::default();
    let figure = |what: &str, fig: PeerFig| -> Result<Timing, String> {
        let t = time_fallible(plan, sampler(fig)?);
        if let Ok(t) = &t {
            plan.note(what, &describe(fig), t);
        }
        t
    };
    #[cfg(feature = "peers")]
    {
        // These cannot fail: a `Result` only because every peer is made the same way.
        let ok = |r: Result<Timing, String>| r.ok();
        peers.corosensei_round_trip = ok(figure("corosensei", PeerFig::CoroRoundTrip));
        peers.corosensei_spawn_new_stack = ok(figure("corosensei", PeerFig::CoroSpawnNew));
        peers.corosensei_spawn_reused_stack = ok(figure("corosensei", PeerFig::CoroSpawnReused));
    }
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    for name in ["mmap", "stack-copy"] {
        peers
            .raw_switch
            .push((name, figure(name, PeerFig::RawSwitch(name))));
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        peers.swapcontext_round_trip = Some(figure("raw swapcontext", PeerFig::Swapcontext));
    }
    peers.thread_round_trip = figure("raw Mutex+Condvar threads", PeerFig::Threads).ok();
    for &n in memcpy_sizes {
        if let Ok(t) = figure("hot memcpy", PeerFig::Memcpy(n)) {
            peers.memcpy.push((n, t));
        }
    }
    peers
}

/// What a progress line calls a peer figure.
fn describe(fig: PeerFig) -> String {
    match fig {
        PeerFig::CoroRoundTrip => "resume + suspend".into(),
        PeerFig::CoroSpawnNew => "spawn to finish, new stack".into(),
        PeerFig::CoroSpawnReused => "spawn to finish, reused stack".into(),
        PeerFig::RawSwitch(_) => "backend switch alone (StackSwitch::switch, no runtime)".into(),
        PeerFig::Swapcontext | PeerFig::Threads => "ping-pong round trip".into(),
        PeerFig::Memcpy(n) => format!("{n} B"),
    }
}

/// One peer figure, made on the calling thread and sampled on request (the table's figure
/// and the paired goals' alike).
pub fn sampler(fig: PeerFig) -> Result<Sample, String> {
    match fig {
        #[cfg(feature = "peers")]
        PeerFig::CoroRoundTrip | PeerFig::CoroSpawnNew | PeerFig::CoroSpawnReused => {
            Ok(corosensei_sampler(fig))
        }
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        PeerFig::RawSwitch("mmap") => raw_switch::<switchyard_impls::mmap::Mmap>(),
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        PeerFig::RawSwitch("stack-copy") => raw_switch::<switchyard_impls::stack_copy::StackCopy>(),
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        PeerFig::Swapcontext => swapcontext_round_trip(),
        PeerFig::Threads => Ok(thread_round_trip()),
        PeerFig::Memcpy(n) => Ok(memcpy(n)),
        #[allow(unreachable_patterns)] // which arms exist depends on the platform and features
        other => Err(format!("no such peer figure in this build: {other:?}")),
    }
}

/// corosensei: round trip on one coroutine; spawn-to-finish with a new stack each time and
/// with one stack reused.
#[cfg(feature = "peers")]
fn corosensei_sampler(fig: PeerFig) -> Sample {
    use corosensei::stack::DefaultStack;
    use corosensei::{Coroutine, Yielder};
    match fig {
        PeerFig::CoroRoundTrip => {
            let mut co = Coroutine::new(|y: &Yielder<u64, u64>, mut v: u64| loop {
                v = y.suspend(v + 1);
            });
            Box::new(move |n| {
                for _ in 0..n {
                    black_box(co.resume(black_box(2)));
                }
                Ok(())
            })
        }
        PeerFig::CoroSpawnNew => Box::new(|n| {
            for _ in 0..n {
                let mut co = Coroutine::new(|_: &Yielder<u64, ()>, v: u64| v + 1);
                black_box(co.resume(3));
            }
            Ok(())
        }),
        _ => {
            let mut stack = Some(DefaultStack::default());
            Box::new(move |n| {
                for _ in 0..n {
                    let s = stack.take().unwrap_or_default();
                    let mut co = Coroutine::with_stack(s, |_: &Yielder<u64, ()>, v: u64| v + 1);
                    black_box(co.resume(3));
                    stack = Some(co.into_stack());
                }
                Ok(())
            })
        }
    }
}

/// A backend's switch alone: main → greenlet → main with `S::switch` and no runtime.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn raw_switch<S: switchyard_impls::switch::StackSwitch + 'static>() -> Result<Sample, String> {
    let mut pair =
        switchyard_impls::backend::raw::PingPong::<S>::new().map_err(|e| e.to_string())?;
    Ok(Box::new(move |n| {
        pair.run(n);
        Ok(())
    }))
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
        // SAFETY: both point to live boxed contexts of this thread (see `SwapPair`), `main`
        // suspended in its swapcontext.
        unsafe { libc::swapcontext(co, main) };
    }
}

/// The raw swapcontext pair and the coroutine's stack. The coroutine is left suspended for
/// good when this is dropped: nothing resumes it after that.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
struct SwapPair {
    main: Box<libc::ucontext_t>,
    co: Box<libc::ucontext_t>,
    _stack: Vec<u8>,
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
impl Drop for SwapPair {
    fn drop(&mut self) {
        PAIR.with(|p| p.set((std::ptr::null_mut(), std::ptr::null_mut())));
    }
}

/// A raw `swapcontext` there and back: the floor of the `ucontext` backend (each swap makes
/// the same `rt_sigprocmask` system call the backend's does). One pair per thread.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn swapcontext_round_trip() -> Result<Sample, String> {
    if !PAIR.with(|p| p.get()).0.is_null() {
        return Err("a raw swapcontext pair is already live on this thread".into());
    }
    let mut pair = SwapPair {
        // SAFETY: all-zero bytes are a valid ucontext_t to fill in.
        main: Box::new(unsafe { std::mem::zeroed() }),
        // SAFETY: as above.
        co: Box::new(unsafe { std::mem::zeroed() }),
        _stack: vec![0u8; 256 << 10],
    };
    // SAFETY: `co` is a boxed (never moving) context to fill in.
    if unsafe { libc::getcontext(&mut *pair.co) } != 0 {
        return Err("getcontext failed".into());
    }
    pair.co.uc_stack.ss_sp = pair._stack.as_mut_ptr().cast();
    pair.co.uc_stack.ss_size = pair._stack.len();
    pair.co.uc_link = std::ptr::null_mut();
    // SAFETY: `swap_back_forever` takes no arguments and never returns; its stack is the
    // pair's, which outlives every switch into it (the coroutine is left suspended, never
    // resumed after the pair is dropped).
    unsafe { libc::makecontext(&mut *pair.co, swap_back_forever, 0) };
    let (m, c): (*mut libc::ucontext_t, *mut libc::ucontext_t) = (&mut *pair.main, &mut *pair.co);
    PAIR.with(|p| p.set((m, c)));
    Ok(Box::new(move |n| {
        let _keep = &pair;
        for _ in 0..n {
            // SAFETY: `m` is running (this code), `c` new or suspended in its swapcontext,
            // both boxed and alive as long as `pair`, which this closure owns.
            unsafe { libc::swapcontext(m, c) };
        }
        Ok(())
    }))
}

/// Whose turn: 0 the measuring thread's, 1 the other's, 2 the other stops.
struct Baton {
    turn: Mutex<u8>,
    changed: Condvar,
}

/// The ping-pong's other thread, stopped and joined when dropped.
struct Partner {
    baton: Arc<Baton>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Partner {
    fn drop(&mut self) {
        *self.baton.turn.lock().unwrap_or_else(|e| e.into_inner()) = 2;
        self.baton.changed.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A raw two-thread ping-pong over one `Mutex` + `Condvar`: the floor of the thread oracle.
fn thread_round_trip() -> Sample {
    let baton = Arc::new(Baton {
        turn: Mutex::new(0),
        changed: Condvar::new(),
    });
    let thread = {
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
    let partner = Partner {
        baton,
        thread: Some(thread),
    };
    Box::new(move |n| {
        let baton = &partner.baton;
        let mut turn = baton.turn.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..n {
            *turn = 1;
            baton.changed.notify_one();
            while *turn == 1 {
                turn = baton.changed.wait(turn).unwrap_or_else(|e| e.into_inner());
            }
        }
        Ok(())
    })
}

/// A hot `memcpy` of `n` bytes between two buffers at the same offset within a page (as
/// stack-copy places its heap copies).
fn memcpy(n: usize) -> Sample {
    let mut src = vec![1u8; n + 4096];
    let mut dst = vec![0u8; n + 4096];
    Box::new(move |k| {
        let s = src.as_mut_ptr();
        let d = dst.as_mut_ptr();
        let (s, d) = (
            s.wrapping_add(s.align_offset(4096)),
            d.wrapping_add(d.align_offset(4096)),
        );
        for _ in 0..k {
            // SAFETY: both point `n` bytes into buffers of `n + 4096` bytes, at most 4095
            // bytes in; the two buffers are distinct.
            unsafe { std::ptr::copy_nonoverlapping(black_box(s), black_box(d), n) };
        }
        Ok(())
    })
}

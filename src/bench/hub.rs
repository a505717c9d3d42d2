//! The figures of one backend, through the greenlet trait only ([`Hub`]), so that any
//! registered backend is measured the same way: round trip at each depth of the plan, the
//! 4 KiB round trip at 8 positions within a page, spawn-to-finish, and memory per suspended
//! greenlet.
//!
//! A round trip is `hub.switch_ref(&g, v)` from main, answered by the greenlet's
//! `hub.switch_ref(&main, v)`: what a user of the trait who keeps its handles writes (no
//! reference counting; `hub.switch(g.clone(), v)` adds a clone and a drop of the handle, two
//! atomic operations per switch on the native runtime). The greenlet is started
//! from the very function that then loops over the switches ([`round_trips`]), so main
//! switches from the depth where the greenlet was started, and the greenlet switches from one
//! extra frame of exactly `depth` bytes of locals below its start: a stack-copy switch then
//! has that frame (plus the runtime's own frames) to copy, and nothing of main's.

use super::{
    time_fallible, DepthRow, Figure, Measured, Memory, Plan, Sample, Timing, DEPTHS, OFFSET_DEPTH,
};
use crate::interp::RtValue;
use std::hint::black_box;
use switchyard_impls::greenlet::{BackendError, Hub, HubConfig, Outcome};

/// Stack of each greenlet where the backend gives greenlets stacks: room for the deepest
/// depth (128 KiB) and the runtime's frames; small, so that thousands of suspended greenlets
/// (the memory figure) stay cheap to reserve on the thread backend.
const BENCH_STACK: usize = 512 << 10;

/// Measures backend hub type `H` per `plan` on the calling thread (which needs stack enough
/// for stack-copy: see `registry::PROGRAM_THREAD_STACK`). `name` labels progress lines.
pub fn measure<H: Hub<RtValue>>(plan: &Plan, name: &str) -> Measured {
    let failed = |e: String| Measured {
        backend: name.to_string(),
        round_trip: Err(e.clone()),
        page_offsets: plan.page_offsets.then(|| Err(e.clone())),
        spawn_to_finish: Err(e.clone()),
        memory: (plan.memory_greenlets > 0).then_some(Err(e)),
    };
    let hub = match new_hub::<H>() {
        Ok(hub) => hub,
        Err(e) => return failed(e),
    };
    let mut rows = Vec::new();
    let mut round_trip = Ok(());
    for &depth in &plan.depths {
        match round_trips(&hub, plan, depth) {
            Ok(row) => {
                plan.note(
                    name,
                    &format!("round trip at {} KiB", depth >> 10),
                    &row.time,
                );
                rows.push(row);
            }
            Err(e) => {
                round_trip = Err(e);
                break;
            }
        }
    }
    let page_offsets = plan.page_offsets.then(|| {
        let mut medians = Vec::new();
        for k in 0..8 {
            let t = below_shift(k, || round_trips(&hub, plan, OFFSET_DEPTH))?;
            plan.note(
                name,
                &format!("round trip at 4 KiB, stack {} B lower", k * 512),
                &t.time,
            );
            medians.push(t.time.median_ns);
        }
        Ok(medians)
    });
    let spawn_to_finish = spawn_to_finish(&hub, plan);
    if let Ok(t) = &spawn_to_finish {
        plan.note(name, "spawn to finish", t);
    }
    let memory =
        (plan.memory_greenlets > 0).then(|| {
            let m = memory(&hub, plan.memory_greenlets);
            if let (Ok(m), true) = (&m, plan.progress) {
                crate::errln!(
                "bench: {name}: memory per suspended greenlet: {:.0} B RSS, {:.0} B page tables, \
                 {:.0} B saved stack ({} greenlets)",
                m.rss, m.page_tables, m.saved, m.greenlets
            );
            }
            m
        });
    Measured {
        backend: name.to_string(),
        round_trip: round_trip.map(|()| rows),
        page_offsets,
        spawn_to_finish,
        memory,
    }
}

fn backend_error(e: BackendError) -> String {
    e.0
}

fn new_hub<H: Hub<RtValue>>() -> Result<H, String> {
    H::new(&HubConfig {
        stack_size: BENCH_STACK,
    })
    .map_err(|e| format!("cannot make a hub: {e}"))
}

/// One figure of hub type `H` kept alive on the calling thread (its own hub, and the
/// round trip's greenlet), sampled on request: `sample(n)` runs `n` operations. The round
/// trip's greenlet starts on the first call, from the frame every later call switches from
/// (see [`super::sampling`]), as in [`round_trips`].
pub fn sampler<H: Hub<RtValue> + 'static>(figure: Figure) -> Result<Sample, String> {
    let hub = new_hub::<H>()?;
    match figure {
        Figure::RoundTrip { depth } => {
            let g = round_trip_greenlet(&hub, depth)?;
            /// Dropped in this order: the greenlet (killed through its hub), then the hub.
            struct Kept<H: Hub<RtValue>> {
                g: H::Greenlet,
                hub: H,
            }
            let kept = Kept { g, hub };
            Ok(Box::new(move |n| switches(&kept.hub, &kept.g, n)))
        }
        Figure::Spawn => Ok(Box::new(move |n| spawns(&hub, n))),
    }
}

/// A new (unstarted) greenlet that answers every switch from `depth` bytes below its start:
/// the other side of a round trip at `depth` (one of [`DEPTHS`]).
fn round_trip_greenlet<H: Hub<RtValue>>(hub: &H, depth: usize) -> Result<H::Greenlet, String> {
    if !DEPTHS.contains(&depth) {
        return Err(format!("no round trip at depth {depth}"));
    }
    let main = hub.main();
    hub.spawn(Box::new(move |h: &H, _| body(h, &main, depth)), None)
        .map_err(backend_error)
}

/// The greenlet's side of a round trip: switch to main for ever (until killed).
#[inline(never)]
fn pong<H: Hub<RtValue>>(hub: &H, main: &H::Greenlet) -> Outcome<RtValue> {
    loop {
        black_box(hub.switch_ref(main, RtValue::Int(1))?);
    }
}

/// [`pong`] below one frame holding `N` bytes of locals.
#[inline(never)]
fn pong_below<H: Hub<RtValue>, const N: usize>(hub: &H, main: &H::Greenlet) -> Outcome<RtValue> {
    let frame = black_box([7u8; N]);
    let r = pong(hub, main);
    black_box(&frame);
    r
}

/// The body of a round-trip greenlet switching from `depth` bytes below its start.
fn body<H: Hub<RtValue>>(hub: &H, main: &H::Greenlet, depth: usize) -> Outcome<RtValue> {
    match depth {
        0 => pong(hub, main),
        0x400 => pong_below::<H, 0x400>(hub, main),
        0x800 => pong_below::<H, 0x800>(hub, main),
        0x1000 => pong_below::<H, 0x1000>(hub, main),
        0x2000 => pong_below::<H, 0x2000>(hub, main),
        0x4000 => pong_below::<H, 0x4000>(hub, main),
        0x8000 => pong_below::<H, 0x8000>(hub, main),
        0x10000 => pong_below::<H, 0x10000>(hub, main),
        0x20000 => pong_below::<H, 0x20000>(hub, main),
        _ => Ok(RtValue::None),
    }
}

/// This thread's stack-copy counters (zero where there is no stack-copy backend).
fn copy_counts() -> (u64, u64) {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        let c = switchyard_impls::stack_copy::copy_counts();
        (c.saved, c.restored)
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        (0, 0)
    }
}

/// `n` round trips to `g` (`n == 0`: none). The greenlet's first switch is made by this
/// function too, so that every switch from main leaves from the same depth.
#[inline(never)]
fn switches<H: Hub<RtValue>>(hub: &H, g: &H::Greenlet, n: u64) -> Result<(), String> {
    for _ in 0..n {
        match hub.switch_ref(g, RtValue::Int(2)) {
            Ok(RtValue::Int(1)) => {}
            other => return Err(format!("the round-trip greenlet answered {other:?}")),
        }
    }
    Ok(())
}

/// The round trip at `depth`, with bytes copied per round trip.
fn round_trips<H: Hub<RtValue>>(hub: &H, plan: &Plan, depth: usize) -> Result<DepthRow, String> {
    let g = round_trip_greenlet(hub, depth)?;
    let mut started = None;
    let mut done = 0u64;
    let t = time_fallible(plan, |n| {
        if started.is_none() {
            // Starts it (to its first switch back) from the frame every later switch leaves
            // from, so that main's own frames never overlap the greenlet's.
            switches(hub, &g, 1)?;
            started = Some(copy_counts());
        }
        switches(hub, &g, n)?;
        done += n;
        Ok(())
    })?;
    let (s0, r0) = started.unwrap_or_default();
    let (s1, r1) = copy_counts();
    let per = |a: u64, b: u64| (b - a) as f64 / done.max(1) as f64;
    drop(g); // killed: GreenletExit thrown in, it ends
    Ok(DepthRow {
        depth,
        time: t,
        saved: per(s0, s1),
        restored: per(r0, r1),
    })
}

/// A frame of `N` bytes, then `f` below it.
#[inline(never)]
fn below<R, const N: usize>(f: impl FnOnce() -> R) -> R {
    let frame = black_box([0u8; N]);
    let r = f();
    black_box(&frame);
    r
}

/// `f` run `k * 512` bytes lower on the stack (`k` from 0 to 7): the page-offset sweep runs
/// the [`OFFSET_DEPTH`] round trip, greenlet start included, in there.
pub(super) fn below_shift<R>(k: usize, f: impl FnOnce() -> R) -> R {
    match k {
        0 => below::<R, 16>(f),
        1 => below::<R, 528>(f),
        2 => below::<R, 1040>(f),
        3 => below::<R, 1552>(f),
        4 => below::<R, 2064>(f),
        5 => below::<R, 2576>(f),
        6 => below::<R, 3088>(f),
        _ => below::<R, 3600>(f),
    }
}

/// `n` greenlets, each spawned, switched to, and returning its start value.
fn spawns<H: Hub<RtValue>>(hub: &H, n: u64) -> Result<(), String> {
    for _ in 0..n {
        let g = hub
            .spawn(Box::new(|_: &H, v| Ok(v.unwrap_or(RtValue::None))), None)
            .map_err(backend_error)?;
        if hub.switch(g, RtValue::Int(3)) != Ok(RtValue::Int(3)) {
            return Err("the spawned greenlet did not return its start value".into());
        }
    }
    Ok(())
}

/// Spawn a greenlet, switch to it, it returns its start value: per greenlet.
fn spawn_to_finish<H: Hub<RtValue>>(hub: &H, plan: &Plan) -> Result<Timing, String> {
    time_fallible(plan, |n| spawns(hub, n))
}

/// Resident set size and page tables of this process, in bytes.
fn rss_and_page_tables() -> Option<(u64, u64)> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let pte_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmPTE:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some((pages * page, pte_kb << 10))
}

/// Memory per suspended greenlet: `count` greenlets, each started and suspended in its first
/// switch back (at depth 0), held by handles; the growth of the process divided by `count`.
fn memory<H: Hub<RtValue>>(hub: &H, count: usize) -> Result<Memory, String> {
    // The caller's handles are not the hub's memory: their slots are written before the first
    // reading. Collecting `None`s may allocate zeroed pages the kernel maps only when first
    // written (they would then count in the resident set's growth, 8 bytes per greenlet, as
    // they did at 100,000 greenlets), so every slot is written with a volatile store.
    let mut held: Vec<Option<H::Greenlet>> = (0..count).map(|_| None).collect();
    for slot in held.iter_mut() {
        // SAFETY: `slot` is a valid, aligned, initialized element; writing `None` over `None`
        // drops nothing.
        unsafe { std::ptr::write_volatile(slot, None) };
    }
    let (rss0, pte0) = rss_and_page_tables().ok_or("cannot read /proc/self/statm or status")?;
    let heap0 = heap_in_use();
    let (s0, _) = copy_counts();
    for slot in held.iter_mut() {
        // A body capturing nothing (no allocation of its own): the figure is the hub's memory,
        // not the program's closure.
        let g = hub
            .spawn(Box::new(|h: &H, _| pong(h, &h.main())), None)
            .map_err(backend_error)?;
        match hub.switch(g.clone(), RtValue::Int(0)) {
            Ok(RtValue::Int(1)) => *slot = Some(g),
            other => return Err(format!("a held greenlet answered {other:?}")),
        }
    }
    let (rss1, pte1) = rss_and_page_tables().ok_or("cannot read /proc/self/statm or status")?;
    let heap1 = heap_in_use();
    let (s1, _) = copy_counts();
    drop(held); // every one killed
    let per = |a: u64, b: u64| b.saturating_sub(a) as f64 / count as f64;
    Ok(Memory {
        greenlets: count,
        rss: per(rss0, rss1),
        page_tables: per(pte0, pte1),
        saved: per(s0, s1),
        heap: heap0.zip(heap1).map(|(a, b)| per(a, b)),
    })
}

/// Bytes the allocator has handed out and not had back (glibc's `mallinfo2`: in-use chunks
/// and mmap'd chunks, headers included).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn heap_in_use() -> Option<u64> {
    // SAFETY: `mallinfo2` takes no arguments and only reads the allocator's statistics.
    let info = unsafe { libc::mallinfo2() };
    Some((info.uordblks + info.hblkhd) as u64)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn heap_in_use() -> Option<u64> {
    None
}

//! Greenlet switching speed of every backend, through the `Hub` trait: a round trip (main →
//! greenlet → main) and spawn-to-finish (spawn a greenlet, switch to it, it returns), plus a
//! round trip whose greenlet switches from ~64 KiB of stack (1,000 frames) down, which is
//! what stack-copy's cost grows with. `raw_switch/*` times the mmap and stack-copy backends'
//! `StackSwitch::switch` alone (no runtime). corosensei's resume + suspend and spawn-to-finish
//! run in the same process as the reference. A new backend is one line in `backends!` below.
//!
//! Quick run: `cargo bench --bench switch -- --warm-up-time 1 --measurement-time 2`.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use switchyard_impls::greenlet::{Hub, HubConfig, Outcome, Payload};

/// The smallest payload: an integer; errors are GreenletExit or a panic.
#[derive(Debug, PartialEq)]
struct N(u64);

#[derive(Debug)]
enum E {
    Exit,
    Panic,
}

impl Payload for N {
    type Error = E;
    fn exit_error() -> E {
        E::Exit
    }
    fn is_exit(e: &E) -> bool {
        matches!(e, E::Exit)
    }
    fn exit_value() -> N {
        N(u64::MAX)
    }
    fn is_exit_value(&self) -> bool {
        self.0 == u64::MAX
    }
    fn panic_error(_: String) -> E {
        E::Panic
    }
}

/// Frames the deep variant's greenlet recurses through before it starts switching.
const DEEP_FRAMES: usize = 1000;
/// Bytes of locals each of those frames keeps live; with the return address and saved
/// registers a frame comes to 64 bytes, so the greenlet switches from ~64 KiB of stack.
const FRAME_PAD: usize = 24;

/// What every frame of the deep greenlet needs.
struct Deep<'a, H: Hub<N>> {
    hub: &'a H,
    main: &'a H::Greenlet,
    /// An address at the top of the greenlet's stack.
    top: usize,
}

/// Recurses `depth` frames, each holding `FRAME_PAD` live bytes, then switches to main
/// forever.
#[inline(never)]
fn deep<H: Hub<N>>(d: &Deep<'_, H>, depth: usize) -> Outcome<N> {
    let pad = black_box([depth as u8; FRAME_PAD]);
    let r = if depth == 0 {
        switch_forever(d, &pad as *const _ as usize)
    } else {
        deep(d, depth - 1)
    };
    black_box(&pad);
    r
}

/// The bottom of [`deep`]: the first switch tells main the stack span it switches from.
#[inline(never)]
fn switch_forever<H: Hub<N>>(d: &Deep<'_, H>, here: usize) -> Outcome<N> {
    d.hub.switch(d.main.clone(), N((d.top - here) as u64))?;
    loop {
        d.hub.switch(d.main.clone(), N(1))?;
    }
}

fn bench_backend<H: Hub<N>>(c: &mut Criterion, name: &str) {
    let hub = H::new(&HubConfig::default()).unwrap();
    let main = hub.main();

    let m = main.clone();
    let g = hub
        .spawn(
            Box::new(move |h, _| loop {
                h.switch(m.clone(), N(1))?;
            }),
            None,
        )
        .unwrap();
    hub.switch(g.clone(), N(0)).unwrap();
    c.bench_function(&format!("round_trip/{name}"), |b| {
        b.iter(|| black_box(hub.switch(g.clone(), N(black_box(2))).unwrap()))
    });
    drop(g);

    let m = main.clone();
    let g = hub
        .spawn(
            Box::new(move |h, _| {
                // A local of this frame, not a capture: a boxed closure's captures may stay
                // in the box (on the heap) rather than on the greenlet's stack.
                let anchor = black_box(0u8);
                let top = &anchor as *const u8 as usize;
                let d = Deep {
                    hub: h,
                    main: &m,
                    top,
                };
                deep(&d, DEEP_FRAMES)
            }),
            None,
        )
        .unwrap();
    let span = hub.switch(g.clone(), N(0)).unwrap().0;
    assert!(
        (56 << 10..72 << 10).contains(&span),
        "the deep greenlet switches from {span} bytes of stack, not about 64 KiB"
    );
    c.bench_function(&format!("round_trip_deep_64k/{name}"), |b| {
        b.iter(|| black_box(hub.switch(g.clone(), N(black_box(2))).unwrap()))
    });
    drop(g);

    c.bench_function(&format!("spawn_to_finish/{name}"), |b| {
        b.iter(|| {
            let g = hub.spawn(Box::new(|_, v| Ok(v.unwrap())), None).unwrap();
            black_box(hub.switch(g.clone(), N(3)).unwrap())
        })
    });
}

/// The backends' switch alone: main → greenlet → main with `StackSwitch::switch`, no runtime
/// (`backend::raw::PingPong`): the row "backend switch alone (StackSwitch::switch, no
/// runtime)", beside corosensei's resume + suspend.
fn raw_switch(c: &mut Criterion) {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        use switchyard_impls::backend::raw::PingPong;
        use switchyard_impls::switch::StackSwitch;
        fn row<S: StackSwitch>(c: &mut Criterion, name: &str) {
            let mut pair = PingPong::<S>::new().unwrap_or_else(|e| panic!("{name}: {e}"));
            c.bench_function(&format!("raw_switch/{name}"), |b| {
                b.iter_custom(|n| {
                    let start = std::time::Instant::now();
                    pair.run(n);
                    start.elapsed()
                })
            });
        }
        row::<switchyard_impls::mmap::Mmap>(c, "mmap");
        row::<switchyard_impls::stack_copy::StackCopy>(c, "stack-copy");
    }
    let _ = c;
}

fn corosensei_reference(c: &mut Criterion) {
    use corosensei::Coroutine;
    let mut co = Coroutine::new(|y, mut v: u64| loop {
        v = y.suspend(v + 1);
    });
    c.bench_function("round_trip/corosensei", |b| {
        b.iter(|| black_box(co.resume(black_box(2))))
    });
    c.bench_function("spawn_to_finish/corosensei", |b| {
        b.iter(|| {
            let mut co = Coroutine::new(|_: &corosensei::Yielder<u64, ()>, v: u64| v + 1);
            black_box(co.resume(3))
        })
    });
}

macro_rules! backends {
    ($($(#[$cfg:meta])* $name:literal => $H:ty,)*) => {
        fn all_backends(c: &mut Criterion) {
            // Each hub is dropped before the next backend's is made: one hub per OS thread.
            $($(#[$cfg])* bench_backend::<$H>(c, $name);)*
        }
    };
}

/// The greenlet runtime over a native stack-switching backend (or a loaded library's).
#[allow(dead_code)]
type Native<S> = switchyard_impls::runtime::Runtime<S, N>;

/// The benchmark's promise for stack-copy hubs.
#[allow(dead_code)]
struct BenchKeepsStacksPrivate;

// SAFETY: the benchmark bodies keep no pointer into a greenlet's stack for another thread or
// greenlet: `deep` hands main only a number (the stack span), never an address to use.
unsafe impl switchyard_impls::runtime::SharedStackContract for BenchKeepsStacksPrivate {}

backends! {
    "thread" => switchyard_oracle::ThreadHub<N>,
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    "stack-copy" => Native<
        switchyard_impls::runtime::SharedStack<
            switchyard_impls::stack_copy::StackCopy,
            BenchKeepsStacksPrivate,
        >,
    >,
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    "mmap" => Native<switchyard_impls::mmap::Mmap>,
    #[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
    "ucontext" => Native<switchyard_impls::ucontext::Ucontext>,
    #[cfg(all(feature = "adapters", target_arch = "x86_64", target_os = "linux"))]
    "adapter:corosensei" => Native<switchyard_impls::backend::adapters::corosensei::Corosensei>,
    #[cfg(all(feature = "adapters", target_arch = "x86_64", target_os = "linux"))]
    "adapter:fcontext" => Native<switchyard_impls::backend::adapters::fcontext::Fcontext>,
}

/// The shared-library route: the Boost.Context fcontext shim (`shims/boost-fcontext/`,
/// include/switchyard.h) built with its Makefile, loaded, and run as `Runtime<CLib, _>`.
fn shared_library(c: &mut Criterion) {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        use switchyard_impls::backend::clib::{self, CLib};
        let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("shims");
        let shim = clib::build_boost_shim(&out, false).unwrap_or_else(|e| panic!("{e}"));
        let info = clib::load(&shim).unwrap_or_else(|e| panic!("{e}"));
        bench_backend::<Native<CLib>>(c, &info.name);
    }
    let _ = c;
}

criterion_group!(
    benches,
    all_backends,
    shared_library,
    raw_switch,
    corosensei_reference
);
criterion_main!(benches);

//! Switch round trip and spawn-to-finish for each native backend, with corosensei's
//! resume + suspend as the reference. A new backend is one line in `backends!` below.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use switchyard_impls::greenlet::{Hub, HubConfig, Payload};
use switchyard_impls::runtime::Runtime;
use switchyard_impls::switch::StackSwitch;

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

fn bench_backend<S: StackSwitch>(c: &mut Criterion, name: &str) {
    let hub = Runtime::<S, N>::new(&HubConfig::default()).unwrap();
    let main = hub.main();
    let g = hub
        .spawn(
            Box::new(move |h, _| loop {
                h.switch(&main, N(1))?;
            }),
            None,
        )
        .unwrap();
    hub.switch(&g, N(0)).unwrap();
    c.bench_function(&format!("round_trip/{name}"), |b| {
        b.iter(|| black_box(hub.switch(&g, N(black_box(2))).unwrap()))
    });
    c.bench_function(&format!("spawn_to_finish/{name}"), |b| {
        b.iter(|| {
            let g = hub.spawn(Box::new(|_, v| Ok(v.unwrap())), None).unwrap();
            black_box(hub.switch(&g, N(3)).unwrap())
        })
    });
    drop(g);
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
    ($($name:literal => $S:ty,)*) => {
        fn all_backends(c: &mut Criterion) {
            // Each hub is dropped before the next backend's is made: one hub per OS thread.
            $(bench_backend::<$S>(c, $name);)*
        }
    };
}

backends! {
    "mmap" => switchyard_impls::mmap::Mmap,
    "ucontext" => switchyard_impls::ucontext::Ucontext,
}

criterion_group!(benches, all_backends, corosensei_reference);
criterion_main!(benches);

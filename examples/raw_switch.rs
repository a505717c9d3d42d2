//! `raw_switch BACKEND N`: N round trips main → greenlet → main of the backend's
//! `StackSwitch::switch` alone (no runtime), for counting instructions under callgrind, which is
//! repeatable on a loaded machine: run it with two values of N and divide the difference in
//! instructions by the difference in N (the README's benchmark section shows the command).
//! BACKEND is `mmap`, `stack-copy` or `corosensei` (resume + suspend, the peer). Prints the
//! wall-clock nanoseconds per round trip too (noisy; `switchyard bench` and the criterion
//! bench are the careful timings).

use std::time::Instant;

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn main() {
    use switchyard_impls::backend::raw::PingPong;
    let args: Vec<String> = std::env::args().collect();
    let (backend, n) = match (args.get(1), args.get(2).and_then(|n| n.parse::<u64>().ok())) {
        (Some(b), Some(n)) => (b.as_str(), n),
        _ => {
            eprintln!("usage: raw_switch mmap|stack-copy|corosensei N [mxcsr-flags]");
            std::process::exit(2);
        }
    };
    if args.get(3).map(String::as_str) == Some("mxcsr-flags") {
        // Main's MXCSR with the sticky "precision" exception flag set, as after any inexact
        // floating-point operation (a new greenlet starts with 0x1F80, flags clear): the two
        // sides' MXCSR differ at every switch.
        let mut csr: u32 = 0;
        // SAFETY: stmxcsr/ldmxcsr of a 4-byte local; only the precision flag (bit 5) changes.
        unsafe {
            std::arch::asm!("stmxcsr [{0}]", "or dword ptr [{0}], 0x20", "ldmxcsr [{0}]", in(reg) &mut csr);
        }
    }
    let start = Instant::now();
    match backend {
        "mmap" => {
            let mut p = PingPong::<switchyard_impls::mmap::Mmap>::new().expect("mmap context");
            p.run(n);
        }
        "stack-copy" => {
            let mut p = PingPong::<switchyard_impls::stack_copy::StackCopy>::new()
                .expect("stack-copy context");
            p.run(n);
        }
        "corosensei" => corosensei(n),
        other => {
            eprintln!("raw_switch: unknown backend {other:?}");
            std::process::exit(2);
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / n.max(1) as f64;
    println!("{backend}: {n} round trips, {ns:.2} ns each");
}

/// corosensei's resume + suspend, as `switchyard bench` measures it.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[inline(never)]
fn corosensei(n: u64) {
    use corosensei::stack::DefaultStack;
    use corosensei::{Coroutine, Yielder};
    let stack = DefaultStack::new(1 << 20).expect("corosensei stack");
    let mut co = Coroutine::with_stack(stack, |y: &Yielder<u64, u64>, mut v: u64| loop {
        v = y.suspend(v + 1);
    });
    for _ in 0..n {
        std::hint::black_box(co.resume(std::hint::black_box(2)));
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn main() {
    eprintln!("raw_switch: x86-64 Linux only");
}

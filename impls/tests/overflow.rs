//! A greenlet that overflows its mmap'd stack ends the process with a clear message and
//! SIGABRT. The test runs this test binary again as a child, with an environment variable that
//! selects the overflow scenario.

mod common;

use common::{body, hub, Val};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use switchyard_impls::greenlet::{Hub, HubConfig};
use switchyard_impls::runtime::Runtime;
use switchyard_impls::runtime::StableStacks;

const ENV: &str = "SWITCHYARD_OVERFLOW_SCENARIO";

#[inline(never)]
fn recurse(n: u64) -> u64 {
    if n == std::hint::black_box(u64::MAX) {
        return 0;
    }
    let mut frame = [0u8; 4096];
    frame[0] = n as u8;
    std::hint::black_box(&mut frame);
    recurse(n + 1) + frame[0] as u64
}

fn overflow<S: StableStacks>() {
    let h = Runtime::<S, Val>::new(&HubConfig {
        stack_size: 256 << 10,
    })
    .unwrap();
    let _ = hub::<S>();
    let g = h
        .spawn(body::<S>(|_, _| Ok(Val::Int(recurse(0) as i64))), None)
        .unwrap();
    let _ = h.switch(g.clone(), Val::None);
    unreachable!("the overflow must have ended the process");
}

/// The child side: does nothing unless the scenario variable is set.
#[test]
fn overflow_child() {
    match std::env::var(ENV).as_deref() {
        Ok("mmap") => overflow::<switchyard_impls::mmap::Mmap>(),
        Ok("ucontext") => overflow::<switchyard_impls::ucontext::Ucontext>(),
        _ => {}
    }
}

fn run_child(scenario: &str, backend_name: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "overflow_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV, scenario)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "switchyard: greenlet stack overflow ({backend_name}, stack of {} bytes)",
        256 << 10
    );
    assert!(stderr.contains(&expected), "stderr was: {stderr}");
    assert_eq!(out.status.signal(), Some(SIGABRT), "{:?}", out.status);
}

const SIGABRT: i32 = 6;

#[test]
fn overflow_mmap_aborts_with_message() {
    run_child("mmap", "mmap backend");
}

#[test]
fn overflow_ucontext_aborts_with_message() {
    run_child("ucontext", "ucontext backend");
}

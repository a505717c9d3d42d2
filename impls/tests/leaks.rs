//! No mapping outlives its hub beyond the thread's bounded pool of free stacks (at most 16,
//! kept for the thread's next hubs): every other stack (live, of dead, unstarted or still
//! suspended greenlets) is unmapped when the hub goes away, so hub after hub the process's
//! mappings do not grow. Alone in its test binary, so that no other test changes the process's
//! mappings meanwhile.

mod common;

use common::{body, hub, Val};
use switchyard_impls::greenlet::Hub;
use switchyard_impls::runtime::StableStacks;

fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

fn workload<S: StableStacks>() {
    let h = hub::<S>();
    let mut keep = vec![];
    for i in 0..200 {
        let m = h.main();
        let g = h
            .spawn(
                body::<S>(move |h, v| {
                    let r = h.switch(m.clone(), v.unwrap())?;
                    Ok(r)
                }),
                None,
            )
            .unwrap();
        match i % 3 {
            0 => {} // unstarted
            1 => {
                // suspended
                h.switch(g.clone(), Val::Int(i)).unwrap();
            }
            _ => {
                // dead
                h.switch(g.clone(), Val::Int(i)).unwrap();
                h.switch(g.clone(), Val::Int(i)).unwrap();
            }
        }
        if i % 2 == 0 {
            keep.push(g);
        }
    }
    drop(h);
    drop(keep);
}

#[test]
fn no_leaked_mappings() {
    // Warm up once (signal handler, lazily made runtime state).
    workload::<switchyard_impls::mmap::Mmap>();
    workload::<switchyard_impls::ucontext::Ucontext>();
    let before = mappings();
    for _ in 0..3 {
        workload::<switchyard_impls::mmap::Mmap>();
        workload::<switchyard_impls::ucontext::Ucontext>();
    }
    let after = mappings();
    assert_eq!(
        before, after,
        "mappings before and after the hubs went away"
    );
}

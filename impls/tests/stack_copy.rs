//! Tests of the stack-copy backend, driving `StackSwitch` directly through a tiny scheduler:
//! a `World` holds one thread's main context and the contexts spawned from it; each new
//! context runs a closure (its "spec") that says what to switch to.
//!
//! About 700 lines: the scheduler and the tests share one file because every test drives the
//! same `World` (the raw backend, below the runtime), and the scheduler is only for them.
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use std::cell::Cell;
use std::ffi::c_void;
use std::hint::black_box;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::null_mut;
use std::rc::Rc;
use switchyard_impls::arch::x86_64::{pop_callee_saved, push_callee_saved};
use switchyard_impls::greenlet::HubConfig;
use switchyard_impls::stack_copy::{saved_bytes, Context, StackCopy};
use switchyard_impls::switch::StackSwitch;

/// One thread's contexts. Slot 0 is the main context.
struct World {
    ctxs: Vec<*mut Context>,
    free_slots: Vec<usize>,
    current: usize,
    failure: Option<String>,
}

/// A handle to a world, copied into every context's closure.
#[derive(Clone, Copy)]
struct W(*mut World);

type Body = Box<dyn FnOnce(W) -> usize>;

/// What a new context's entry receives.
struct Start {
    w: W,
    body: Body,
}

unsafe extern "C" fn entry(arg: *mut c_void) -> ! {
    // SAFETY: `arg` is the `Box<Start>` leaked by `W::spawn`, handed over exactly once. The
    // box is a temporary, freed at the end of this statement: this function never returns,
    // so nothing may be left to drop at its end.
    let Start { w, body } = *unsafe { Box::from_raw(arg as *mut Start) };
    let to = match catch_unwind(AssertUnwindSafe(move || body(w))) {
        Ok(to) => to,
        Err(e) => {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            w.world().failure.get_or_insert(msg);
            0
        }
    };
    w.die(to)
}

impl W {
    fn new() -> W {
        let main = Box::into_raw(Box::new(StackCopy::main_context()));
        W(Box::into_raw(Box::new(World {
            ctxs: vec![main],
            free_slots: Vec::new(),
            current: 0,
            failure: None,
        })))
    }

    #[allow(clippy::mut_from_ref)]
    fn world(&self) -> &mut World {
        // SAFETY: the world lives until `destroy`, is used by one thread, and no reference to
        // it is held across a switch.
        unsafe { &mut *self.0 }
    }

    fn spawn(&self, body: impl FnOnce(W) -> usize + 'static) -> usize {
        let start = Box::into_raw(Box::new(Start {
            w: *self,
            body: Box::new(body),
        }));
        let ctx = StackCopy::new_context(&HubConfig::default(), entry, start as *mut c_void)
            .expect("new_context");
        let ctx = Box::into_raw(Box::new(ctx));
        let world = self.world();
        match world.free_slots.pop() {
            Some(i) => {
                world.ctxs[i] = ctx;
                i
            }
            None => {
                world.ctxs.push(ctx);
                world.ctxs.len() - 1
            }
        }
    }

    fn ptrs(&self, to: usize) -> (*mut Context, *mut Context) {
        let world = self.world();
        let from = world.ctxs[world.current];
        let target = world.ctxs[to];
        assert!(!target.is_null(), "switch to freed context {to}");
        world.current = to;
        (from, target)
    }

    /// Switches from the current context to `to`; returns when switched back to.
    fn switch(&self, to: usize) {
        let me = self.current();
        let (from, target) = self.ptrs(to);
        // SAFETY: `from` runs now, `to` is another live context of this world.
        unsafe { StackCopy::switch(from, target, false) };
        self.world().current = me;
        self.check_failure();
    }

    /// The current context dies and switches to `to`.
    fn die(&self, to: usize) -> ! {
        let (from, target) = self.ptrs(to);
        // SAFETY: as in `switch`; nothing on this stack is used again.
        unsafe { StackCopy::switch(from, target, true) };
        std::process::abort()
    }

    fn check_failure(&self) {
        if self.current() == 0 {
            if let Some(msg) = self.world().failure.take() {
                panic!("a context failed: {msg}");
            }
        }
    }

    fn current(&self) -> usize {
        self.world().current
    }

    fn ctx(&self, i: usize) -> &Context {
        // SAFETY: slot `i` holds a live boxed context.
        unsafe { &*self.world().ctxs[i] }
    }

    fn saved(&self, i: usize) -> usize {
        saved_bytes(self.ctx(i))
    }

    /// Frees a context that is dead (or was never started).
    fn free(&self, i: usize) {
        assert_ne!(i, 0);
        let world = self.world();
        let ctx = std::mem::replace(&mut world.ctxs[i], null_mut());
        // SAFETY: made by `Box::into_raw` in `spawn`, freed once.
        drop(unsafe { Box::from_raw(ctx) });
        world.free_slots.push(i);
    }

    /// Frees every context, then the world (called on the main context).
    fn destroy(self) {
        assert_eq!(self.current(), 0);
        // SAFETY: made by `Box::into_raw` in `new`.
        let world = unsafe { Box::from_raw(self.0) };
        for &c in world.ctxs.iter().skip(1).chain(world.ctxs.first()) {
            if !c.is_null() {
                // SAFETY: every non-null slot is a live boxed context.
                drop(unsafe { Box::from_raw(c) });
            }
        }
    }
}

/// Recurses `depth` frames, each holding 8 words derived from its depth and `tag`, calls `f`
/// at the bottom, then checks every frame's words on the way up. Returns a checksum.
#[inline(never)]
fn recurse(depth: usize, tag: u64, f: &mut dyn FnMut()) -> u64 {
    let mut words = [0u64; 8];
    for (i, w) in words.iter_mut().enumerate() {
        *w = tag.wrapping_mul(1_000_003) ^ (depth as u64 * 8 + i as u64);
    }
    black_box(&mut words);
    let below = if depth == 0 {
        f();
        0
    } else {
        recurse(depth - 1, tag, f)
    };
    for (i, w) in words.iter().enumerate() {
        assert_eq!(
            *w,
            tag.wrapping_mul(1_000_003) ^ (depth as u64 * 8 + i as u64),
            "frame {depth} of tag {tag} corrupted"
        );
    }
    below.wrapping_add(words[0])
}

fn read_mxcsr() -> u32 {
    let mut x = 0u32;
    // SAFETY: stmxcsr stores 4 bytes to a valid, writable u32.
    unsafe { core::arch::asm!("stmxcsr [{}]", in(reg) &mut x, options(nostack)) };
    x
}

fn write_mxcsr(x: u32) {
    // SAFETY: loads a valid MXCSR value (only rounding bits changed from the current one).
    unsafe { core::arch::asm!("ldmxcsr [{}]", in(reg) &x, options(nostack)) };
}

fn read_fpucw() -> u16 {
    let mut x = 0u16;
    // SAFETY: fnstcw stores 2 bytes to a valid, writable u16.
    unsafe { core::arch::asm!("fnstcw [{}]", in(reg) &mut x, options(nostack)) };
    x
}

fn write_fpucw(x: u16) {
    // SAFETY: loads an x87 control word that keeps every exception masked.
    unsafe { core::arch::asm!("fldcw [{}]", in(reg) &x, options(nostack)) };
}

// ---------------------------------------------------------------------------------------------

fn ping_pong_body() {
    let w = W::new();
    let cell = Rc::new(Cell::new(0u64));
    let (c1, c2) = (cell.clone(), cell.clone());
    // a: adds 1, passes to b; b: doubles, passes to main; 100 rounds.
    let b = w.spawn(move |w| {
        for _ in 0..100 {
            c2.set(c2.get() * 2);
            w.switch(0);
        }
        0
    });
    let a = w.spawn(move |w| {
        for _ in 0..100 {
            c1.set(c1.get() + 1);
            w.switch(b);
        }
        0
    });
    let mut expect = 0u64;
    for _ in 0..100 {
        cell.set(expect % 1000);
        expect %= 1000;
        w.switch(a);
        expect = (expect + 1) * 2;
        assert_eq!(cell.get(), expect);
        assert_eq!(w.current(), 0);
    }
    // Both loops ended their 100 rounds: let them die.
    w.switch(a);
    assert!(w.ctx(a).is_dead() && !w.ctx(b).is_dead());
    w.switch(b);
    assert!(w.ctx(b).is_dead());
    w.destroy();
}

#[test]
fn ping_pong() {
    ping_pong_body();
}

fn deep_recursion_body() {
    let w = W::new();
    let done = Rc::new(Cell::new(0u32));
    // a and b both start at main's depth, recurse 2,000 frames and switch to each other at the
    // bottom: every switch copies the whole of the other's recursion.
    let (d1, d2) = (done.clone(), done.clone());
    let a_slot = Rc::new(Cell::new(0usize));
    let sa = a_slot.clone();
    let b = w.spawn(move |w| {
        w.switch(0); // started by main, right back
        let a = sa.get();
        let sum = recurse(2000, 11, &mut || {
            for _ in 0..10 {
                w.switch(a);
            }
            // a is at its bottom: let main see both saved.
            w.switch(0);
        });
        assert_eq!(sum, recurse(2000, 11, &mut || {}));
        d2.set(d2.get() + 1);
        a
    });
    let a = w.spawn(move |w| {
        let sum = recurse(2000, 7, &mut || {
            // One more than b's 10: the last one lets b go on to main.
            for _ in 0..11 {
                w.switch(b);
            }
        });
        assert_eq!(sum, recurse(2000, 7, &mut || {}));
        d1.set(d1.get() + 1);
        0
    });
    a_slot.set(a);
    // Both start from the same depth of main, so each one's recursion overlaps the other's.
    let start_both = || {
        w.switch(b);
        w.switch(a);
    };
    start_both();
    // b is suspended at its bottom, a too: both hold ~2,000 frames on the heap.
    assert!(w.saved(a) > 2000 * 64, "saved(a) = {}", w.saved(a));
    assert!(w.saved(b) > 2000 * 64, "saved(b) = {}", w.saved(b));
    assert_eq!(w.saved(0), 0);
    recurse(100, 5, &mut || w.switch(b));
    assert_eq!(done.get(), 2);
    assert!(w.ctx(a).is_dead() && w.ctx(b).is_dead());
    assert_eq!(w.saved(a) + w.saved(b), 0);
    w.destroy();
}

/// Runs `f` on a thread with a stack big enough for the debug build's 2,000-frame recursions.
fn on_big_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(f)
        .expect("thread")
        .join()
        .expect("test thread");
}

#[test]
fn deep_recursion_switching_at_the_bottom() {
    on_big_stack(deep_recursion_body);
}

#[test]
fn partial_saves_grow_and_keep_earlier_bytes() {
    // a recurses 200 frames; n is started 50 frames in and m 100 frames in (each comes
    // straight back). At a's bottom a switches to m: a is saved only up to m's stack_stop (p1
    // bytes); m switches to n: a's save grows up to n's stack_stop (p2 > p1 bytes) and must
    // keep the first p1; n switches back to a, which checks all 200 frames.
    let w = W::new();
    let a_slot = Rc::new(Cell::new(0usize));
    let p1 = Rc::new(Cell::new(0usize));
    let p2 = Rc::new(Cell::new(0usize));
    let (asl_n, asl_m, p1m, p2n) = (a_slot.clone(), a_slot.clone(), p1.clone(), p2.clone());
    let n = w.spawn(move |w| {
        let a = asl_n.get();
        w.switch(a);
        p2n.set(w.saved(a));
        w.switch(a);
        0
    });
    let m = w.spawn(move |w| {
        let a = asl_m.get();
        w.switch(a);
        p1m.set(w.saved(a));
        assert!(w.saved(n) > 0, "n is suspended and fully saved");
        w.switch(n);
        0
    });
    let a = w.spawn(move |w| {
        let me = w.current();
        let sum = recurse(50, 13, &mut || {
            w.switch(n);
            let inner = recurse(50, 14, &mut || {
                w.switch(m);
                let deepest = recurse(100, 15, &mut || {
                    w.switch(m);
                    assert_eq!(w.saved(me), 0);
                });
                assert_eq!(deepest, recurse(100, 15, &mut || {}));
            });
            assert_eq!(inner, recurse(50, 14, &mut || {}));
        });
        assert_eq!(sum, recurse(50, 13, &mut || {}));
        0
    });
    a_slot.set(a);
    recurse(10, 1, &mut || w.switch(a));
    assert!(w.ctx(a).is_dead());
    let (p1, p2) = (p1.get(), p2.get());
    assert!(p1 > 100 * 64, "p1 = {p1}");
    assert!(p2 > p1 + 50 * 64, "p1 = {p1}, p2 = {p2}");
    assert!(w.saved(m) > 0 && w.saved(n) > 0);
    w.switch(m); // m's switch to n returns; m dies.
    w.switch(n); // n's second switch to a returns; n dies.
    assert!(w.ctx(m).is_dead() && w.ctx(n).is_dead());
    assert_eq!(w.saved(m) + w.saved(n) + w.saved(a), 0);
    w.destroy();
}

#[test]
fn saved_bytes_reports_sensible_values() {
    let w = W::new();
    let a = w.spawn(|w| {
        let me = w.current();
        assert_eq!(w.saved(me), 0, "running");
        w.switch(0);
        assert_eq!(w.saved(me), 0, "running again");
        // main resumed us from deeper than our stack_stop: it is overlapped.
        assert!(w.saved(0) > 0, "main is overlapped: {}", w.saved(0));
        w.switch(0);
        0
    });
    assert_eq!(w.saved(a), 0, "unstarted");
    assert!(!w.ctx(a).is_started());
    w.switch(a);
    let s = w.saved(a);
    assert!(s > 0 && s < 64 * 1024, "suspended: {s}");
    assert_eq!(w.saved(0), 0, "main running");
    recurse(100, 2, &mut || w.switch(a));
    assert_eq!(w.saved(0), 0);
    w.switch(a);
    assert!(w.ctx(a).is_dead());
    assert_eq!(w.saved(a), 0, "dead");
    assert!(w.ctx(0).is_main());
    w.destroy();
}

fn many_contexts_body(count: usize) {
    let w = W::new();
    let sum = Rc::new(Cell::new(0u64));
    let mut ids = Vec::new();
    for i in 0..count {
        let s = sum.clone();
        let c = w.spawn(move |w| {
            let data = [i as u64 ^ 0x5a5a; 16];
            black_box(&data);
            let x = recurse(i % 13, i as u64, &mut || {
                w.switch(0);
                assert_eq!(data, [i as u64 ^ 0x5a5a; 16]);
                w.switch(0);
            });
            assert_eq!(x, recurse(i % 13, i as u64, &mut || {}));
            assert_eq!(data, [i as u64 ^ 0x5a5a; 16]);
            s.set(s.get() + i as u64);
            0
        });
        // Start each at a different depth of main.
        recurse(i % 37, 99, &mut || w.switch(c));
        ids.push(c);
    }
    for &c in ids.iter().rev() {
        recurse(c % 23, 98, &mut || w.switch(c));
    }
    for (k, &c) in ids.iter().enumerate() {
        assert!(!w.ctx(c).is_dead());
        recurse(k % 7, 97, &mut || w.switch(c));
        assert!(w.ctx(c).is_dead());
        w.free(c);
    }
    assert_eq!(sum.get(), (0..count as u64).sum::<u64>());
    w.destroy();
}

#[test]
fn a_thousand_live_contexts_at_different_depths() {
    many_contexts_body(1000);
}

#[test]
fn dying_contexts_and_their_chains() {
    let w = W::new();
    let log = Rc::new(std::cell::RefCell::new(Vec::<&'static str>::new()));
    let (la, lb, lc, ld) = (log.clone(), log.clone(), log.clone(), log.clone());
    let a = w.spawn(move |w| {
        let a = w.current();
        recurse(30, 21, &mut || {
            let (lb, lc, ld) = (lb.clone(), lc.clone(), ld.clone());
            let b = w.spawn(move |w| {
                let b = w.current();
                let mut d = 0;
                recurse(40, 22, &mut || {
                    let lc = lc.clone();
                    let c = w.spawn(move |_| {
                        let _ = recurse(20, 23, &mut || {});
                        lc.borrow_mut().push("c");
                        b // c dies into b, which is suspended deeper up the stack
                    });
                    w.switch(c);
                    lb.borrow_mut().push("b");
                    let ld = ld.clone();
                    d = w.spawn(move |_| {
                        let x = recurse(60, 24, &mut || {});
                        assert_eq!(x, recurse(60, 24, &mut || {}));
                        ld.borrow_mut().push("d");
                        a // d dies into a
                    });
                });
                d // b dies into the new context d: its first switch comes from a dying one
            });
            w.switch(b);
            la.borrow_mut().push("a");
        });
        0
    });
    recurse(5, 20, &mut || w.switch(a));
    assert_eq!(*log.borrow(), ["c", "b", "d", "a"]);
    for i in 1..=4 {
        assert!(w.ctx(i).is_dead(), "context {i}");
        assert_eq!(w.saved(i), 0);
    }
    // A fresh context started after all that still works.
    let e = w.spawn(|w| {
        w.switch(0);
        0
    });
    w.switch(e);
    w.switch(e);
    assert!(w.ctx(e).is_dead());
    w.destroy();
}

// ---------------------------------------------------------------------------------------------

extern "C" fn do_switch(from: *mut Context, to: *mut Context) {
    // SAFETY: called by `switch_checking_regs` on behalf of `W::switch_regs`, which checks
    // the same contract as `W::switch`.
    unsafe { StackCopy::switch(from, to, false) }
}

/// Loads `seed`, `seed + 1`, ... into r15, rbx, rbp, r12, r13, r14, switches, and returns 1 if
/// they all still hold those values afterwards (0 otherwise). Saves only the general-purpose
/// registers of the crate's frame (not the control words: restoring those here would hide a
/// backend that loses them from the checks of `registers_body`).
#[unsafe(naked)]
unsafe extern "C" fn switch_checking_regs(from: *mut Context, to: *mut Context, seed: u64) -> u64 {
    core::arch::naked_asm!(
        push_callee_saved!(),
        "sub rsp, 8",
        "mov [rsp], rdx",
        "mov r15, rdx",
        "lea rbx, [rdx + 1]",
        "lea rbp, [rdx + 2]",
        "lea r12, [rdx + 3]",
        "lea r13, [rdx + 4]",
        "lea r14, [rdx + 5]",
        "call {sw}",
        "xor eax, eax",
        "cmp r15, [rsp]",
        "jne 2f",
        "lea rcx, [r15 + 1]",
        "cmp rbx, rcx",
        "jne 2f",
        "lea rcx, [r15 + 2]",
        "cmp rbp, rcx",
        "jne 2f",
        "lea rcx, [r15 + 3]",
        "cmp r12, rcx",
        "jne 2f",
        "lea rcx, [r15 + 4]",
        "cmp r13, rcx",
        "jne 2f",
        "lea rcx, [r15 + 5]",
        "cmp r14, rcx",
        "jne 2f",
        "mov eax, 1",
        "2:",
        "add rsp, 8",
        pop_callee_saved!(),
        "ret",
        sw = sym do_switch,
    )
}

impl W {
    fn switch_regs(&self, to: usize, seed: u64) -> bool {
        let me = self.current();
        let (from, target) = self.ptrs(to);
        // SAFETY: as in `W::switch`.
        let ok = unsafe { switch_checking_regs(from, target, seed) };
        self.world().current = me;
        self.check_failure();
        ok == 1
    }
}

/// MXCSR's control bits (its low 6 bits are sticky exception flags, caller-saved by the ABI).
const MXCSR_CONTROL: u32 = !0x3f;
const MXCSR_ROUND_TOWARD_ZERO: u32 = 0b11 << 13;
const MXCSR_ROUNDING: u32 = 0b11 << 13;
/// The x87 rounding-control field (Valgrind models it; it ignores precision control).
const FPUCW_ROUNDING: u16 = 0b11 << 10;

/// 0.1, whose nearest double lies above it: rounding toward zero gives the one below.
fn one_tenth() -> f64 {
    black_box(1.0f64) / black_box(10.0f64)
}

fn registers_body() {
    let w = W::new();
    let base_mxcsr = read_mxcsr();
    let base_fpucw = read_fpucw();
    let nearest = one_tenth();
    let a = w.spawn(move |w| {
        let mine = (base_mxcsr & !MXCSR_ROUNDING) | MXCSR_ROUND_TOWARD_ZERO;
        write_mxcsr(mine);
        let cw = base_fpucw | FPUCW_ROUNDING; // round toward zero
        write_fpucw(cw);
        let truncated = one_tenth();
        // Valgrind's CPU emulation rounds SSE arithmetic to nearest whatever MXCSR says (it
        // keeps the register's value, which the checks below still compare).
        let arithmetic = !under_valgrind();
        if arithmetic {
            assert_ne!(truncated, nearest);
        }
        for k in 0..20u64 {
            assert!(w.switch_regs(0, 0xA000_0000_0000 + k * 16));
            assert_eq!(read_mxcsr() & MXCSR_CONTROL, mine & MXCSR_CONTROL);
            assert_eq!(read_fpucw(), cw);
            if arithmetic {
                assert_eq!(one_tenth(), truncated);
            }
        }
        0 // dies with its own control words set
    });
    for k in 0..20u64 {
        assert!(w.switch_regs(a, 0xB000_0000_0000 + k * 16));
        assert_eq!(read_mxcsr() & MXCSR_CONTROL, base_mxcsr & MXCSR_CONTROL);
        assert_eq!(read_fpucw(), base_fpucw);
        assert_eq!(one_tenth(), nearest);
    }
    assert!(w.switch_regs(a, 0xC000));
    assert!(w.ctx(a).is_dead());
    assert_eq!(read_mxcsr() & MXCSR_CONTROL, base_mxcsr & MXCSR_CONTROL);
    assert_eq!(read_fpucw(), base_fpucw);
    w.destroy();
}

#[test]
fn callee_saved_registers_and_control_words_survive_switches() {
    registers_body();
}

#[test]
fn two_threads_run_their_own_contexts_concurrently() {
    let threads: Vec<_> = (0..2)
        .map(|_| {
            std::thread::Builder::new()
                .stack_size(64 << 20)
                .spawn(|| {
                    for _ in 0..5 {
                        ping_pong_body();
                        deep_recursion_body();
                        many_contexts_body(200);
                        registers_body();
                    }
                })
                .expect("thread")
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
}

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn under_valgrind() -> bool {
    std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("vgpreload"))
}

#[test]
fn a_million_contexts_without_memory_growth() {
    let iters: u64 = if under_valgrind() { 20_000 } else { 1_000_000 };
    let w = W::new();
    let mut rss_early = 0;
    for i in 0..iters {
        let c = w.spawn(move |w| {
            let data = [i; 32];
            black_box(&data);
            w.switch(0);
            assert_eq!(data, [i; 32]);
            0
        });
        w.switch(c);
        assert!(w.saved(c) >= 32 * 8);
        w.switch(c);
        assert!(w.ctx(c).is_dead());
        w.free(c);
        if i == iters / 10 {
            rss_early = vm_rss_kib();
        }
    }
    let rss_late = vm_rss_kib();
    // Under Valgrind the process's RSS also holds Valgrind's shadow memory and its queue of
    // freed blocks (not reused at once, to catch use-after-free): its leak check is the
    // memory check there.
    if !under_valgrind() {
        assert!(
            rss_late <= rss_early + 1024,
            "VmRSS grew from {rss_early} KiB to {rss_late} KiB"
        );
    }
    eprintln!(
        "VmRSS after {} contexts: {rss_early} KiB; after {iters}: {rss_late} KiB",
        iters / 10
    );
    w.destroy();
}

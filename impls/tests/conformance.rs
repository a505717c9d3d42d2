//! The hub conformance suite (switchyard-greenlet's `conformance` feature) on the generic
//! runtime over every native backend, and the runtime's own answers to what the greenlet trait
//! leaves to each backend.

#[allow(unused_imports)]
use switchyard_greenlet::conformance::{ConformancePayload, Setup};
#[allow(unused_imports)]
use switchyard_impls::runtime::{Runtime, SharedStack, SharedStackContract};

/// The conformance suite's promise for its stack-copy hubs.
#[allow(dead_code)]
struct ScenariosKeepStacksPrivate;

// SAFETY: the scenarios (`switchyard_greenlet::conformance::scenarios`, no unsafe code) pass
// only owned values and `Arc`s between greenlets and threads; none keeps a pointer into a
// suspended greenlet's stack.
unsafe impl SharedStackContract for ScenariosKeepStacksPrivate {}

/// Stack-copy under the scenarios' promise.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
type StackCopy = SharedStack<switchyard_impls::stack_copy::StackCopy, ScenariosKeepStacksPrivate>;

#[cfg(target_os = "linux")]
switchyard_greenlet::conformance_tests!(
    mmap,
    Runtime<switchyard_impls::mmap::Mmap, ConformancePayload>
);

#[cfg(all(target_os = "linux", target_env = "gnu"))]
switchyard_greenlet::conformance_tests!(
    ucontext,
    Runtime<switchyard_impls::ucontext::Ucontext, ConformancePayload>
);

#[cfg(all(feature = "adapters", target_arch = "x86_64", target_os = "linux"))]
switchyard_greenlet::conformance_tests!(
    corosensei,
    Runtime<switchyard_impls::backend::adapters::corosensei::Corosensei, ConformancePayload>
);

#[cfg(all(feature = "adapters", target_arch = "x86_64", target_os = "linux"))]
switchyard_greenlet::conformance_tests!(
    fcontext,
    Runtime<switchyard_impls::backend::adapters::fcontext::Fcontext, ConformancePayload>
);

// Stack-copy runs every greenlet on the thread's own stack: the scenarios with big frames
// need a thread with room for them (the test harness gives 2 MiB).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
switchyard_greenlet::conformance_tests!(
    stack_copy,
    Runtime<StackCopy, ConformancePayload>,
    Setup::new().thread_stack(STACK_COPY_THREAD_STACK)
);

/// The Boost.Context fcontext shim (`shims/boost-fcontext/`, include/switchyard.h), built
/// with its Makefile into this test's target directory and loaded as the process's backend
/// library, once. A machine without a C++ compiler or Boost.Context fails here, saying so.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn load_boost_shim() {
    use std::sync::OnceLock;
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    let loaded = LOADED.get_or_init(|| {
        use switchyard_impls::backend::clib;
        let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("shims");
        let info = clib::load(&clib::build_boost_shim(&out, false)?).map_err(|e| e.to_string())?;
        assert_eq!(info.name, "lib:boost-fcontext");
        Ok(())
    });
    if let Result::Err(message) = loaded {
        panic!("{message}");
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
switchyard_greenlet::conformance_tests!(
    clib_boost_fcontext,
    Runtime<switchyard_impls::backend::clib::CLib, ConformancePayload>,
    {
        load_boost_shim();
        Setup::new()
    }
);

/// The stack of the threads stack-copy's scenarios run on.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
const STACK_COPY_THREAD_STACK: usize = 64 << 20;

/// Behaviour the trait leaves open, as the native runtime does it, and the x86-64 control
/// words (which need `asm!`, so cannot live in the unsafe-free greenlet crate).
#[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
mod native_specific {
    use switchyard_greenlet::conformance::{body, Setup, Val};
    use switchyard_greenlet::{Hub, HubConfig, State};
    use switchyard_impls::runtime::{Runtime, StableStacks};

    use super::STACK_COPY_THREAD_STACK;

    type H<S> = Runtime<S, Val>;

    fn hub<S: StableStacks>() -> H<S> {
        Setup::new().hub::<H<S>>()
    }

    /// Runs `f` on a thread with room for stack-copy's greenlets.
    fn on_big_stack(f: fn()) {
        let thread = Setup::new()
            .thread_stack(STACK_COPY_THREAD_STACK)
            .spawn_thread(f);
        if let Result::Err(panic) = thread.join() {
            std::panic::resume_unwind(panic);
        }
    }

    /// A second `Hub::new` on the thread, also inside a greenlet, returns the same hub.
    fn one_hub_per_thread<S: StableStacks>() {
        let h1 = hub::<S>();
        let h2 = hub::<S>();
        assert_eq!(h1.main(), h2.main());
        let g = h1.spawn(body(|_, v| Ok(v.unwrap())), None).unwrap();
        assert_eq!(h2.switch(g.clone(), Val::Int(3)), Ok(Val::Int(3)));
        let g = h1
            .spawn(
                body(|h: &H<S>, _| {
                    let again = hub::<S>();
                    Ok(Val::Int((again.current() == h.current()) as i64))
                }),
                None,
            )
            .unwrap();
        assert_eq!(h1.switch(g.clone(), Val::None), Ok(Val::Int(1)));
    }

    /// A hub of another backend on a thread with a live hub is refused.
    fn mixed_backends_refused<S: StableStacks, T: StableStacks>() {
        let _h = hub::<S>();
        let other = H::<T>::new(&HubConfig::default());
        assert!(other.unwrap_err().0.contains("one hub per OS thread"));
    }

    /// A handle used on another thread's hub panics naming the rule.
    fn wrong_thread_message<S: StableStacks>() {
        let h = hub::<S>();
        let g = h.spawn(body(|_, _| Ok(Val::None)), None).unwrap();
        let g2 = g.clone();
        let msg = std::thread::spawn(move || {
            let other = hub::<S>();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _ = other.switch(g2.clone(), Val::None);
            }));
            switchyard_greenlet::panic_message(&*r.unwrap_err())
        })
        .join()
        .unwrap();
        assert!(msg.contains("own thread"), "{msg}");
        assert_eq!(h.state(&g), State::Unstarted);
    }

    /// The hub going away makes up to three kill passes: a greenlet that survives two more
    /// GreenletExits and gives up at the third dies in the second pass.
    fn teardown_kills_in_up_to_three_passes<S: StableStacks>() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        use switchyard_greenlet::conformance::{fixtures::leave_a_kill_survivor, Log};
        let h = hub::<S>();
        let log = Log::default();
        let count = Arc::new(AtomicUsize::new(0));
        leave_a_kill_survivor(&h, &log, &count, 3);
        drop(h);
        assert_eq!(count.load(Ordering::SeqCst), 3);
        assert_eq!(log.take(), vec!["recv Err(Exit)"; 3]);
    }

    /// The MXCSR.
    fn mxcsr() -> u32 {
        let mut v = 0u32;
        // SAFETY: stores the MXCSR into a local.
        unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut v, options(nostack)) };
        v
    }

    /// The x87 control word.
    fn fpcw() -> u16 {
        let mut v = 0u16;
        // SAFETY: stores the x87 control word into a local.
        unsafe { std::arch::asm!("fnstcw [{}]", in(reg) &mut v, options(nostack)) };
        v
    }

    /// Sets the MXCSR control bits (rounding mode, masks) and the x87 control word.
    fn set_control(mxcsr: u32, fpcw: u16) {
        // SAFETY: loads valid control values (every exception stays masked).
        unsafe {
            std::arch::asm!(
                "ldmxcsr [{m}]",
                "fldcw [{f}]",
                m = in(reg) &mxcsr,
                f = in(reg) &fpcw,
                options(nostack),
            )
        };
    }

    /// The MXCSR control bits (the exception flags are caller-saved and may change).
    fn mxcsr_control() -> u32 {
        mxcsr() & 0xFFC0
    }

    /// Each greenlet's MXCSR control bits and x87 control word survive its suspension,
    /// whatever the greenlets it switched to (directly, greenlet to greenlet, too) set
    /// meanwhile.
    fn control_words<S: StableStacks>() {
        let h = hub::<S>();
        let (base_m, base_f) = (mxcsr(), fpcw());
        let g2 = h
            .spawn(
                body(|h: &H<S>, _| {
                    set_control(0x3F80, 0x077F); // round down
                    h.switch(h.main(), Val::None)?;
                    assert_eq!((mxcsr_control(), fpcw()), (0x3F80, 0x077F));
                    Ok(Val::None)
                }),
                None,
            )
            .unwrap();
        let g2c = g2.clone();
        let g1 = h
            .spawn(
                body(move |h: &H<S>, _| {
                    set_control(0x7F80, 0x0F7F); // round toward zero
                    let main = h.main();
                    h.switch(main.clone(), Val::Int(1))?;
                    assert_eq!((mxcsr_control(), fpcw()), (0x7F80, 0x0F7F));
                    h.switch(g2c.clone(), Val::Int(2))?; // g2 sets its own mode, switches to main
                    assert_eq!((mxcsr_control(), fpcw()), (0x7F80, 0x0F7F));
                    Ok(Val::Int(3))
                }),
                None,
            )
            .unwrap();
        assert_eq!(h.switch(g1.clone(), Val::None), Ok(Val::Int(1)));
        assert_eq!((mxcsr(), fpcw()), (base_m, base_f));
        set_control(0x5F80, 0x0B7F); // round up
        assert_eq!(h.switch(g1.clone(), Val::None), Ok(Val::None)); // g1 -> g2 -> main
        assert_eq!((mxcsr_control(), fpcw()), (0x5F80, 0x0B7F));
        assert_eq!(h.switch(g1.clone(), Val::None), Ok(Val::Int(3)));
        assert_eq!((mxcsr_control(), fpcw()), (0x5F80, 0x0B7F));
        assert_eq!(h.switch(g2.clone(), Val::Int(4)), Ok(Val::None));
        assert_eq!((mxcsr_control(), fpcw()), (0x5F80, 0x0B7F));
        set_control(base_m, base_f);
    }

    /// What the corosensei adapter declares (`guarantees`) and what was measured: its switch
    /// keeps neither control word, so a context resumed runs on with the MXCSR control bits
    /// and x87 control word of the context that switched to it (a new one included).
    #[allow(dead_code)]
    fn control_words_handed_over<S: StableStacks>() {
        use switchyard_impls::switch::Guarantees;
        let not_kept = Guarantees {
            mxcsr: false,
            x87_cw: false,
        };
        assert_eq!(S::guarantees(), not_kept);
        fn both() -> Val {
            Val::Int((i64::from(mxcsr_control()) << 16) | i64::from(fpcw()))
        }
        let h = hub::<S>();
        let (base_m, base_f) = (mxcsr(), fpcw());
        let g = h
            .spawn(
                body(|h: &H<S>, _| {
                    let at_start = both();
                    set_control(0x5F80, 0x0B7F); // round up
                    h.switch(h.main(), at_start)?;
                    Ok(both())
                }),
                None,
            )
            .unwrap();
        set_control(0x7F80, 0x0F7F); // main: round toward zero
        let started_with = h.switch(g.clone(), Val::None);
        let main_resumed_with = (mxcsr_control(), fpcw());
        set_control(0x3F80, 0x077F); // main: round down
        let g_resumed_with = h.switch(g.clone(), Val::None);
        set_control(base_m, base_f);
        assert_eq!(started_with, Ok(Val::Int(0x7F80 << 16 | 0x0F7F)));
        assert_eq!(main_resumed_with, (0x5F80, 0x0B7F));
        assert_eq!(g_resumed_with, Ok(Val::Int(0x3F80 << 16 | 0x077F)));
    }

    macro_rules! native_tests {
        ($name:ident, $S:ty, $Other:ty, $run:expr) => {
            native_tests!($name, $S, $Other, $run, control_words);
        };
        ($name:ident, $S:ty, $Other:ty, $run:expr, $control:ident) => {
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                type B = $S;
                #[test]
                fn a_second_hub_on_the_same_thread_is_the_same_hub() {
                    $run(super::one_hub_per_thread::<B>);
                }
                #[test]
                fn a_hub_of_another_backend_on_the_thread_is_refused() {
                    $run(super::mixed_backends_refused::<B, $Other>);
                }
                #[test]
                fn a_handle_used_on_another_thread_panics_saying_so() {
                    $run(super::wrong_thread_message::<B>);
                }
                #[test]
                fn the_hub_going_away_kills_in_up_to_three_passes() {
                    $run(super::teardown_kills_in_up_to_three_passes::<B>);
                }
                #[test]
                fn the_fp_control_words_across_a_switch_are_as_declared() {
                    $run(super::$control::<B>);
                }
            }
        };
    }

    fn here(f: fn()) {
        f()
    }

    fn with_boost_shim(f: fn()) {
        crate::load_boost_shim();
        f()
    }

    native_tests!(
        mmap,
        switchyard_impls::mmap::Mmap,
        switchyard_impls::ucontext::Ucontext,
        here
    );
    native_tests!(
        ucontext,
        switchyard_impls::ucontext::Ucontext,
        switchyard_impls::mmap::Mmap,
        here
    );
    #[cfg(feature = "adapters")]
    native_tests!(
        corosensei,
        switchyard_impls::backend::adapters::corosensei::Corosensei,
        switchyard_impls::mmap::Mmap,
        here,
        control_words_handed_over
    );
    #[cfg(feature = "adapters")]
    native_tests!(
        fcontext,
        switchyard_impls::backend::adapters::fcontext::Fcontext,
        switchyard_impls::mmap::Mmap,
        here
    );
    native_tests!(
        clib_boost_fcontext,
        switchyard_impls::backend::clib::CLib,
        switchyard_impls::mmap::Mmap,
        with_boost_shim
    );
    native_tests!(
        stack_copy,
        crate::StackCopy,
        switchyard_impls::mmap::Mmap,
        on_big_stack
    );
}

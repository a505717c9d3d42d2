//! The raw switch, for benchmarks: a ping-pong of [`StackSwitch::switch`] between a thread's
//! main context and one greenlet context, with no runtime around it (no handles, no values,
//! no ASan annotations). It is what the `switch/raw` rows of the criterion bench
//! (`benches/switch.rs`), the "backend switch alone" rows of `switchyard bench` and the
//! `raw_switch` example (for callgrind) measure, beside corosensei's resume + suspend.
//!
//! Main resumes the greenlet with `S::switch(main, g, false)`; the greenlet's entry switches
//! back with `S::switch(g, main, false)` in a loop for ever. Both calls are inlined into their
//! loops when the backend's switch is `#[inline]` (as mmap's is), as they would be in a
//! program that switches from a loop.

use crate::greenlet::{BackendError, HubConfig};
use crate::switch::StackSwitch;
use std::ffi::c_void;

/// The two contexts of a ping-pong. Boxed: the greenlet's entry holds a pointer to it.
struct Pair<S: StackSwitch> {
    main: S::Context,
    g: S::Context,
}

/// A main context and a greenlet that switches straight back every time it is resumed.
///
/// Made and used on one thread; dropping it leaves the greenlet suspended for good (its
/// stack, or its saved slice, is freed with its context).
pub struct PingPong<S: StackSwitch> {
    pair: Box<Pair<S>>,
}

/// The greenlet's body: switch back to main, for ever.
///
/// # Safety
///
/// `arg` is the boxed [`Pair`] of the [`PingPong`] whose greenlet this is, and this runs as
/// that greenlet's entry (main is suspended in the switch that started it).
unsafe extern "C" fn bounce<S: StackSwitch>(arg: *mut c_void) -> ! {
    let pair = arg as *mut Pair<S>;
    loop {
        // SAFETY: `arg` is the boxed pair of `PingPong::new`, alive while anything switches
        // to this greenlet; main is suspended in the switch that resumed us.
        unsafe {
            S::switch(
                std::ptr::addr_of_mut!((*pair).g),
                std::ptr::addr_of_mut!((*pair).main),
                false,
            )
        };
    }
}

impl<S: StackSwitch> PingPong<S> {
    /// A new pair whose greenlet has not run yet.
    pub fn new() -> Result<Self, BackendError> {
        // The greenlet's context needs the pair's address, so the box is made with main's
        // context twice and the greenlet's replaces the second.
        let mut pair = Box::new(Pair::<S> {
            main: S::main_context(),
            g: S::main_context(),
        });
        let arg = std::ptr::addr_of_mut!(*pair) as *mut c_void;
        pair.g = S::new_context(&HubConfig::default(), bounce::<S>, arg)?;
        Ok(PingPong { pair })
    }

    /// `n` round trips main → greenlet → main.
    #[inline(never)]
    pub fn run(&mut self, n: u64) {
        let pair: *mut Pair<S> = &mut *self.pair;
        for _ in 0..n {
            // SAFETY: this thread's main context is running; the greenlet is new or
            // suspended in its `S::switch` back; both are boxed and alive.
            unsafe {
                S::switch(
                    std::ptr::addr_of_mut!((*pair).main),
                    std::ptr::addr_of_mut!((*pair).g),
                    false,
                )
            };
        }
    }
}

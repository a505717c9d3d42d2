//! Backends over real stack-switching crates from crates.io (feature `adapters`, on by
//! default; x86-64 Linux only): each is a small [`crate::switch::StackSwitch`] over the
//! library's own switching code, so it gets greenlet's semantics from the generic runtime and
//! is judged by the oracle, the corpus, random programs and the register probe exactly as the
//! built-in backends are.
//!
//! - [`corosensei`]: the `corosensei` crate's asymmetric `Coroutine::resume` /
//!   `Yielder::suspend`, made symmetric by trampolining through the main context;
//! - [`fcontext`]: the `context` crate, Boost.Context's `make_fcontext` / `jump_fcontext`
//!   assembly, which switches symmetrically.
//!
//! What the adapters share with the built-in stack-per-greenlet backends is everything but
//! the switch: every context runs on a switchyard stack ([`crate::stack`]: `mmap`'d, guard
//! page, pooled per thread, registered with Valgrind, a guard-page hit reported as `switchyard:
//! greenlet stack overflow (<backend>, ...)`), handed to the library through its
//! bring-your-own-stack API. So what a campaign judges is the library's switch, and its
//! figures are comparable with `mmap`'s.
//!
//! The `generator` crate has no adapter: a started generator ends only by returning from its
//! function or by the unwinding `Cancel` panic that dropping it sends through its stack, and a
//! greenlet's entry function neither returns nor may be unwound (see the README, "Route 3:
//! adapters").

pub mod corosensei;
pub mod fcontext;

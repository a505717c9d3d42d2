//! switchyard-impls: the generic greenlet runtime that implements the greenlet trait
//! ([`greenlet::Hub`], from `switchyard-greenlet`, re-exported here as [`greenlet`]) over the
//! stack-switching trait ([`switch::StackSwitch`]), and the native switching backends, one
//! module each.
//!
//! # Layout
//!
//! - [`switch`]: the [`switch::StackSwitch`] trait a backend implements;
//! - [`runtime`]: greenlet semantics over any backend (hub state, handles, lifecycle, entry);
//! - [`backend`]: the native backends, [`backend::stack_copy`], [`backend::mmap`] and
//!   [`backend::ucontext`] (also re-exported at their old paths `stack_copy`, `mmap`,
//!   `ucontext`);
//! - [`stack`]: guarded, pooled `mmap`'d stacks with the overflow handler, for the
//!   stack-per-greenlet backends;
//! - [`arch`]: the one callee-saved register frame every naked switch uses, as assembly-text
//!   macros, and the frame layouts a new context starts from;
//! - [`probe`]: [`probe::Probed`], any backend with a register probe at its switch;
//! - [`asan`]: AddressSanitizer's fiber annotations and shadow copies, compiled in only in
//!   sanitized builds;
//!   [`process`]: crash injection for tests;
//!   `mutants` (feature `mutants`): deliberately broken backends.
//!
//! # The native runtime
//!
//! [`runtime::Runtime<S, V>`] implements [`greenlet::Hub<V>`] for any backend `S`: all of
//! greenlet 3.x's semantics (parent-chain walks, throw, GreenletExit, kill on drop) live there
//! once. Backends: [`mmap::Mmap`] (a stack per greenlet and an asm register swap, x86-64 Linux)
//! and [`ucontext::Ucontext`] (`swapcontext` on the same stacks, Linux/glibc). A hub belongs
//! to one OS thread; greenlet handles ([`runtime::Greenlet`]) are reference counted, and a
//! suspended greenlet whose last handle goes away is killed with GreenletExit; a hub still
//! alive when its thread exits is torn down then.
//!
//! # Safety boundary
//!
//! Every safe function of this crate is sound. What that takes:
//! - [`stack_copy::StackCopy`] moves a suspended greenlet's stack bytes (greenlet's
//!   algorithm), so a borrow lent to another thread (`std::thread::scope`) would read and
//!   write another greenlet's frames. Its hubs therefore exist only as
//!   `Runtime<SharedStack<StackCopy, C>, V>`, where `C` is the program's
//!   `unsafe impl` of [`runtime::SharedStackContract`]; `Runtime<StackCopy, V>` is not a
//!   [`greenlet::Hub`] (see [`runtime::sharing`], with compile-fail examples).
//! - A switch made while the thread unwinds a panic (from a destructor) is refused with the
//!   payload's panic error, because the panic state is the thread's and would leak into the
//!   greenlet switched to; greenlets whose last handle is dropped during unwinding are killed
//!   later (see [`runtime`]). A switch from a `Payload` method the runtime is calling while it
//!   resolves a switch or a death is refused the same way.
//! - [`process::close_stdout`] and the stack-switching trait ([`switch::StackSwitch`]) are
//!   `unsafe`, with their contracts in `# Safety` sections.
//!
//! It is a plain Rust greenlet library too. A generator, ping-ponging with the main greenlet:
//!
//! ```
//! # #[cfg(all(target_arch = "x86_64", target_os = "linux"))] {
//! use switchyard_impls::greenlet::{Hub, HubConfig, Payload};
//! use switchyard_impls::mmap::Mmap;
//! use switchyard_impls::runtime::Runtime;
//!
//! #[derive(Debug, PartialEq)]
//! enum Msg { Next, Item(u64), Done, Exit }
//! #[derive(Debug)]
//! enum Error { Exit, Panic(String) }
//!
//! impl Payload for Msg {
//!     type Error = Error;
//!     fn exit_error() -> Error { Error::Exit }
//!     fn is_exit(e: &Error) -> bool { matches!(e, Error::Exit) }
//!     fn exit_value() -> Msg { Msg::Exit }
//!     fn is_exit_value(&self) -> bool { *self == Msg::Exit }
//!     fn panic_error(message: String) -> Error { Error::Panic(message) }
//! }
//!
//! let hub = Runtime::<Mmap, Msg>::new(&HubConfig::default()).unwrap();
//! let main = hub.main();
//! let fib = hub
//!     .spawn(
//!         Box::new(move |hub, _start| {
//!             let (mut a, mut b) = (0u64, 1u64);
//!             for _ in 0..10 {
//!                 hub.switch(main.clone(), Msg::Item(a))?; // yield a, wait for Next
//!                 (a, b) = (b, a + b);
//!             }
//!             Ok(Msg::Done) // returned to the parent: main
//!         }),
//!         None,
//!     )
//!     .unwrap();
//! let mut items = vec![];
//! while let Ok(Msg::Item(x)) = hub.switch(fib.clone(), Msg::Next) {
//!     items.push(x);
//! }
//! assert_eq!(items, [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]);
//! # }
//! ```

#[cfg(target_arch = "x86_64")]
pub mod arch;
pub mod asan;
#[cfg(target_os = "linux")]
pub mod backend;
pub use switchyard_greenlet as greenlet;
#[cfg(all(feature = "mutants", target_arch = "x86_64", target_os = "linux"))]
pub mod mutants;
pub mod probe;
#[cfg(unix)]
pub mod process;
pub mod runtime;
#[cfg(target_os = "linux")]
pub mod stack;
pub mod switch;
#[cfg(test)]
mod test_payload;
mod words;

// The backends' paths before the `backend` module existed, kept for code outside this crate.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub use backend::mmap;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub use backend::stack_copy;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub use backend::ucontext;

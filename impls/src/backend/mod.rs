//! The native stack-switching backends, one module each, all implementing
//! [`crate::switch::StackSwitch`]:
//!
//! - [`stack_copy`]: greenlet's own algorithm, every greenlet on the thread's stack, slices
//!   copied to and from the heap;
//! - [`mmap`]: a guarded `mmap`'d stack per greenlet ([`crate::stack`]) and an inline-asm
//!   symmetric switch;
//! - [`ucontext`]: libc's `swapcontext` on the same stacks (glibc only);
//! - [`adapters`] (feature `adapters`, x86-64): the switches of real crates (`corosensei`,
//!   the `context` crate's Boost fcontext) on the same stacks.
//! - [`raw`]: not a backend: the raw `StackSwitch::switch` ping-pong the benchmarks time.
//! - [`clib`]: a switching library written in C, C++ or assembly, loaded at run time through
//!   the C interface of `include/switchyard.h`.
//!
//! The two assembly backends build their switch functions from macros that take the register
//! a mutant loses (see [`crate::arch::x86_64`]).

#[cfg(all(feature = "adapters", target_arch = "x86_64"))]
pub mod adapters;
#[cfg(target_arch = "x86_64")]
pub mod clib;
#[cfg(target_arch = "x86_64")]
pub mod mmap;
pub mod raw;
#[cfg(target_arch = "x86_64")]
pub mod stack_copy;
#[cfg(target_env = "gnu")]
pub mod ucontext;

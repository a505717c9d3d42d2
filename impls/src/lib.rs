//! switchyard-impls: the greenlet trait ([`greenlet::Hub`]), the generic greenlet runtime that
//! implements it over the stack-switching trait ([`switch::StackSwitch`]), and the native
//! switching backends, one module each.

pub mod greenlet;
pub mod runtime;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub mod stack_copy;
pub mod switch;

#[cfg(target_os = "linux")]
pub mod mmap;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub mod ucontext;
#[cfg(target_os = "linux")]
mod valgrind;

//! switchyard-impls: the greenlet trait ([`greenlet::Hub`]), the generic greenlet runtime that
//! implements it over the stack-switching trait ([`switch::StackSwitch`]), and the native
//! switching backends, one module each.

pub mod greenlet;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub mod stack_copy;
pub mod switch;

//! Architecture-specific pieces of the native backends: the register frame a switch saves, as
//! assembly text every naked switch function splices in, and the layouts of the frames a new
//! context starts from. Only x86-64 (System V) exists.

#[cfg(target_arch = "x86_64")]
pub mod x86_64;

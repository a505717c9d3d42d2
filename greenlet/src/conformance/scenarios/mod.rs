//! The scenarios, one function each, generic over the hub, by topic; `conformance_tests!` lists
//! every one of them and reaches them through the re-exports here.

mod errors;
mod lifecycle;
mod switching;
mod threads_and_scale;

pub use super::kills::*;
pub use errors::*;
pub use lifecycle::*;
pub use switching::*;
pub use threads_and_scale::*;

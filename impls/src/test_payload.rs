//! The smallest payload for the crate's own unit tests (`cfg(test)` only): a `u64`, with
//! `u64::MAX` as GreenletExit's value and `()` as every error.

use crate::greenlet::Payload;

#[derive(Debug, PartialEq)]
pub(crate) struct N(pub(crate) u64);

impl Payload for N {
    type Error = ();
    fn exit_error() {}
    fn is_exit(_: &()) -> bool {
        true
    }
    fn exit_value() -> N {
        N(u64::MAX)
    }
    fn is_exit_value(&self) -> bool {
        self.0 == u64::MAX
    }
    fn panic_error(_: String) {}
}

//! switchyard: the greenlet program language (model, parser, printer), its interpreter over any
//! greenlet backend, program generators, trace comparison, and the command-line tool.

#[cfg(feature = "proptest")]
pub mod arb;
pub mod ast;
pub mod parse;
pub mod print;

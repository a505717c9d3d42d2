//! switchyard: the greenlet program language (model, parser, printer), its interpreter over any
//! greenlet backend, the backend registry, program generators, trace comparison, and the
//! cross-check against real greenlet.

pub mod arb;
pub mod ast;
pub mod builder;
pub mod campaign;
pub mod corpus;
pub mod crosscheck;
pub mod differential;
pub mod fuzz_input;
pub mod gen;
pub mod interp;
pub mod minimize;
pub mod parse;
pub mod print;
pub mod registry;
pub mod stats;
pub mod trace;

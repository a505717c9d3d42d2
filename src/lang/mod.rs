//! The greenlet program language (`docs/language.md`): its syntax tree ([`ast`]), the one
//! parser that enforces every syntactic and static rule ([`parse`], with its tokenizer
//! [`lex`]), the canonical printer ([`print`]) and the trace a run records ([`trace`]).
//!
//! Contract: this is the bottom layer; it imports nothing else of switchyard, runs nothing,
//! and `parse(print(p)) == p` for every valid program `p`.

pub mod ast;
mod lex;
pub mod parse;
pub mod print;
pub mod trace;

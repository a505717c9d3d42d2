//! Parser: placeholder until written.

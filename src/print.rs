//! Printer: placeholder until written.

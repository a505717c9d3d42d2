//! switchyard-oracle: the thread-handoff reference backend.
#![forbid(unsafe_code)]

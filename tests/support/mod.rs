//! Fixtures shared by the integration tests (each `tests/*.rs` does `mod support;`).
#![allow(dead_code)]

pub mod pg;
pub mod serve;

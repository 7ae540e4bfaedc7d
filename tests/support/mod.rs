//! Fixtures shared by the integration tests (each `tests/*.rs` has `mod support;`).
#![allow(dead_code)]

pub mod cluster;

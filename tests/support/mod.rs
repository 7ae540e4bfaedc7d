//! Fixtures shared by the integration tests (each `tests/*.rs` has `mod support;`).
#![allow(dead_code)]

pub mod bin;
pub mod cluster;
pub mod deploy_env;

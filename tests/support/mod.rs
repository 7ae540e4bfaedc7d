//! Fixtures shared by the integration tests (each `tests/*.rs` does `mod support;`);
//! each fixture lives in its own file.
#![allow(dead_code)]

pub mod bin;
pub mod cluster;
pub mod config_dir;
pub mod deploy_env;
pub mod github;
pub mod pg;
pub mod realnode;
pub mod secrets_cli;
pub mod serve;

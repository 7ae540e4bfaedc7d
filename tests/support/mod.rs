//! Fixtures shared by the integration tests (the `support` module of the `tests/it` crate);
//! each fixture lives in its own file.

pub mod bin;
pub mod cluster;
pub mod config_dir;
pub mod deploy_env;
pub mod github;
pub mod pg;
pub mod poll;
pub mod realnode;
pub mod secrets_cli;
pub mod sentinel;
pub mod serve;

//! Fixtures shared by the integration tests; each lives in its own file.
#![allow(dead_code)]

pub mod bin;
pub mod deploy_env;

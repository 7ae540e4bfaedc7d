#![allow(dead_code)]
//! Fixtures shared by the integration tests.

pub mod github;

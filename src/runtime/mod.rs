//! The runtime face: what the image runs in the cluster (serve, cleanup, migrate).

pub mod cleanup;
pub mod db;
pub mod metrics;
pub mod serve;
pub mod webhook;

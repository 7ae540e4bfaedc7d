//! gpt-deploy: renders, applies and watches gpt-service on Kubernetes, syncs its
//! GitHub environment secrets, and is the service's runtime (webhook receiver,
//! token cleanup, migrations).

// Here, not in Cargo.toml's [lints]: they concern the library's public API only (see there).
#![warn(missing_docs, unreachable_pub)]

pub mod cli;
pub mod cluster;
pub mod config;
pub mod github;
pub mod preview;
pub mod render;
pub mod report;
pub mod runtime;
pub mod secret;
pub mod usage;

/// Exit codes shared by every subcommand (see the README's command reference).
pub mod exit {
    /// Success.
    pub(crate) const OK: u8 = 0;
    /// `diff` found differences, or `secrets check` found missing secrets.
    pub(crate) const DIFFERENCES: u8 = 1;
    /// Usage or configuration error.
    pub const CONFIG: u8 = 2;
    /// Cluster, database or remote API error.
    pub const API: u8 = 3;
    /// Rollout failed or timed out.
    pub(crate) const ROLLOUT: u8 = 4;
    /// `cleanup`: another session holds the cleanup lock; nothing was done.
    pub(crate) const LOCKED: u8 = 5;
    /// `deploy`, `apply` or `rollback` stopped by SIGINT or SIGTERM (128 + SIGINT's number,
    /// as shells report an interrupted command).
    pub(crate) const CANCELLED: u8 = 130;
}

/// Installs ring as the process-wide rustls provider.
///
/// Two providers are compiled in (svix's default features pull in aws-lc-rs), so
/// rustls cannot pick one by itself; every entry point calls this first.
pub fn init_crypto() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// What the binary needs from every command's error type.
pub trait Failure: std::error::Error {
    /// The process exit code for this error (see [`exit`]).
    fn exit_code(&self) -> u8;
    /// True when the error is only a closed stdout (`gpt-deploy render | head`), which is not a failure.
    fn is_broken_pipe(&self) -> bool {
        false
    }
}

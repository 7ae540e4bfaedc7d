//! kube-rs: server-side apply, diff, prune, rollout watch (`apply`, `diff`, `deploy`, `cleanup-now`).

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command is not built yet.
    #[error("{0} is not implemented yet")]
    NotImplemented(&'static str),
}

/// Result with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl crate::Failure for Error {
    fn exit_code(&self) -> u8 {
        crate::exit::CONFIG
    }
}

/// `gpt-deploy diff`.
///
/// # Errors
/// Configuration or cluster errors.
pub async fn cmd_diff(_args: &crate::cli::ClusterArgs) -> Result<u8> {
    Err(Error::NotImplemented("diff"))
}

/// `gpt-deploy apply`.
///
/// # Errors
/// Preflight, apply or rollout errors.
pub async fn cmd_apply(_args: &crate::cli::ApplyArgs) -> Result<u8> {
    Err(Error::NotImplemented("apply"))
}

/// `gpt-deploy deploy`.
///
/// # Errors
/// Preflight, apply or rollout errors.
pub async fn cmd_deploy(_args: &crate::cli::DeployArgs) -> Result<u8> {
    Err(Error::NotImplemented("deploy"))
}

/// `gpt-deploy cleanup-now`.
///
/// # Errors
/// Cluster errors, or the Job failed.
pub async fn cmd_cleanup_now(_args: &crate::cli::CleanupNowArgs) -> Result<u8> {
    Err(Error::NotImplemented("cleanup-now"))
}

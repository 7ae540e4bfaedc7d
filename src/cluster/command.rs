//! The cluster commands: `diff`, `drift`, `apply`, `deploy`, `cleanup-now`, `status`,
//! `history`, `rollback`, `uninstall`.

use super::{Result, cleanup_now, deploy, diff, drift, rollback, status, uninstall};
use crate::cli::{
    ApplyArgs, CleanupNowArgs, DeployArgs, DiffArgs, DriftArgs, HistoryArgs, RollbackArgs,
    StatusArgs, UninstallArgs,
};

/// `gpt-deploy diff`.
///
/// # Errors
/// Configuration or cluster errors.
pub async fn cmd_diff(args: &DiffArgs) -> Result<u8> {
    diff::run(args).await
}

/// `gpt-deploy drift`.
///
/// # Errors
/// Configuration, cluster or GitHub errors.
pub async fn cmd_drift(args: &DriftArgs) -> Result<u8> {
    drift::run_drift(args).await
}

/// `gpt-deploy apply`.
///
/// # Errors
/// Preflight, apply or rollout errors.
pub async fn cmd_apply(args: &ApplyArgs) -> Result<u8> {
    deploy::run_apply(args).await
}

/// `gpt-deploy deploy`.
///
/// # Errors
/// Preflight, apply or rollout errors.
pub async fn cmd_deploy(args: &DeployArgs) -> Result<u8> {
    deploy::run_deploy(args).await
}

/// `gpt-deploy cleanup-now`.
///
/// # Errors
/// Cluster errors, or the Job failed.
pub async fn cmd_cleanup_now(args: &CleanupNowArgs) -> Result<u8> {
    cleanup_now::run(args).await
}

/// `gpt-deploy status`.
///
/// # Errors
/// Configuration or cluster errors.
pub async fn cmd_status(args: &StatusArgs) -> Result<u8> {
    status::run(args).await
}

/// `gpt-deploy history`.
///
/// # Errors
/// Configuration or cluster errors.
pub async fn cmd_history(args: &HistoryArgs) -> Result<u8> {
    status::run_history(args).await
}

/// `gpt-deploy rollback`.
///
/// # Errors
/// No revision to restore, preflight, apply or rollout errors.
pub async fn cmd_rollback(args: &RollbackArgs) -> Result<u8> {
    rollback::run(args).await
}

/// `gpt-deploy uninstall`.
///
/// # Errors
/// Configuration or cluster errors.
pub async fn cmd_uninstall(args: &UninstallArgs) -> Result<u8> {
    uninstall::run(args).await
}

//! Batched retention deletes of expired OAuth artifacts (`cleanup`).

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

/// `gpt-deploy cleanup`.
///
/// # Errors
/// Bad arguments, connection or query errors.
pub async fn cmd_cleanup(_args: &crate::cli::CleanupArgs) -> Result<u8> {
    Err(Error::NotImplemented("cleanup"))
}

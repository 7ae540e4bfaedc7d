//! GitHub environment secrets: public key, sealed box, upload, presence check.

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

/// `gpt-deploy secrets sync`.
///
/// # Errors
/// Bad values, or GitHub API errors.
pub async fn cmd_sync(_args: &crate::cli::SecretsSyncArgs) -> Result<u8> {
    Err(Error::NotImplemented("secrets sync"))
}

/// `gpt-deploy secrets check`.
///
/// # Errors
/// GitHub API errors.
pub async fn cmd_check(_args: &crate::cli::SecretsCheckArgs) -> Result<u8> {
    Err(Error::NotImplemented("secrets check"))
}

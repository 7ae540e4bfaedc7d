//! The HTTP server: router, health, metrics, graceful shutdown (`serve`).

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

/// `gpt-deploy serve`.
///
/// # Errors
/// Bad configuration or the listener cannot bind.
pub async fn cmd_serve(_args: &crate::cli::ServeArgs) -> Result<u8> {
    Err(Error::NotImplemented("serve"))
}

//! Config + templates → typed, validated objects → YAML/JSON (`render`, `validate`).

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

/// `gpt-deploy render`.
///
/// # Errors
/// Configuration, template or validation errors.
pub fn cmd_render(_args: &crate::cli::RenderArgs) -> Result<u8> {
    Err(Error::NotImplemented("render"))
}

/// `gpt-deploy validate`.
///
/// # Errors
/// Any environment fails to render.
pub fn cmd_validate(_args: &crate::cli::ValidateArgs) -> Result<u8> {
    Err(Error::NotImplemented("validate"))
}

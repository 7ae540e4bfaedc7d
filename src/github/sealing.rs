//! libsodium sealed boxes (`crypto_box_seal`) as GitHub requires for secret values.
//!
//! GitHub publishes one Curve25519 public key per environment; a secret is uploaded as
//! `base64(crypto_box_seal(value, public_key))`. A sealed box uses a fresh ephemeral key pair
//! per message, so only the holder of the environment's private key (GitHub) can open it, and
//! sealing the same value twice gives different ciphertexts.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto_box::aead::OsRng;

use crate::secret::SecretString;

/// An environment's public key as GitHub returns it, parsed and checked.
#[derive(Clone)]
pub struct SealingKey {
    key_id: String,
    key: crypto_box::PublicKey,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Why a public key from GitHub cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The `key` field is not standard base64.
    #[error("the key is not valid base64")]
    NotBase64,
    /// The decoded key is not 32 bytes.
    #[error("the key is {0} bytes long, a Curve25519 public key is 32")]
    WrongLength(usize),
}

impl SealingKey {
    /// Parses the `key_id` and base64 `key` of GitHub's public-key response.
    ///
    /// # Errors
    /// The key is not base64 or not 32 bytes.
    pub fn from_github(key_id: &str, key_base64: &str) -> Result<Self, KeyError> {
        let bytes = STANDARD
            .decode(key_base64.trim())
            .map_err(|_| KeyError::NotBase64)?;
        let key = crypto_box::PublicKey::from_slice(&bytes)
            .map_err(|_| KeyError::WrongLength(bytes.len()))?;
        Ok(Self {
            key_id: key_id.to_owned(),
            key,
        })
    }

    /// The id GitHub wants back next to every value sealed with this key.
    #[must_use]
    pub(crate) fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Seals `value` and returns the base64 text for the `encrypted_value` field.
    ///
    /// # Errors
    /// Only when the operating system's random number generator fails.
    pub fn seal(&self, value: &SecretString) -> Result<String, crypto_box::aead::Error> {
        let sealed = self.key.seal(&mut OsRng, value.expose().as_bytes())?;
        Ok(STANDARD.encode(sealed))
    }
}

/// Opens a base64 sealed box with a raw 32-byte secret key (the receiving side; used to check
/// interoperability, GitHub itself never needs this from us).
///
/// # Errors
/// The text is not base64, or the box does not open with this key.
pub fn open(secret_key: &[u8; 32], sealed_base64: &str) -> Result<Vec<u8>, OpenError> {
    let sealed = STANDARD
        .decode(sealed_base64.trim())
        .map_err(|_| OpenError::NotBase64)?;
    crypto_box::SecretKey::from(*secret_key)
        .unseal(&sealed)
        .map_err(|_| OpenError::Rejected)
}

/// Why a sealed box could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The text is not standard base64.
    #[error("the sealed box is not valid base64")]
    NotBase64,
    /// Wrong key, or the ciphertext was altered or truncated.
    #[error("the sealed box does not open with this key (wrong key or altered ciphertext)")]
    Rejected,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_pair() -> ([u8; 32], String) {
        let secret = crypto_box::SecretKey::generate(&mut OsRng);
        let public = STANDARD.encode(secret.public_key().as_bytes());
        (secret.to_bytes(), public)
    }

    #[test]
    fn seal_then_open_round_trips() {
        let (secret, public) = key_pair();
        let key = SealingKey::from_github("42", &public).unwrap();
        let value = SecretString::new("whsec_c2VudGluZWw=");
        let sealed = key.seal(&value).unwrap();
        assert_eq!(open(&secret, &sealed).unwrap(), value.expose().as_bytes());
        // 32-byte ephemeral public key + 16-byte tag + message.
        let raw = STANDARD.decode(&sealed).unwrap();
        assert_eq!(raw.len(), 32 + 16 + value.expose().len());
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let (_, public) = key_pair();
        let key = SealingKey::from_github("1", &public).unwrap();
        let value = SecretString::new("same");
        assert_ne!(key.seal(&value).unwrap(), key.seal(&value).unwrap());
    }

    #[test]
    fn wrong_key_or_tampering_is_rejected() {
        let (_, public) = key_pair();
        let (other_secret, _) = key_pair();
        let key = SealingKey::from_github("1", &public).unwrap();
        let sealed = key.seal(&SecretString::new("value")).unwrap();
        assert_eq!(open(&other_secret, &sealed), Err(OpenError::Rejected));
        assert_eq!(open(&other_secret, "***"), Err(OpenError::NotBase64));
    }

    #[test]
    fn bad_public_keys_are_refused() {
        assert_eq!(
            SealingKey::from_github("1", "not base64!").unwrap_err(),
            KeyError::NotBase64
        );
        assert_eq!(
            SealingKey::from_github("1", &STANDARD.encode([0u8; 31])).unwrap_err(),
            KeyError::WrongLength(31)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Any text, including empty and multi-byte, opens to exactly what was sealed, and the
        /// box is always 48 bytes longer than the value.
        #[test]
        fn any_value_round_trips(value in "\\PC{0,300}") {
            let (secret, public) = key_pair();
            let key = SealingKey::from_github("1", &public).unwrap();
            let sealed = key.seal(&SecretString::new(value.clone())).unwrap();
            proptest::prop_assert_eq!(open(&secret, &sealed).unwrap(), value.as_bytes());
            proptest::prop_assert_eq!(STANDARD.decode(&sealed).unwrap().len(), value.len() + 48);
        }
    }

    #[test]
    fn debug_shows_only_the_key_id() {
        let (_, public) = key_pair();
        let key = SealingKey::from_github("568250167242549743", &public).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains("568250167242549743"), "{shown}");
    }
}

//! A wrapper for secret values whose Debug and Display never show the value.

use std::fmt;

/// Placeholder printed wherever a secret value would otherwise appear.
pub(crate) const REDACTED: &str = "<redacted>";

/// A secret value. `Debug` and `Display` print [`REDACTED`]; use
/// [`SecretString::expose`] at the single place the value is really needed.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a value.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself. Call sites are the audit list of where secrets flow.
    #[must_use]
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    #[must_use]
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Replaces every known secret value (and its base64 form) in text shown to people.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    needles: Vec<SecretString>,
}

impl Redactor {
    /// A redactor for these secret values.
    #[must_use]
    pub(crate) fn new<'a>(values: impl IntoIterator<Item = &'a SecretString>) -> Self {
        use base64::Engine as _;
        let mut needles = Vec::new();
        for value in values {
            // Very short values would redact ordinary words; they are not secrets worth the name.
            if value.expose().len() < 4 {
                continue;
            }
            needles.push(value.clone());
            needles.push(SecretString::new(
                base64::engine::general_purpose::STANDARD.encode(value.expose()),
            ));
        }
        Self { needles }
    }

    /// The text with every secret value replaced by `<redacted>`.
    #[must_use]
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for needle in &self.needles {
            if out.contains(needle.expose()) {
                out = out.replace(needle.expose(), REDACTED);
            }
        }
        out
    }
}

/// Compares secret values without keeping or publishing them: HMAC-SHA256 under a key drawn
/// at random for each run. Two fingerprints from the same [`KeyedHash`] are equal exactly when
/// the values are; a fingerprint says nothing to anyone without the key, unlike a plain hash of
/// a short secret, which can be found by trying candidate values.
pub(crate) struct KeyedHash {
    key: [u8; 32],
}

/// The keyed hash of one value (see [`KeyedHash`]); only good for comparing within one run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint([u8; 32]);

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<fingerprint>")
    }
}

impl KeyedHash {
    /// A new random key (never stored, never printed).
    #[must_use]
    pub(crate) fn random() -> Self {
        Self {
            key: rand::random(),
        }
    }

    /// The fingerprint of `value` under this run's key.
    #[must_use]
    pub(crate) fn fingerprint(&self, value: &[u8]) -> Fingerprint {
        use hmac::Mac as _;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.key)
            .expect("HMAC takes keys of any length");
        mac.update(value);
        Fingerprint(mac.finalize().into_bytes().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_compare_values_within_one_key_only() {
        let run = KeyedHash::random();
        assert_eq!(run.fingerprint(b"a"), run.fingerprint(b"a"));
        assert_ne!(run.fingerprint(b"a"), run.fingerprint(b"b"));
        let other = KeyedHash::random();
        assert_ne!(run.fingerprint(b"a"), other.fingerprint(b"a"));
        assert_eq!(format!("{:?}", run.fingerprint(b"a")), "<fingerprint>");
    }

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = SecretString::new("sentinel-7f3a");
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
        assert_eq!(s.expose(), "sentinel-7f3a");
    }

    #[test]
    fn redactor_hides_plain_and_base64_values() {
        let secret = SecretString::new("sentinel-value-123");
        let r = Redactor::new([&secret]);
        let b64 = "c2VudGluZWwtdmFsdWUtMTIz";
        let text = r.redact(&format!("bad value sentinel-value-123 and {b64}"));
        assert_eq!(text, "bad value <redacted> and <redacted>");
    }
}

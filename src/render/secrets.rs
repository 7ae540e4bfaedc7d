//! Secret values for the Secret object: where they come from, the versioned name they give
//! the Secret, and redaction.
//!
//! The Secret is versioned: its name is `<secret_name>-<hash8>`, eight hex digits of a keyed
//! hash of its data, so a changed value is a new Secret and pods started with the old one keep
//! reading it until they are replaced. The hash is HMAC-SHA256 keyed with the whole data (every
//! key and value, length-prefixed): the name is a one-way function of all the values at once,
//! so it tells nothing about any one of them, and confirming a guess needs every value right
//! together (the webhook signing secret alone is 24 random bytes). Only 32 bits are shown.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::config::Config;
use crate::secret::{REDACTED, SecretString};

/// What stands in for a secret value in output: `<redacted>`, deliberately not valid base64 so
/// that applying a redacted stream by mistake is rejected instead of overwriting real secrets.
pub const PLACEHOLDER: &str = REDACTED;

/// Values of the declared secrets, by environment variable name.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretValues {
    values: BTreeMap<String, SecretString>,
}

impl std::fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: which secrets are present is useful, their values never are.
        f.debug_set().entries(self.values.keys()).finish()
    }
}

impl SecretValues {
    /// No values: every declared secret renders as the placeholder.
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }

    /// Reads each declared secret's environment variable. An empty variable counts as unset:
    /// GitHub Actions expands a missing secret to the empty string.
    #[must_use]
    pub(crate) fn from_process_env(config: &Config) -> Self {
        Self::from_lookup(config, |name| std::env::var(name).ok())
    }

    /// Like [`SecretValues::from_process_env`] with any lookup (tests, files, another map).
    #[must_use]
    pub fn from_lookup(config: &Config, mut lookup: impl FnMut(&str) -> Option<String>) -> Self {
        let mut values = Self::default();
        for declared in &config.app.secrets {
            if let Some(value) = lookup(&declared.env) {
                values.insert(&declared.env, SecretString::new(value));
            }
        }
        values
    }

    /// Sets the value for environment variable `env`; an empty value counts as unset.
    pub fn insert(&mut self, env: &str, value: SecretString) {
        if value.is_empty() {
            self.values.remove(env);
        } else {
            self.values.insert(env.to_owned(), value);
        }
    }

    /// The value for environment variable `env`, if set.
    #[must_use]
    pub(crate) fn get(&self, env: &str) -> Option<&SecretString> {
        self.values.get(env)
    }

    /// Checks every value that is set the way the service will read it, so a value the pods
    /// would refuse (and exit on) is caught before anything is applied: the Clerk signing
    /// secrets must be `whsec_` + base64 (as `secrets sync` checks), `DATABASE_URL` must parse
    /// as a PostgreSQL URL (as `serve` and `migrate` parse it). Each problem is
    /// `NAME: what is wrong`, never the value.
    #[must_use]
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, value) in &self.values {
            let problem = match name.as_str() {
                "CLERK_WEBHOOK_SECRET" | "CLERK_WEBHOOK_SECRET_PREVIOUS" => {
                    crate::github::values::check_value("CLERK_WEBHOOK_SECRET", value).err()
                }
                "DATABASE_URL" => crate::runtime::db::DatabaseUrl::parse(value.expose())
                    .err()
                    .map(|e| {
                        let text = e.to_string();
                        text.strip_prefix("DATABASE_URL is ")
                            .map_or(text.clone(), str::to_owned)
                    }),
                _ => None,
            };
            if let Some(problem) = problem {
                problems.push(format!("{name}: {problem}"));
            }
        }
        problems
    }
}

/// One entry of the Secret's `data`, base64 encoded.
pub(super) struct DataEntry {
    pub(crate) key: String,
    pub(crate) base64: String,
}

/// The Secret's data in declaration order, plus the env names of required secrets that are
/// missing (they render as the placeholder). Optional secrets that are unset are left out.
pub(super) fn secret_data(config: &Config, values: &SecretValues) -> (Vec<DataEntry>, Vec<String>) {
    let mut data = Vec::new();
    let mut missing = Vec::new();
    for declared in &config.app.secrets {
        match values.get(&declared.env) {
            Some(value) => data.push(DataEntry {
                key: declared.key.clone(),
                base64: STANDARD.encode(value.expose()),
            }),
            None if declared.required => {
                missing.push(declared.env.clone());
                data.push(DataEntry {
                    key: declared.key.clone(),
                    base64: PLACEHOLDER.to_owned(),
                });
            }
            None => {}
        }
    }
    (data, missing)
}

/// Hex digits of the hash in a versioned Secret's name.
const VERSION_DIGITS: usize = 8;

/// The versioned Secret name for these (key, base64 value) pairs in declaration order:
/// `<base>-` and [`VERSION_DIGITS`] hex digits of the keyed hash described in the module
/// documentation. The same data always gives the same name; any changed key or value gives
/// another.
#[must_use]
pub(crate) fn version_name<'a>(
    base: &str,
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    use hmac::Mac as _;
    let mut key = Vec::new();
    for (name, base64) in entries {
        for part in [name, base64] {
            key.extend_from_slice(&(part.len() as u64).to_be_bytes());
            key.extend_from_slice(part.as_bytes());
        }
    }
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(b"gpt-deploy secret version 1");
    let digest = hex::encode(mac.finalize().into_bytes());
    format!("{base}-{}", &digest[..VERSION_DIGITS])
}

/// Whether `name` is a version of the Secret `base`: `base-` and eight lower-case hex digits.
#[must_use]
pub fn is_version(base: &str, name: &str) -> bool {
    name.strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hash| {
            hash.len() == VERSION_DIGITS
                && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

/// The base name of a versioned Secret name (`gpt-secrets-0a1b2c3d` → `gpt-secrets`).
#[must_use]
pub(crate) fn version_base(name: &str) -> Option<&str> {
    let (base, _) = name.rsplit_once('-')?;
    (!base.is_empty() && is_version(base, name)).then_some(base)
}

/// The versioned name of the Secret holding `data`.
pub(super) fn data_version_name(base: &str, data: &[DataEntry]) -> String {
    version_name(
        base,
        data.iter().map(|e| (e.key.as_str(), e.base64.as_str())),
    )
}

/// A copy of `object` with every value of a Secret's `data` and `stringData` replaced by
/// [`PLACEHOLDER`]. Other objects are returned unchanged.
#[must_use]
pub(crate) fn redact(object: &Value) -> Value {
    let mut copy = object.clone();
    if copy.get("kind").and_then(Value::as_str) == Some("Secret") {
        for field in ["data", "stringData"] {
            if let Some(Value::Object(map)) = copy.get_mut(field) {
                for value in map.values_mut() {
                    *value = Value::String(PLACEHOLDER.to_owned());
                }
            }
        }
    }
    copy
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redact_replaces_only_secret_data() {
        let secret = json!({"kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "c2VjcmV0"}, "stringData": {"b": "x"}});
        let redacted = redact(&secret);
        assert_eq!(redacted["data"]["a"], PLACEHOLDER);
        assert_eq!(redacted["stringData"]["b"], PLACEHOLDER);
        assert_eq!(redacted["metadata"]["name"], "s");
        let other = json!({"kind": "ConfigMap", "data": {"a": "b"}});
        assert_eq!(redact(&other), other);
    }

    #[test]
    fn version_names_change_with_any_value_and_are_unambiguous() {
        let entry = |k: &str, v: &str| DataEntry {
            key: k.into(),
            base64: v.into(),
        };
        let a = data_version_name("gpt-secrets", &[entry("k", "dmFsdWU=")]);
        assert_eq!(
            a,
            data_version_name("gpt-secrets", &[entry("k", "dmFsdWU=")])
        );
        assert_ne!(
            a,
            data_version_name("gpt-secrets", &[entry("k", "dmFsdWF=")])
        );
        assert_ne!(
            data_version_name("s", &[entry("ab", "c")]),
            data_version_name("s", &[entry("a", "bc")])
        );
        assert!(is_version("gpt-secrets", &a), "{a}");
        assert_eq!(version_base(&a), Some("gpt-secrets"));
        // Not a plain SHA-256 of the data: the name is keyed by the data itself.
        let plain = {
            use sha2::Digest as _;
            hex::encode(sha2::Sha256::digest(b"dmFsdWU="))
        };
        assert!(!a.ends_with(&plain[..8]), "{a}");
    }

    #[test]
    fn versions_are_the_base_name_and_eight_hex_digits() {
        assert!(is_version("gpt-secrets", "gpt-secrets-0a1b2c3d"));
        assert!(!is_version("gpt-secrets", "gpt-secrets"));
        assert!(!is_version("gpt-secrets", "gpt-secrets-0a1b2c3"));
        assert!(!is_version("gpt-secrets", "gpt-secrets-0A1B2C3D"));
        assert!(!is_version("gpt-secrets", "gpt-secrets-other-0a1b2c3d"));
        assert!(!is_version("gpt", "gpt-secrets-0a1b2c3d"));
        assert_eq!(version_base("gpt-secrets-0a1b2c3d"), Some("gpt-secrets"));
        assert_eq!(version_base("gpt-secrets"), None);
        assert_eq!(version_base("-0a1b2c3d"), None);
    }

    #[test]
    fn values_are_checked_as_the_service_reads_them() {
        let mut values = SecretValues::empty();
        values.insert("CLERK_WEBHOOK_SECRET", SecretString::new("sentinel-3e9a"));
        values.insert(
            "DATABASE_URL",
            SecretString::new("mysql://u:sentinel-3e9a@h/db"),
        );
        values.insert("OTHER", SecretString::new("anything"));
        let problems = values.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("CLERK_WEBHOOK_SECRET: not a svix signing secret"));
        assert!(problems[1].starts_with("DATABASE_URL: not a valid PostgreSQL URL"));
        assert!(
            problems.iter().all(|p| !p.contains("sentinel")),
            "{problems:?}"
        );

        let mut good = SecretValues::empty();
        good.insert(
            "CLERK_WEBHOOK_SECRET",
            SecretString::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        );
        good.insert(
            "DATABASE_URL",
            SecretString::new("postgres://u:p@h:5432/db"),
        );
        assert_eq!(good.problems(), Vec::<String>::new());
    }

    #[test]
    fn debug_shows_names_not_values() {
        let mut values = SecretValues::empty();
        values.insert("DATABASE_URL", SecretString::new("postgres://sentinel"));
        values.insert("EMPTY", SecretString::new(""));
        assert_eq!(format!("{values:?}"), "{\"DATABASE_URL\"}");
    }
}

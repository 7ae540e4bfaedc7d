//! Secret values for the Secret object: where they come from, their hash, and redaction.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use sha2::{Digest, Sha256};

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
    pub fn from_process_env(config: &Config) -> Self {
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
    pub fn get(&self, env: &str) -> Option<&SecretString> {
        self.values.get(env)
    }

    /// Checks every value that is set the way the service will read it, so a value the pods
    /// would refuse (and exit on) is caught before anything is applied: the Clerk signing
    /// secrets must be `whsec_` + base64 (as `secrets sync` checks), `DATABASE_URL` must parse
    /// as a PostgreSQL URL (as `serve` and `migrate` parse it). Each problem is
    /// `NAME: what is wrong`, never the value.
    #[must_use]
    pub fn problems(&self) -> Vec<String> {
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
    pub key: String,
    pub base64: String,
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

/// SHA-256 over the Secret's data (keys and encoded values, length-prefixed so no two
/// different data sets hash alike), as lower-case hex.
pub(super) fn secret_hash(data: &[DataEntry]) -> String {
    data_hash(data.iter().map(|e| (e.key.as_str(), e.base64.as_str())))
}

/// The pod-template annotation's hash of a Secret's data, from (key, base64 value) pairs in
/// declaration order: what a deploy with exactly these values would record.
#[must_use]
pub fn data_hash<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut hasher = Sha256::new();
    for (key, base64) in entries {
        for part in [key, base64] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
    }
    hex::encode(hasher.finalize())
}

/// A copy of `object` with every value of a Secret's `data` and `stringData` replaced by
/// [`PLACEHOLDER`]. Other objects are returned unchanged.
#[must_use]
pub fn redact(object: &Value) -> Value {
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
    fn hash_changes_with_any_value_and_is_unambiguous() {
        let entry = |k: &str, v: &str| DataEntry {
            key: k.into(),
            base64: v.into(),
        };
        let a = secret_hash(&[entry("k", "dmFsdWU=")]);
        assert_eq!(a, secret_hash(&[entry("k", "dmFsdWU=")]));
        assert_ne!(a, secret_hash(&[entry("k", "dmFsdWF=")]));
        assert_ne!(
            secret_hash(&[entry("ab", "c")]),
            secret_hash(&[entry("a", "bc")])
        );
        assert_eq!(a.len(), 64);
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

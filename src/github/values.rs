//! Where secret values come from (environment, `--from-file`, standard input) and the checks
//! every value passes before anything is uploaded.
//!
//! Every problem is collected first and reported together, naming the secret and the rule it
//! breaks, never the value; [`gather`] returns either every value or no value at all.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::errors::{Error, Result};
use crate::secret::SecretString;

/// GitHub's limit on one secret value.
pub(crate) const MAX_VALUE_BYTES: usize = 48 * 1024;

/// A secret the configuration declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Declared {
    /// The GitHub secret name, which is also the environment variable its value is read from.
    pub(crate) name: String,
    /// Whether `secrets check` (and deploy's preflight) require it.
    pub(crate) required: bool,
}

/// Where one value was read from (for the report; never the value itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The process environment variable of the same name.
    Environment,
    /// A `--from-file` path.
    File(PathBuf),
    /// Standard input.
    Stdin,
}

impl Origin {
    /// ` (read from …)` for problem lines, naming where a bad value came from.
    fn suffix(&self) -> String {
        match self {
            Origin::Environment => String::new(),
            Origin::File(path) => format!(" (read from {})", path.display()),
            Origin::Stdin => " (read from standard input)".to_owned(),
        }
    }
}

/// A value ready to seal.
#[derive(Debug, Clone)]
pub(crate) struct Value {
    /// The GitHub secret name.
    pub(crate) name: String,
    /// The value.
    pub(crate) value: SecretString,
    /// Where it came from.
    pub(crate) origin: Origin,
}

/// The outcome of [`gather`]: values to upload, and optional secrets left alone.
#[derive(Debug, Default)]
pub(crate) struct Gathered {
    /// Values that passed every check, in declaration order.
    pub(crate) values: Vec<Value>,
    /// Optional secrets with no value anywhere; they are not touched.
    pub(crate) skipped: Vec<String>,
}

/// Parses the `--from-file NAME=PATH` arguments.
///
/// # Errors
/// [`Error::BadFromFile`] for an argument without `=` or with an empty side.
pub(crate) fn parse_from_file(args: &[String]) -> Result<BTreeMap<String, PathBuf>> {
    args.iter()
        .map(|arg| match arg.split_once('=') {
            Some((name, path)) if !name.trim().is_empty() && !path.is_empty() => {
                // Secret names are upper-case (GitHub compares them without case).
                Ok((name.trim().to_ascii_uppercase(), PathBuf::from(path)))
            }
            _ => Err(Error::BadFromFile { arg: arg.clone() }),
        })
        .collect()
}

/// GitHub's secret naming rules; `Err` names the rule broken.
///
/// # Errors
/// The rule the name breaks.
pub(crate) fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("a secret name cannot be empty");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err("secret names may contain only letters, digits and underscores");
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("secret names cannot start with a digit");
    }
    if name.to_ascii_uppercase().starts_with("GITHUB_") {
        return Err("secret names cannot start with GITHUB_");
    }
    Ok(())
}

/// Checks one value; `Err` says what is wrong without showing it.
///
/// # Errors
/// Why the value cannot be uploaded.
pub(crate) fn check_value(name: &str, value: &SecretString) -> Result<(), String> {
    let text = value.expose();
    if text.is_empty() {
        return Err("the value is empty".to_owned());
    }
    if text.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "the value is {} bytes; GitHub accepts at most {MAX_VALUE_BYTES}",
            text.len()
        ));
    }
    if name == "CLERK_WEBHOOK_SECRET" {
        check_svix_secret(text)?;
    }
    Ok(())
}

/// A Clerk (svix) signing secret is `whsec_` followed by standard base64 of the key.
fn check_svix_secret(text: &str) -> Result<(), String> {
    let Some(rest) = text.strip_prefix("whsec_") else {
        return Err(
            "not a svix signing secret: it must start with `whsec_` (copy it from the Clerk \
             dashboard, Webhooks → Signing Secret)"
                .to_owned(),
        );
    };
    if rest.trim() != rest {
        return Err("the signing secret has leading or trailing whitespace".to_owned());
    }
    // The same parser the service uses to verify webhooks, so what passes here works there.
    svix::webhooks::Webhook::new(text).map(|_| ()).map_err(|_| {
        "not a svix signing secret: the part after `whsec_` must be non-empty standard base64"
            .to_owned()
    })
}

/// Drops one trailing line ending, which files and `echo` add but nobody means.
fn strip_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

/// Reads the value of every selected secret and checks them all.
///
/// For each secret, in order: its `--from-file` path; the environment variable of the same
/// name (`env` looks it up); `stdin` when it is `Some` (the caller allows it only for a single
/// `--only NAME` with standard input not a terminal). A secret with no value is a problem when
/// it is required or was asked for by name (`explicit`); otherwise it is skipped.
///
/// # Errors
/// [`Error::InvalidValues`] listing every problem; [`Error::ReadStdin`].
pub(crate) async fn gather(
    selected: &[Declared],
    explicit: bool,
    from_files: &BTreeMap<String, PathBuf>,
    env: impl Fn(&str) -> Option<String>,
    stdin: Option<&mut (dyn tokio::io::AsyncRead + Unpin + Send)>,
) -> Result<Gathered> {
    let mut stdin = stdin;
    let mut problems = Vec::new();
    let mut gathered = Gathered::default();
    for secret in selected {
        let name = &secret.name;
        let found = if let Some(path) = from_files.get(name) {
            match tokio::fs::read(path).await {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => Some((strip_newline(text), Origin::File(path.clone()))),
                    Err(_) => {
                        problems.push(format!("{name}: {} is not UTF-8 text", path.display()));
                        continue;
                    }
                },
                Err(e) => {
                    problems.push(format!("{name}: cannot read {}: {e}", path.display()));
                    continue;
                }
            }
        } else if let Some(text) = env(name) {
            Some((text, Origin::Environment))
        } else if let Some(input) = stdin.take() {
            let mut bytes = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(input, &mut bytes)
                .await
                .map_err(|source| Error::ReadStdin {
                    name: name.clone(),
                    source,
                })?;
            match String::from_utf8(bytes) {
                Ok(text) => Some((strip_newline(text), Origin::Stdin)),
                Err(_) => {
                    problems.push(format!("{name}: standard input is not UTF-8 text"));
                    continue;
                }
            }
        } else {
            None
        };
        match found {
            Some((text, origin)) => {
                let value = SecretString::new(text);
                match check_value(name, &value) {
                    Ok(()) => gathered.values.push(Value {
                        name: name.clone(),
                        value,
                        origin,
                    }),
                    Err(reason) => problems.push(format!("{name}: {reason}{}", origin.suffix())),
                }
            }
            None if secret.required || explicit => problems.push(format!(
                "{name}: no value; set the environment variable {name}, pass \
                 --from-file {name}=PATH, or pipe it on standard input with --only {name}"
            )),
            None => gathered.skipped.push(name.clone()),
        }
    }
    if problems.is_empty() {
        Ok(gathered)
    } else {
        Err(Error::InvalidValues { problems })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn declared(name: &str, required: bool) -> Declared {
        Declared {
            name: name.to_owned(),
            required,
        }
    }

    #[test]
    fn svix_secrets_are_checked() {
        let check = |v: &str| check_value("CLERK_WEBHOOK_SECRET", &SecretString::new(v));
        assert!(check(GOOD).is_ok());
        assert!(
            check("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
                .unwrap_err()
                .contains("whsec_")
        );
        assert!(check("whsec_").unwrap_err().contains("base64"));
        assert!(check("whsec_not*base64").unwrap_err().contains("base64"));
        assert!(
            check(&format!("{GOOD}\n"))
                .unwrap_err()
                .contains("whitespace")
        );
        assert_eq!(check("").unwrap_err(), "the value is empty");
    }

    #[test]
    fn other_values_only_need_content_and_size() {
        assert!(check_value("DATABASE_URL", &SecretString::new("postgres://x")).is_ok());
        let big = SecretString::new("x".repeat(MAX_VALUE_BYTES + 1));
        assert!(
            check_value("DATABASE_URL", &big)
                .unwrap_err()
                .contains("at most")
        );
    }

    #[test]
    fn github_naming_rules() {
        assert!(check_name("CLERK_WEBHOOK_SECRET").is_ok());
        assert!(check_name("GITHUB_TOKEN").is_err());
        assert!(check_name("1ABC").is_err());
        assert!(check_name("A-B").is_err());
        assert!(check_name("").is_err());
    }

    #[test]
    fn from_file_arguments() {
        let parsed = parse_from_file(&["A=./a".into(), "b=/x=y".into()]).unwrap();
        assert_eq!(parsed["A"], PathBuf::from("./a"));
        assert_eq!(parsed["B"], PathBuf::from("/x=y"));
        assert!(parse_from_file(&["A".into()]).is_err());
        assert!(parse_from_file(&["=p".into()]).is_err());
    }

    #[tokio::test]
    async fn every_problem_is_reported_and_no_value_leaks() {
        let secrets = [
            declared("CLERK_WEBHOOK_SECRET", true),
            declared("DATABASE_URL", true),
            declared("OPTIONAL_THING", false),
        ];
        let env = |name: &str| match name {
            "CLERK_WEBHOOK_SECRET" => Some("sentinel-b1d2-not-whsec".to_owned()),
            _ => None,
        };
        let err = gather(&secrets, false, &BTreeMap::new(), env, None)
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("CLERK_WEBHOOK_SECRET: not a svix"), "{text}");
        assert!(text.contains("DATABASE_URL: no value"), "{text}");
        assert!(!text.contains("OPTIONAL_THING"), "{text}");
        assert!(!text.contains("sentinel-b1d2"), "{text}");
    }

    #[tokio::test]
    async fn files_and_stdin_lose_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        std::fs::write(&path, "postgres://db\n").unwrap();
        let files = BTreeMap::from([("DATABASE_URL".to_owned(), path.clone())]);
        let mut input: &[u8] = b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\r\n";
        let secrets = [
            declared("DATABASE_URL", true),
            declared("CLERK_WEBHOOK_SECRET", true),
        ];
        let got = gather(&secrets, true, &files, |_| None, Some(&mut input))
            .await
            .unwrap();
        assert_eq!(got.values[0].value.expose(), "postgres://db");
        assert_eq!(got.values[0].origin, Origin::File(path));
        assert_eq!(got.values[1].value.expose(), GOOD);
        assert_eq!(got.values[1].origin, Origin::Stdin);
    }

    #[tokio::test]
    async fn optional_secrets_without_value_are_skipped_unless_named() {
        let secrets = [declared("OPTIONAL_THING", false)];
        let got = gather(&secrets, false, &BTreeMap::new(), |_| None, None)
            .await
            .unwrap();
        assert_eq!(got.skipped, ["OPTIONAL_THING"]);
        assert!(
            gather(&secrets, true, &BTreeMap::new(), |_| None, None)
                .await
                .is_err()
        );
    }
}

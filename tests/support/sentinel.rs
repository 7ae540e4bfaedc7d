//! The sentinel secret values: every test that hands the binary a secret it must not print
//! uses these, and [`assert_absent`] checks that none of their forms is in what a run printed.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use super::bin::Output;
use super::github::TOKEN;

/// `CLERK_WEBHOOK_SECRET`: a valid signing secret (`whsec_` + base64), as apply, deploy and
/// `secrets sync` check the values before writing. Its key is [`CLERK_KEY`].
pub const CLERK: &str = "whsec_c2VudGluZWwtY2xlcmsta2V5LTViMWU3ZEE=";
/// The key inside [`CLERK`], before base64.
pub const CLERK_KEY: &str = "sentinel-clerk-key-5b1e7dA";
/// `DATABASE_URL`: a database URL with a password.
pub const DATABASE: &str = "postgres://app:sentinel-db-pw-9c4a@db:5432/gpt";

/// The variables that carry the sentinels.
pub fn env() -> Vec<(&'static str, String)> {
    vec![
        ("CLERK_WEBHOOK_SECRET", CLERK.to_owned()),
        ("DATABASE_URL", DATABASE.to_owned()),
    ]
}

/// Panics if a sentinel value appears in either stream: the values and their base64 forms
/// (padded, unpadded, URL-safe), the key inside the signing secret, the password inside the
/// URL, and the GitHub stand-in's token.
#[track_caller]
pub fn assert_absent(output: &Output) {
    let mut forms = vec![
        CLERK.trim_start_matches("whsec_").to_owned(),
        CLERK_KEY.to_owned(),
        "sentinel-db-pw".to_owned(),
        TOKEN.to_owned(),
    ];
    for value in [CLERK, DATABASE] {
        forms.push(value.to_owned());
        for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
            forms.push(engine.encode(value));
        }
    }
    for (stream, text) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        for form in &forms {
            assert!(
                !text.contains(form.as_str()),
                "a secret ({form:?}) leaked on {stream}:\n{text}"
            );
        }
    }
}

#[test]
fn the_signing_secret_holds_its_key() {
    let key = STANDARD.decode(CLERK.trim_start_matches("whsec_")).unwrap();
    assert_eq!(key, CLERK_KEY.as_bytes());
}

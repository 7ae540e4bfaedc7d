//! Cross-check of the sealed boxes against an independent libsodium implementation (PyNaCl),
//! in both directions, and of a real `secrets sync` upload.
//!
//! Needs `python3` with PyNaCl (`pip install pynacl`); the test fails, it does not skip,
//! when they are missing.

use crate::support;

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gpt_deploy::github::sealing::{self, SealingKey};
use gpt_deploy::secret::SecretString;
use support::github::{GitHubStandIn, TOKEN};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/pynacl_box.py");

/// Runs the PyNaCl script with `args`, feeding `input`, returning stdout.
fn pynacl(args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("python3")
        .arg(SCRIPT)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is required for the PyNaCl cross-check");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "PyNaCl script failed (install it with `pip install pynacl`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap().trim().to_owned()
}

/// Values with multi-byte characters, newlines and a 48 KB body exercise lengths and bytes.
fn samples() -> Vec<String> {
    vec![
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
        "postgres://app:pä$$wörd@db:5432/app?sslmode=require\nsecond line".to_owned(),
        "x".to_owned(),
        "🔐".repeat(12 * 1024),
    ]
}

#[test]
fn our_sealed_boxes_open_with_pynacl() {
    gpt_deploy::init_crypto();
    let pair = text(pynacl(&["keypair"], b""));
    let (secret, public) = pair.split_once(' ').unwrap();
    let key = SealingKey::from_github("kid", public).unwrap();
    for value in samples() {
        let sealed = key.seal(&SecretString::new(value.clone())).unwrap();
        let opened = pynacl(&["open", secret], sealed.as_bytes());
        assert_eq!(opened, value.as_bytes());
    }
}

#[test]
fn pynacl_sealed_boxes_open_with_ours_and_the_stand_in() {
    let gh = GitHubStandIn::start();
    let secret = gh.secret_key();
    let public = gh.public_key_base64();
    for value in samples() {
        let sealed = text(pynacl(&["seal", &public], value.as_bytes()));
        assert_eq!(sealing::open(&secret, &sealed).unwrap(), value.as_bytes());
        assert_eq!(gh.open(&sealed).unwrap(), value.as_bytes());
    }
    // A box sealed for another key does not open: the check above is not vacuous.
    let pair = text(pynacl(&["keypair"], b""));
    let (_, other_public) = pair.split_once(' ').unwrap();
    let foreign = text(pynacl(&["seal", other_public], b"value"));
    assert!(sealing::open(&secret, &foreign).is_err());
    assert!(gh.open(&foreign).is_err());
}

#[test]
fn an_uploaded_secret_opens_with_pynacl_and_the_environment_key() {
    let gh = GitHubStandIn::start();
    gh.add_environment("acme/gpt-service", "production");
    let clerk = format!("whsec_{}", STANDARD.encode(uuid::Uuid::new_v4().as_bytes()));
    support::bin::gpt_deploy([
        "secrets",
        "sync",
        "--env",
        "production",
        "--only",
        "CLERK_WEBHOOK_SECRET",
    ])
    .env("GITHUB_API_URL", gh.url())
    .env("GITHUB_TOKEN", TOKEN)
    .env("GITHUB_REPOSITORY", "acme/gpt-service")
    .env("CLERK_WEBHOOK_SECRET", &clerk)
    .run()
    .success();
    let upload = gh.uploads().pop().expect("one upload");
    let secret = STANDARD.encode(gh.secret_key());
    let opened = pynacl(&["open", &secret], upload.encrypted_value.as_bytes());
    assert_eq!(opened, clerk.as_bytes());
}

//! What `--image` may say: a tag (`v1.2.4`), a digest (`@sha256:…`), or a full reference
//! whose repository is the one in `deploy.toml` (`ghcr.io/owner/gpt-service:v1.2.4`,
//! `…@sha256:…`, `…:v1.2.4@sha256:…`). Anything else is refused before any request, with
//! the part to drop named.

/// The image to deploy, split into the parts the templates use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Image {
    /// The full reference for `image:` fields, e.g. `registry/app:v1` or `registry/app@sha256:…`.
    pub(crate) reference: String,
    /// What the `app.kubernetes.io/version` label shows: the tag, else `sha256-` and the
    /// first 12 hex digits of the digest (a label value cannot hold the whole digest).
    pub(crate) version: String,
}

/// Length of a sha256 digest in hex.
const SHA256_HEX: usize = 64;

/// Parses `--image` against the configured repository.
///
/// # Errors
/// What is wrong and which part to drop or fix, phrased to follow `--image `.
pub(crate) fn parse(arg: &str, repository: &str) -> Result<Image, String> {
    let arg = arg.trim();
    if arg.is_empty() {
        return Err("is empty; pass a tag (v1.2.4) or a digest (@sha256:…)".to_owned());
    }
    // `sha256:…` without the `@` is a digest too: no repository is called sha256.
    let (name, digest) = match arg.rsplit_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None if arg.starts_with("sha256:") => ("", Some(arg)),
        None => (arg, None),
    };
    if let Some(digest) = digest {
        digest_problem(digest).map_err(|why| format!("`{arg}`: {why}"))?;
    }
    // The tag is after the last ':' that follows the last '/' (a registry port is not a tag).
    let last_part = name.rfind('/').map_or(0, |i| i + 1);
    let (named_repository, tag) = match name[last_part..].rfind(':') {
        Some(i) => (&name[..last_part + i], Some(&name[last_part + i + 1..])),
        None if name.contains('/') || (digest.is_some() && !name.is_empty()) => (name, None),
        None if name.is_empty() => ("", None),
        None => ("", Some(name)),
    };
    if !named_repository.is_empty() && named_repository != repository {
        let keep = match (tag, digest) {
            (Some(tag), Some(digest)) => format!("{tag}@{digest}"),
            (Some(tag), None) => tag.to_owned(),
            (None, Some(digest)) => format!("@{digest}"),
            (None, None) => "the tag".to_owned(),
        };
        return Err(format!(
            "`{arg}` names the repository `{named_repository}`, but deploy.toml deploys `{repository}`; drop `{named_repository}` and pass only {keep}, or change image_repository in deploy.toml"
        ));
    }
    if let Some(tag) = tag
        && let Some(why) = tag_problem(tag)
    {
        return Err(format!("`{arg}`: the tag {why}"));
    }
    let (reference, version) = match (tag, digest) {
        (Some(tag), Some(digest)) => (format!("{repository}:{tag}@{digest}"), tag.to_owned()),
        (Some(tag), None) => (format!("{repository}:{tag}"), tag.to_owned()),
        (None, Some(digest)) => (
            format!("{repository}@{digest}"),
            format!("sha256-{}", &digest["sha256:".len().."sha256:".len() + 12]),
        ),
        (None, None) => {
            return Err(format!(
                "`{arg}` names no tag or digest; pass only the tag (v1.2.4) or the digest (@sha256:…)"
            ));
        }
    };
    Ok(Image { reference, version })
}

impl Image {
    /// `Always` for a tag that is moved from image to image (a branch name such as `main`,
    /// `latest`), so a node never runs a stale copy of it; `IfNotPresent` for a digest, a
    /// version (`v1.2.4`, `1.2`) or a commit id (7 to 40 hex digits), which name one image.
    #[must_use]
    pub(crate) fn pull_policy(&self) -> &'static str {
        if self.reference.contains('@') || is_immutable_tag(&self.version) {
            "IfNotPresent"
        } else {
            "Always"
        }
    }
}

/// A version with at least two numeric parts (optionally `v`-prefixed, with a pre-release or
/// build suffix), or a commit id.
fn is_immutable_tag(tag: &str) -> bool {
    let commit = (7..=40).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_hexdigit());
    let version = {
        let bare = tag.strip_prefix('v').unwrap_or(tag);
        let core = bare.split(['-', '+']).next().unwrap_or(bare);
        let parts: Vec<&str> = core.split('.').collect();
        parts.len() >= 2
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    commit || version
}

/// Why `tag` cannot be an image tag that is also a label value, or `None`.
///
/// A tag is up to 128 letters, digits, `_`, `.` and `-` not starting with `.` or `-`
/// (the registry's rule); because it is also the `app.kubernetes.io/version` label, it must
/// be at most 63 characters and end with a letter or digit as well.
#[must_use]
pub(crate) fn tag_problem(tag: &str) -> Option<String> {
    let chars_ok = tag
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    let why = if tag.is_empty() {
        "is empty".to_owned()
    } else if !chars_ok {
        format!("`{tag}` may hold only letters, digits, '_', '.' and '-'")
    } else if !tag.as_bytes()[0].is_ascii_alphanumeric() {
        format!("`{tag}` must start with a letter or digit")
    } else if !tag.as_bytes()[tag.len() - 1].is_ascii_alphanumeric() {
        format!("`{tag}` must end with a letter or digit (it is also a label value)")
    } else if tag.len() > 63 {
        format!(
            "`{tag}` is {} characters; at most 63 (it is also a label value)",
            tag.len()
        )
    } else {
        return None;
    };
    Some(why)
}

fn digest_problem(digest: &str) -> Result<(), String> {
    let Some(hex) = digest.strip_prefix("sha256:") else {
        return Err(format!(
            "the digest `{digest}` is not sha256:<64 hex digits>"
        ));
    };
    if hex.len() != SHA256_HEX
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "the digest must be sha256: and 64 lower-case hex digits (this one has {} characters after sha256:)",
            hex.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_tags_are_always_pulled() {
        let policy = |arg: &str| parse(arg, "r.io/app").unwrap().pull_policy();
        assert_eq!(policy("main"), "Always");
        assert_eq!(policy("latest"), "Always");
        assert_eq!(policy("v1"), "Always");
        assert_eq!(policy("v1.2.4"), "IfNotPresent");
        assert_eq!(policy("1.2.4-rc.1"), "IfNotPresent");
        assert_eq!(policy("3f2c1ab"), "IfNotPresent");
        let digest = format!("@sha256:{}", "a".repeat(64));
        assert_eq!(policy(&digest), "IfNotPresent");
        assert_eq!(policy(&format!("r.io/app:main{digest}")), "IfNotPresent");
    }

    const REPO: &str = "registry.example:5000/team/gpt-service";
    const HEX: &str = "3f2c1ab4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80";

    fn ok(arg: &str) -> Image {
        parse(arg, REPO).unwrap_or_else(|e| panic!("{arg}: {e}"))
    }

    #[test]
    fn tags_digests_and_matching_references_are_accepted() {
        assert_eq!(ok("v1.2.4").reference, format!("{REPO}:v1.2.4"));
        assert_eq!(ok("v1.2.4").version, "v1.2.4");
        let digest = ok(&format!("@sha256:{HEX}"));
        assert_eq!(digest.reference, format!("{REPO}@sha256:{HEX}"));
        assert_eq!(digest.version, "sha256-3f2c1ab4d5e6");
        assert_eq!(ok(&format!("sha256:{HEX}")), digest);
        assert_eq!(ok(&format!("{REPO}@sha256:{HEX}")), digest);
        assert_eq!(
            ok(&format!("{REPO}:main")).reference,
            format!("{REPO}:main")
        );
        let both = ok(&format!("{REPO}:v2@sha256:{HEX}"));
        assert_eq!(both.reference, format!("{REPO}:v2@sha256:{HEX}"));
        assert_eq!(both.version, "v2");
    }

    #[test]
    fn everything_else_says_what_to_drop() {
        let err = parse("ghcr.io/other/app:v1", REPO).unwrap_err();
        assert!(
            err.contains("drop `ghcr.io/other/app` and pass only v1"),
            "{err}"
        );
        let err = parse("gpt-service:v1", REPO).unwrap_err();
        assert!(err.contains("drop `gpt-service`"), "{err}");
        let err = parse(REPO, REPO).unwrap_err();
        assert!(err.contains("names no tag or digest"), "{err}");
        let err = parse("@sha256:abc", REPO).unwrap_err();
        assert!(err.contains("64 lower-case hex digits"), "{err}");
        let err = parse("@md5:abc", REPO).unwrap_err();
        assert!(err.contains("not sha256"), "{err}");
    }

    #[test]
    fn tags_must_also_be_label_values() {
        for bad in ["-x", ".x", "_x", "x-", "a/b", "a b", "ü", &"a".repeat(64)] {
            assert!(tag_problem(bad).is_some(), "{bad:?}");
        }
        for good in ["main", "3f2c1ab", "v1.2.4", "A_b-c.9", &"a".repeat(63)] {
            assert_eq!(tag_problem(good), None, "{good:?}");
        }
        assert!(parse("v1-", REPO).unwrap_err().contains("must end with"));
    }
}

//! Compares the objects of one environment at two revisions: which are added, removed or
//! changed, with a unified diff of each. Secret values are compared by keyed hash and never
//! reach the diff: both sides show the placeholder, and a changed value reads "value changed".
//! A versioned Secret's name is a hash of stand-in values here, so it is shown as
//! `<name>-<version>` (`<name>-<new version>` at head when it changes) wherever it appears,
//! and the Secret compares as one object across the revisions; the migration Job's hashed
//! name likewise.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::cluster::diff::unified;
use crate::render::{Object, PLACEHOLDER, version_base};
use crate::secret::KeyedHash;

/// What happened to one object between the revisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Change {
    /// Rendered only at head.
    Added,
    /// Rendered only at base.
    Removed,
    /// Rendered at both, differently.
    Changed,
}

impl Change {
    /// `added`, `removed`, `changed`.
    #[must_use]
    pub(crate) fn word(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
        }
    }

    /// `+`, `-`, `~`.
    #[must_use]
    pub(crate) fn sign(self) -> char {
        match self {
            Change::Added => '+',
            Change::Removed => '-',
            Change::Changed => '~',
        }
    }
}

/// One object that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ObjectChange {
    /// What happened.
    pub(crate) change: Change,
    /// `apiVersion` (head's, or base's for a removed object).
    pub(crate) api_version: String,
    /// `kind`.
    pub(crate) kind: String,
    /// `metadata.name`.
    pub(crate) name: String,
    /// `metadata.namespace`.
    pub(crate) namespace: String,
    /// Keys of a Secret whose values differ (never the values).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) secret_values_changed: Vec<String>,
    /// Unified diff of the YAML, secrets masked.
    pub(crate) diff: String,
}

impl ObjectChange {
    /// `Kind/name`.
    #[must_use]
    pub(crate) fn title(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// The differing objects of one environment, in apply order, plus how many are unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Comparison {
    /// Added, removed and changed objects.
    pub(crate) objects: Vec<ObjectChange>,
    /// Objects rendered identically at both revisions.
    pub(crate) unchanged: usize,
}

impl Comparison {
    /// How many objects had `change`.
    #[must_use]
    pub(crate) fn count(&self, change: Change) -> usize {
        self.objects.iter().filter(|o| o.change == change).count()
    }
}

/// Compares `base` with `head` (objects of one environment); `env` names the diff paths.
#[must_use]
pub(crate) fn compare(
    env: &str,
    base: &[Object],
    head: &[Object],
    hasher: &KeyedHash,
) -> Comparison {
    let base_versions = versions(base);
    let head_versions = versions(head);
    let base = &mask_versions(base, &base_versions, &BTreeSet::new())[..];
    let new: BTreeSet<&str> = head_versions
        .iter()
        .filter(|(name, base)| {
            base_versions.values().any(|b| b == *base) && !base_versions.contains_key(*name)
        })
        .map(|(name, _)| name.as_str())
        .collect();
    let head = &mask_versions(head, &head_versions, &new)[..];
    let before: BTreeMap<Key<'_>, &Object> = base.iter().map(|o| (key(o), o)).collect();
    let after: BTreeMap<Key<'_>, &Object> = head.iter().map(|o| (key(o), o)).collect();
    let mut comparison = Comparison::default();
    // Head's apply order first, then what only base had, in base's order.
    let order = head.iter().map(|o| (key(o), o)).chain(
        base.iter()
            .map(|o| (key(o), o))
            .filter(|(k, _)| !after.contains_key(k)),
    );
    for (k, object) in order {
        let old = before.get(&k).copied();
        let new = after.get(&k).copied();
        let changed_keys = match (old, new) {
            (Some(o), Some(n)) => changed_secret_keys(&o.value, &n.value, hasher),
            _ => Vec::new(),
        };
        let old_text = old.map(|o| side(&o.value, &[], "")).unwrap_or_default();
        let new_text = new
            .map(|n| side(&n.value, &changed_keys, " (value changed)"))
            .unwrap_or_default();
        let path = format!("{env}/{}/{}", object.kind, object.name);
        let Some(diff) = unified(
            &old_text,
            &new_text,
            &format!("base/{path}"),
            &format!("head/{path}"),
        ) else {
            comparison.unchanged += 1;
            continue;
        };
        let change = match (old, new) {
            (None, _) => Change::Added,
            (_, None) => Change::Removed,
            _ => Change::Changed,
        };
        comparison.objects.push(ObjectChange {
            change,
            api_version: object.api_version.clone(),
            kind: object.kind.clone(),
            name: object.name.clone(),
            namespace: object.namespace.clone(),
            secret_values_changed: changed_keys,
            diff,
        });
    }
    comparison
}

type Key<'a> = (&'a str, &'a str, &'a str);

fn key(o: &Object) -> Key<'_> {
    (&o.namespace, &o.kind, &o.name)
}

/// Keys present in both Secrets whose values differ, by keyed hash; empty for other kinds.
fn changed_secret_keys(before: &Value, after: &Value, hasher: &KeyedHash) -> Vec<String> {
    if after["kind"] != "Secret" || before["kind"] != "Secret" {
        return Vec::new();
    }
    let mut changed = Vec::new();
    for field in ["data", "stringData"] {
        let (Some(old), Some(new)) = (before[field].as_object(), after[field].as_object()) else {
            continue;
        };
        for (key, value) in new {
            let Some(previous) = old.get(key) else {
                continue;
            };
            let fingerprint = |v: &Value| hasher.fingerprint(v.to_string().as_bytes());
            if fingerprint(previous) != fingerprint(value) {
                changed.push(key.clone());
            }
        }
    }
    changed
}

/// What a versioned Secret's (or the migration Job's) hash shows in a preview.
const VERSION_PLACEHOLDER: &str = "<version>";
/// The same, at head, when the hash differs from base's.
const NEW_VERSION_PLACEHOLDER: &str = "<new version>";

/// Versioned names among the objects (Secrets and Jobs named `<base>-<hash8>`), with their
/// base.
fn versions(objects: &[Object]) -> BTreeMap<String, String> {
    objects
        .iter()
        .filter(|o| matches!(o.kind.as_str(), "Secret" | "Job"))
        .filter_map(|o| Some((o.name.clone(), version_base(&o.name)?.to_owned())))
        .collect()
}

/// The objects with every versioned name (in the object and wherever it is referenced) shown
/// as `<base>-<version>`, or `<base>-<new version>` for those in `new`; the objects' own
/// names (what the sides are matched by) always as `<base>-<version>`. The hash of stand-in
/// values would mean nothing, and a new version must compare as the same object.
fn mask_versions(
    objects: &[Object],
    versions: &BTreeMap<String, String>,
    new: &BTreeSet<&str>,
) -> Vec<Object> {
    let shown: BTreeMap<&str, String> = versions
        .iter()
        .map(|(name, base)| {
            let marker = if new.contains(name.as_str()) {
                NEW_VERSION_PLACEHOLDER
            } else {
                VERSION_PLACEHOLDER
            };
            (name.as_str(), format!("{base}-{marker}"))
        })
        .collect();
    fn walk(value: &mut Value, shown: &BTreeMap<&str, String>) {
        match value {
            Value::String(text) => {
                if let Some(masked) = shown.get(text.as_str()) {
                    masked.clone_into(text);
                }
            }
            Value::Object(map) => map.values_mut().for_each(|v| walk(v, shown)),
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, shown)),
            _ => {}
        }
    }
    objects
        .iter()
        .map(|o| {
            let mut o = o.clone();
            if let Some(base) = versions.get(&o.name) {
                o.name = format!("{base}-{VERSION_PLACEHOLDER}");
            }
            walk(&mut o.value, &shown);
            o
        })
        .collect()
}

/// The YAML of one side with every Secret value replaced by the placeholder, `note` after it
/// for the keys in `changed`.
fn side(value: &Value, changed: &[String], note: &str) -> String {
    let mut copy = value.clone();
    if copy["kind"] == "Secret" {
        for field in ["data", "stringData"] {
            if let Some(Value::Object(map)) = copy.get_mut(field) {
                for (key, value) in map.iter_mut() {
                    let text = if changed.contains(key) {
                        format!("{PLACEHOLDER}{note}")
                    } else {
                        PLACEHOLDER.to_owned()
                    };
                    *value = Value::String(text);
                }
            }
        }
    }
    crate::render::yaml::to_string(&copy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(kind: &str, name: &str, value: Value) -> Object {
        let mut value = value;
        value["kind"] = json!(kind);
        value["apiVersion"] = json!("v1");
        value["metadata"] = json!({"name": name, "namespace": "ns"});
        Object {
            api_version: "v1".into(),
            kind: kind.into(),
            name: name.into(),
            namespace: "ns".into(),
            template: "t".into(),
            value,
        }
    }

    #[test]
    fn added_removed_changed_and_unchanged() {
        let hasher = KeyedHash::random();
        let base = [
            object("ConfigMap", "same", json!({"data": {"a": "1"}})),
            object("ConfigMap", "edited", json!({"data": {"a": "1"}})),
            object("ConfigMap", "gone", json!({"data": {}})),
        ];
        let head = [
            object("ConfigMap", "same", json!({"data": {"a": "1"}})),
            object("ConfigMap", "edited", json!({"data": {"a": "2"}})),
            object("ConfigMap", "new", json!({"data": {}})),
        ];
        let c = compare("staging", &base, &head, &hasher);
        assert_eq!(c.unchanged, 1);
        let got: Vec<_> = c
            .objects
            .iter()
            .map(|o| (o.change, o.name.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (Change::Changed, "edited"),
                (Change::Added, "new"),
                (Change::Removed, "gone")
            ]
        );
        let edited = &c.objects[0];
        assert!(
            edited.diff.starts_with(
                "--- base/staging/ConfigMap/edited\n+++ head/staging/ConfigMap/edited\n"
            ),
            "{}",
            edited.diff
        );
        assert!(
            edited.diff.contains("-  a: '1'\n+  a: '2'\n"),
            "{}",
            edited.diff
        );
    }

    #[test]
    fn secret_values_change_by_hash_and_never_show() {
        let hasher = KeyedHash::random();
        let base = [object(
            "Secret",
            "s",
            json!({"data": {"k": "c2VudGluZWwtb2xk", "same": "eA=="}}),
        )];
        let head = [object(
            "Secret",
            "s",
            json!({"data": {"k": "c2VudGluZWwtbmV3", "same": "eA==", "added": "eQ=="}}),
        )];
        let c = compare("p", &base, &head, &hasher);
        let secret = &c.objects[0];
        assert_eq!(secret.secret_values_changed, ["k"]);
        assert!(!secret.diff.contains("c2VudGluZWw"), "{}", secret.diff);
        assert!(secret.diff.contains("value changed"), "{}", secret.diff);
        assert!(
            secret.diff.contains("+  added: <redacted>"),
            "{}",
            secret.diff
        );
        // A versioned name is masked in the Secret and in what reads it, so the versions of
        // two revisions compare as one object.
        let secret = |name: &str, data: Value| object("Secret", name, json!({"data": data}));
        let reader = |name: &str| {
            object(
                "Deployment",
                "d",
                json!({"spec": {"template": {"spec": {"containers": [{"env": [{"valueFrom":
                    {"secretKeyRef": {"name": name, "key": "k"}}}]}]}}}}),
            )
        };
        let c = compare(
            "p",
            &[
                secret("s-0a1b2c3d", json!({"k": "eA=="})),
                reader("s-0a1b2c3d"),
            ],
            &[
                secret("s-2c3d4e5f", json!({"k": "eQ=="})),
                reader("s-2c3d4e5f"),
            ],
            &hasher,
        );
        let names: Vec<&str> = c.objects.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["s-<version>", "d"], "{:?}", c.objects);
        assert_eq!(c.objects[0].secret_values_changed, ["k"]);
        let all: String = c.objects.iter().map(|o| o.diff.as_str()).collect();
        assert!(
            !all.contains("0a1b2c3d") && !all.contains("2c3d4e5f"),
            "{all}"
        );
        // What reads the Secret changes with it (its pods would roll).
        let lines: Vec<&str> = c.objects[1].diff.lines().collect();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with('-') && l.ends_with("name: s-<version>"))
                && lines
                    .iter()
                    .any(|l| l.starts_with('+') && l.ends_with("name: s-<new version>")),
            "{}",
            c.objects[1].diff
        );
        // Equal values: no difference at all.
        let c = compare("p", &base, &base, &hasher);
        assert!(c.objects.is_empty());
        assert_eq!(c.unchanged, 1);
    }
}

//! ApplySet bookkeeping compatible with `kubectl apply --prune --applyset` (KEP-3659).
//!
//! The set is tracked by a parent Secret in the target namespace. The parent carries the
//! set's id as a label and, as annotations, the tool that owns it and the group-kinds its
//! members may have; every member carries the id in its `part-of` label. Pruning lists
//! each recorded group-kind by that label, so the annotations must be a superset of what
//! is live before any member is written (see [`ParentPatch::superset`]).

use std::collections::BTreeSet;

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Label on the parent holding the set id.
pub(crate) const ID_LABEL: &str = "applyset.kubernetes.io/id";
/// Label on every member naming the set it belongs to.
pub(crate) const PART_OF_LABEL: &str = "applyset.kubernetes.io/part-of";
/// Annotation on the parent naming the tool (`<name>/<version>`) that owns the set.
pub(crate) const TOOLING_ANNOTATION: &str = "applyset.kubernetes.io/tooling";
/// Annotation on the parent listing the member group-kinds (`Kind.group`, sorted).
pub(crate) const GROUP_KINDS_ANNOTATION: &str = "applyset.kubernetes.io/contains-group-kinds";
/// Annotation on the parent listing namespaces other than its own that hold members.
pub(crate) const NAMESPACES_ANNOTATION: &str = "applyset.kubernetes.io/additional-namespaces";

/// Our tool name in the tooling annotation.
pub(crate) const TOOL_NAME: &str = "gpt-deploy";

/// The field manager for the parent object; kubectl uses `<tool>-applyset` so the set's
/// bookkeeping fields are never mistaken for member content.
pub(crate) const PARENT_FIELD_MANAGER: &str = "gpt-deploy-applyset";

/// Value of the tooling annotation written by this build.
#[must_use]
pub(crate) fn tooling() -> String {
    format!("{TOOL_NAME}/v{}", env!("CARGO_PKG_VERSION"))
}

/// Name of the parent Secret for an application.
#[must_use]
pub(crate) fn parent_name(app: &str) -> String {
    format!("{app}-applyset")
}

/// The set id for a parent object: `applyset-` + unpadded base64url(sha256(`name.namespace.Kind.group`)) + `-v1`.
#[must_use]
pub(crate) fn id(name: &str, namespace: &str, kind: &str, group: &str) -> String {
    let digest = Sha256::digest(format!("{name}.{namespace}.{kind}.{group}").as_bytes());
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    format!("applyset-{encoded}-v1")
}

/// The id of a set whose parent is a core/v1 Secret.
#[must_use]
pub(crate) fn secret_parent_id(name: &str, namespace: &str) -> String {
    id(name, namespace, "Secret", "")
}

/// A kind together with its API group (`""` for the core group).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct GroupKind {
    /// API group, empty for the core group.
    pub(crate) group: String,
    /// Kind, e.g. `Deployment`.
    pub(crate) kind: String,
}

impl GroupKind {
    /// Builds one from an `apiVersion` (`apps/v1`, `v1`) and a kind.
    #[must_use]
    pub(crate) fn from_api_version(api_version: &str, kind: &str) -> Self {
        let group = api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
            .to_string();
        Self {
            group,
            kind: kind.to_string(),
        }
    }

    /// Parses the annotation form: `Kind` (core) or `Kind.group`.
    #[must_use]
    pub(crate) fn parse(text: &str) -> Self {
        match text.split_once('.') {
            Some((kind, group)) => Self {
                group: group.to_string(),
                kind: kind.to_string(),
            },
            None => Self {
                group: String::new(),
                kind: text.to_string(),
            },
        }
    }
}

impl std::fmt::Display for GroupKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.kind)
        } else {
            write!(f, "{}.{}", self.kind, self.group)
        }
    }
}

/// Formats group-kinds the way kubectl writes the annotation (sorted, comma separated).
#[must_use]
pub(crate) fn format_group_kinds(kinds: &BTreeSet<GroupKind>) -> String {
    let mut names: Vec<String> = kinds.iter().map(ToString::to_string).collect();
    names.sort();
    names.join(",")
}

/// Parses the annotation value; an empty value is an empty set.
#[must_use]
pub(crate) fn parse_group_kinds(value: &str) -> BTreeSet<GroupKind> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(GroupKind::parse)
        .collect()
}

/// What the live parent says about the set, read before anything is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ParentState {
    /// Whether the parent exists at all.
    pub(crate) exists: bool,
    /// Group-kinds recorded on the parent.
    pub(crate) group_kinds: BTreeSet<GroupKind>,
    /// Namespaces other than the parent's recorded on the parent.
    pub(crate) additional_namespaces: BTreeSet<String>,
}

/// Why a live parent cannot be used by this tool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParentProblem {
    /// The parent has no tooling annotation, so nobody can say who owns it.
    #[error("it has no {TOOLING_ANNOTATION} annotation, so its owner is unknown")]
    MissingTooling,
    /// Another tool owns the parent.
    #[error("it is managed by the tool {0:?}, not {TOOL_NAME}")]
    OtherTool(String),
    /// The id label is missing.
    #[error("it has no {ID_LABEL} label")]
    MissingId,
    /// The id label does not match the parent's own name and namespace.
    #[error("its {ID_LABEL} label is {found:?}, expected {expected:?}")]
    WrongId {
        /// The id on the live object.
        found: String,
        /// The id computed from the parent's name and namespace.
        expected: String,
    },
}

/// Reads a live parent object (a Secret as JSON), checking that this tool owns it.
///
/// # Errors
/// The parent belongs to another tool or is not a valid ApplySet parent.
pub(crate) fn read_parent(live: &Value, expected_id: &str) -> Result<ParentState, ParentProblem> {
    let metadata = &live["metadata"];
    let annotation = |key: &str| metadata["annotations"][key].as_str();
    let tooling = annotation(TOOLING_ANNOTATION).ok_or(ParentProblem::MissingTooling)?;
    // kubectl compares only the name part, so a newer gpt-deploy may adopt an older one's set.
    let base = tooling.rsplit_once('/').map_or(tooling, |(name, _)| name);
    if base != TOOL_NAME {
        return Err(ParentProblem::OtherTool(tooling.to_string()));
    }
    let found = metadata["labels"][ID_LABEL]
        .as_str()
        .ok_or(ParentProblem::MissingId)?;
    if found != expected_id {
        return Err(ParentProblem::WrongId {
            found: found.to_string(),
            expected: expected_id.to_string(),
        });
    }
    let group_kinds = parse_group_kinds(annotation(GROUP_KINDS_ANNOTATION).unwrap_or(""));
    let additional_namespaces = annotation(NAMESPACES_ANNOTATION)
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    Ok(ParentState {
        exists: true,
        group_kinds,
        additional_namespaces,
    })
}

/// The body of a server-side apply of the parent Secret.
#[derive(Debug, Clone)]
pub(crate) struct ParentPatch {
    /// Parent name.
    pub(crate) name: String,
    /// Parent namespace (also the namespace of every member).
    pub(crate) namespace: String,
    /// Group-kinds to record.
    pub(crate) group_kinds: BTreeSet<GroupKind>,
}

impl ParentPatch {
    /// The union of what the live parent records and what is about to be applied; written
    /// before members so an interrupted run never leaves members the set does not list.
    #[must_use]
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "only its unit test calls it since apply writes the parent once; left for its owner to remove or use"
        )
    )]
    pub(crate) fn superset(
        name: &str,
        namespace: &str,
        live: &ParentState,
        rendered: &BTreeSet<GroupKind>,
    ) -> Self {
        Self {
            name: name.to_string(),
            namespace: namespace.to_string(),
            group_kinds: live.group_kinds.union(rendered).cloned().collect(),
        }
    }

    /// The set's id.
    #[must_use]
    pub(crate) fn id(&self) -> String {
        secret_parent_id(&self.name, &self.namespace)
    }

    /// The apply body (a Secret with metadata only).
    #[must_use]
    pub(crate) fn body(&self) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": { ID_LABEL: self.id() },
                "annotations": {
                    TOOLING_ANNOTATION: tooling(),
                    GROUP_KINDS_ANNOTATION: format_group_kinds(&self.group_kinds),
                    // All members live in the parent's namespace.
                    NAMESPACES_ANNOTATION: "",
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_matches_the_kep_vector() {
        assert_eq!(
            secret_parent_id("my-set", "test"),
            "applyset-0eFHV8ySqp7XoShsGvyWFQD3s96yqwHmzc4e0HR1dsY-v1"
        );
    }

    #[test]
    fn id_depends_on_every_part() {
        let base = id("a", "b", "Secret", "");
        assert_ne!(base, id("a", "c", "Secret", ""));
        assert_ne!(base, id("a", "b", "ConfigMap", ""));
        assert_ne!(base, id("a", "b", "Secret", "x.io"));
        // A label value is at most 63 characters.
        assert!(base.len() <= 63, "{base}");
    }

    #[test]
    fn group_kinds_round_trip_in_kubectl_format() {
        let kinds: BTreeSet<GroupKind> = [
            GroupKind::from_api_version("apps/v1", "Deployment"),
            GroupKind::from_api_version("v1", "Secret"),
            GroupKind::from_api_version("batch/v1", "CronJob"),
            GroupKind::from_api_version("policy/v1", "PodDisruptionBudget"),
        ]
        .into_iter()
        .collect();
        let text = format_group_kinds(&kinds);
        assert_eq!(
            text,
            "CronJob.batch,Deployment.apps,PodDisruptionBudget.policy,Secret"
        );
        assert_eq!(parse_group_kinds(&text), kinds);
        assert!(parse_group_kinds("").is_empty());
    }

    #[test]
    fn group_with_dots_parses_at_the_first_dot() {
        let gk = GroupKind::parse("Certificate.cert-manager.io");
        assert_eq!(gk.kind, "Certificate");
        assert_eq!(gk.group, "cert-manager.io");
    }

    fn parent(tooling: Option<&str>, id: Option<&str>, kinds: &str) -> Value {
        let mut annotations = serde_json::Map::new();
        if let Some(t) = tooling {
            annotations.insert(TOOLING_ANNOTATION.into(), t.into());
        }
        annotations.insert(GROUP_KINDS_ANNOTATION.into(), kinds.into());
        let mut labels = serde_json::Map::new();
        if let Some(i) = id {
            labels.insert(ID_LABEL.into(), i.into());
        }
        json!({"metadata": {"annotations": annotations, "labels": labels}})
    }

    #[test]
    fn parent_of_another_tool_is_refused() {
        let id = secret_parent_id("p", "ns");
        let err = read_parent(&parent(Some("kubectl/v1.34"), Some(&id), ""), &id).unwrap_err();
        assert_eq!(err, ParentProblem::OtherTool("kubectl/v1.34".into()));
        let err = read_parent(&parent(None, Some(&id), ""), &id).unwrap_err();
        assert_eq!(err, ParentProblem::MissingTooling);
        let err = read_parent(&parent(Some("gpt-deploy/v0.0.1"), None, ""), &id).unwrap_err();
        assert_eq!(err, ParentProblem::MissingId);
        let err = read_parent(
            &parent(Some("gpt-deploy/v9"), Some("applyset-x-v1"), ""),
            &id,
        )
        .unwrap_err();
        assert!(matches!(err, ParentProblem::WrongId { .. }));
    }

    #[test]
    fn own_parent_is_read_with_its_kinds() {
        let id = secret_parent_id("p", "ns");
        let state = read_parent(
            &parent(
                Some("gpt-deploy/v0.0.1"),
                Some(&id),
                "Deployment.apps,Secret",
            ),
            &id,
        )
        .unwrap();
        assert!(state.exists);
        assert_eq!(state.group_kinds.len(), 2);
    }

    #[test]
    fn superset_keeps_kinds_that_are_no_longer_rendered() {
        let live = ParentState {
            exists: true,
            group_kinds: parse_group_kinds("CronJob.batch,Secret"),
            additional_namespaces: BTreeSet::new(),
        };
        let rendered = parse_group_kinds("Deployment.apps,Secret");
        let patch = ParentPatch::superset("p", "ns", &live, &rendered);
        let body = patch.body();
        assert_eq!(
            body["metadata"]["annotations"][GROUP_KINDS_ANNOTATION],
            "CronJob.batch,Deployment.apps,Secret"
        );
        assert_eq!(body["metadata"]["labels"][ID_LABEL], patch.id());
        assert!(
            body["metadata"]["annotations"][TOOLING_ANNOTATION]
                .as_str()
                .unwrap()
                .starts_with("gpt-deploy/v")
        );
    }
}

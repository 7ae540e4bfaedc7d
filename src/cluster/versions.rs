//! Versioned Secrets: which old versions prune keeps.
//!
//! The rendered Secret is named `<secret_name>-<hash8>` after its data (see
//! [`crate::render::version_name`]), so every changed value leaves the previous version in the
//! cluster, where pods started with it keep reading it and an automatic rollback or
//! `rollback --to` points back at it. Prune keeps, per versioned Secret:
//! - the newest [`KEEP`] versions, the rendered one included; "newest" is the order of the
//!   release history (the newest revision that referenced a version), then the creation
//!   time for versions the history no longer mentions;
//! - every version a live Deployment or CronJob of the set still reads, however old;
//! - the unversioned Secret of the older layout (`<secret_name>` itself): deploy retires it
//!   after a successful rollout (see [`super::retire::entries`]), never prune before.
//!
//! A revision older than the kept versions cannot be restored by `rollback --to` (it is
//! refused before any write, naming the missing Secret); deploying its image again with its
//! secret values recreates its version.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::Value;

use super::Result;
use super::client::Cluster;
use super::history::{self, Revision};
use super::prune::{Keep, Members};
use super::resources::ObjectId;
use crate::render::version_base;

/// Versions of a Secret kept by prune (the one rendered now included).
pub(crate) const KEEP: usize = 5;

/// Secret names, most recently used first: the order in which the recorded revisions
/// (newest first) referenced them.
#[must_use]
pub(crate) fn recency(revisions: &[Revision]) -> Vec<String> {
    let mut newest_first: Vec<&Revision> = revisions.iter().collect();
    newest_first.sort_by_key(|r| std::cmp::Reverse(r.number));
    let mut names: Vec<String> = Vec::new();
    for revision in newest_first {
        for name in &revision.secrets {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    names
}

/// [`recency`] of the release history of `app` in `namespace`.
///
/// # Errors
/// The history cannot be read.
pub(crate) async fn recent(cluster: &Cluster, app: &str, namespace: &str) -> Result<Vec<String>> {
    let revisions = history::Store::new(app, namespace).read(cluster).await?;
    Ok(recency(&revisions))
}

/// The names of the Secrets the live Deployments and CronJobs among `members` read.
fn in_use(members: &Members) -> BTreeSet<String> {
    let workloads: Vec<Value> = members
        .iter()
        .filter(|(id, _)| matches!(id.kind.as_str(), "Deployment" | "CronJob"))
        .map(|(_, live)| live.clone())
        .collect();
    history::referenced_secrets(&workloads)
        .into_iter()
        .collect()
}

/// The members prune must leave alone because of versioning (see the module documentation),
/// with the reason. Only Secrets of a base name the render has a version of are considered;
/// `recent` is [`recency`] of the history.
#[must_use]
pub(crate) fn kept(
    members: &Members,
    rendered: &HashSet<ObjectId>,
    recent: &[String],
) -> BTreeMap<ObjectId, Keep> {
    let bases: BTreeSet<&str> = rendered
        .iter()
        .filter(|id| id.kind == "Secret")
        .filter_map(|id| version_base(&id.name))
        .collect();
    let mut kept = BTreeMap::new();
    if bases.is_empty() {
        return kept;
    }
    let used = in_use(members);
    for base in bases {
        let room = KEEP.saturating_sub(
            rendered
                .iter()
                .filter(|id| id.kind == "Secret" && version_base(&id.name) == Some(base))
                .count(),
        );
        let mut versions: Vec<(&ObjectId, &Value)> = Vec::new();
        for (id, live) in members {
            if id.kind != "Secret" || rendered.contains(id) {
                continue;
            }
            if id.name == base {
                kept.insert(id.clone(), Keep::Retiring);
            } else if version_base(&id.name) == Some(base) {
                versions.push((id, live));
            }
        }
        let rank = |name: &str| recent.iter().position(|n| n == name).unwrap_or(usize::MAX);
        let created = |live: &Value| {
            live["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        // Most recently used first; RFC 3339 times of one server sort as text.
        versions.sort_by(|(a, la), (b, lb)| {
            rank(&a.name)
                .cmp(&rank(&b.name))
                .then_with(|| created(lb).cmp(&created(la)))
                .then_with(|| a.name.cmp(&b.name))
        });
        for (i, (id, _)) in versions.into_iter().enumerate() {
            if used.contains(&id.name) {
                kept.insert(id.clone(), Keep::InUse);
            } else if i < room {
                kept.insert(id.clone(), Keep::Version);
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(kind: &str, name: &str) -> ObjectId {
        ObjectId {
            api_version: if kind == "Secret" { "v1" } else { "apps/v1" }.into(),
            kind: kind.into(),
            namespace: "ns".into(),
            name: name.into(),
        }
    }

    fn secret(name: &str, created: &str) -> (ObjectId, Value) {
        let value = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "ns", "creationTimestamp": created}});
        (id("Secret", name), value)
    }

    fn deployment_reading(secret: &str) -> (ObjectId, Value) {
        let value = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "env": [
                {"name": "A", "valueFrom": {"secretKeyRef": {"name": secret, "key": "a"}}}]}]}}}});
        (id("Deployment", "web"), value)
    }

    fn version(n: u32) -> String {
        format!("gpt-secrets-{n:08x}")
    }

    fn names(kept: &BTreeMap<ObjectId, Keep>, why: &Keep) -> Vec<String> {
        kept.iter()
            .filter(|(_, k)| *k == why)
            .map(|(id, _)| id.name.clone())
            .collect()
    }

    #[test]
    fn the_newest_five_and_those_in_use_are_kept() {
        let mut members = Members::new();
        // Eight old versions created in the same second (the history orders them); the
        // Deployment still reads the oldest.
        for n in 1..=8 {
            let (i, v) = secret(&version(n), "2026-01-01T00:00:00Z");
            members.insert(i, v);
        }
        let (d, v) = deployment_reading(&version(1));
        members.insert(d, v);
        // Not versions: the unversioned Secret is left to retire, others to the usual rules.
        let (i, v) = secret("gpt-secrets", "2025-01-01T00:00:00Z");
        members.insert(i, v);
        let (i, v) = secret("other-00000009", "2025-01-01T00:00:00Z");
        members.insert(i, v);
        let rendered: HashSet<ObjectId> = [id("Secret", &version(10))].into();
        let recent: Vec<String> = (1..=8).rev().map(version).collect();
        let kept = kept(&members, &rendered, &recent);
        assert_eq!(
            names(&kept, &Keep::Version),
            [version(5), version(6), version(7), version(8)],
            "the four most recent besides the rendered one"
        );
        assert_eq!(names(&kept, &Keep::InUse), [version(1)]);
        assert_eq!(names(&kept, &Keep::Retiring), ["gpt-secrets"]);
        assert_eq!(kept.len(), 6, "{kept:?}");
    }

    #[test]
    fn without_history_the_creation_time_orders_the_versions() {
        let mut members = Members::new();
        for (n, day) in [(1, "03"), (2, "01"), (3, "02")] {
            let (i, v) = secret(&version(n), &format!("2026-01-{day}T00:00:00Z"));
            members.insert(i, v);
        }
        let rendered: HashSet<ObjectId> = [id("Secret", &version(9))].into();
        // Room for four; ask with a history that mentions only the oldest.
        let kept = kept(&members, &rendered, &[version(2)]);
        assert_eq!(kept.len(), 3);
        let mut many = Members::new();
        for n in 1..=6 {
            let (i, v) = secret(&version(n), &format!("2026-01-0{n}T00:00:00Z"));
            many.insert(i, v);
        }
        let kept = super::kept(&many, &rendered, &[version(1)]);
        assert_eq!(
            names(&kept, &Keep::Version),
            [version(1), version(4), version(5), version(6)],
            "the history's first, then the newest by creation time"
        );
    }

    #[test]
    fn nothing_is_kept_when_no_version_is_rendered() {
        let mut members = Members::new();
        let (i, v) = secret(&version(1), "2026-01-01T00:00:00Z");
        members.insert(i, v);
        assert!(kept(&members, &HashSet::new(), &[]).is_empty());
    }

    #[test]
    fn the_history_orders_names_by_their_newest_use() {
        let revision = |number: u64, secret: &str| Revision {
            number,
            command: "deploy".into(),
            image: "i".into(),
            commit: None,
            actor: "a".into(),
            started: chrono::Utc::now(),
            finished: None,
            result: history::ReleaseResult::Succeeded,
            secrets: vec![secret.into()],
            rollback_of: None,
            rolled_back_to: None,
            message: None,
            objects: vec![],
        };
        let revisions = vec![revision(1, "a"), revision(3, "a"), revision(2, "b")];
        assert_eq!(recency(&revisions), ["a", "b"]);
    }
}

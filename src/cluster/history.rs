//! The release history: every `deploy`, `apply` and `rollback` that writes to the cluster is
//! a revision recorded in the cluster, so `status`, `history` and `rollback` need nothing
//! but cluster access (no secret values, no checkout).
//!
//! The revisions live in the ConfigMap `<app>-history` beside the ApplySet parent, owned by
//! the parent (deleting the set's parent deletes its history) but not a member of the set (no
//! `part-of` label, so it is never pruned). Each revision is one data key, `revision-<n>`,
//! holding JSON: number, image, git commit, actor, start and end time, result, the Secret
//! names the workloads referenced (a versioned Secret's name is its version), and the
//! rendered objects needed to apply it again — every rendered object except Secrets and
//! Jobs. Secret data is never recorded, and objects that would carry a secret value are not
//! recorded either (see [`Recorder::begin`]). The last [`KEEP`] revisions are kept.
//!
//! Writes are read-modify-write guarded by `resourceVersion` (a create that finds the
//! ConfigMap made meanwhile, or an update that finds it changed, reads again), so two runs
//! at once get distinct numbers and neither loses the other's record.
//!
//! The API for the deploy phases: [`Recorder::begin`] after the preflight and before the
//! first write, [`Recorder::finish`] with a [`ReleaseResult`], and [`last_succeeded`] to find
//! what an automatic rollback restores.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, PostParams};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{self, Cluster};
use super::plan::Plan;
use super::{Error, Result, applyset};
use crate::render::Object;
use crate::secret::Redactor;

/// How many revisions are kept.
pub(crate) const KEEP: usize = 20;
/// The field manager of the history ConfigMap.
pub(crate) const FIELD_MANAGER: &str = "gpt-deploy-history";
/// Prefix of each revision's data key.
const KEY_PREFIX: &str = "revision-";
/// Above this many bytes of JSON the oldest revisions go even when fewer than [`KEEP`]
/// (a ConfigMap holds at most 1 MiB).
const MAX_BYTES: usize = 900 * 1024;
/// How often a write is tried again after someone else changed the ConfigMap.
const WRITE_ATTEMPTS: u32 = 8;

/// Name of the history ConfigMap of an application.
#[must_use]
pub(crate) fn configmap_name(app: &str) -> String {
    format!("{app}-history")
}

/// How a revision ended (or that it has not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ReleaseResult {
    /// The run is still going, or was killed without a chance to say how it ended.
    InProgress,
    /// Applied and rolled out.
    Succeeded,
    /// Applied without waiting for the rollout (`--no-wait`, `apply` without `--wait`).
    Applied,
    /// The run failed; the cluster may hold part of this revision.
    Failed,
    /// The rollout failed and the previous release was restored.
    RolledBack,
    /// Stopped by SIGINT or SIGTERM.
    Cancelled,
}

impl ReleaseResult {
    /// The words shown in tables.
    #[must_use]
    pub(crate) fn word(self) -> &'static str {
        match self {
            ReleaseResult::InProgress => "in progress",
            ReleaseResult::Succeeded => "succeeded",
            ReleaseResult::Applied => "applied (not waited for)",
            ReleaseResult::Failed => "failed",
            ReleaseResult::RolledBack => "rolled back",
            ReleaseResult::Cancelled => "cancelled",
        }
    }
}

/// What wrote a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Origin {
    /// `gpt-deploy deploy`.
    #[default]
    Deploy,
    /// `gpt-deploy apply`.
    Apply,
    /// `gpt-deploy rollback`, restoring the given revision.
    Rollback {
        /// The revision restored.
        of: u64,
    },
}

impl Origin {
    fn command(self) -> &'static str {
        match self {
            Origin::Deploy => "deploy",
            Origin::Apply => "apply",
            Origin::Rollback { .. } => "rollback",
        }
    }
}

/// One release as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Revision {
    /// 1, 2, 3… per namespace.
    pub(crate) number: u64,
    /// `deploy`, `apply` or `rollback`.
    pub(crate) command: String,
    /// The application container's image reference.
    pub(crate) image: String,
    /// The git commit deployed (`GITHUB_SHA`; for a rollback, the restored revision's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) commit: Option<String>,
    /// Who ran it (`GITHUB_ACTOR`, else the local user).
    pub(crate) actor: String,
    /// When the first write was about to be made.
    pub(crate) started: DateTime<Utc>,
    /// When the run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) finished: Option<DateTime<Utc>>,
    /// How it ended.
    pub(crate) result: ReleaseResult,
    /// The Secrets the workloads reference, by name (a versioned Secret's name is its version).
    #[serde(default)]
    pub(crate) secrets: Vec<String>,
    /// For a rollback: the revision it restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rollback_of: Option<u64>,
    /// For a revision rolled back automatically: the revision restored in its place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rolled_back_to: Option<u64>,
    /// Why it failed or was cancelled (first line, secret values redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
    /// The rendered objects needed to apply it again (no Secret, no Job); empty when they
    /// could not be recorded.
    #[serde(default)]
    pub(crate) objects: Vec<Value>,
}

impl Revision {
    /// Whether `rollback --to` can restore it.
    #[must_use]
    pub(crate) fn restorable(&self) -> bool {
        self.objects.iter().any(|o| o["kind"] == "Deployment")
    }

    /// The image's tag (`repo:tag` → `tag`), or the whole reference without one.
    #[must_use]
    pub(crate) fn image_tag(&self) -> &str {
        image_tag(&self.image)
    }
}

/// The tag of an image reference; the reference itself when it has none.
#[must_use]
pub(crate) fn image_tag(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let name_start = without_digest.rfind('/').map_or(0, |i| i + 1);
    match without_digest[name_start..].split_once(':') {
        Some((_, tag)) => tag,
        None => image,
    }
}

/// The history ConfigMap as this run last wrote it (the server's answer) and its owner:
/// the next write of the same run starts from them instead of reading both again.
#[derive(Debug, Clone)]
struct Written {
    config_map: ConfigMap,
    owner: Option<OwnerReference>,
}

/// Where an application's history lives.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    /// Namespace of the set.
    pub(crate) namespace: String,
    /// The ConfigMap's name.
    pub(crate) name: String,
    /// The ApplySet parent Secret's name (the ConfigMap's owner).
    pub(crate) parent: String,
}

impl Store {
    /// The history of `app` in `namespace`.
    #[must_use]
    pub(crate) fn new(app: &str, namespace: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
            name: configmap_name(app),
            parent: applyset::parent_name(app),
        }
    }

    fn api(&self, cluster: &Cluster) -> Api<ConfigMap> {
        Api::namespaced(cluster.client.clone(), &self.namespace)
    }

    fn what(&self) -> String {
        format!("release history ConfigMap {}/{}", self.namespace, self.name)
    }

    /// Every recorded revision, oldest first; empty when nothing was recorded yet.
    ///
    /// # Errors
    /// The request failed, or the ConfigMap holds a revision that cannot be read.
    pub(crate) async fn read(&self, cluster: &Cluster) -> Result<Vec<Revision>> {
        let api = self.api(cluster);
        let live = client::retry(|| api.get_opt(&self.name))
            .await
            .map_err(|e| {
                client::api_error(
                    format!("read the {}", self.what()),
                    &self.name,
                    e,
                    &cluster.server,
                )
            })?;
        match live {
            Some(cm) => self.parse(&cm),
            None => Ok(Vec::new()),
        }
    }

    fn parse(&self, cm: &ConfigMap) -> Result<Vec<Revision>> {
        let mut revisions = Vec::new();
        for (key, text) in cm.data.iter().flatten() {
            if !key.starts_with(KEY_PREFIX) {
                continue;
            }
            let revision: Revision =
                serde_json::from_str(text).map_err(|e| Error::History {
                    message: format!(
                        "{} has an unreadable entry {key:?} ({e}); fix or delete that key (`kubectl edit configmap -n {} {}`)",
                        self.what(),
                        self.namespace,
                        self.name
                    ),
                })?;
            revisions.push(revision);
        }
        revisions.sort_by_key(|r| r.number);
        Ok(revisions)
    }

    /// Reads, changes and writes the history, guarded by `resourceVersion`; on a conflict it
    /// reads again and re-applies `change`. Returns what `change` returned on the write that
    /// succeeded.
    async fn update<T>(
        &self,
        cluster: &Cluster,
        known: Option<Written>,
        mut change: impl FnMut(&mut Vec<Revision>) -> Result<T>,
    ) -> Result<(T, Written)> {
        let mut known = known;
        let api = self.api(cluster);
        let fail = |e: kube::Error| {
            client::api_error(
                format!("write the {}", self.what()),
                &self.name,
                e,
                &cluster.server,
            )
        };
        for _ in 0..WRITE_ATTEMPTS {
            // What this run wrote last saves a read; if someone wrote since, the write
            // below is refused (409) and the next attempt reads.
            // Otherwise the history and its owner (the ApplySet parent) are read together.
            let (live, owner) = match known.take() {
                Some(Written {
                    config_map,
                    owner: Some(owner),
                }) => (Some(config_map), Some(owner)),
                Some(Written {
                    config_map,
                    owner: None,
                }) => (Some(config_map), self.owner(cluster).await?),
                None => futures::try_join!(
                    async {
                        client::retry(|| api.get_opt(&self.name))
                            .await
                            .map_err(fail)
                    },
                    self.owner(cluster)
                )?,
            };
            let mut revisions = match &live {
                Some(cm) => self.parse(cm)?,
                None => Vec::new(),
            };
            let answer = change(&mut revisions)?;
            bound(&mut revisions);
            let mut cm = live.clone().unwrap_or_default();
            cm.metadata = ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                // Present on an update: the server refuses it (409) if someone wrote since.
                resource_version: live
                    .as_ref()
                    .and_then(|l| l.metadata.resource_version.clone()),
                labels: Some(labels()),
                annotations: live.as_ref().and_then(|l| l.metadata.annotations.clone()),
                owner_references: owner.clone().map(|o| vec![o]),
                ..ObjectMeta::default()
            };
            cm.data = Some(encode(&revisions)?);
            let params = PostParams {
                dry_run: false,
                field_manager: Some(FIELD_MANAGER.to_string()),
            };
            let written = if live.is_some() {
                client::retry(|| api.replace(&self.name, &params, &cm)).await
            } else {
                client::retry(|| api.create(&params, &cm)).await
            };
            match written {
                Ok(config_map) => return Ok((answer, Written { config_map, owner })),
                // Someone else wrote first (409 Conflict or AlreadyExists): read again.
                Err(e) if client::status_code(&e) == Some(409) => {
                    tracing::debug!(error = %e, "release history changed meanwhile; retrying");
                }
                Err(e) => return Err(fail(e)),
            }
        }
        Err(Error::History {
            message: format!(
                "the {} kept changing while this run wrote it ({WRITE_ATTEMPTS} attempts); is another deploy running?",
                self.what()
            ),
        })
    }

    /// An owner reference to the ApplySet parent, when it exists.
    async fn owner(&self, cluster: &Cluster) -> Result<Option<OwnerReference>> {
        let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &self.namespace);
        let parent = client::retry(|| secrets.get_metadata_opt(&self.parent))
            .await
            .map_err(|e| {
                client::api_error(
                    format!(
                        "read ApplySet parent Secret {}/{}",
                        self.namespace, self.parent
                    ),
                    &self.parent,
                    e,
                    &cluster.server,
                )
            })?;
        Ok(parent.and_then(|p| {
            Some(OwnerReference {
                api_version: "v1".into(),
                kind: "Secret".into(),
                name: self.parent.clone(),
                uid: p.metadata.uid?,
                controller: None,
                block_owner_deletion: None,
            })
        }))
    }
}

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/managed-by".to_string(),
            applyset::TOOL_NAME.to_string(),
        ),
        (
            "app.kubernetes.io/component".to_string(),
            "release-history".to_string(),
        ),
    ])
}

/// Keeps the newest [`KEEP`] revisions, fewer if their JSON would not fit a ConfigMap.
fn bound(revisions: &mut Vec<Revision>) {
    revisions.sort_by_key(|r| r.number);
    if revisions.len() > KEEP {
        revisions.drain(..revisions.len() - KEEP);
    }
    let size = |r: &Revision| serde_json::to_string(r).map_or(0, |s| s.len());
    let mut total: usize = revisions.iter().map(size).sum();
    while total > MAX_BYTES && revisions.len() > 1 {
        total -= size(&revisions[0]);
        revisions.remove(0);
    }
}

fn encode(revisions: &[Revision]) -> Result<BTreeMap<String, String>> {
    revisions
        .iter()
        .map(|r| {
            serde_json::to_string(r)
                .map(|text| (format!("{KEY_PREFIX}{}", r.number), text))
                .map_err(|e| Error::History {
                    message: format!("cannot encode revision {}: {e}", r.number),
                })
        })
        .collect()
}

/// The newest revision that succeeded, other than `except` (the run asking).
///
/// # Errors
/// The history cannot be read.
pub(crate) async fn last_succeeded(
    cluster: &Cluster,
    store: &Store,
    except: Option<u64>,
) -> Result<Option<Revision>> {
    let revisions = store.read(cluster).await?;
    Ok(revisions
        .into_iter()
        .rev()
        .find(|r| r.result == ReleaseResult::Succeeded && Some(r.number) != except))
}

/// Who runs this: `GITHUB_ACTOR`, else the local user, else `unknown`.
#[must_use]
pub(crate) fn actor() -> String {
    ["GITHUB_ACTOR", "USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

/// The git commit being deployed: `GITHUB_SHA` when set.
#[must_use]
pub(crate) fn commit() -> Option<String> {
    std::env::var("GITHUB_SHA")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// The application container's image in a rendered Deployment (the container named after
/// the app, else the first).
#[must_use]
pub(crate) fn deployment_image(deployment: &Value, app: &str) -> Option<String> {
    let containers = deployment["spec"]["template"]["spec"]["containers"].as_array()?;
    containers
        .iter()
        .find(|c| c["name"].as_str() == Some(app))
        .or_else(|| containers.first())
        .and_then(|c| c["image"].as_str())
        .map(str::to_string)
}

/// The names of the Secrets these objects reference (env, envFrom, volumes), sorted.
#[must_use]
pub(crate) fn referenced_secrets<'a>(objects: impl IntoIterator<Item = &'a Value>) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    let name = match key.as_str() {
                        "secretKeyRef" | "secretRef" => v["name"].as_str(),
                        "secret" => v["secretName"].as_str().or_else(|| v["name"].as_str()),
                        _ => None,
                    };
                    if let Some(name) = name
                        && !out.iter().any(|n| n == name)
                    {
                        out.push(name.to_string());
                    }
                    walk(v, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for object in objects {
        walk(object, &mut out);
    }
    out.sort();
    out
}

/// The objects of a plan worth recording: everything but Secrets (their data is never
/// recorded) and Jobs (one-off migrations are not part of what a rollback restores).
#[must_use]
pub(crate) fn recordable(objects: &[Object]) -> Vec<Value> {
    objects
        .iter()
        .filter(|o| !matches!(o.kind.as_str(), "Secret" | "Job"))
        .map(|o| o.value.clone())
        .collect()
}

/// Whether any of these objects holds a value the redactor knows as secret.
fn holds_secret(objects: &[Value], redactor: &Redactor) -> bool {
    let text = serde_json::to_string(objects).unwrap_or_default();
    redactor.redact(&text) != text
}

/// An open revision: begun, not yet finished.
#[derive(Clone)]
pub(crate) struct Recorder {
    cluster: Cluster,
    store: Store,
    revision: Revision,
    redactor: Redactor,
    written: Option<Written>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("store", &self.store)
            .field("number", &self.revision.number)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Records a new revision "in progress" for this plan: call it after the preflight and
    /// before the first write. The commit is `GITHUB_SHA`, or for a rollback the restored
    /// revision's (that is the code that runs).
    ///
    /// # Errors
    /// The history cannot be read or written.
    pub(crate) async fn begin(cluster: &Cluster, plan: &Plan, origin: Origin) -> Result<Self> {
        // A signal during the preflight stops the run before anything is written or recorded.
        super::cancel::check(|| "the first write (nothing was changed)".to_string())?;
        let store = Store::new(&plan.app_name, &plan.namespace);
        let mut objects = recordable(&plan.objects);
        if holds_secret(&objects, &plan.redactor) {
            // Never record a secret value; this revision then cannot be rolled back to.
            crate::report::warning(
                "a rendered object other than a Secret holds a secret value, so this revision's objects are not recorded and `rollback --to` cannot restore it; reference secrets with secretKeyRef instead",
            );
            objects.clear();
        }
        let image = plan
            .find("Deployment")
            .and_then(|d| deployment_image(&d.value, &plan.app_name))
            .unwrap_or_else(|| plan.image_tag.clone());
        let mut revision = Revision {
            number: 0,
            command: origin.command().to_string(),
            image,
            commit: commit(),
            actor: actor(),
            started: Utc::now(),
            finished: None,
            result: ReleaseResult::InProgress,
            secrets: referenced_secrets(plan.objects.iter().map(|o| &o.value)),
            rollback_of: match origin {
                Origin::Rollback { of } => Some(of),
                _ => None,
            },
            rolled_back_to: None,
            message: None,
            objects,
        };
        let ((number, commit), written) = store
            .update(cluster, None, |revisions| {
                let mut new = revision.clone();
                new.number = revisions.last().map_or(1, |r| r.number + 1);
                if let Origin::Rollback { of } = origin {
                    new.commit = revisions
                        .iter()
                        .find(|r| r.number == of)
                        .and_then(|r| r.commit.clone());
                }
                let answer = (new.number, new.commit.clone());
                revisions.push(new);
                Ok(answer)
            })
            .await?;
        revision.number = number;
        revision.commit = commit;
        Ok(Self {
            cluster: cluster.clone(),
            store,
            revision,
            redactor: plan.redactor.clone(),
            written: Some(written),
        })
    }

    /// The history as this run wrote it when it began (no request), if it can be read.
    #[must_use]
    pub(crate) fn recorded(&self) -> Option<Vec<Revision>> {
        let written = self.written.as_ref()?;
        self.store.parse(&written.config_map).ok()
    }

    /// The revision's number.
    #[must_use]
    pub(crate) fn number(&self) -> u64 {
        self.revision.number
    }

    /// Records how the revision ended; `message` (why it failed) is cut to its first line
    /// and redacted. For [`ReleaseResult::RolledBack`] say which revision was restored with
    /// [`Recorder::rolled_back_to`] first.
    ///
    /// # Errors
    /// The history cannot be written.
    pub(crate) async fn finish(
        mut self,
        result: ReleaseResult,
        message: Option<&str>,
    ) -> Result<Revision> {
        self.revision.result = result;
        self.revision.finished = Some(Utc::now());
        self.revision.message = message
            .and_then(|m| m.lines().find(|l| !l.trim().is_empty()))
            .map(|m| self.redactor.redact(m.trim()));
        let finished = self.revision.clone();
        self.store
            .update(&self.cluster, self.written.take(), |revisions| {
                match revisions.iter_mut().find(|r| r.number == finished.number) {
                    Some(r) => *r = finished.clone(),
                    // Bounded out meanwhile by 20 newer runs: record it again.
                    None => revisions.push(finished.clone()),
                }
                Ok(())
            })
            .await?;
        Ok(finished)
    }

    /// Notes the revision an automatic rollback restored.
    #[must_use]
    pub(crate) fn rolled_back_to(mut self, number: u64) -> Self {
        self.revision.rolled_back_to = Some(number);
        self
    }
}

/// Finishes an open revision from the result of a run: cancelled, failed, succeeded, or
/// applied when the rollout was not waited for. A failure to write the history is a
/// warning, not the run's error (the cluster work is done either way).
pub(crate) async fn settle(recorder: Option<Recorder>, result: &Result<()>, waited: bool) {
    let Some(recorder) = recorder else {
        return;
    };
    let number = recorder.number();
    let (outcome, message) = match result {
        Ok(()) if waited => (ReleaseResult::Succeeded, None),
        Ok(()) => (ReleaseResult::Applied, None),
        Err(e @ Error::Cancelled { .. }) => (ReleaseResult::Cancelled, Some(e.to_string())),
        Err(e @ Error::RolledBack { .. }) => (ReleaseResult::RolledBack, Some(e.to_string())),
        Err(e) => (ReleaseResult::Failed, Some(e.to_string())),
    };
    let mut recorder = recorder;
    if let Err(Error::RolledBack {
        revision: Some(restored),
        ..
    }) = result
    {
        recorder = recorder.rolled_back_to(*restored);
    } else if outcome == ReleaseResult::RolledBack {
        // The previous Deployment runs again: the newest revision that succeeded before.
        match last_succeeded(&recorder.cluster, &recorder.store, Some(number)).await {
            Ok(Some(previous)) => recorder = recorder.rolled_back_to(previous.number),
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "cannot find the revision rolled back to"),
        }
    }
    match recorder.finish(outcome, message.as_deref()).await {
        Ok(_) => crate::report::note(&format!("recorded revision {number}: {}", outcome.word())),
        Err(e) => crate::report::warning(&format!(
            "cannot record how revision {number} ended ({}): {e}",
            outcome.word()
        )),
    }
}

/// An environment's history and the cluster holding it: found from the configuration
/// alone, without rendering and without secret values (what `status`, `history` and
/// `rollback` need is in the cluster).
pub(crate) struct Releases {
    /// The configuration (namespace override applied).
    pub(crate) config: crate::config::Config,
    /// The connected cluster.
    pub(crate) cluster: Cluster,
    /// Where the history lives.
    pub(crate) store: Store,
}

impl Releases {
    /// Loads the configuration and connects.
    ///
    /// # Errors
    /// Configuration errors, kubeconfig problems.
    pub(crate) async fn connect(args: &crate::cli::TargetArgs) -> Result<Self> {
        let mut config =
            crate::config::load(args.config.config.as_deref(), &args.env).map_err(|e| {
                Error::Render {
                    env: args.env.clone(),
                    source: Box::new(e.into()),
                }
            })?;
        if let Some(namespace) = &args.namespace {
            config.env.namespace.clone_from(namespace);
        }
        let target = args.client_target(config.env.kube_context.as_deref());
        let cluster = client::connect(&target).await?;
        let store = Store::new(&config.app.name, &config.env.namespace);
        Ok(Self {
            config,
            cluster,
            store,
        })
    }
}

/// RFC 3339 in UTC to the second, as tables show times.
#[must_use]
pub(crate) fn show_time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretString;
    use serde_json::json;

    fn revision(number: u64, result: ReleaseResult) -> Revision {
        Revision {
            number,
            command: "deploy".into(),
            image: format!("ghcr.io/o/gpt-service:v{number}"),
            commit: Some("abc".into()),
            actor: "me".into(),
            started: Utc::now(),
            finished: None,
            result,
            secrets: vec!["gpt-secrets".into()],
            rollback_of: None,
            rolled_back_to: None,
            message: None,
            objects: vec![json!({"kind": "Deployment"})],
        }
    }

    #[test]
    fn json_round_trips_with_kebab_case_results() {
        let r = revision(3, ReleaseResult::RolledBack);
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"result\":\"rolled-back\""), "{text}");
        assert!(
            !text.contains("rollback_of"),
            "absent options are left out: {text}"
        );
        let back: Revision = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn only_the_newest_revisions_are_kept() {
        let mut revisions: Vec<Revision> = (1..=25)
            .map(|n| revision(n, ReleaseResult::Succeeded))
            .collect();
        bound(&mut revisions);
        assert_eq!(revisions.len(), KEEP);
        assert_eq!(revisions[0].number, 6);
        assert_eq!(revisions.last().unwrap().number, 25);
        // Too big for a ConfigMap: the oldest go, the newest stays.
        let mut big: Vec<Revision> = (1..=3)
            .map(|n| {
                let mut r = revision(n, ReleaseResult::Succeeded);
                r.objects = vec![json!({"kind": "Deployment", "pad": "x".repeat(400 * 1024)})];
                r
            })
            .collect();
        bound(&mut big);
        assert_eq!(big.iter().map(|r| r.number).collect::<Vec<_>>(), vec![2, 3]);
    }

    #[test]
    fn secret_references_are_found_everywhere() {
        let deployment = json!({"spec": {"template": {"spec": {
            "containers": [{"env": [
                {"name": "A", "valueFrom": {"secretKeyRef": {"name": "gpt-secrets-1a2b3c4d", "key": "a"}}},
                {"name": "B", "value": "plain"}],
                "envFrom": [{"secretRef": {"name": "extra"}}]}],
            "volumes": [{"name": "v", "secret": {"secretName": "tls"}}]}}}});
        let cronjob = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"env": [{"name": "A", "valueFrom": {"secretKeyRef":
                {"name": "gpt-secrets-1a2b3c4d", "key": "a"}}}]}]}}}}}});
        assert_eq!(
            referenced_secrets(&[deployment, cronjob]),
            ["extra", "gpt-secrets-1a2b3c4d", "tls"]
        );
    }

    #[test]
    fn secrets_and_jobs_are_never_recorded() {
        let object = |api_version: &str, kind: &str, extra: Value| {
            let mut value = json!({"apiVersion": api_version, "kind": kind,
                "metadata": {"name": "x", "namespace": "ns"}});
            if let (Some(v), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
                v.extend(extra.clone());
            }
            super::super::plan::object_from_value(value, "test").unwrap()
        };
        let objects = vec![
            object("v1", "Secret", json!({"data": {"a": "c2VjcmV0"}})),
            object("batch/v1", "Job", json!({})),
            object("apps/v1", "Deployment", json!({})),
            object("batch/v1", "CronJob", json!({})),
        ];
        let recorded = recordable(&objects);
        let kept: Vec<&str> = recorded
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kept, ["Deployment", "CronJob"]);
        let secret = SecretString::new("sentinel-value-77");
        let redactor = Redactor::new([&secret]);
        assert!(!holds_secret(&recorded, &redactor));
        let leaky = vec![json!({"kind": "Deployment", "env": "sentinel-value-77"})];
        assert!(holds_secret(&leaky, &redactor));
    }

    #[test]
    fn images_and_tags() {
        let d = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "sidecar", "image": "busybox"},
            {"name": "gpt-service", "image": "ghcr.io/o/gpt-service:v1.2.3"}]}}}});
        assert_eq!(
            deployment_image(&d, "gpt-service").as_deref(),
            Some("ghcr.io/o/gpt-service:v1.2.3")
        );
        assert_eq!(deployment_image(&d, "other").as_deref(), Some("busybox"));
        assert_eq!(image_tag("ghcr.io/o/gpt-service:v1.2.3"), "v1.2.3");
        assert_eq!(image_tag("localhost:5000/x:v2@sha256:ab"), "v2");
        assert_eq!(image_tag("x@sha256:ab"), "x@sha256:ab");
    }
}

//! Waiting for a Deployment rollout by watching it (never polling, through [`super::watch`]),
//! with kubectl's rollout-status rules plus kstatus's conditions, fail-fast on stuck pods,
//! and diagnostics when it goes wrong.
//!
//! A rollout is done when the controller has observed the applied generation, the
//! updated, ready and available replica counts all equal the spec with no old replicas
//! left, and the Deployment reports `Available=True` and `Progressing=True` with reason
//! `NewReplicaSetAvailable`. Checking only the counts would report the *previous* rollout
//! as done, because right after an apply the status still describes the old generation.
//!
//! A new pod fails the rollout at once when it will not start on its own: an image that
//! cannot be pulled, a crash loop, a container whose configuration cannot be built (a
//! missing Secret or key: `CreateContainerConfigError`), or no node to run on for longer
//! than [`UNSCHEDULABLE_GRACE`].

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams};
use kube::runtime::{WatchStreamExt, watcher};

use super::client::{self, Cluster};
use super::watch::{End, Events};
use super::{Error, Result};
use crate::report::Progress;

/// The annotation the Deployment controller sets on a Deployment and its ReplicaSets.
const REVISION: &str = "deployment.kubernetes.io/revision";
/// Container waiting reasons that will not fix themselves.
const STUCK_REASONS: &[&str] = &[
    "ImagePullBackOff",
    "CrashLoopBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
];
/// How long a pod may stay unschedulable before the rollout fails: long enough for a
/// cluster autoscaler's new node or an eviction to make room, short of the deadline.
pub(crate) const UNSCHEDULABLE_GRACE: Duration = Duration::from_secs(30);
/// Events shown per pod in diagnostics.
const EVENTS_PER_POD: usize = 5;

/// Where a rollout stands, by kubectl's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum State {
    /// Still in progress; the text says what it waits for.
    Waiting(String),
    /// Complete.
    Done,
    /// Failed for good (progress deadline exceeded).
    Failed(String),
}

/// Evaluates a Deployment against the applied generation.
#[must_use]
pub(crate) fn state(deployment: &Deployment, applied_generation: i64) -> State {
    let name = deployment.metadata.name.as_deref().unwrap_or("?");
    let generation = deployment
        .metadata
        .generation
        .unwrap_or(0)
        .max(applied_generation);
    let Some(status) = &deployment.status else {
        return State::Waiting("waiting for the controller to observe the deployment".into());
    };
    if status.observed_generation.unwrap_or(0) < generation {
        return State::Waiting("waiting for the controller to observe the new spec".into());
    }
    let progressing = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Progressing");
    if let Some(c) = progressing
        && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    {
        return State::Failed(format!(
            "deployment {name:?} exceeded its progress deadline: {}",
            c.message.as_deref().unwrap_or("no message")
        ));
    }
    let wanted = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    let ready = status.ready_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if updated < wanted {
        return State::Waiting(format!("{updated} of {wanted} new replicas updated"));
    }
    if total > updated {
        return State::Waiting(format!(
            "{} old replica(s) pending termination",
            total - updated
        ));
    }
    if available < updated {
        return State::Waiting(format!(
            "{available} of {updated} updated replicas available"
        ));
    }
    if ready < wanted {
        return State::Waiting(format!("{ready} of {wanted} replicas ready"));
    }
    // kstatus: the controller itself must call the rollout complete and the Deployment
    // available, which also covers minReadySeconds and a paused rollout.
    let condition = |type_: &str| {
        status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == type_)
    };
    if condition("Available").is_none_or(|c| c.status != "True") {
        return State::Waiting("waiting for the Available condition".into());
    }
    if progressing
        .is_none_or(|c| c.status != "True" || c.reason.as_deref() != Some("NewReplicaSetAvailable"))
    {
        return State::Waiting(
            "waiting for the Progressing condition to say NewReplicaSetAvailable".into(),
        );
    }
    State::Done
}

/// `R ready (W desired), U updated` for the progress line: counts first, so a scale-down
/// (`2 ready (1 desired), 1 updated`) does not read as a fraction above one.
#[must_use]
pub(crate) fn counts(deployment: &Deployment) -> String {
    let wanted = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let status = deployment.status.clone().unwrap_or_default();
    format!(
        "{} ready ({wanted} desired), {} updated",
        status.ready_replicas.unwrap_or(0),
        status.updated_replicas.unwrap_or(0)
    )
}

/// Why a pod will not become ready on its own, if it is stuck (a container waiting for a
/// reason that does not fix itself).
#[must_use]
pub(crate) fn stuck_reason(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .find_map(|c| {
            let waiting = c.state.as_ref()?.waiting.as_ref()?;
            let reason = waiting.reason.as_deref()?;
            STUCK_REASONS.contains(&reason).then(|| {
                format!(
                    "container {:?} is in {reason}: {}",
                    c.name,
                    waiting.message.as_deref().unwrap_or("no message")
                )
            })
        })
}

/// Since when the scheduler has found no node for the pod (`PodScheduled=False`, reason
/// `Unschedulable`), if it has not.
#[must_use]
pub(crate) fn unschedulable_since(pod: &Pod) -> Option<Timestamp> {
    let condition = pod
        .status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled")?;
    (condition.status == "False" && condition.reason.as_deref() == Some("Unschedulable"))
        .then(|| condition.last_transition_time.as_ref().map(|t| t.0))
        .flatten()
}

/// What a pod says about the rollout at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PodVerdict {
    /// Nothing wrong (yet).
    Fine,
    /// Unschedulable, not for long enough to fail: look again at this instant.
    RecheckAt(Timestamp),
    /// It will not become ready on its own.
    Stuck(String),
}

/// The pure fail-fast rule for one pod at `now`: a stuck container, or unschedulable for
/// longer than [`UNSCHEDULABLE_GRACE`].
#[must_use]
pub(crate) fn pod_verdict(pod: &Pod, now: Timestamp) -> PodVerdict {
    if let Some(reason) = stuck_reason(pod) {
        return PodVerdict::Stuck(reason);
    }
    let Some(since) = unschedulable_since(pod) else {
        return PodVerdict::Fine;
    };
    let grace = jiff_span(UNSCHEDULABLE_GRACE);
    let limit = since.checked_add(grace).unwrap_or(since);
    if now < limit {
        return PodVerdict::RecheckAt(limit);
    }
    let message = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"))
        .and_then(|c| c.message.clone())
        .unwrap_or_else(|| "no message".into());
    let waited = now.duration_since(since).as_secs().max(0);
    PodVerdict::Stuck(format!(
        "no node can run it (Unschedulable for {waited}s): {message}"
    ))
}

fn jiff_span(d: Duration) -> k8s_openapi::jiff::SignedDuration {
    k8s_openapi::jiff::SignedDuration::try_from(d).unwrap_or_default()
}

/// True when the pod's Ready condition is True.
#[must_use]
pub(crate) fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// What to wait for.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Namespace.
    pub(crate) namespace: String,
    /// Deployment name.
    pub(crate) name: String,
    /// `metadata.generation` returned by the apply.
    pub(crate) generation: i64,
    /// The Deployment's pod selector as a label selector string.
    pub(crate) selector: String,
}

impl Target {
    /// Reads the target from the applied Deployment (as returned by the server).
    #[must_use]
    pub(crate) fn from_applied(value: &serde_json::Value) -> Option<Self> {
        let deployment: Deployment = serde_json::from_value(value.clone()).ok()?;
        let selector = deployment.spec.as_ref()?.selector.clone();
        let selector = kube::core::Selector::try_from(selector).ok()?.to_string();
        Some(Self {
            namespace: deployment.metadata.namespace?,
            name: deployment.metadata.name?,
            generation: deployment.metadata.generation.unwrap_or(0),
            selector,
        })
    }
}

enum Update {
    Deployment(Box<Deployment>),
    Pod(Box<Pod>),
    PodGone(Box<Pod>),
}

/// One stream of Deployment and pod changes.
fn updates(
    cluster: &Cluster,
    target: &Target,
    streaming: bool,
) -> futures::stream::BoxStream<'static, std::result::Result<Update, watcher::Error>> {
    let config = || {
        let config = watcher::Config::default();
        if streaming {
            config.streaming_lists()
        } else {
            config
        }
    };
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &target.namespace);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &target.namespace);
    let deployment_events = watcher(
        deployments,
        config().fields(&format!("metadata.name={}", target.name)),
    )
    .default_backoff()
    .applied_objects()
    .map_ok(|d| Update::Deployment(Box::new(d)));
    // Raw events for pods: a deleted stuck pod (an old ReplicaSet scaling down) must be forgotten.
    let pod_events = watcher(pods, config().labels(&target.selector))
        .default_backoff()
        .try_filter_map(|event| async move {
            Ok(match event {
                watcher::Event::Apply(pod) | watcher::Event::InitApply(pod) => {
                    Some(Update::Pod(Box::new(pod)))
                }
                watcher::Event::Delete(pod) => Some(Update::PodGone(Box::new(pod))),
                watcher::Event::Init | watcher::Event::InitDone => None,
            })
        });
    stream::select(deployment_events.boxed(), pod_events.boxed()).boxed()
}

/// A running watch on a Deployment and its pods. Started before the Deployment is
/// written, it is open (its first list done) by the time the write returns, so no round
/// trip follows the write and the change that completes the rollout arrives as soon as the
/// server sends it. Dropping it stops the watch.
pub(crate) struct Watch {
    events: tokio::sync::mpsc::UnboundedReceiver<std::result::Result<Update, End>>,
    task: tokio::task::JoinHandle<()>,
    timeout: Duration,
}

impl Watch {
    /// Starts watching `target`'s Deployment (by name) and pods (by selector); `timeout`
    /// counts from now. The generation of `target` is not used.
    #[must_use]
    pub(crate) fn start(cluster: &Cluster, target: &Target, timeout: Duration) -> Self {
        let (for_stream, watched) = (cluster.clone(), target.clone());
        let mut events = Events::new(timeout, move |streaming| {
            updates(&for_stream, &watched, streaming)
        });
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let next = events.next().await;
                let last = next.is_err();
                if sender.send(next).is_err() || last {
                    break;
                }
            }
        });
        Self {
            events: receiver,
            task,
            timeout,
        }
    }

    async fn next(&mut self) -> std::result::Result<Update, End> {
        self.events.recv().await.unwrap_or(Err(End::Closed))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Watches the Deployment (and its pods, to fail fast) until the rollout is done, fails
/// or `timeout` passes.
///
/// # Errors
/// [`Error::Rollout`] with pod diagnostics on failure or timeout; [`Error::Watch`] when the
/// watch itself keeps failing.
pub(crate) async fn wait(
    cluster: &Cluster,
    target: &Target,
    timeout: Duration,
    progress: &Progress,
) -> Result<()> {
    wait_with(
        cluster,
        target,
        Watch::start(cluster, target, timeout),
        progress,
    )
    .await
}

/// [`wait`] on a watch started earlier (see [`Watch`]) for the same Deployment; the
/// rollout is judged against `target`'s generation.
///
/// # Errors
/// As [`wait`].
pub(crate) async fn wait_with(
    cluster: &Cluster,
    target: &Target,
    mut events: Watch,
    progress: &Progress,
) -> Result<()> {
    let timeout = events.timeout;
    let mut latest: Option<Deployment> = None;
    let mut pods: BTreeMap<String, Pod> = BTreeMap::new();
    let mut revisions: HashMap<String, Option<String>> = HashMap::new();
    progress.set(&format!(
        "deployment {}: waiting for the rollout",
        target.name
    ));
    let failure = loop {
        // An unschedulable pod changes nothing while it waits: wake up when its grace ends.
        let now = Timestamp::now();
        let recheck = pods
            .values()
            .filter_map(|p| match pod_verdict(p, now) {
                PodVerdict::RecheckAt(at) => Some(at),
                _ => None,
            })
            .min()
            .map(|at| {
                let wait = at.duration_since(now).unsigned_abs();
                tokio::time::Instant::now() + wait + Duration::from_millis(50)
            });
        let next = match recheck {
            Some(at) => tokio::select! {
                next = events.next() => Some(next),
                () = tokio::time::sleep_until(at) => None,
            },
            None => Some(events.next().await),
        };
        match next {
            None => {}
            Some(Ok(Update::Deployment(d))) => latest = Some(*d),
            Some(Ok(Update::PodGone(pod))) => {
                pods.remove(pod.metadata.name.as_deref().unwrap_or_default());
            }
            Some(Ok(Update::Pod(pod))) => {
                pods.insert(pod.metadata.name.clone().unwrap_or_default(), *pod);
            }
            Some(Err(End::Timeout)) => {
                break format!(
                    "deployment {:?} did not finish rolling out within {}",
                    target.name,
                    humantime::format_duration(timeout)
                );
            }
            Some(Err(End::Closed)) => {
                break format!("the watch on deployment {:?} ended", target.name);
            }
            Some(Err(End::Failed(source))) => {
                progress.clear();
                return Err(Error::Watch {
                    what: format!("deployment {}/{}", target.namespace, target.name),
                    source,
                });
            }
        }
        let Some(deployment) = &latest else { continue };
        match state(deployment, target.generation) {
            State::Done => {
                progress.finish(&format!(
                    "deployment {:?} successfully rolled out",
                    target.name
                ));
                return Ok(());
            }
            State::Failed(reason) => break reason,
            State::Waiting(what) => {
                progress.set(&format!(
                    "deployment {}: {} · {what}",
                    target.name,
                    counts(deployment)
                ));
            }
        }
        let now = Timestamp::now();
        let stuck: BTreeMap<&str, (&Pod, String)> = pods
            .iter()
            .filter_map(|(name, pod)| match pod_verdict(pod, now) {
                PodVerdict::Stuck(reason) => Some((name.as_str(), (pod, reason))),
                _ => None,
            })
            .collect();
        if let Some(reason) =
            stuck_in_current_revision(cluster, deployment, target, &stuck, &mut revisions).await
        {
            break reason;
        }
    };
    progress.clear();
    let diagnostics = diagnose(cluster, target, latest.as_ref()).await;
    Err(Error::Rollout {
        reason: failure,
        diagnostics,
    })
}

/// A stuck pod only fails the rollout when it belongs to the new ReplicaSet: an old
/// crash-looping pod is what this rollout may be replacing.
async fn stuck_in_current_revision(
    cluster: &Cluster,
    deployment: &Deployment,
    target: &Target,
    stuck: &BTreeMap<&str, (&Pod, String)>,
    revisions: &mut HashMap<String, Option<String>>,
) -> Option<String> {
    if stuck.is_empty() {
        return None;
    }
    let observed = deployment
        .status
        .as_ref()
        .and_then(|s| s.observed_generation)
        .unwrap_or(0);
    if observed < target.generation {
        return None;
    }
    let current = deployment.metadata.annotations.as_ref()?.get(REVISION)?;
    let replica_sets: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), &target.namespace);
    for (pod_name, (pod, reason)) in stuck {
        let Some(owner) = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.kind == "ReplicaSet")
        else {
            continue;
        };
        if !revisions.contains_key(&owner.name) {
            // One GET per ReplicaSet, only when a pod is stuck: the happy path costs nothing.
            let revision = client::retry(|| replica_sets.get_opt(&owner.name))
                .await
                .ok()
                .flatten()
                .and_then(|rs| rs.metadata.annotations?.get(REVISION).cloned());
            revisions.insert(owner.name.clone(), revision);
        }
        if revisions.get(&owner.name).cloned().flatten().as_deref() == Some(current) {
            return Some(format!("pod {pod_name}: {reason}"));
        }
    }
    None
}

/// Phase, conditions and recent events of every pod of the Deployment that is not Ready.
async fn diagnose(cluster: &Cluster, target: &Target, deployment: Option<&Deployment>) -> String {
    let mut out = String::new();
    if let Some(status) = deployment.and_then(|d| d.status.as_ref()) {
        out.push_str(&format!(
            "deployment {}/{}: replicas {}, updated {}, ready {}, available {}\n",
            target.namespace,
            target.name,
            status.replicas.unwrap_or(0),
            status.updated_replicas.unwrap_or(0),
            status.ready_replicas.unwrap_or(0),
            status.available_replicas.unwrap_or(0)
        ));
        for c in status.conditions.iter().flatten() {
            out.push_str(&format!(
                "  condition {}={} {}: {}\n",
                c.type_,
                c.status,
                c.reason.as_deref().unwrap_or(""),
                c.message.as_deref().unwrap_or("")
            ));
        }
    }
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &target.namespace);
    let by_selector = ListParams::default().labels(&target.selector);
    let list = client::retry(|| pods.list(&by_selector)).await;
    let pods = match list {
        Ok(list) => list.items,
        Err(e) => {
            out.push_str(&format!(
                "(cannot list pods: {})\n",
                client::describe(&e, &cluster.server)
            ));
            return out;
        }
    };
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), &target.namespace);
    let pod_events = ListParams::default().fields("involvedObject.kind=Pod");
    let events = client::retry(|| events.list(&pod_events))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let not_ready: Vec<&Pod> = pods.iter().filter(|p| !is_ready(p)).collect();
    if not_ready.is_empty() {
        out.push_str("every pod is Ready\n");
    }
    for pod in not_ready {
        out.push_str(&describe_pod(pod, &events));
    }
    out.trim_end().to_string()
}

/// One pod's diagnostics block.
#[must_use]
pub(crate) fn describe_pod(pod: &Pod, events: &[Event]) -> String {
    let name = pod.metadata.name.as_deref().unwrap_or("?");
    let status = pod.status.clone().unwrap_or_default();
    let mut out = format!(
        "pod {name}: phase {}\n",
        status.phase.as_deref().unwrap_or("Unknown")
    );
    for c in status.conditions.iter().flatten() {
        out.push_str(&format!(
            "  condition {}={}{}{}\n",
            c.type_,
            c.status,
            c.reason
                .as_deref()
                .map(|r| format!(" {r}"))
                .unwrap_or_default(),
            c.message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ));
    }
    for c in status.container_statuses.iter().flatten() {
        let state = c.state.as_ref();
        let detail = if let Some(w) = state.and_then(|s| s.waiting.as_ref()) {
            format!(
                "waiting: {} {}",
                w.reason.as_deref().unwrap_or(""),
                w.message.as_deref().unwrap_or("")
            )
        } else if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
            format!(
                "terminated: exit {} {}",
                t.exit_code,
                t.reason.as_deref().unwrap_or("")
            )
        } else {
            "running".to_string()
        };
        out.push_str(&format!(
            "  container {}: ready={} restarts={} {}\n",
            c.name,
            c.ready,
            c.restart_count,
            detail.trim_end()
        ));
    }
    let mut mine: Vec<&Event> = events
        .iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .collect();
    mine.sort_by_key(|e| event_time(e));
    let recent = &mine[mine.len().saturating_sub(EVENTS_PER_POD)..];
    if recent.is_empty() {
        out.push_str("  no recent events\n");
    }
    for e in recent {
        out.push_str(&format!(
            "  event {} {}: {}{}\n",
            e.type_.as_deref().unwrap_or("Normal"),
            e.reason.as_deref().unwrap_or(""),
            e.message.as_deref().unwrap_or("").trim_end(),
            match e.count {
                Some(n) if n > 1 => format!(" (x{n})"),
                _ => String::new(),
            }
        ));
    }
    out
}

fn event_time(e: &Event) -> Option<String> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string()))
        .or_else(|| {
            e.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(generation: i64, spec: i32, status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "generation": generation,
                         "annotations": {REVISION: "2"}},
            "spec": {"replicas": spec, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn complete_previous_rollout_is_not_reported_as_done() {
        // The status describes generation 1 completely, but we applied generation 2.
        let d = deployment(
            2,
            2,
            json!({"observedGeneration": 1, "replicas": 2,
            "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}),
        );
        assert!(matches!(state(&d, 2), State::Waiting(w) if w.contains("observe")));
        // The watched object may still carry the old generation: the applied one counts.
        let d = deployment(
            1,
            2,
            json!({"observedGeneration": 1, "replicas": 2,
            "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}),
        );
        assert!(matches!(state(&d, 2), State::Waiting(_)));
    }

    #[test]
    fn kubectl_rules_in_order() {
        let s = |st| state(&deployment(3, 2, st), 3);
        assert_eq!(
            s(
                json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 1,
                     "readyReplicas": 2, "availableReplicas": 2})
            ),
            State::Waiting("1 of 2 new replicas updated".into())
        );
        assert!(matches!(
            s(json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 2,
                     "readyReplicas": 2, "availableReplicas": 2})),
            State::Waiting(w) if w.contains("1 old replica(s) pending termination")
        ));
        assert!(matches!(
            s(json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2,
                     "readyReplicas": 1, "availableReplicas": 1})),
            State::Waiting(w) if w.contains("1 of 2 updated replicas available")
        ));
        assert_eq!(
            s(
                json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2,
                     "readyReplicas": 2, "availableReplicas": 2, "conditions": complete()})
            ),
            State::Done
        );
    }

    /// The conditions of a Deployment whose rollout the controller calls complete.
    fn complete() -> serde_json::Value {
        json!([
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}])
    }

    #[test]
    fn counts_alone_are_not_done_without_the_kstatus_conditions() {
        let counts = json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2,
            "readyReplicas": 2, "availableReplicas": 2});
        let with = |conditions: serde_json::Value| {
            let mut status = counts.clone();
            status["conditions"] = conditions;
            state(&deployment(3, 2, status), 3)
        };
        assert!(matches!(with(json!([])), State::Waiting(w) if w.contains("Available")));
        assert!(matches!(
            with(json!([{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
                        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}])),
            State::Waiting(w) if w.contains("Available")
        ));
        // Still progressing (e.g. minReadySeconds not yet over): not done.
        assert!(matches!(
            with(json!([{"type": "Available", "status": "True"},
                        {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}])),
            State::Waiting(w) if w.contains("NewReplicaSetAvailable")
        ));
        assert_eq!(with(complete()), State::Done);
    }

    #[test]
    fn progress_deadline_fails_at_once() {
        let d = deployment(
            1,
            2,
            json!({"observedGeneration": 1, "replicas": 2,
            "updatedReplicas": 1, "conditions": [{"type": "Progressing", "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": "ReplicaSet \"web-1\" has timed out progressing."}]}),
        );
        assert!(matches!(state(&d, 1), State::Failed(f) if f.contains("progress deadline")));
    }

    #[test]
    fn progress_counts_ready_and_updated_against_the_spec() {
        let d = deployment(
            2,
            3,
            json!({"observedGeneration": 2, "replicas": 4,
            "updatedReplicas": 2, "readyReplicas": 3, "availableReplicas": 3}),
        );
        assert_eq!(counts(&d), "3 ready (3 desired), 2 updated");
    }

    #[test]
    fn zero_replicas_is_done_once_observed() {
        let d = deployment(
            4,
            0,
            json!({"observedGeneration": 4, "conditions": complete()}),
        );
        assert_eq!(state(&d, 4), State::Done);
    }

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "web-1"}, "status": status})).unwrap()
    }

    #[test]
    fn stuck_pods_are_recognised() {
        let p = pod(
            json!({"phase": "Pending", "containerStatuses": [{"name": "app",
            "ready": false, "restartCount": 0, "image": "x", "imageID": "",
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"x:nope\""}}}]}),
        );
        let reason = stuck_reason(&p).unwrap();
        assert!(reason.contains("ImagePullBackOff"), "{reason}");
        let p = pod(
            json!({"phase": "Pending", "containerStatuses": [{"name": "app",
            "ready": false, "restartCount": 0, "image": "x", "imageID": "",
            "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
        );
        assert_eq!(stuck_reason(&p), None);
        // A Secret or key the pod reads is missing: the kubelet will not start it.
        let p = pod(
            json!({"phase": "Pending", "containerStatuses": [{"name": "app",
            "ready": false, "restartCount": 0, "image": "x", "imageID": "",
            "state": {"waiting": {"reason": "CreateContainerConfigError",
            "message": "couldn't find key database-url in Secret ns/gpt-secrets-0a1b2c3d"}}}]}),
        );
        let now = Timestamp::now();
        assert!(matches!(pod_verdict(&p, now),
            PodVerdict::Stuck(r) if r.contains("CreateContainerConfigError") && r.contains("couldn't find key")));
    }

    #[test]
    fn an_unschedulable_pod_fails_after_its_grace() {
        let since: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let p = pod(
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
            "status": "False", "reason": "Unschedulable", "lastTransitionTime": "2026-01-01T00:00:00Z",
            "message": "0/3 nodes are available: 3 Insufficient cpu."}]}),
        );
        let at = |secs: i64| {
            since
                .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(secs))
                .unwrap()
        };
        assert_eq!(pod_verdict(&p, at(10)), PodVerdict::RecheckAt(at(30)));
        assert!(matches!(pod_verdict(&p, at(31)),
            PodVerdict::Stuck(r) if r.contains("Unschedulable for 31s") && r.contains("Insufficient cpu")));
        // Scheduled, or merely not yet looked at by the scheduler: nothing to say.
        let scheduled = pod(
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
            "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}),
        );
        assert_eq!(pod_verdict(&scheduled, at(100)), PodVerdict::Fine);
        let gated = pod(
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
            "status": "False", "reason": "SchedulingGated", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}),
        );
        assert_eq!(pod_verdict(&gated, at(100)), PodVerdict::Fine);
    }

    #[test]
    fn pod_description_has_phase_conditions_and_events() {
        let p = pod(json!({"phase": "Running", "conditions": [
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
             "message": "containers with unready status: [app]"}],
            "containerStatuses": [{"name": "app", "ready": false, "restartCount": 3,
             "image": "x", "imageID": "", "state": {"running": {}}}]}));
        assert!(!is_ready(&p));
        let events: Vec<Event> = (0..7)
            .map(|i| {
                serde_json::from_value(json!({
                    "metadata": {"name": format!("e{i}")},
                    "involvedObject": {"kind": "Pod", "name": "web-1"},
                    "reason": format!("R{i}"), "message": "Readiness probe failed",
                    "type": "Warning", "count": 2,
                    "lastTimestamp": format!("2026-01-01T00:00:0{i}Z")}))
                .unwrap()
            })
            .collect();
        let text = describe_pod(&p, &events);
        assert!(text.starts_with("pod web-1: phase Running"), "{text}");
        assert!(
            text.contains(
                "condition Ready=False ContainersNotReady: containers with unready status"
            ),
            "{text}"
        );
        assert!(
            text.contains("container app: ready=false restarts=3 running"),
            "{text}"
        );
        assert!(
            text.contains("event Warning R6: Readiness probe failed (x2)"),
            "{text}"
        );
        assert!(!text.contains("R1:"), "only the most recent events: {text}");
    }

    #[test]
    fn target_comes_from_the_applied_object() {
        let v = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "generation": 3},
            "spec": {"selector": {"matchLabels": {"app": "web", "tier": "api"}},
                     "template": {"metadata": {}, "spec": {"containers": []}}}});
        let t = Target::from_applied(&v).unwrap();
        assert_eq!(t.generation, 3);
        assert_eq!(t.selector, "app=web,tier=api");
    }
}

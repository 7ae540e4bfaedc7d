//! `gpt-deploy diff`: what `apply` would change, as a unified diff per object.
//!
//! The "after" side is the server's own answer to the same unforced dry-run apply as the
//! deploy's preflight (defaults, admission and merges included; conflicts and immutable
//! fields are reported as such, exit 3), the "before" side the live object; both lose managed fields, status
//! and other server bookkeeping. Secret values never appear: each is `***`, and a changed
//! value shows as `*** (before)` / `*** (after)`, as `kubectl diff` does.

use std::io::Write as _;

use owo_colors::OwoColorize as _;
use serde_json::Value;
use similar::TextDiff;

use super::apply::{self, Set};
use super::preflight::{self, CheckOptions};
use super::resources::ObjectId;
use super::{Error, Result};
use super::{deploy, prune, retire};
use crate::cli::DiffArgs;

/// The mask shown instead of a secret value.
const MASK: &str = "***";

/// Removes what only adds noise to a diff.
#[must_use]
pub(crate) fn normalize(value: &Value) -> Value {
    apply::comparable(value)
}

/// Masks the values of a Secret's `data`/`stringData` on both sides, keeping "changed" visible.
pub(crate) fn mask_secrets(live: Option<&mut Value>, merged: Option<&mut Value>) {
    let is_secret = |v: &Option<&mut Value>| {
        v.as_ref()
            .is_some_and(|v| v["kind"].as_str() == Some("Secret"))
    };
    if !is_secret(&live) && !is_secret(&merged) {
        return;
    }
    let mut live = live;
    let mut merged = merged;
    for field in ["data", "stringData"] {
        let before = live
            .as_deref()
            .and_then(|v| v.get(field))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let after = merged
            .as_deref()
            .and_then(|v| v.get(field))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mask_side = |side: &mut Option<&mut Value>,
                         this: &serde_json::Map<String, Value>,
                         other: &serde_json::Map<String, Value>,
                         label: &str| {
            if let Some(map) = side
                .as_deref_mut()
                .and_then(|v| v.get_mut(field))
                .and_then(Value::as_object_mut)
            {
                for (key, value) in map.iter_mut() {
                    let differs = other.get(key).is_some_and(|o| Some(o) != this.get(key));
                    *value = Value::String(if differs {
                        format!("{MASK} ({label})")
                    } else {
                        MASK.to_string()
                    });
                }
            }
        };
        mask_side(&mut live, &before, &after, "before");
        mask_side(&mut merged, &after, &before, "after");
    }
}

/// A unified diff between two YAML texts, or `None` when they are equal.
#[must_use]
pub(crate) fn unified(
    before: &str,
    after: &str,
    name_before: &str,
    name_after: &str,
) -> Option<String> {
    if before == after {
        return None;
    }
    let diff = TextDiff::from_lines(before, after);
    Some(
        diff.unified_diff()
            .context_radius(3)
            .header(name_before, name_after)
            .to_string(),
    )
}

/// Colours a unified diff for a terminal.
#[must_use]
pub(crate) fn colorize(diff: &str) -> String {
    let mut out = String::with_capacity(diff.len() + 64);
    for line in diff.split_inclusive('\n') {
        let (text, newline) = line.strip_suffix('\n').map_or((line, ""), |t| (t, "\n"));
        let painted = if text.starts_with("+++") || text.starts_with("---") {
            text.bold().to_string()
        } else if text.starts_with('+') {
            text.green().to_string()
        } else if text.starts_with('-') {
            text.red().to_string()
        } else if text.starts_with("@@") {
            text.cyan().to_string()
        } else {
            text.to_string()
        };
        out.push_str(&painted);
        out.push_str(newline);
    }
    out
}

/// YAML for one side of the diff (empty for an absent object).
fn side(value: Option<&Value>) -> String {
    value
        .map(crate::render::yaml::to_string)
        .unwrap_or_default()
}

/// Says on stderr when the rendered Secret is a new version of the one the live Deployment
/// reads, naming the keys whose values differ (compared by keyed hash, never shown).
async fn note_new_version(ctx: &deploy::Context, prepared: &[preflight::Prepared]) -> Result<()> {
    let Some(secret) = prepared.iter().find(|p| p.id.kind == "Secret") else {
        return Ok(());
    };
    let Some((live_name, live)) = super::drift::live_secret(ctx, prepared).await? else {
        return Ok(());
    };
    if live_name == secret.id.name {
        return Ok(());
    }
    let changed = changed_keys(&live, &secret.body);
    eprintln!(
        "{} would be a new version of {live_name} (values changed: {}); the pods would roll, and {live_name} stays for the pods that read it",
        secret.id,
        if changed.is_empty() {
            "none".to_string()
        } else {
            changed.join(", ")
        }
    );
    Ok(())
}

/// Keys of `after`'s data that `before` lacks or holds another value for, by keyed hash.
fn changed_keys(before: &Value, after: &Value) -> Vec<String> {
    let hasher = crate::secret::KeyedHash::random();
    let fingerprint = |v: &Value| hasher.fingerprint(v.as_str().unwrap_or_default().as_bytes());
    let old = before["data"].as_object();
    after["data"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(key, value)| {
            old.and_then(|o| o.get(key.as_str()))
                .is_none_or(|o| fingerprint(o) != fingerprint(value))
        })
        .map(|(key, _)| key.clone())
        .collect()
}

/// The diff of one object, secrets masked; `None` when nothing changes.
#[must_use]
pub(crate) fn object_diff(id: &ObjectId, live: Option<&Value>, merged: &Value) -> Option<String> {
    let mut live = live.map(normalize);
    let mut merged = normalize(merged);
    mask_secrets(live.as_mut(), Some(&mut merged));
    let path = format!("{}/{}/{}", id.api_version, id.kind, id.name);
    unified(
        &side(live.as_ref()),
        &side(Some(&merged)),
        &format!("live/{path}"),
        &format!("merged/{path}"),
    )
}

/// The diff of a member that pruning would delete: everything goes.
#[must_use]
pub(crate) fn removal_diff(id: &ObjectId, live: &Value) -> Option<String> {
    let mut live = normalize(live);
    mask_secrets(Some(&mut live), None);
    let path = format!("{}/{}/{}", id.api_version, id.kind, id.name);
    unified(
        &side(Some(&live)),
        "",
        &format!("live/{path}"),
        &format!("pruned/{path}"),
    )
}

/// The diff of a retired object (`[[app.retire]]`): deleted after the rollout.
#[must_use]
pub(crate) fn retire_diff(id: &ObjectId, live: &Value) -> Option<String> {
    let mut live = normalize(live);
    mask_secrets(Some(&mut live), None);
    let path = format!("{}/{}/{}", id.api_version, id.kind, id.name);
    unified(
        &side(Some(&live)),
        "",
        &format!("live/{path}"),
        &format!("retired/{path}"),
    )
}

/// What a diff found, object by object, for its last line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Rendered objects that do not exist yet.
    pub(crate) created: usize,
    /// Rendered objects that exist and would change.
    pub(crate) changed: usize,
    /// Rendered objects that would not change.
    pub(crate) unchanged: usize,
    /// Members of the set that would be deleted (counted only when pruning is shown).
    pub(crate) pruned: usize,
    /// Objects of an older layout (`[[app.retire]]`) that would be deleted.
    pub(crate) retired: usize,
}

impl Tally {
    /// Whether anything would change.
    #[must_use]
    pub(crate) fn differs(&self) -> bool {
        self.created + self.changed + self.pruned + self.retired > 0
    }

    /// The last line of a diff, e.g. `2 changed, 1 would be pruned, 3 unchanged`; with
    /// `prune_shown` false it says that pruning was left out.
    #[must_use]
    pub(crate) fn line(&self, prune_shown: bool) -> String {
        let mut parts = Vec::new();
        if self.created > 0 {
            parts.push(format!("{} would be created", self.created));
        }
        parts.push(format!("{} changed", self.changed));
        if prune_shown {
            parts.push(format!("{} would be pruned", self.pruned));
        }
        if self.retired > 0 {
            parts.push(format!("{} would be retired", self.retired));
        }
        parts.push(format!("{} unchanged", self.unchanged));
        let mut line = parts.join(", ");
        if !prune_shown {
            line.push_str(" (objects that would be pruned not shown: --no-prune)");
        }
        line
    }
}

/// `gpt-deploy diff`: exit 0 when nothing would change, 1 when something would, 3 when
/// `apply` would stop (a conflict, an immutable field): the same unforced dry run as the
/// deploy's preflight decides, and such problems are reported as what they are. Members
/// that `deploy` would prune are shown unless `--no-prune`; the last line counts it all.
///
/// # Errors
/// Render, preflight or API errors.
pub(crate) async fn run(args: &DiffArgs) -> Result<u8> {
    if args.without_secret_values || args.comment {
        return super::drift::run_diff(args).await;
    }
    let ctx = deploy::Context::prepare(&args.cluster).await?;
    let namespace_exists =
        super::preflight::namespace_exists(&ctx.cluster, &ctx.plan.namespace).await?;
    let set = Set::new(&ctx.plan.app_name, &ctx.plan.namespace);
    let colour = crate::report::colour_stdout();
    let mut out = std::io::stdout().lock();
    let mut tally = Tally::default();
    let mut problems = Vec::new();
    let prepared = preflight::prepare_all(&ctx.cluster, &set.id, &ctx.plan.objects).await?;
    let options = CheckOptions {
        force_conflicts: false,
        replace_immutable: true,
    };
    let write = |text: String, out: &mut std::io::StdoutLock<'_>| -> Result<()> {
        let text = ctx.plan.redactor.redact(&text);
        let text = if colour { colorize(&text) } else { text };
        out.write_all(text.as_bytes()).map_err(Error::Output)
    };
    if namespace_exists {
        note_new_version(&ctx, &prepared).await?;
    }
    for p in &prepared {
        let (live, merged) = if namespace_exists {
            let checked = preflight::check_one(&ctx.cluster, p, options).await?;
            if let Some(problem) = checked.problem {
                problems.push(problem);
                continue;
            }
            if checked.replace {
                eprintln!(
                    "{} selects other pods than the live one: `deploy --replace-immutable` replaces it without downtime",
                    p.id
                );
            } else if !checked.adopt_from.is_empty() {
                eprintln!(
                    "{} would be adopted from {}: fields only the old manifest set are removed",
                    p.id,
                    checked.adopt_from.join(", ")
                );
            }
            let merged = checked.merged.unwrap_or_else(|| p.body.clone());
            (checked.live, merged)
        } else {
            (None, p.body.clone())
        };
        match object_diff(&p.id, live.as_ref(), &merged) {
            Some(text) => {
                if live.is_some() {
                    tally.changed += 1;
                } else {
                    tally.created += 1;
                }
                write(text, &mut out)?;
            }
            None => tally.unchanged += 1,
        }
    }
    let prune = !args.no_prune;
    if namespace_exists {
        if prune {
            let parent = apply::read_parent(&ctx.cluster, &set).await?;
            if parent.exists {
                let members =
                    prune::list_members(&ctx.cluster, &set.namespace, &set.id, &parent.group_kinds)
                        .await?;
                let rendered = prepared.iter().map(|p| p.id.clone()).collect();
                let recent =
                    super::versions::recent(&ctx.cluster, &ctx.plan.app_name, &ctx.plan.namespace)
                        .await?;
                let (delete, _kept) = prune::candidates(&members, &rendered, &recent);
                for id in delete {
                    if let Some(text) = removal_diff(&id, &members[&id]) {
                        tally.pruned += 1;
                        write(text, &mut out)?;
                    }
                }
            }
        }
        let retired = retire::live(
            &ctx.cluster,
            &retire::entries(&ctx.plan.config.app, &ctx.plan.objects),
            &ctx.plan.namespace,
        )
        .await?;
        for (id, live) in retired {
            if let Some(text) = retire_diff(&id, &live) {
                tally.retired += 1;
                write(text, &mut out)?;
            }
        }
    }
    if problems.is_empty() {
        writeln!(out, "{}", tally.line(prune)).map_err(Error::Output)?;
    }
    out.flush().map_err(Error::Output)?;
    drop(out);
    if !namespace_exists {
        eprintln!(
            "namespace {:?} does not exist yet: every object would be created",
            ctx.plan.namespace
        );
    }
    if !problems.is_empty() {
        return Err(Error::Preflight { problems });
    }
    Ok(if tally.differs() {
        crate::exit::DIFFERENCES
    } else {
        crate::exit::OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "s", "namespace": "ns"}, "data": data})
    }

    #[test]
    fn changed_keys_are_named_by_hash() {
        let before = json!({"data": {"a": "eA==", "b": "eQ=="}});
        let after = json!({"data": {"a": "eA==", "b": "eg==", "c": "dw=="}});
        assert_eq!(changed_keys(&before, &after), ["b", "c"]);
        assert!(changed_keys(&after, &after).is_empty());
    }

    #[test]
    fn secret_values_are_masked_and_changes_stay_visible() {
        let mut live = secret(json!({"a": "c2VjcmV0LW9sZA==", "b": "c2FtZQ==", "gone": "eA=="}));
        let mut merged = secret(json!({"a": "c2VjcmV0LW5ldw==", "b": "c2FtZQ==", "new": "eQ=="}));
        mask_secrets(Some(&mut live), Some(&mut merged));
        assert_eq!(
            live["data"],
            json!({"a": "*** (before)", "b": "***", "gone": "***"})
        );
        assert_eq!(
            merged["data"],
            json!({"a": "*** (after)", "b": "***", "new": "***"})
        );
    }

    #[test]
    fn changed_secret_diff_never_shows_the_value() {
        let id = ObjectId::of(&secret(json!({}))).unwrap();
        let live = secret(json!({"k": "c2VudGluZWwtb2xk"}));
        let merged = secret(json!({"k": "c2VudGluZWwtbmV3"}));
        let text = object_diff(&id, Some(&live), &merged).unwrap();
        assert!(
            text.contains("-  k: '*** (before)'") || text.contains("-  k: \"*** (before)\""),
            "{text}"
        );
        assert!(!text.contains("c2VudGluZWw"), "{text}");
        assert!(object_diff(&id, Some(&live), &live.clone()).is_none());
    }

    #[test]
    fn noise_is_not_a_difference() {
        let a = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "ns", "resourceVersion": "1",
                         "managedFields": [{"manager": "a"}], "generation": 1},
            "spec": {"replicas": 2}, "status": {"replicas": 0}});
        let mut b = a.clone();
        b["metadata"]["resourceVersion"] = json!("2");
        b["metadata"]["managedFields"] = json!([{"manager": "b"}]);
        b["status"] = json!({"replicas": 2});
        let id = ObjectId::of(&a).unwrap();
        assert!(object_diff(&id, Some(&a), &b).is_none());
        b["spec"]["replicas"] = json!(3);
        let text = object_diff(&id, Some(&a), &b).unwrap();
        assert!(
            text.starts_with("--- live/apps/v1/Deployment/d\n+++ merged/apps/v1/Deployment/d\n"),
            "{text}"
        );
        assert!(text.contains("-  replicas: 2\n+  replicas: 3\n"), "{text}");
    }

    #[test]
    fn pruned_member_diffs_to_nothing_with_values_masked() {
        let live = secret(json!({"k": "c2VudGluZWw="}));
        let id = ObjectId::of(&live).unwrap();
        let text = removal_diff(&id, &live).unwrap();
        assert!(text.contains("+++ pruned/v1/Secret/s"), "{text}");
        assert!(text.contains("-  k: '***'"), "{text}");
        assert!(!text.contains("c2VudGluZWw"), "{text}");
    }

    #[test]
    fn new_object_diffs_against_nothing() {
        let v = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "ns"}, "data": {"x": "1"}});
        let id = ObjectId::of(&v).unwrap();
        let text = object_diff(&id, None, &v).unwrap();
        assert!(text.contains("+kind: ConfigMap"), "{text}");
    }

    #[test]
    fn the_last_line_counts_every_kind_of_change() {
        let tally = Tally {
            created: 0,
            changed: 2,
            unchanged: 3,
            pruned: 1,
            retired: 0,
        };
        assert_eq!(
            tally.line(true),
            "2 changed, 1 would be pruned, 3 unchanged"
        );
        assert!(tally.differs());
        let tally = Tally {
            created: 5,
            ..Tally::default()
        };
        assert_eq!(
            tally.line(false),
            "5 would be created, 0 changed, 0 unchanged (objects that would be pruned not shown: --no-prune)"
        );
        assert!(!Tally::default().differs());
    }

    #[test]
    fn colours_only_change_lines() {
        let text = colorize("--- a\n+++ b\n@@ -1 +1 @@\n-x\n+y\n z\n");
        assert!(text.contains("\u{1b}[31m-x"), "{text:?}");
        assert!(text.contains("\u{1b}[32m+y"), "{text:?}");
        assert!(text.ends_with(" z\n"), "{text:?}");
    }
}

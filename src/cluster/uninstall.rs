//! `gpt-deploy uninstall`: deletes every member of the environment's ApplySet, then its parent.
//!
//! Membership is what pruning uses (the `part-of` label, the parent's group-kinds, written by
//! this tool's field manager), so uninstall deletes exactly what `deploy` would prune if the
//! render were empty, and nothing someone else made. Dependents go first (CronJob and
//! Deployment before the Secret they read), the parent last, so an interrupted run can be
//! repeated. The namespace stays. No secret value is needed.

use std::collections::HashSet;

use super::apply::{self, Set};
use super::client;
use super::plan;
use super::resources::ObjectId;
use super::{Error, Result, prune};
use crate::cli::UninstallArgs;
use crate::report;

/// `gpt-deploy uninstall`: with `--yes` deletes the set; with `--dry-run` has the API server
/// check every delete and persists nothing; with neither, lists what would go and refuses.
///
/// # Errors
/// [`Error::Usage`] without `--yes` (nothing deleted); configuration, kubeconfig and API errors.
pub(crate) async fn run(args: &UninstallArgs) -> Result<u8> {
    let plan = plan::load(&args.cluster())?;
    let target = args.target.client_target(plan.kube_context.as_deref());
    let cluster = client::connect(&target).await?;
    let set = Set::new(&plan.app_name, &plan.namespace);
    let parent = apply::read_parent(&cluster, &set).await?;
    if !parent.exists {
        report::note(&format!(
            "nothing to uninstall: namespace {:?} ({}) holds no ApplySet parent Secret {}",
            plan.namespace, cluster.source, set.parent
        ));
        return Ok(crate::exit::OK);
    }
    let members =
        prune::list_members(&cluster, &set.namespace, &set.id, &parent.group_kinds).await?;
    let (delete, kept) = prune::candidates(&members, &HashSet::new(), &[]);
    for line in prune::explain_kept(&kept) {
        report::warning(&line.replacen("not pruning", "not deleting", 1));
    }
    let parent_id = ObjectId {
        api_version: "v1".into(),
        kind: "Secret".into(),
        namespace: set.namespace.clone(),
        name: set.parent.clone(),
    };
    if !args.yes && !args.dry_run {
        let mut names: Vec<String> = delete.iter().map(ObjectId::short).collect();
        names.push(format!("{} (the ApplySet parent)", parent_id.short()));
        return Err(Error::Usage {
            message: format!(
                "uninstall deletes {} object(s) of environment {:?} from namespace {:?} ({}): {}; re-run with --yes to delete them, or with --dry-run to have the API server check the deletes; nothing was deleted",
                names.len(),
                plan.environment,
                plan.namespace,
                cluster.source,
                names.join(", ")
            ),
        });
    }
    let suffix = if args.dry_run {
        " (server dry run)"
    } else {
        ""
    };
    // Where, before the first delete (as apply and deploy say before the first write).
    report::note(&format!(
        "uninstall {}{suffix}: {} ({}), namespace {:?}, configuration {}",
        plan.environment, cluster.source, cluster.server, plan.namespace, plan.config.source
    ));
    for id in &delete {
        prune::delete_as(&cluster, id, args.dry_run, "delete").await?;
        report::line(&format!("{} deleted{suffix}", id.short()));
    }
    prune::delete_as(&cluster, &parent_id, args.dry_run, "delete").await?;
    report::line(&format!("{} deleted{suffix}", parent_id.short()));
    report::note(&format!(
        "{} {} from namespace {:?} ({}): {} object(s) and the ApplySet parent deleted{suffix}",
        if args.dry_run {
            "would uninstall"
        } else {
            "uninstalled"
        },
        plan.environment,
        plan.namespace,
        cluster.source,
        delete.len()
    ));
    Ok(crate::exit::OK)
}

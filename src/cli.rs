//! Command-line definitions (clap derive). Parsing only: no behaviour lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::engine::ArgValueCompleter;

/// `0.1.0 (commit 3f2c1ab4d5e6, built 2026-12-02)`: what `--version` and `version` print.
/// The commit is `unknown` in a build from sources without git (see build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("GPT_DEPLOY_GIT_COMMIT"),
    ", built ",
    env!("GPT_DEPLOY_BUILD_DATE"),
    ")"
);

/// Deploys gpt-service to Kubernetes and is its runtime.
#[derive(Debug, Parser)]
#[command(name = "gpt-deploy", version = VERSION, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// More detail on stderr: -v adds gpt-deploy's debug lines, -vv the libraries' too
    /// (kube, HTTP), -vvv everything at trace level.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print only errors, warnings and the output asked for (no per-object lines, no progress,
    /// no summary line).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// No colour, also on a terminal (as NO_COLOR=1 does).
    #[arg(long, global = true)]
    pub no_color: bool,
}

/// Every subcommand, operator face first, runtime face last.
///
/// `defer`: a subcommand's flags are defined only when it is the one invoked (or help,
/// completion or an error needs them all); defining all of them cost every start, the
/// short ones included, about a seventh of `render`'s instructions.
///
/// The `Args` structs below are described with `#[doc = concat!(…)]`, not doc comments:
/// clap takes a struct's doc comment as the subcommand's about, and, applied when the
/// deferred flags are defined, it would replace the one written on the variant here
/// (tests/it/cli_help.rs checks every command's help against the list).
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Render the Kubernetes manifests for one environment.
    #[command(
        after_help = "Examples:\n  gpt-deploy render --env production\n  gpt-deploy render --env staging --output json\n  gpt-deploy render --env production --out manifests/"
    )]
    Render(RenderArgs),
    /// Render every environment and report every error found.
    #[command(
        after_help = "Examples:\n  gpt-deploy validate\n  gpt-deploy validate --config ./deploy"
    )]
    Validate(ValidateArgs),
    /// Show what `apply` would change in the cluster (exit 1 when something differs).
    #[command(
        after_help = "Examples:\n  gpt-deploy diff --env staging\n  gpt-deploy diff --env production --context aks-prod --no-prune"
    )]
    Diff(DiffArgs),
    /// Compare what every environment renders at two git revisions (exit 1 when something differs).
    #[command(
        after_help = "Examples:\n  gpt-deploy preview --base origin/main\n  gpt-deploy preview --base main --head HEAD --env production --format markdown\n  gpt-deploy preview --base \"$BASE_SHA\" --head \"$HEAD_SHA\" --comment"
    )]
    Preview(PreviewArgs),
    /// Compare the cluster with what the configuration renders, without secret values (exit 1 on drift).
    #[command(
        after_help = "Examples:\n  gpt-deploy drift --env production\n  gpt-deploy drift --env staging --issue\n  gpt-deploy drift --env production --image 3f2c1ab"
    )]
    Drift(DriftArgs),
    /// Server-side apply the rendered objects to the cluster.
    #[command(
        after_help = "Examples:\n  gpt-deploy apply --env staging --wait\n  gpt-deploy apply --env production --dry-run\n  gpt-deploy apply --env production --prune --force-conflicts"
    )]
    Apply(ApplyArgs),
    /// CI entry point: preflight, apply, prune and wait for the rollout.
    #[command(
        after_help = "Examples:\n  gpt-deploy deploy --env production --image 3f2c1ab\n  gpt-deploy deploy --env staging --timeout 10m"
    )]
    Deploy(DeployArgs),
    /// Restore an earlier release from the history: its objects, image and Secret version.
    #[command(
        after_help = "Examples:\n  gpt-deploy rollback --env production\n  gpt-deploy rollback --env production --to 12 --timeout 10m"
    )]
    Rollback(RollbackArgs),
    /// Show the running release: revision, image, replicas, last cleanup, next run, drift.
    #[command(
        after_help = "Examples:\n  gpt-deploy status --env production\n  gpt-deploy status --env staging --output json"
    )]
    Status(StatusArgs),
    /// List the recorded releases (the newest last).
    #[command(
        after_help = "Examples:\n  gpt-deploy history --env production\n  gpt-deploy history --env production --output json | jq '.[-1]'"
    )]
    History(HistoryArgs),
    /// Start a token-cleanup Job from the CronJob right now.
    #[command(
        name = "cleanup-now",
        after_help = "Examples:\n  gpt-deploy cleanup-now --env production --wait"
    )]
    CleanupNow(CleanupNowArgs),
    /// Delete everything gpt-deploy applied for an environment (every member of its ApplySet,
    /// then the parent); the namespace stays.
    #[command(
        after_help = "Examples:\n  gpt-deploy uninstall --env development --dry-run\n  gpt-deploy uninstall --env development --yes"
    )]
    Uninstall(UninstallArgs),
    /// Manage the secrets of a GitHub environment.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Serve the Clerk webhook receiver (runtime face).
    #[command(
        after_help = "Examples:\n  CLERK_WEBHOOK_SECRET=whsec_... DATABASE_URL=postgres://... gpt-deploy serve\n  gpt-deploy serve --listen 127.0.0.1:8080"
    )]
    Serve(ServeArgs),
    /// Delete expired OAuth artifacts in batches (runtime face).
    #[command(
        after_help = "Examples:\n  gpt-deploy cleanup\n  gpt-deploy cleanup --dry-run\n  gpt-deploy cleanup --retention 45d --batch-size 500 --limit 100000"
    )]
    Cleanup(CleanupArgs),
    /// Apply the embedded database migrations (runtime face).
    #[command(after_help = "Examples:\n  DATABASE_URL=postgres://... gpt-deploy migrate")]
    Migrate,
    /// Print the version, the git commit and the build date.
    Version,
    /// Print a shell completion script (completes --env and --context from your files).
    #[command(
        after_help = "Examples:\n  gpt-deploy completions bash > /etc/bash_completion.d/gpt-deploy\n  echo 'source <(gpt-deploy completions bash)' >> ~/.bashrc\n  gpt-deploy completions zsh > ~/.zfunc/_gpt-deploy\n  gpt-deploy completions fish > ~/.config/fish/completions/gpt-deploy.fish"
    )]
    Completions {
        /// The shell to generate completions for.
        shell: clap_complete::Shell,
    },
}

impl Command {
    /// True for the subcommands that run inside the image (serve, cleanup, migrate).
    #[must_use]
    pub fn is_runtime(&self) -> bool {
        matches!(
            self,
            Command::Serve(_) | Command::Cleanup(_) | Command::Migrate
        )
    }
}

#[doc = concat!(" Where the configuration comes from.")]
#[derive(Debug, Clone, Args)]
pub(crate) struct ConfigArgs {
    /// Directory holding deploy.toml, environments/ and templates/
    /// [default: ./deploy.toml if present, else the copy built into the binary]
    #[arg(long, env = "GPT_DEPLOY_CONFIG", value_name = "DIR")]
    pub(crate) config: Option<PathBuf>,
}

/// Output format of `render`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// A multi-document YAML stream.
    #[default]
    Yaml,
    /// A JSON `List` object.
    Json,
}

#[doc = concat!(" Arguments of `render`.")]
#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// Environment to render (development, staging, production).
    #[arg(long, short, env = "GPT_DEPLOY_ENV", add = ArgValueCompleter::new(crate::usage::complete_environment))]
    pub(crate) env: String,
    /// Write one file per object into DIR instead of printing the stream.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Yaml)]
    pub(crate) output: OutputFormat,
    /// Print secret values instead of the redaction placeholder.
    #[arg(long)]
    pub(crate) show_secrets: bool,
    /// Image instead of the environment file's image_tag: a tag (v1.2.4), a digest
    /// (@sha256:…), or REPO:TAG / REPO@sha256:… with deploy.toml's image_repository.
    #[arg(long, value_name = "IMAGE")]
    pub(crate) image: Option<String>,
    /// Namespace of every object [default: the environment file's namespace].
    #[arg(long, short = 'n')]
    pub(crate) namespace: Option<String>,
}

#[doc = concat!(" Arguments of `validate`.")]
#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// Check only this environment (and that no other environment shares its context and
    /// namespace) [default: every environment].
    #[arg(long, short, add = ArgValueCompleter::new(crate::usage::complete_environment))]
    pub(crate) env: Option<String>,
}

#[doc = concat!(" How to reach the cluster, and which environment, for the commands that render and apply")]
#[doc = concat!(" (`--image` on top of [`TargetArgs`]).")]
#[derive(Debug, Clone, Args)]
#[command(mut_arg("env", |a| a.help("Environment to deploy (development, staging, production)")))]
#[command(mut_arg("namespace", |a| {
    a.help("Namespace to deploy into [default: the environment file's namespace]")
}))]
pub struct ClusterArgs {
    /// The environment and its cluster.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Image instead of the environment file's image_tag: a tag (v1.2.4), a digest
    /// (@sha256:…), or REPO:TAG / REPO@sha256:… with deploy.toml's image_repository.
    #[arg(long, value_name = "IMAGE")]
    pub(crate) image: Option<String>,
}

#[doc = concat!(" Arguments of `diff`.")]
#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub(crate) cluster: ClusterArgs,
    /// Leave out the members of the set that `deploy` (and `apply --prune`) would delete;
    /// by default they are shown, as `deploy` prunes by default.
    #[arg(long)]
    pub(crate) no_prune: bool,
    /// Show the members that would be pruned (the default; kept for older scripts).
    #[arg(long, hide = true, conflicts_with = "no_prune")]
    pub(crate) prune: bool,
    /// Compare without the secret values: the live Secret's values are kept, and each key
    /// whose value is in the environment is reported as changed or unchanged (by hash).
    #[arg(long)]
    pub(crate) without_secret_values: bool,
    /// Post the diff as a pull-request comment, updating the earlier one (needs GITHUB_TOKEN).
    #[arg(long)]
    pub(crate) comment: bool,
    /// Pull request to comment on [default: the one in $GITHUB_EVENT_PATH].
    #[arg(long, value_name = "N", requires = "comment")]
    pub(crate) pr: Option<u64>,
}

#[doc = concat!(" Arguments of `drift`.")]
#[derive(Debug, Clone, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub(crate) cluster: ClusterArgs,
    /// Open, update or close the GitHub issue "Drift in ENV" (needs GITHUB_TOKEN).
    #[arg(long)]
    pub(crate) issue: bool,
    /// Repository of the issue as owner/name [default: $GITHUB_REPOSITORY, then deploy.toml].
    #[arg(long, value_name = "OWNER/NAME", requires = "issue")]
    pub(crate) repo: Option<String>,
}

/// Output format of `preview`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PreviewFormat {
    /// Coloured text (the default on a terminal unless NO_COLOR is set).
    Terminal,
    /// Text without colour (the default elsewhere).
    Plain,
    /// A summary table and a collapsible diff per object, for pull requests.
    Markdown,
    /// Machine-readable: revisions, per environment the counts and each object with its diff.
    Json,
}

#[doc = concat!(" Arguments of `preview`.")]
#[derive(Debug, Clone, Args)]
pub struct PreviewArgs {
    /// The revision to compare against (branch, tag or commit), e.g. origin/main.
    #[arg(long, value_name = "REF")]
    pub(crate) base: String,
    /// The revision to preview.
    #[arg(long, value_name = "REF", default_value = "HEAD")]
    pub(crate) head: String,
    /// Only this environment; repeatable [default: every environment of either revision].
    #[arg(long, short, value_name = "ENV", add = ArgValueCompleter::new(crate::usage::complete_environment))]
    pub(crate) env: Vec<String>,
    /// The directory holding deploy.toml, environments/ and templates/ inside the repository;
    /// both revisions are read from there with git.
    #[arg(
        long,
        env = "GPT_DEPLOY_CONFIG",
        value_name = "DIR",
        default_value = "."
    )]
    pub(crate) config: PathBuf,
    /// Output format [default: terminal on a terminal, else plain].
    #[arg(long, value_enum)]
    pub(crate) format: Option<PreviewFormat>,
    /// Post the markdown as a pull-request comment, updating the earlier one (needs GITHUB_TOKEN).
    #[arg(long)]
    pub(crate) comment: bool,
    /// Pull request to comment on [default: the one in $GITHUB_EVENT_PATH].
    #[arg(long, value_name = "N", requires = "comment")]
    pub(crate) pr: Option<u64>,
    /// Repository of the pull request as owner/name [default: $GITHUB_REPOSITORY, then deploy.toml].
    #[arg(long, value_name = "OWNER/NAME", requires = "comment")]
    pub(crate) repo: Option<String>,
}

#[doc = concat!(" Arguments of `apply`.")]
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub(crate) cluster: ClusterArgs,
    /// Server-side dry run (`--dry-run` or `--dry-run=server`): validate everything with the
    /// API server, persist nothing. `--dry-run=none` is a real run.
    #[arg(long, value_name = "MODE", num_args = 0..=1, require_equals = true, default_missing_value = "server", default_value = "none", value_parser = parse_dry_run, action = clap::ArgAction::Set)]
    pub(crate) dry_run: bool,
    /// Create the namespace if it does not exist.
    #[arg(long)]
    pub(crate) create_namespace: bool,
    /// Take ownership of fields managed by someone else.
    #[arg(long)]
    pub(crate) force_conflicts: bool,
    /// Delete objects of this set that are no longer rendered.
    #[arg(long)]
    pub(crate) prune: bool,
    /// Replace a Deployment whose selector changed (delete it orphaning its pods, create
    /// the new one, switch the Service once it is ready, delete the old pods).
    #[arg(long)]
    pub(crate) replace_immutable: bool,
    /// Wait for the Deployment rollout to finish.
    #[arg(long)]
    pub(crate) wait: bool,
    /// How long to wait for the rollout (e.g. 90s, 5m; 0 for no limit); the default outlasts the
    /// Deployment's progress deadline (5m), so a stalled rollout is reported as such.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub(crate) timeout: std::time::Duration,
    /// Print the result as a document on stdout (per object: created, changed, unchanged,
    /// pruned; the rollout); the per-object lines go to stderr.
    #[arg(long, short, value_enum, value_name = "FORMAT")]
    pub(crate) output: Option<OutputFormat>,
}

#[doc = concat!(" Arguments of `deploy`.")]
#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub(crate) cluster: ClusterArgs,
    /// Create the namespace if it does not exist.
    #[arg(long)]
    pub(crate) create_namespace: bool,
    /// Take ownership of fields managed by someone else.
    #[arg(long)]
    pub(crate) force_conflicts: bool,
    /// Do not wait for the rollout (nor roll back a failed one).
    #[arg(long)]
    pub(crate) no_wait: bool,
    /// Server-side dry run of the whole deploy (`--dry-run` or `--dry-run=server`): every
    /// object and every prune is sent with dryRun=All, nothing persists, nothing is waited for.
    #[arg(long, value_name = "MODE", num_args = 0..=1, require_equals = true, default_missing_value = "server", default_value = "none", value_parser = parse_dry_run, action = clap::ArgAction::Set)]
    pub(crate) dry_run: bool,
    /// Check first that the GitHub environment holds every required secret (needs
    /// GITHUB_TOKEN or GH_TOKEN); without it, deploy makes no GitHub call.
    #[arg(long)]
    pub(crate) check_github_secrets: bool,
    /// Leave a failed rollout as it is instead of restoring the previous Deployment.
    #[arg(long)]
    pub(crate) no_rollback: bool,
    /// Do not prune objects that are no longer rendered.
    #[arg(long)]
    pub(crate) no_prune: bool,
    /// Replace a Deployment whose selector changed (delete it orphaning its pods, create
    /// the new one, switch the Service once it is ready, delete the old pods).
    #[arg(long)]
    pub(crate) replace_immutable: bool,
    /// How long to wait for the rollout (e.g. 90s, 5m; 0 for no limit); the default outlasts the
    /// Deployment's progress deadline (5m), so a stalled rollout is reported as such.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub(crate) timeout: std::time::Duration,
    /// Print the result as a document on stdout (per object: created, changed, unchanged,
    /// pruned; the rollout); the per-object lines go to stderr.
    #[arg(long, short, value_enum, value_name = "FORMAT")]
    pub(crate) output: Option<OutputFormat>,
}

#[doc = concat!(" Which environment, and how to reach its cluster: the flags every command that talks to a")]
#[doc = concat!(" cluster shares. On their own (`status`, `history`, `rollback`, `uninstall`, `cleanup-now`)")]
#[doc = concat!(" they carry no image and no secret values: what those commands need is in the cluster.")]
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// Environment (development, staging, production).
    #[arg(long, short, env = "GPT_DEPLOY_ENV", add = ArgValueCompleter::new(crate::usage::complete_environment))]
    pub(crate) env: String,
    /// Path to a kubeconfig file [default: $KUBECONFIG, then ~/.kube/config, then in-cluster].
    #[arg(long, value_name = "FILE")]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// kubeconfig context [default: the environment file's kube_context].
    #[arg(long, add = ArgValueCompleter::new(crate::usage::complete_context))]
    pub(crate) context: Option<String>,
    /// Namespace [default: the environment file's namespace].
    #[arg(long, short = 'n')]
    pub(crate) namespace: Option<String>,
    /// Longest wait for one answer of the API server: 0 for no limit, a number of seconds,
    /// or a duration (30s, 1m). A request that runs out of it is not retried.
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = crate::cluster::client::parse_request_timeout)]
    pub(crate) request_timeout: std::time::Duration,
}

impl TargetArgs {
    /// Where [`crate::cluster::client::connect`] goes: these flags, with the environment
    /// file's `kube_context` as the context when `--context` is absent.
    pub(crate) fn client_target<'a>(
        &'a self,
        default_context: Option<&'a str>,
    ) -> crate::cluster::client::Target<'a> {
        crate::cluster::client::Target {
            kubeconfig: self.kubeconfig.as_deref(),
            context: self.context.as_deref(),
            default_context,
            request_timeout: (!self.request_timeout.is_zero()).then_some(self.request_timeout),
        }
    }

    /// The same target as cluster arguments, with the image left to the configuration.
    #[must_use]
    pub(crate) fn cluster_args(&self, image: Option<String>) -> ClusterArgs {
        ClusterArgs {
            target: self.clone(),
            image,
        }
    }
}

/// Output format of `status` and `history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum ReportFormat {
    /// Aligned text for people.
    #[default]
    Text,
    /// JSON for scripts.
    Json,
}

#[doc = concat!(" Arguments of `status`.")]
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub(crate) release: TargetArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = ReportFormat::Text)]
    pub(crate) output: ReportFormat,
}

#[doc = concat!(" Arguments of `history`.")]
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub(crate) release: TargetArgs,
    /// Output format (JSON leaves out the recorded objects, naming them instead).
    #[arg(long, short, value_enum, default_value_t = ReportFormat::Text)]
    pub(crate) output: ReportFormat,
}

#[doc = concat!(" Arguments of `rollback`.")]
#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub(crate) release: TargetArgs,
    /// The revision to restore [default: the succeeded revision before the running one].
    #[arg(long, value_name = "N")]
    pub(crate) to: Option<u64>,
    /// Take ownership of fields managed by someone else.
    #[arg(long)]
    pub(crate) force_conflicts: bool,
    /// Replace a Deployment whose selector changed (as `deploy --replace-immutable`).
    #[arg(long)]
    pub(crate) replace_immutable: bool,
    /// How long to wait for the rollout (e.g. 90s, 5m).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub(crate) timeout: std::time::Duration,
    /// Print the result as a document on stdout (per object: created, changed, unchanged,
    /// pruned; the rollout); the per-object lines go to stderr.
    #[arg(long, short, value_enum, value_name = "FORMAT")]
    pub(crate) output: Option<OutputFormat>,
}

#[doc = concat!(" Arguments of `uninstall`.")]
#[derive(Debug, Clone, Args)]
#[command(mut_arg("env", |a| a.help("Environment to uninstall (development, staging, production)")))]
#[command(mut_arg("namespace", |a| {
    a.help("Namespace to uninstall from [default: the environment file's namespace]")
}))]
#[command(mut_arg("request_timeout", |a| {
    a.help("Longest wait for one answer of the API server: 0 for no limit, a number of seconds, or a duration (30s, 1m)")
}))]
pub struct UninstallArgs {
    /// The environment and its cluster.
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    /// Really delete: without it (or --dry-run) uninstall lists what would go and stops.
    #[arg(long)]
    pub(crate) yes: bool,
    /// Server-side dry run (`--dry-run` or `--dry-run=server`): the API server checks every
    /// delete, nothing is deleted; needs no --yes.
    #[arg(long, value_name = "MODE", num_args = 0..=1, require_equals = true, default_missing_value = "server", default_value = "none", value_parser = parse_dry_run, action = clap::ArgAction::Set)]
    pub(crate) dry_run: bool,
}

impl UninstallArgs {
    /// The cluster arguments these amount to (no image: nothing is rendered to be applied).
    #[must_use]
    pub(crate) fn cluster(&self) -> ClusterArgs {
        self.target.cluster_args(None)
    }
}

/// `--dry-run[=MODE]`: `server` (what a bare `--dry-run` means) or `none`; kubectl's
/// `client` is what `render` does, and is refused with that advice.
fn parse_dry_run(text: &str) -> Result<bool, String> {
    match text {
        "server" => Ok(true),
        "none" => Ok(false),
        "client" => Err(
            "a client-side dry run is what `gpt-deploy render` prints; use --dry-run=server to have the API server check everything".into(),
        ),
        other => Err(format!("{other:?} is not a dry-run mode; use server or none")),
    }
}

/// A listen address as people write it: an IP address and port, `localhost:PORT`, another
/// host name (resolved once, its first address), or `:PORT` (every IPv4 interface).
fn parse_listen(text: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let usage = "use HOST:PORT such as 0.0.0.0:8080, [::]:8080 or localhost:8080, or :8080 for every interface";
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("no port; {usage}"));
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{port:?} is not a port (0 to 65535); {usage}"))?;
    match host {
        "" => Ok(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))),
        "localhost" => Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port))),
        name => (name, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| {
                format!("{name:?} is neither an IP address nor a host name that resolves; {usage}")
            }),
    }
}

#[doc = concat!(" Arguments of `cleanup-now`.")]
#[derive(Debug, Clone, Args)]
#[command(mut_arg("env", |a| {
    a.help("Environment whose CronJob is run (development, staging, production)")
}))]
#[command(mut_arg("namespace", |a| {
    a.help("Namespace of the CronJob [default: the environment file's namespace]")
}))]
pub struct CleanupNowArgs {
    /// The environment and its cluster.
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    /// Follow the Job until it ends (exit 0 completed, 4 failed or timed out, 5 another
    /// cleanup held the lock so nothing was done).
    #[arg(long)]
    pub(crate) wait: bool,
    /// With --wait: print the last lines of the Job pod's log when it ends.
    #[arg(long, requires = "wait")]
    pub(crate) logs: bool,
    /// How long to wait for the Job (e.g. 90s, 5m).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub(crate) timeout: std::time::Duration,
}

impl CleanupNowArgs {
    /// The cluster arguments these stand for (the Job runs the live CronJob's image, so
    /// there is no `--image`).
    #[must_use]
    pub(crate) fn cluster(&self) -> ClusterArgs {
        self.target.cluster_args(None)
    }
}

/// `secrets` subcommands.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum SecretsCommand {
    /// Seal and upload the declared secrets into the GitHub environment.
    #[command(
        after_help = "Examples:\n  CLERK_WEBHOOK_SECRET=whsec_... gpt-deploy secrets sync --env production\n  gpt-deploy secrets sync --env staging --only DATABASE_URL --from-file DATABASE_URL=./db-url\n  printf %s \"$VALUE\" | gpt-deploy secrets sync --env production --only CLERK_WEBHOOK_SECRET\n  gpt-deploy secrets sync --env production --dry-run"
    )]
    Sync(SecretsSyncArgs),
    /// Check that every required secret exists in the GitHub environment (exit 1 if not).
    #[command(after_help = "Examples:\n  gpt-deploy secrets check --env production")]
    Check(SecretsCheckArgs),
}

#[doc = concat!(" GitHub connection arguments shared by the `secrets` subcommands.")]
#[derive(Debug, Clone, Args)]
pub(crate) struct GithubArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// Environment whose GitHub environment is targeted.
    #[arg(long, short, env = "GPT_DEPLOY_ENV", add = ArgValueCompleter::new(crate::usage::complete_environment))]
    pub(crate) env: String,
    /// Repository as owner/name [default: $GITHUB_REPOSITORY, then deploy.toml].
    #[arg(long, value_name = "OWNER/NAME")]
    pub(crate) repo: Option<String>,
}

#[doc = concat!(" Arguments of `secrets sync`.")]
#[derive(Debug, Clone, Args)]
pub struct SecretsSyncArgs {
    #[command(flatten)]
    pub(crate) github: GithubArgs,
    /// Only sync these secrets (by GitHub secret name); repeatable.
    #[arg(long, value_name = "NAME")]
    pub(crate) only: Vec<String>,
    /// Read a secret's value from a file instead of the environment; repeatable.
    #[arg(long, value_name = "NAME=PATH")]
    pub(crate) from_file: Vec<String>,
    /// Say what would change without uploading anything.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Create the GitHub environment if it does not exist.
    #[arg(long)]
    pub(crate) create_environment: bool,
}

#[doc = concat!(" Arguments of `secrets check`.")]
#[derive(Debug, Clone, Args)]
pub struct SecretsCheckArgs {
    #[command(flatten)]
    pub(crate) github: GithubArgs,
}

#[doc = concat!(" Arguments of `serve`.")]
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on: HOST:PORT (`0.0.0.0:8080`, `[::]:8080`, `localhost:8080`), or
    /// `:PORT` for every IPv4 interface.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8080", value_parser = parse_listen)]
    pub(crate) listen: std::net::SocketAddr,
    /// After SIGTERM, keep serving this long with /readyz failing, so the Service stops
    /// routing here before the listener closes (e.g. 5s).
    #[arg(long, env = "SHUTDOWN_DELAY", default_value = "0s", value_parser = humantime::parse_duration)]
    pub(crate) shutdown_delay: std::time::Duration,
    /// After the listener closes, how long in-flight requests may take before the process exits
    /// anyway (keep it below the pod's terminationGracePeriodSeconds).
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value = "20s", value_parser = humantime::parse_duration)]
    pub(crate) shutdown_timeout: std::time::Duration,
    /// How long a delivery waits for a database connection before answering 503.
    #[arg(long, env = "DATABASE_TIMEOUT", default_value = "3s", value_parser = humantime::parse_duration)]
    pub(crate) database_timeout: std::time::Duration,
    /// Longest database statement of a delivery (PostgreSQL statement_timeout); past it the
    /// delivery answers 503 and Clerk retries.
    #[arg(long, env = "DATABASE_STATEMENT_TIMEOUT", default_value = "2s", value_parser = humantime::parse_duration)]
    pub(crate) database_statement_timeout: std::time::Duration,
    /// Longest wait for a row lock held by someone else (PostgreSQL lock_timeout); past it the
    /// delivery answers 503 and Clerk retries.
    #[arg(long, env = "DATABASE_LOCK_TIMEOUT", default_value = "1s", value_parser = humantime::parse_duration)]
    pub(crate) database_lock_timeout: std::time::Duration,
    #[command(flatten)]
    pub(crate) limits: ServeLimits,
}

#[doc = concat!(" Bounds on what one client can make `serve` hold (time, memory, tasks).")]
#[derive(Debug, Clone, Args)]
pub struct ServeLimits {
    /// A connection that has not sent a complete request head this long after connecting (or
    /// after its previous response) is closed; also bounds idle keep-alive connections.
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub(crate) header_read_timeout: std::time::Duration,
    /// A request body not received in full within this time is answered 408.
    #[arg(long, env = "BODY_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub(crate) body_read_timeout: std::time::Duration,
    /// A delivery not handled within this time (after its body arrived) is answered 503.
    #[arg(long, env = "HANDLER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub(crate) handler_timeout: std::time::Duration,
    /// Webhook deliveries handled at once; more are answered 503 with Retry-After.
    #[arg(long, env = "MAX_CONCURRENT_REQUESTS", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub(crate) max_concurrent_requests: u32,
    /// Memory for request bodies being received, in MiB, reserved by Content-Length (1 MiB
    /// without one); a delivery that does not fit is answered 503 with Retry-After.
    #[arg(long, env = "BODY_MEMORY_MIB", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub(crate) body_memory_mib: u32,
    /// Open connections at once; more are closed as soon as they are accepted.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub(crate) max_connections: u32,
}

#[doc = concat!(" Arguments of `cleanup`.")]
#[derive(Debug, Clone, Args)]
pub struct CleanupArgs {
    /// Delete artifacts that expired (or were revoked) longer ago than this (e.g. 30d, 12h).
    #[arg(long, env = "CLEANUP_RETENTION", default_value = "30d")]
    pub(crate) retention: String,
    /// Rows deleted per batch (each batch is its own transaction).
    #[arg(long, env = "CLEANUP_BATCH_SIZE", default_value_t = 1000)]
    pub(crate) batch_size: i64,
    /// Maximum rows deleted per table in this run.
    #[arg(long, env = "CLEANUP_LIMIT")]
    pub(crate) limit: Option<i64>,
    /// Count what would be deleted, delete nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Time limit of each batch statement (PostgreSQL statement_timeout).
    #[arg(long, env = "CLEANUP_STATEMENT_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub(crate) statement_timeout: std::time::Duration,
    /// How long transient database failures (refused or dropped connections,
    /// timeouts) are retried, with backoff, before the run fails.
    #[arg(long, env = "CLEANUP_RETRY_FOR", default_value = "60s", value_parser = humantime::parse_duration)]
    pub(crate) retry_for: std::time::Duration,
    /// Apply the retention as of this past instant (RFC 3339) instead of now;
    /// for reproducing a run. Instants after the database's clock are refused.
    #[arg(long, value_name = "TIMESTAMP")]
    pub(crate) as_of: Option<String>,
    /// How each table is walked: `auto` asks the planner's statistics per table.
    #[arg(long, env = "CLEANUP_WALK", value_enum, default_value_t = CleanupWalk::Auto)]
    pub(crate) walk: CleanupWalk,
}

/// How `cleanup` walks a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum CleanupWalk {
    /// The heap walk where eligible rows are dense or scattered over the heap,
    /// the index walk where they are few and gathered.
    #[default]
    Auto,
    /// Along the timestamp indexes, oldest first.
    Index,
    /// Through the heap in physical order, with TID range scans.
    Heap,
}

#[cfg(test)]
mod tests {
    use super::parse_listen;

    #[test]
    fn listen_addresses_are_read_as_people_write_them() {
        let ok = |t: &str| parse_listen(t).unwrap().to_string();
        assert_eq!(ok("0.0.0.0:8080"), "0.0.0.0:8080");
        assert_eq!(ok("[::]:8080"), "[::]:8080");
        assert_eq!(ok(":8080"), "0.0.0.0:8080");
        assert_eq!(ok("localhost:8080"), "127.0.0.1:8080");
        for bad in [
            "8080",
            "localhost",
            ":http",
            "0.0.0.0:99999",
            "no such host.invalid:80",
        ] {
            let err = parse_listen(bad).unwrap_err();
            assert!(err.contains("HOST:PORT"), "{bad}: {err}");
        }
    }
}

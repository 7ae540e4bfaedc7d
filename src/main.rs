//! Binary entry point: parse the CLI, initialise logging, dispatch, map errors to exit codes.

use std::io::IsTerminal;
use std::process::ExitCode;

use gpt_deploy::cli::{Command, SecretsCommand};
use gpt_deploy::{Failure, cluster, exit, github, preview, render, runtime, usage};

fn main() -> ExitCode {
    usage::complete_if_asked();
    let cli = usage::parse();
    gpt_deploy::init_crypto();
    gpt_deploy::report::configure(cli.no_color, cli.quiet);
    if let Ok(format) = std::env::var("LOG_FORMAT")
        && !matches!(format.trim(), "" | "json" | "text" | "pretty")
    {
        eprintln!(
            "error: LOG_FORMAT={format:?} is not understood; use json or text (or leave it unset)"
        );
        return ExitCode::from(exit::CONFIG);
    }
    // Held to the end of `main`: dropping it writes out the queued log lines.
    let _log_guard = init_tracing(
        cli.command.is_runtime(),
        cli.verbose,
        matches!(cli.command, Command::Serve(_)),
    );
    match cli.command {
        Command::Render(args) => finish(render::cmd_render(&args)),
        Command::Validate(args) => finish(render::cmd_validate(&args)),
        Command::Version => {
            println!("gpt-deploy {}", gpt_deploy::cli::VERSION);
            ExitCode::SUCCESS
        }
        Command::Completions { shell } => {
            match usage::write_completions(shell, &mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: cannot write the completion script: {e}");
                    ExitCode::from(exit::API)
                }
            }
        }
        command => run_async(command),
    }
}

/// The commands that talk to a cluster, GitHub or PostgreSQL, on a tokio runtime.
///
/// Not inlined: the future of every such command lives in this frame (tens of kB), and
/// stack probes touch every page of a frame, so in `main` it cost the short commands
/// (`render`, `--version`) a page fault per 4 kB of it on every start.
#[inline(never)]
fn run_async(command: Command) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::API);
        }
    };
    rt.block_on(dispatch_async(command))
}

async fn dispatch_async(command: Command) -> ExitCode {
    match command {
        Command::Diff(args) => finish(cluster::cmd_diff(&args).await),
        Command::Preview(args) => finish(preview::cmd_preview(&args).await),
        Command::Drift(args) => finish(cluster::cmd_drift(&args).await),
        Command::Apply(args) => finish(cluster::cmd_apply(&args).await),
        Command::Deploy(args) => finish(cluster::cmd_deploy(&args).await),
        Command::CleanupNow(args) => finish(cluster::cmd_cleanup_now(&args).await),
        Command::Uninstall(args) => finish(cluster::cmd_uninstall(&args).await),
        Command::Status(args) => finish(cluster::cmd_status(&args).await),
        Command::History(args) => finish(cluster::cmd_history(&args).await),
        Command::Rollback(args) => finish(cluster::cmd_rollback(&args).await),
        Command::Secrets(SecretsCommand::Sync(args)) => finish(github::cmd_sync(&args).await),
        Command::Secrets(SecretsCommand::Check(args)) => finish(github::cmd_check(&args).await),
        Command::Serve(args) => finish(runtime::cmd_serve(&args).await),
        Command::Cleanup(args) => finish(runtime::cmd_cleanup(&args).await),
        Command::Migrate => finish(runtime::cmd_migrate().await),
        Command::Render(_)
        | Command::Validate(_)
        | Command::Version
        | Command::Completions { .. } => {
            unreachable!("synchronous commands are dispatched in main")
        }
    }
}

/// One exit-code policy for every command: print the error with its causes, exit with its code.
fn finish<E: Failure>(result: Result<u8, E>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) if err.is_broken_pipe() => ExitCode::SUCCESS,
        Err(err) => {
            gpt_deploy::report::error(&format!("error: {}", gpt_deploy::report::caused_by(&err)));
            ExitCode::from(err.exit_code())
        }
    }
}

/// Human logs on a terminal; JSON when `LOG_FORMAT=json`, or for the runtime face off a terminal.
/// `-v` adds gpt-deploy's debug lines, `-vv` the libraries', `-vvv` everything at trace level.
/// `serve` (`queued`) logs through a bounded queue written by its own thread, so no request
/// waits on stderr; the returned guard writes out the queue at exit.
fn init_tracing(
    runtime_face: bool,
    verbose: u8,
    queued: bool,
) -> Option<runtime::log_writer::Guard> {
    use tracing_subscriber::EnvFilter;
    // Operator commands show only their own warnings: libraries (kube-rs, octocrab, hyper)
    // log raw ERROR/WARN lines for failures that our error message already explains.
    // RUST_LOG brings them back for debugging.
    let default = match (verbose, runtime_face) {
        (0, true) => "info",
        (0, false) => "off,gpt_deploy=warn",
        (1, true) => "info,gpt_deploy=debug",
        (1, false) => "off,gpt_deploy=debug",
        (2, _) => "debug",
        _ => "trace",
    };
    // -v wins over RUST_LOG: it was typed for this run.
    let filter = match EnvFilter::try_from_default_env() {
        Ok(filter) if verbose == 0 => filter,
        _ => EnvFilter::new(default),
    };
    let json = match std::env::var("LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") | Ok("pretty") => false,
        _ => runtime_face && !std::io::stderr().is_terminal(),
    };
    let ansi = std::io::stderr().is_terminal() && gpt_deploy::report::colour_allowed();
    if queued {
        match runtime::log_writer::stderr(runtime::log_writer::QUEUE_LINES) {
            Ok((writer, guard)) => {
                install(filter, json, ansi, writer);
                return Some(guard);
            }
            Err(e) => eprintln!("warning: logging synchronously: cannot start the log writer: {e}"),
        }
    }
    install(filter, json, ansi, std::io::stderr);
    None
}

fn install<W>(filter: tracing_subscriber::EnvFilter, json: bool, ansi: bool, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.with_ansi(ansi).init();
    }
}

//! Binary entry point: parse the CLI, initialise logging, dispatch, map errors to exit codes.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use gpt_deploy::cli::{Cli, Command, SecretsCommand};
use gpt_deploy::{Failure, cluster, exit, github, preview, render, runtime};

fn main() -> ExitCode {
    let cli = Cli::parse();
    gpt_deploy::init_crypto();
    init_tracing(cli.command.is_runtime());
    match cli.command {
        Command::Render(args) => finish(render::cmd_render(&args)),
        Command::Validate(args) => finish(render::cmd_validate(&args)),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "gpt-deploy",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        command => {
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
    }
}

async fn dispatch_async(command: Command) -> ExitCode {
    match command {
        Command::Diff(args) => finish(cluster::cmd_diff(&args).await),
        Command::Preview(args) => finish(preview::cmd_preview(&args).await),
        Command::Drift(args) => finish(cluster::cmd_drift(&args).await),
        Command::Apply(args) => finish(cluster::cmd_apply(&args).await),
        Command::Deploy(args) => finish(cluster::cmd_deploy(&args).await),
        Command::CleanupNow(args) => finish(cluster::cmd_cleanup_now(&args).await),
        Command::Secrets(SecretsCommand::Sync(args)) => finish(github::cmd_sync(&args).await),
        Command::Secrets(SecretsCommand::Check(args)) => finish(github::cmd_check(&args).await),
        Command::Serve(args) => finish(runtime::serve::cmd_serve(&args).await),
        Command::Cleanup(args) => finish(runtime::cleanup::cmd_cleanup(&args).await),
        Command::Migrate => finish(runtime::db::cmd_migrate().await),
        Command::Render(_) | Command::Validate(_) | Command::Completions { .. } => {
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
            let mut message = format!("error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                message.push_str(&format!("\n  caused by: {cause}"));
                source = cause.source();
            }
            gpt_deploy::report::error(&message);
            ExitCode::from(err.exit_code())
        }
    }
}

/// Human logs on a terminal; JSON when `LOG_FORMAT=json`, or for the runtime face off a terminal.
fn init_tracing(runtime_face: bool) {
    use tracing_subscriber::EnvFilter;
    // kube-rs logs its own ERROR line for every failed request; our error says it better.
    let default = if runtime_face {
        "info"
    } else {
        "warn,kube_client::client::builder=off"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let json = match std::env::var("LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") | Ok("pretty") => false,
        _ => runtime_face && !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

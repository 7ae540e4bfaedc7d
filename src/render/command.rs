//! The `render` and `validate` commands: load, render, print or write, report.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use super::{Error, RenderOptions, Result, SecretValues, out_dir, render};
use crate::cli::{OutputFormat, RenderArgs, ValidateArgs};
use crate::config;

/// `gpt-deploy render`: print (or write with `--out`) one environment's objects.
///
/// # Errors
/// Configuration, template or check errors (exit 2); I/O errors writing the output (exit 3).
pub fn cmd_render(args: &RenderArgs) -> Result<u8> {
    let source = config::Source::resolve(args.config.config.as_deref())?;
    announce(&source);
    let mut config = config::load_from(source, &args.env)?;
    if let Some(namespace) = &args.namespace {
        // As in apply: every template reads the namespace from the environment.
        config.env.namespace.clone_from(namespace);
    }
    let options = RenderOptions {
        image_tag: args.image.clone(),
        secrets: SecretValues::from_process_env(&config),
    };
    let rendered = render(&config, &options)?;
    if args.show_secrets {
        // Without --show-secrets every value prints as the placeholder anyway.
        super::warn_missing_secrets(&config, &rendered);
    }
    match &args.out {
        Some(dir) => out_dir::write(&rendered, dir, args.output, args.show_secrets)?,
        None => {
            let text = match args.output {
                OutputFormat::Yaml => rendered.to_yaml(args.show_secrets),
                OutputFormat::Json => rendered.to_json(args.show_secrets),
            };
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(Error::Stdout)?;
            std::mem::forget(text);
        }
    }
    // The process ends here: the objects and the configuration are left to the exit rather
    // than freed value by value (a tenth of a render's instructions).
    std::mem::forget(rendered);
    std::mem::forget(config);
    Ok(crate::exit::OK)
}

/// Says on stderr which configuration is used: the built-in copy is picked silently when
/// the current directory has no deploy.toml, which surprises anyone editing files elsewhere.
fn announce(source: &config::Source) {
    eprintln!("configuration: {source}");
}

/// `gpt-deploy validate`: render every environment (or the one of `--env`), check that no
/// two environments target the same context and namespace, and report every error.
///
/// # Errors
/// [`Error::ValidationFailed`] when any environment has errors (each printed on stderr first),
/// or the configuration directory cannot be read.
pub fn cmd_validate(args: &ValidateArgs) -> Result<u8> {
    let source = config::Source::resolve(args.config.config.as_deref())?;
    announce(&source);
    let names = source.environment_names()?;
    if names.is_empty() {
        return Err(Error::Config(config::Error::NoEnvironments {
            dir: source.display_path(config::ENVIRONMENTS_DIR),
        }));
    }
    let selected: Vec<&String> = match &args.env {
        Some(env) if names.contains(env) => vec![env],
        Some(env) => {
            return Err(Error::Config(config::Error::UnknownEnvironment {
                name: env.clone(),
                known: names.clone(),
                location: source.display_path(config::ENVIRONMENTS_DIR),
            }));
        }
        None => names.iter().collect(),
    };
    // Every environment is loaded even with --env: the target check compares it with the others.
    let loaded: BTreeMap<&String, config::Result<config::Config>> = names
        .iter()
        .map(|name| (name, config::load_from(source.clone(), name)))
        .collect();
    let clashes = target_clashes(&loaded);
    let mut failed = 0;
    // deploy.toml and template errors repeat for every environment; print each once.
    let mut printed = BTreeSet::new();
    let mut stdout = std::io::stdout().lock();
    for name in selected.iter().copied() {
        let mut errors = Vec::new();
        let mut objects = Vec::new();
        match &loaded[name] {
            Err(err) => errors.push(crate::report::with_causes(err)),
            // Values are not needed to check the shape; the placeholder stands in.
            Ok(config) => match render(config, &RenderOptions::default()) {
                Ok(rendered) => objects = rendered.objects,
                Err(err) => errors.push(crate::report::with_causes(&err)),
            },
        }
        errors.extend(clashes.get(name).cloned());
        if errors.is_empty() {
            let objects: Vec<String> = objects.iter().map(ToString::to_string).collect();
            writeln!(stdout, "ok     {name}: {}", objects.join(", ")).map_err(Error::Stdout)?;
            continue;
        }
        failed += 1;
        writeln!(stdout, "FAILED {name}").map_err(Error::Stdout)?;
        for key in errors {
            let message = format!("error: environment {name}: {key}");
            if printed.insert(key) {
                crate::report::error(&message);
            } else {
                crate::report::error(&format!("error: environment {name}: same problem as above"));
            }
        }
    }
    if failed > 0 {
        return Err(Error::ValidationFailed {
            failed,
            total: selected.len(),
        });
    }
    Ok(crate::exit::OK)
}

/// For each environment that targets the same kubeconfig context and namespace as another,
/// why that is refused: both would manage one ApplySet and each deploy would prune the
/// other's objects. Environments without `kube_context` use the current context, so two of
/// them with one namespace clash too.
fn target_clashes(
    loaded: &BTreeMap<&String, config::Result<config::Config>>,
) -> BTreeMap<String, String> {
    let mut by_target: BTreeMap<(Option<&str>, &str), Vec<&str>> = BTreeMap::new();
    for config in loaded.values().filter_map(|c| c.as_ref().ok()) {
        let env = &config.env;
        by_target
            .entry((env.kube_context.as_deref(), env.namespace.as_str()))
            .or_default()
            .push(env.name.as_str());
    }
    let mut clashes = BTreeMap::new();
    for ((context, namespace), envs) in by_target.into_iter().filter(|(_, e)| e.len() > 1) {
        let context = context.map_or_else(
            || "the current kubeconfig context (no kube_context set)".to_owned(),
            |c| format!("context `{c}`"),
        );
        for env in &envs {
            let others: Vec<&str> = envs.iter().copied().filter(|o| o != env).collect();
            clashes.insert(
                (*env).to_owned(),
                format!(
                    "deploys to namespace `{namespace}` in {context}, like environment {}; they would share one ApplySet and each deploy would prune the other's objects; give each environment its own namespace or kube_context",
                    others.join(", ")
                ),
            );
        }
    }
    clashes
}

//! The `render` and `validate` commands: load, render, print or write, report.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use super::{Error, RenderOptions, Rendered, Result, render};
use crate::cli::{OutputFormat, RenderArgs, ValidateArgs};
use crate::config;

/// `gpt-deploy render`: print (or write with `--out`) one environment's objects.
///
/// # Errors
/// Configuration, template or check errors (exit 2); I/O errors writing the output (exit 3).
pub fn cmd_render(args: &RenderArgs) -> Result<u8> {
    let (config, rendered) = super::load_and_render(
        args.config.config.as_deref(),
        &args.env,
        args.image.as_deref(),
    )?;
    super::warn_missing_secrets(&config, &rendered);
    match &args.out {
        Some(dir) => write_dir(&rendered, dir, args.output, args.show_secrets)?,
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
        }
    }
    Ok(crate::exit::OK)
}

/// One file per object, named `NN-kind-name.yaml` so the apply order is the file order.
fn write_dir(
    rendered: &Rendered,
    dir: &Path,
    format: OutputFormat,
    show_secrets: bool,
) -> Result<()> {
    let write_error = |path: &Path| {
        let path = path.display().to_string();
        move |source| Error::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    // Everything is rendered before the first write, so a failure cannot leave half a set.
    let mut written = Vec::new();
    for (index, object) in rendered.objects.iter().enumerate() {
        let value = object.output_value(show_secrets);
        let (text, extension) = match format {
            OutputFormat::Yaml => (format!("---\n{}", super::yaml::to_string(&value)), "yaml"),
            OutputFormat::Json => {
                let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
                text.push('\n');
                (text, "json")
            }
        };
        let file = dir.join(format!(
            "{:02}-{}-{}.{extension}",
            index + 1,
            object.kind.to_lowercase(),
            object.name
        ));
        written.push((file, text));
    }
    for (file, text) in &written {
        std::fs::write(file, text).map_err(write_error(file))?;
    }
    let mut stdout = std::io::stdout().lock();
    for (file, _) in &written {
        writeln!(stdout, "wrote {}", file.display()).map_err(Error::Stdout)?;
    }
    Ok(())
}

/// `gpt-deploy validate`: render every environment and report every error.
///
/// # Errors
/// [`Error::ValidationFailed`] when any environment has errors (each printed on stderr first),
/// or the configuration directory cannot be read.
pub fn cmd_validate(args: &ValidateArgs) -> Result<u8> {
    let source = config::Source::resolve(args.config.config.as_deref())?;
    let names = source.environment_names()?;
    if names.is_empty() {
        return Err(Error::Config(config::Error::NoEnvironments {
            dir: source.display_path(config::ENVIRONMENTS_DIR),
        }));
    }
    let mut failed = 0;
    // deploy.toml and template errors repeat for every environment; print each once.
    let mut printed = BTreeSet::new();
    let mut stdout = std::io::stdout().lock();
    for name in &names {
        let result = config::load_from(source.clone(), name)
            .map_err(Error::from)
            .and_then(|config| {
                // Values are not needed to check the shape; the placeholder stands in.
                render(&config, &RenderOptions::default())
            });
        match result {
            Ok(rendered) => {
                let objects: Vec<String> =
                    rendered.objects.iter().map(ToString::to_string).collect();
                writeln!(stdout, "ok     {name}: {}", objects.join(", ")).map_err(Error::Stdout)?;
            }
            Err(err) => {
                failed += 1;
                writeln!(stdout, "FAILED {name}").map_err(Error::Stdout)?;
                let key = super::with_causes(&err);
                let message = format!("error: environment {name}: {key}");
                if printed.insert(key) {
                    crate::report::error(&message);
                } else {
                    crate::report::error(&format!(
                        "error: environment {name}: same problem as above"
                    ));
                }
            }
        }
    }
    if failed > 0 {
        return Err(Error::ValidationFailed {
            failed,
            total: names.len(),
        });
    }
    Ok(crate::exit::OK)
}

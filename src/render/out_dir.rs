//! `render --out DIR`: one file per object, named `NN-kind-name.yaml` so the apply order is
//! the file order.
//!
//! The directory is ours only if it is new, empty, or was written by an earlier
//! `render --out`: a marker file lists the files written, and a later run replaces exactly
//! those and nothing else. A directory of someone else's files is refused, so a typo in
//! `--out` cannot mix manifests into (or overwrite) an unrelated directory. Files holding
//! secret values (`--show-secrets`) are created readable by the owner only.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Error, Rendered, Result};
use crate::cli::OutputFormat;

/// Lists the files the last `render --out` wrote into the directory, one per line.
pub(crate) const MARKER: &str = ".gpt-deploy-render";

/// Writes every object of `rendered` into `dir` and prints the files written on stdout.
///
/// # Errors
/// [`Error::OutDir`] when `dir` is a file or holds files `render` did not write;
/// [`Error::Write`] for I/O errors.
pub(crate) fn write(
    rendered: &Rendered,
    dir: &Path,
    format: OutputFormat,
    show_secrets: bool,
) -> Result<()> {
    let previous = claim(dir)?;
    // Everything is serialised before the first write, so a failure cannot leave half a set.
    let mut files = Vec::new();
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
        let name = format!(
            "{:02}-{}-{}.{extension}",
            index + 1,
            object.kind.to_lowercase(),
            object.name
        );
        let secret = show_secrets && object.kind == "Secret";
        files.push((name, text, secret));
    }
    let names: BTreeSet<&str> = files.iter().map(|(n, _, _)| n.as_str()).collect();
    // A name this run writes must not be someone else's file.
    for (name, _, _) in &files {
        let path = dir.join(name);
        if path.exists() && !previous.contains(name.as_str()) {
            return Err(Error::OutDir {
                dir: dir.to_path_buf(),
                problem: format!(
                    "it holds {name}, which an earlier render --out did not write; move that file or choose another directory"
                ),
            });
        }
    }
    let write_error = |path: &Path| {
        let path = path.display().to_string();
        move |source| Error::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    // Files of the earlier run that this one does not write again (an object removed).
    for old in previous.iter().filter(|old| !names.contains(old.as_str())) {
        let path = dir.join(old);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(write_error(&path)(e)),
        }
    }
    let mut marker: String = names.iter().flat_map(|n| [*n, "\n"]).collect();
    marker.insert_str(
        0,
        "# Files written by gpt-deploy render --out; a later run replaces them.\n",
    );
    write_file(&dir.join(MARKER), &marker, false).map_err(write_error(&dir.join(MARKER)))?;
    let mut stdout = std::io::stdout().lock();
    for (name, text, secret) in &files {
        let path = dir.join(name);
        write_file(&path, text, *secret).map_err(write_error(&path))?;
        writeln!(stdout, "wrote {}", path.display()).map_err(Error::Stdout)?;
    }
    Ok(())
}

/// Checks that `dir` may be written and returns the files an earlier run wrote there.
fn claim(dir: &Path) -> Result<BTreeSet<String>> {
    let refuse = |problem: String| Error::OutDir {
        dir: dir.to_path_buf(),
        problem,
    };
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(source) => {
            return Err(Error::Write {
                path: dir.display().to_string(),
                source,
            });
        }
        Ok(meta) if !meta.is_dir() => {
            return Err(refuse(
                "--out must be a directory, and this is a file; name a new or empty directory"
                    .to_owned(),
            ));
        }
        Ok(_) => {}
    }
    let marker = dir.join(MARKER);
    match std::fs::read_to_string(&marker) {
        Ok(text) => Ok(text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            // Only plain names: a crafted marker must not make render delete elsewhere.
            .filter(|l| !l.contains('/') && !l.contains('\\') && *l != ".." && *l != ".")
            .map(str::to_owned)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let read_error = |source| Error::Write {
                path: dir.display().to_string(),
                source,
            };
            let mut entries = std::fs::read_dir(dir).map_err(read_error)?;
            if entries.next().is_some() {
                Err(refuse(
                    "it is not empty and was not written by render --out; name a new or empty directory"
                        .to_owned(),
                ))
            } else {
                Ok(BTreeSet::new())
            }
        }
        Err(source) => Err(Error::Write {
            path: marker.display().to_string(),
            source,
        }),
    }
}

/// Replaces `path` with `text`; a file with secret values is created with mode 0600 (a new
/// file, so an earlier file's wider mode does not carry over).
fn write_file(path: &PathBuf, text: &str, secret: bool) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

//! Reads the configuration (deploy.toml, environments/, templates/) of a git revision with the
//! `git` command, without touching the work tree: `rev-parse` names the commit, `ls-tree` lists
//! the files, one `cat-file --batch` reads them all.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use super::{Error, Result};
use crate::config::{DEPLOY_FILE, ENVIRONMENTS_DIR, FileSet, Source, TEMPLATES_DIR};

/// The repository and where the configuration lives inside it.
#[derive(Debug, Clone)]
pub(crate) struct Repository {
    /// The repository's top-level directory.
    top: PathBuf,
    /// The configuration directory relative to `top`, `/`-terminated (empty at the top).
    prefix: String,
}

/// A revision resolved to a commit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Revision {
    /// As given (`main`, `origin/main`, `HEAD`, a SHA).
    #[serde(rename = "ref")]
    pub(crate) name: String,
    /// The full commit id.
    pub(crate) commit: String,
}

impl Revision {
    /// The first 12 characters of the commit id.
    #[must_use]
    pub(crate) fn short(&self) -> &str {
        &self.commit[..self.commit.len().min(12)]
    }
}

impl Repository {
    /// Finds the repository holding `config_dir`.
    ///
    /// # Errors
    /// [`Error::GitMissing`], [`Error::NotARepository`].
    pub(crate) fn open(config_dir: &Path) -> Result<Self> {
        let run = |arg: &str| {
            git(config_dir, &["rev-parse", arg]).map_err(|e| match e {
                Error::Git { stderr, .. } => Error::NotARepository {
                    dir: config_dir.to_path_buf(),
                    stderr,
                },
                other => other,
            })
        };
        let top = PathBuf::from(run("--show-toplevel")?.trim_end());
        let prefix = run("--show-prefix")?.trim_end().to_owned();
        Ok(Self { top, prefix })
    }

    /// Resolves `name` to a commit.
    ///
    /// # Errors
    /// [`Error::UnknownRevision`] when it names no commit here.
    pub(crate) fn resolve(&self, name: &str) -> Result<Revision> {
        if name.starts_with('-') || name.is_empty() {
            return Err(Error::UnknownRevision {
                name: name.to_owned(),
                stderr: "a revision cannot be empty or start with '-'".to_owned(),
            });
        }
        let spec = format!("{name}^{{commit}}");
        match git(
            &self.top,
            &["rev-parse", "--verify", "--end-of-options", &spec],
        ) {
            Ok(out) => Ok(Revision {
                name: name.to_owned(),
                commit: out.trim().to_owned(),
            }),
            Err(Error::Git { stderr, .. }) => Err(Error::UnknownRevision {
                name: name.to_owned(),
                stderr,
            }),
            Err(e) => Err(e),
        }
    }

    /// The configuration files of `revision`, as a [`Source`] whose messages name files the way
    /// `git show` does (`main:deploy/environments/production.toml`).
    ///
    /// # Errors
    /// [`Error::NoConfig`] when the revision has no deploy.toml there, [`Error::NotUtf8`] for a
    /// file that is not text, [`Error::Git`] when git fails.
    pub(crate) fn source(&self, revision: &Revision) -> Result<Source> {
        let p = &self.prefix;
        let wanted = [
            format!("{p}{DEPLOY_FILE}"),
            format!("{p}{ENVIRONMENTS_DIR}"),
            format!("{p}{TEMPLATES_DIR}"),
        ];
        let mut args = vec!["ls-tree", "-r", "-z", "--full-tree", &revision.commit, "--"];
        args.extend(wanted.iter().map(String::as_str));
        let listing = git(&self.top, &args)?;
        // Each entry: "<mode> <type> <object>\t<path>\0".
        let mut entries = Vec::new();
        for entry in listing.split('\0').filter(|e| !e.is_empty()) {
            let Some((meta, path)) = entry.split_once('\t') else {
                continue;
            };
            let mut meta = meta.split(' ');
            let (mode, kind, object) = (meta.next(), meta.next(), meta.next());
            // Symbolic links (120000) and submodules are not configuration.
            if kind != Some("blob") || mode == Some("120000") {
                continue;
            }
            let Some(relative) = path.strip_prefix(p.as_str()) else {
                continue;
            };
            if let Some(object) = object {
                entries.push((relative.to_owned(), object.to_owned()));
            }
        }
        let label = format!("{}:{p}", revision.name);
        if !entries.iter().any(|(path, _)| path == DEPLOY_FILE) {
            return Err(Error::NoConfig {
                path: format!("{label}{DEPLOY_FILE}"),
                commit: revision.commit.clone(),
            });
        }
        let objects: Vec<&str> = entries.iter().map(|(_, o)| o.as_str()).collect();
        let contents = cat_blobs(&self.top, &objects)?;
        let mut files = BTreeMap::new();
        for ((path, _), bytes) in entries.into_iter().zip(contents) {
            let text = String::from_utf8(bytes).map_err(|_| Error::NotUtf8 {
                path: format!("{label}{path}"),
            })?;
            files.insert(path, text);
        }
        Ok(Source::Files(Arc::new(FileSet { label, files })))
    }
}

/// Runs git in `dir` and returns its standard output.
fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::GitMissing { source })?;
    if !output.status.success() {
        return Err(Error::Git {
            command: format!("git {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    String::from_utf8(output.stdout).map_err(|_| Error::Git {
        command: format!("git {}", args.join(" ")),
        stderr: "the output is not UTF-8".to_owned(),
    })
}

/// Reads blobs with one `git cat-file --batch`, in the order given.
fn cat_blobs(dir: &Path, objects: &[&str]) -> Result<Vec<Vec<u8>>> {
    let command = "git cat-file --batch";
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::GitMissing { source })?;
    let input: String = objects.iter().flat_map(|o| [*o, "\n"]).collect();
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // Written from a thread: git answers while it reads, and both pipes have limited buffers.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child
        .wait_with_output()
        .map_err(|source| Error::GitMissing { source })?;
    let _ = writer.join();
    let bad = |why: &str| Error::Git {
        command: command.to_owned(),
        stderr: why.to_owned(),
    };
    if !output.status.success() {
        return Err(bad(String::from_utf8_lossy(&output.stderr).trim()));
    }
    // Each answer: "<object> blob <size>\n<size bytes>\n".
    let mut rest = output.stdout.as_slice();
    let mut blobs = Vec::with_capacity(objects.len());
    for object in objects {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| bad("the output ended early"))?;
        let header = String::from_utf8_lossy(&rest[..end]).into_owned();
        let mut parts = header.split(' ');
        let (id, kind, size) = (parts.next(), parts.next(), parts.next());
        if id != Some(object) || kind != Some("blob") {
            return Err(bad(&format!("unexpected answer {header:?} for {object}")));
        }
        let size: usize = size
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(&format!("unexpected answer {header:?}")))?;
        let body = &rest[end + 1..];
        if body.len() < size + 1 {
            return Err(bad("the output ended early"));
        }
        blobs.push(body[..size].to_vec());
        rest = &body[size + 1..];
    }
    Ok(blobs)
}

//! Where configuration files come from: a directory on disk, the copy compiled into the binary,
//! or files already read into memory (e.g. from a git revision, for `preview`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use include_dir::{Dir, include_dir};

use super::{Error, Result};

/// `deploy.toml` as shipped, compiled in so the binary works from any directory.
static EMBEDDED_DEPLOY: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy.toml"));
/// `environments/*.toml` as shipped.
static EMBEDDED_ENVIRONMENTS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/environments");
/// `templates/*` as shipped.
static EMBEDDED_TEMPLATES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// The file name of the app-wide configuration.
pub(crate) const DEPLOY_FILE: &str = "deploy.toml";
/// The directory of environment overlays.
pub(crate) const ENVIRONMENTS_DIR: &str = "environments";
/// The directory of templates.
pub(crate) const TEMPLATES_DIR: &str = "templates";

/// Where the configuration was loaded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A directory holding `deploy.toml`, `environments/` and `templates/`.
    Dir(PathBuf),
    /// The copy compiled into the binary.
    Embedded,
    /// Files held in memory, e.g. read from a git revision.
    Files(Arc<FileSet>),
}

/// Configuration files held in memory, by path relative to the configuration directory
/// (`deploy.toml`, `environments/production.toml`, `templates/deployment.yaml.j2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSet {
    /// Put before each relative path in messages, e.g. `main:deploy/` so that a message names
    /// `main:deploy/environments/production.toml`, which `git show` accepts as it is.
    pub(crate) label: String,
    /// The files' contents by relative path (`/`-separated).
    pub(crate) files: BTreeMap<String, String>,
}

impl FileSet {
    /// The files directly inside `dir` (not in subdirectories), as (file name, contents).
    fn in_dir<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.files.iter().filter_map(move |(path, text)| {
            let name = path.strip_prefix(dir)?.strip_prefix('/')?;
            (!name.contains('/')).then_some((name, text.as_str()))
        })
    }
}

/// One configuration or template file, read into memory.
#[derive(Debug, Clone)]
pub(crate) struct File {
    /// How to name the file in messages (a path, or `(built-in) …`).
    pub(crate) display: String,
    /// The file's contents.
    pub(crate) text: String,
}

/// One template file, by its name inside `templates/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    /// File name inside `templates/`, e.g. `deployment.yaml.j2`.
    pub(crate) name: String,
    /// The template source.
    pub(crate) text: String,
}

impl Template {
    /// Whether this template renders objects (`*.yaml.j2`); others (`_helpers.j2`) are only imported.
    #[must_use]
    pub(crate) fn is_manifest(&self) -> bool {
        self.name.ends_with(".yaml.j2") && !self.name.starts_with('_')
    }
}

/// Says which configuration is in use, for the line commands print before they work:
/// `built-in (gpt-deploy 0.1.0)` or the directory as an absolute path (so `.` names the place).
impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Dir(dir) => {
                let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
                write!(f, "{}", absolute.display())
            }
            Source::Embedded => write!(f, "built-in (gpt-deploy {})", env!("CARGO_PKG_VERSION")),
            Source::Files(set) => write!(f, "{}", set.label),
        }
    }
}

impl Source {
    /// `--config DIR` if given (it must hold `deploy.toml`), else the current directory if it
    /// holds `deploy.toml`, else the embedded copy.
    ///
    /// # Errors
    /// [`Error::NoConfigDir`] when DIR has no `deploy.toml`.
    pub(crate) fn resolve(config_dir: Option<&Path>) -> Result<Source> {
        match config_dir {
            Some(dir) => {
                if dir.join(DEPLOY_FILE).is_file() {
                    Ok(Source::Dir(dir.to_path_buf()))
                } else {
                    Err(Error::NoConfigDir {
                        dir: dir.to_path_buf(),
                    })
                }
            }
            None if Path::new(DEPLOY_FILE).is_file() => Ok(Source::Dir(PathBuf::from("."))),
            None => Ok(Source::Embedded),
        }
    }

    /// How a file inside this source is named in messages.
    #[must_use]
    pub(crate) fn display_path(&self, relative: &str) -> String {
        match self {
            Source::Dir(dir) => dir.join(relative).display().to_string(),
            Source::Embedded => format!("(built-in) {relative}"),
            Source::Files(set) => format!("{}{relative}", set.label),
        }
    }

    /// Reads `deploy.toml`.
    ///
    /// # Errors
    /// [`Error::Read`] when the file cannot be read.
    pub(crate) fn deploy_file(&self) -> Result<File> {
        match self {
            Source::Dir(dir) => read_file(&dir.join(DEPLOY_FILE)),
            Source::Embedded => Ok(File {
                display: self.display_path(DEPLOY_FILE),
                text: EMBEDDED_DEPLOY.to_owned(),
            }),
            Source::Files(set) => match set.files.get(DEPLOY_FILE) {
                Some(text) => Ok(File {
                    display: self.display_path(DEPLOY_FILE),
                    text: text.clone(),
                }),
                None => Err(Error::Read {
                    path: self.display_path(DEPLOY_FILE),
                    source: std::io::ErrorKind::NotFound.into(),
                }),
            },
        }
    }

    /// Names of the environments (`environments/<name>.toml`), sorted.
    ///
    /// # Errors
    /// [`Error::Read`] when the directory cannot be listed.
    pub(crate) fn environment_names(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = match self {
            Source::Dir(dir) => {
                let path = dir.join(ENVIRONMENTS_DIR);
                let entries = std::fs::read_dir(&path).map_err(|source| Error::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                let mut names = Vec::new();
                for entry in entries {
                    let entry = entry.map_err(|source| Error::Read {
                        path: path.display().to_string(),
                        source,
                    })?;
                    let file_name = entry.file_name();
                    if let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(".toml")) {
                        names.push(name.to_owned());
                    }
                }
                names
            }
            Source::Embedded => EMBEDDED_ENVIRONMENTS
                .files()
                .filter_map(|f| f.path().to_str()?.strip_suffix(".toml").map(str::to_owned))
                .collect(),
            Source::Files(set) => set
                .in_dir(ENVIRONMENTS_DIR)
                .filter_map(|(name, _)| name.strip_suffix(".toml").map(str::to_owned))
                .collect(),
        };
        names.sort();
        Ok(names)
    }

    /// Reads `environments/<name>.toml`; `None` if there is no such environment.
    ///
    /// # Errors
    /// [`Error::Read`] when the file exists but cannot be read.
    pub(crate) fn environment_file(&self, name: &str) -> Result<Option<File>> {
        // Only plain names: `--env ../../etc/passwd` must not read outside environments/.
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Ok(None);
        }
        let relative = format!("{ENVIRONMENTS_DIR}/{name}.toml");
        match self {
            Source::Dir(dir) => {
                let path = dir.join(&relative);
                if path.is_file() {
                    read_file(&path).map(Some)
                } else {
                    Ok(None)
                }
            }
            Source::Embedded => Ok(EMBEDDED_ENVIRONMENTS
                .get_file(format!("{name}.toml"))
                .and_then(|f| f.contents_utf8())
                .map(|text| File {
                    display: self.display_path(&relative),
                    text: text.to_owned(),
                })),
            Source::Files(set) => Ok(set.files.get(&relative).map(|text| File {
                display: self.display_path(&relative),
                text: text.clone(),
            })),
        }
    }

    /// Every file in `templates/`, sorted by name.
    ///
    /// # Errors
    /// [`Error::Read`] when the directory or a file cannot be read, [`Error::NoTemplates`] when
    /// it holds no `*.yaml.j2` file.
    pub(crate) fn templates(&self) -> Result<Vec<Template>> {
        let mut templates = match self {
            Source::Dir(dir) => {
                let path = dir.join(TEMPLATES_DIR);
                let entries = std::fs::read_dir(&path).map_err(|source| Error::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                let mut templates = Vec::new();
                for entry in entries {
                    let entry = entry.map_err(|source| Error::Read {
                        path: path.display().to_string(),
                        source,
                    })?;
                    let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                        continue;
                    };
                    if !name.ends_with(".j2") {
                        continue;
                    }
                    let file = read_file(&entry.path())?;
                    templates.push(Template {
                        name,
                        text: file.text,
                    });
                }
                templates
            }
            Source::Embedded => EMBEDDED_TEMPLATES
                .files()
                .filter_map(|f| {
                    let name = f.path().to_str()?;
                    name.ends_with(".j2").then(|| Template {
                        name: name.to_owned(),
                        text: f.contents_utf8().unwrap_or_default().to_owned(),
                    })
                })
                .collect(),
            Source::Files(set) => set
                .in_dir(TEMPLATES_DIR)
                .filter(|(name, _)| name.ends_with(".j2"))
                .map(|(name, text)| Template {
                    name: name.to_owned(),
                    text: text.to_owned(),
                })
                .collect(),
        };
        templates.sort_by(|a, b| a.name.cmp(&b.name));
        if !templates.iter().any(Template::is_manifest) {
            return Err(Error::NoTemplates {
                dir: self.display_path(TEMPLATES_DIR),
            });
        }
        Ok(templates)
    }
}

fn read_file(path: &Path) -> Result<File> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })?;
    Ok(File {
        display: path.display().to_string(),
        text,
    })
}

/// 1-based line and column of a byte offset, counting columns in characters.
#[must_use]
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_column(text, 9), (2, 3));
        assert_eq!(line_column(text, 999), (3, 1));
    }

    #[test]
    fn embedded_copy_has_every_environment_and_template() {
        let names = Source::Embedded.environment_names().unwrap();
        assert_eq!(names, ["development", "production", "staging"]);
        let templates = Source::Embedded.templates().unwrap();
        assert!(templates.iter().any(|t| t.name == "deployment.yaml.j2"));
    }

    #[test]
    fn files_in_memory_read_like_a_directory() {
        let files = [
            ("deploy.toml", "x = 1\n"),
            ("environments/staging.toml", "a = 1\n"),
            ("environments/old/ignored.toml", ""),
            ("templates/deployment.yaml.j2", "kind: Deployment\n"),
            ("templates/README.md", "not a template"),
        ];
        let source = Source::Files(Arc::new(FileSet {
            label: "main:deploy/".into(),
            files: files
                .iter()
                .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
                .collect(),
        }));
        assert_eq!(
            source.deploy_file().unwrap().display,
            "main:deploy/deploy.toml"
        );
        assert_eq!(source.environment_names().unwrap(), ["staging"]);
        let env = source.environment_file("staging").unwrap().unwrap();
        assert_eq!(env.display, "main:deploy/environments/staging.toml");
        assert!(source.environment_file("old/ignored").unwrap().is_none());
        let templates = source.templates().unwrap();
        assert_eq!(templates.len(), 1);
        assert_eq!(templates[0].name, "deployment.yaml.j2");
        let empty = Source::Files(Arc::new(FileSet {
            label: "v1:".into(),
            files: BTreeMap::new(),
        }));
        let err = empty.deploy_file().unwrap_err();
        assert!(err.to_string().contains("v1:deploy.toml"), "{err}");
    }

    #[test]
    fn environment_names_cannot_escape_the_directory() {
        assert!(
            Source::Embedded
                .environment_file("../deploy")
                .unwrap()
                .is_none()
        );
        assert!(Source::Embedded.environment_file("").unwrap().is_none());
    }
}

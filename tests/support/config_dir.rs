//! A temporary copy of the shipped configuration (deploy.toml, environments/, templates/) to edit.

use std::path::{Path, PathBuf};

/// A copy of the shipped configuration in a temporary directory, removed on drop.
pub struct ConfigDir {
    dir: tempfile::TempDir,
}

impl ConfigDir {
    /// Copies deploy.toml, environments/ and templates/ from the crate root.
    pub fn shipped() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        std::fs::copy(root.join("deploy.toml"), dir.path().join("deploy.toml"))
            .expect("copy deploy.toml");
        for sub in ["environments", "templates"] {
            std::fs::create_dir(dir.path().join(sub)).expect("create a directory");
            for entry in std::fs::read_dir(root.join(sub)).expect("list the shipped files") {
                let entry = entry.expect("list the shipped files");
                std::fs::copy(entry.path(), dir.path().join(sub).join(entry.file_name()))
                    .expect("copy a file");
            }
        }
        Self { dir }
    }

    /// The directory, for `--config` or as working directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The directory as a string argument.
    pub fn arg(&self) -> &str {
        self.dir.path().to_str().expect("temporary paths are UTF-8")
    }

    /// Replaces the first `from` with `to` in `file` (relative to the directory).
    /// Panics if `from` is absent, so a test can never pass by editing nothing.
    #[track_caller]
    pub fn edit(&self, file: &str, from: &str, to: &str) -> &Self {
        let path = self.dir.path().join(file);
        let text = std::fs::read_to_string(&path).expect("read a configuration file");
        assert!(text.contains(from), "{file} does not contain {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write a configuration file");
        self
    }

    /// Writes `file` (relative to the directory) with `text`.
    pub fn write(&self, file: &str, text: &str) -> &Self {
        std::fs::write(self.dir.path().join(file), text).expect("write a configuration file");
        self
    }

    /// The 1-based line of the first line of `file` containing `needle`.
    #[track_caller]
    pub fn line_of(&self, file: &str, needle: &str) -> usize {
        let text =
            std::fs::read_to_string(self.dir.path().join(file)).expect("read a configuration file");
        text.lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{file} has no line containing {needle:?}"))
            + 1
    }
}

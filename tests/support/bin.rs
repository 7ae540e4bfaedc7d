//! Runs the built `gpt-deploy` binary with arguments, environment and working directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Environment variables removed from every run so the host cannot leak into results.
const SCRUBBED: [&str; 6] = [
    "GPT_DEPLOY_CONFIG",
    "GPT_DEPLOY_ENV",
    "CLERK_WEBHOOK_SECRET",
    "DATABASE_URL",
    "GITHUB_ACTIONS",
    "RUST_LOG",
];

/// What a finished run produced.
#[derive(Debug, Clone)]
pub struct Output {
    /// Standard output, as UTF-8 (lossy).
    pub stdout: String,
    /// Standard error, as UTF-8 (lossy).
    pub stderr: String,
    /// Exit code (`-1` if killed by a signal).
    pub code: i32,
}

impl Output {
    /// Panics with both streams unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "expected exit code {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// Panics unless the run succeeded.
    #[track_caller]
    pub fn success(&self) -> &Self {
        self.expect_code(0)
    }
}

/// A `gpt-deploy` invocation being built.
#[derive(Debug, Clone)]
pub struct Bin {
    program: Option<PathBuf>,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    removed: Vec<String>,
    cwd: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    close_stdout: bool,
}

/// Starts building a run of the `gpt-deploy` binary with `args`.
pub fn gpt_deploy<I, S>(args: I) -> Bin
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    Bin {
        program: None,
        args: args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
        envs: Vec::new(),
        removed: Vec::new(),
        cwd: None,
        stdin: None,
        close_stdout: false,
    }
}

impl Bin {
    /// Runs this executable instead of the debug build (e.g. the release binary).
    #[must_use]
    pub fn program(mut self, path: impl AsRef<Path>) -> Self {
        self.program = Some(path.as_ref().to_path_buf());
        self
    }

    /// Sets an environment variable for the child.
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Removes an environment variable from the child's environment.
    #[must_use]
    pub fn env_remove(mut self, key: impl Into<String>) -> Self {
        self.removed.push(key.into());
        self
    }

    /// Runs in `dir` (default: a fresh empty temporary directory, so no `deploy.toml` is found).
    #[must_use]
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Closes the read end of standard output right after the start, as `| head -0` would.
    #[must_use]
    pub fn close_stdout(mut self) -> Self {
        self.close_stdout = true;
        self
    }

    /// Starts the run without waiting for it (to signal it, see [`Running`]).
    pub fn spawn(self) -> Running {
        let cwd = tempfile::tempdir().expect("create a temporary directory");
        let program = self
            .program
            .clone()
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_gpt-deploy")));
        let mut command = Command::new(program);
        command
            .args(&self.args)
            .current_dir(self.cwd.as_deref().unwrap_or(cwd.path()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for key in SCRUBBED.iter().map(|k| k.to_string()).chain(self.removed) {
            command.env_remove(key);
        }
        for (key, value) in &self.envs {
            command.env(key, value);
        }
        let child = command.spawn().expect("start gpt-deploy");
        Running { child, _cwd: cwd }
    }

    /// Runs to completion and collects the output.
    pub fn run(self) -> Output {
        use std::io::Write;
        let empty = tempfile::tempdir().expect("create a temporary directory");
        let cwd = self
            .cwd
            .clone()
            .unwrap_or_else(|| empty.path().to_path_buf());
        let program = self
            .program
            .clone()
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_gpt-deploy")));
        let mut command = Command::new(program);
        command
            .args(&self.args)
            .current_dir(&cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for key in SCRUBBED
            .iter()
            .map(|k| k.to_string())
            .chain(self.removed.iter().cloned())
        {
            command.env_remove(key);
        }
        for (key, value) in &self.envs {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start gpt-deploy");
        if self.close_stdout {
            drop(child.stdout.take());
        }
        let input = self.stdin.unwrap_or_default();
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let writer = std::thread::spawn(move || {
            // The child may exit without reading; a broken pipe here is fine.
            let _ = stdin.write_all(&input);
        });
        let output = child.wait_with_output().expect("wait for gpt-deploy");
        let _ = writer.join();
        Output {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            code: output.status.code().unwrap_or(-1),
        }
    }
}

/// A run started by [`Bin::spawn`].
pub struct Running {
    child: std::process::Child,
    _cwd: tempfile::TempDir,
}

impl Running {
    /// Sends a signal by name (`TERM`, `INT`) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the end and collects the output.
    pub fn wait(self) -> Output {
        let output = self.child.wait_with_output().expect("wait for gpt-deploy");
        Output {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            code: output.status.code().unwrap_or(-1),
        }
    }
}

//! The one runner of the built `gpt-deploy` binary: arguments, environment, working
//! directory and standard input in; exit code and both streams out.
//!
//! ```ignore
//! let out = gpt_deploy(["render", "--env", "staging"]).env("DATABASE_URL", url).run();
//! out.success();
//! let out = gpt_deploy(["migrate"]).env("DATABASE_URL", url).output().await; // from async tests
//! let running = gpt_deploy(["serve"]).spawn(); // signal it, read its stderr, wait for it
//! ```
//!
//! One environment policy for every run: the child starts from an empty environment with
//! only `PATH` passed on (the binary runs git and kubectl); everything else is given by the
//! test with [`Bin::env`]. Nothing from the developer's shell or the CI job (a `KUBECONFIG`,
//! `GITHUB_ACTIONS`, `DATABASE_URL`, `RUST_LOG`, a `~/.kube/config` through `HOME`) reaches a
//! run by accident. The working directory is a fresh empty directory unless [`Bin::cwd`] names
//! one, so no `deploy.toml` is found by chance.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};

/// What a finished run produced.
#[derive(Clone)]
pub struct Output {
    /// Standard output, as UTF-8 (lossy).
    pub stdout: String,
    /// Standard error, as UTF-8 (lossy).
    pub stderr: String,
    /// Exit code (`-1` if killed by a signal).
    pub code: i32,
    /// The exit status.
    pub status: ExitStatus,
}

impl Output {
    fn new(output: std::process::Output) -> Self {
        Self {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            code: output.status.code().unwrap_or(-1),
            status: output.status,
        }
    }

    /// Panics with both streams unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "expected exit code {code}, got {self:?}");
        self
    }

    /// Panics unless the run succeeded.
    #[track_caller]
    pub fn success(&self) -> &Self {
        self.expect_code(0)
    }

    /// Panics with both streams unless standard error contains `text`.
    #[track_caller]
    pub fn expect_stderr(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "expected {text:?} on stderr, got {self:?}"
        );
        self
    }
}

/// Both streams in full, for assertion messages.
impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A `gpt-deploy` invocation being built.
#[derive(Debug, Clone)]
pub struct Bin {
    program: Option<PathBuf>,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    cwd: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    close_stdout: bool,
    discard_stdout: bool,
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
        cwd: None,
        stdin: None,
        close_stdout: false,
        discard_stdout: false,
    }
}

impl Bin {
    /// Runs this executable instead of the debug build (e.g. the release binary).
    #[must_use]
    pub fn program(mut self, path: impl AsRef<Path>) -> Self {
        self.program = Some(path.as_ref().to_path_buf());
        self
    }

    /// Sets an environment variable for the child (a later value for the same name wins).
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Sets several environment variables, as [`Bin::env`].
    #[must_use]
    pub fn envs<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        for (key, value) in vars {
            self = self.env(key, value);
        }
        self
    }

    /// Runs in `dir` (default: a fresh empty temporary directory, so no `deploy.toml` is found).
    #[must_use]
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Feeds `input` on standard input (default: `/dev/null`).
    #[must_use]
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// Closes the read end of standard output right after the start, as `| head -0` would.
    #[must_use]
    pub fn close_stdout(mut self) -> Self {
        self.close_stdout = true;
        self
    }

    /// Sends standard output to `/dev/null` (a long-running child whose stdout nobody reads).
    #[must_use]
    pub fn discard_stdout(mut self) -> Self {
        self.discard_stdout = true;
        self
    }

    /// The command under the environment policy of this module, in `dir`.
    fn command(&self, dir: &Path) -> Command {
        let program = self
            .program
            .clone()
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_gpt-deploy")));
        let mut command = Command::new(program);
        command
            .args(&self.args)
            .current_dir(self.cwd.as_deref().unwrap_or(dir))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(if self.discard_stdout {
                Stdio::null()
            } else {
                Stdio::piped()
            })
            .stderr(Stdio::piped());
        command
    }

    /// Starts the run without waiting for it (to signal it or read its stderr, see
    /// [`Running`]).
    pub fn spawn(self) -> Running {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let mut child = self.command(dir.path()).spawn().expect("start gpt-deploy");
        if self.close_stdout {
            drop(child.stdout.take());
        }
        let writer = self.stdin.map(|input| {
            let mut stdin = child.stdin.take().expect("stdin is piped");
            std::thread::spawn(move || {
                // The child may exit without reading; a broken pipe here is fine.
                let _ = stdin.write_all(&input);
            })
        });
        Running {
            child: Some(child),
            writer,
            _dir: dir,
        }
    }

    /// Runs to completion and collects the output.
    pub fn run(self) -> Output {
        self.spawn().wait()
    }

    /// As [`Bin::run`], off the async runtime's worker threads.
    pub async fn output(self) -> Output {
        tokio::task::spawn_blocking(move || self.run())
            .await
            .expect("the runner thread panicked")
    }
}

/// A run started by [`Bin::spawn`]; killed if dropped while still running.
pub struct Running {
    child: Option<Child>,
    writer: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Running {
    fn child(&mut self) -> &mut Child {
        self.child
            .as_mut()
            .expect("the child is waited for only once")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the child is running").id()
    }

    /// Sends a signal by name (`TERM`, `INT`) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Kills the process (SIGKILL: no chance to clean up).
    pub fn kill(&mut self) {
        let _ = self.child().kill();
    }

    /// Takes the read end of standard error, to read it while the process runs.
    pub fn take_stderr(&mut self) -> ChildStderr {
        self.child().stderr.take().expect("stderr is piped")
    }

    /// The exit status, if the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child().try_wait().expect("poll the child")
    }

    /// Waits for the end and collects the output (what is left of stderr if it was taken).
    pub fn wait(mut self) -> Output {
        let child = self
            .child
            .take()
            .expect("the child is waited for only once");
        let output = child.wait_with_output().expect("wait for gpt-deploy");
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        Output::new(output)
    }

    /// As [`Running::wait`], off the async runtime's worker threads.
    pub async fn finish(self) -> Output {
        tokio::task::spawn_blocking(move || self.wait())
            .await
            .expect("the runner thread panicked")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut()
            && child.try_wait().ok().flatten().is_none()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

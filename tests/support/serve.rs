//! The real `gpt-deploy serve` binary as a child process, plus svix signing helpers.
//!
//! ```ignore
//! let server = support::serve::Server::start(&[("CLERK_WEBHOOK_SECRET", SECRET), ("DATABASE_URL", &db.url)]);
//! let res = server.deliver(SECRET, "msg_1", support::serve::now(), body).await;
//! let logs = server.stop(); // SIGTERM, wait, every stderr line
//! ```
//!
//! The child runs under the environment policy of [`super::bin`] (only `PATH` and what is
//! given); logs are JSON (`LOG_FORMAT=json`) and captured line by line. The server listens on `127.0.0.1:0`; its real address is read
//! from its `listening` log line. A server still running when dropped is killed.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::ExitStatus;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use svix::webhooks::Webhook;

use super::bin::{Bin, Running, gpt_deploy};

/// The svix test secret of the fixed vectors.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A second valid secret (rotation).
pub const OTHER_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
/// A database URL nothing listens on (port 1 is never served here).
pub const NO_DATABASE: &str = "postgres://gpt:pw@127.0.0.1:1/gpt";
/// The webhook path.
pub const WEBHOOK: &str = "/v2/oauth/webhooks/clerk";

/// Current unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `v1,<base64>` made by svix's own signer.
pub fn sign(secret: &str, id: &str, ts: i64, body: &[u8]) -> String {
    Webhook::new(secret).unwrap().sign(id, ts, body).unwrap()
}

/// A running `gpt-deploy serve`.
pub struct Server {
    child: Running,
    /// Where it listens.
    pub addr: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
    client: reqwest::Client,
}

/// What a startup that should fail produced.
pub struct Exit {
    /// The exit status.
    pub status: ExitStatus,
    /// Everything on stderr.
    pub stderr: String,
}

fn command(env: &[(&str, &str)], args: &[&str]) -> Bin {
    gpt_deploy(["serve", "--listen", "127.0.0.1:0"].iter().chain(args))
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .discard_stdout()
}

/// Runs `serve` expecting it to exit by itself (a refused start-up).
pub fn start_fails(env: &[(&str, &str)]) -> Exit {
    let mut child = command(env, &[]).spawn();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait() {
            return Exit {
                status,
                stderr: child.wait().stderr,
            };
        }
        if Instant::now() > deadline {
            child.kill();
            panic!("gpt-deploy serve was expected to refuse to start but is still running");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Server {
    /// Starts the server with `env` (plus `LOG_FORMAT=json`) and waits until it listens.
    pub fn start(env: &[(&str, &str)]) -> Server {
        Self::start_with(env, &[])
    }

    /// Like [`Server::start`] with extra command-line arguments.
    pub fn start_with(env: &[(&str, &str)], args: &[&str]) -> Server {
        let mut child = command(env, args).spawn();
        let stderr = child.take_stderr();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && v["message"] == "listening"
                    && let Some(addr) = v["addr"].as_str()
                {
                    let _ = tx.send(addr.parse::<SocketAddr>().unwrap());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                drop(child);
                panic!(
                    "gpt-deploy serve did not start listening; its log:\n{}",
                    logs.lock().unwrap().join("\n")
                );
            }
        };
        Server {
            child,
            addr,
            logs,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    /// `http://addr/path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// The shared HTTP client (for requests that need their own headers or run concurrently).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Every stderr line so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// POSTs `body` to the webhook with the given headers; returns status and JSON answer.
    pub async fn post(&self, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, serde_json::Value) {
        let mut req = self.client.post(self.url(WEBHOOK)).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("webhook request");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        (status, json)
    }

    /// A delivery signed with `secret` under svix header names.
    pub async fn deliver(
        &self,
        secret: &str,
        id: &str,
        ts: i64,
        body: &[u8],
    ) -> (u16, serde_json::Value) {
        let sig = sign(secret, id, ts, body);
        let ts = ts.to_string();
        self.post(
            &[
                ("svix-id", id),
                ("svix-timestamp", &ts),
                ("svix-signature", &sig),
            ],
            body.to_vec(),
        )
        .await
    }

    /// GET `path`: status and body text.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let res = self.client.get(self.url(path)).send().await.expect("GET");
        (res.status().as_u16(), res.text().await.unwrap())
    }

    /// Polls `/readyz` like a kubelet until it answers 200 (at most 15 s); returns the last
    /// answer. The probe's database connection opens in the background at start, which on a
    /// loaded machine can take longer than one probe's budget.
    pub async fn wait_ready(&self) -> (u16, String) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let answer = self.get("/readyz").await;
            if answer.0 == 200 || Instant::now() > deadline {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        self.child.signal("TERM");
    }

    /// Waits for the process to exit (at most `limit`).
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait() {
                // Let the reader thread drain the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "gpt-deploy serve did not exit within {limit:?}; its log:\n{}",
                self.logs().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `limit` for an exit; `None` while it is still running.
    pub fn wait_exit_or_running(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, wait for a clean exit, and return every log line.
    pub fn stop(mut self) -> Vec<String> {
        self.sigterm();
        let status = self.wait_exit(Duration::from_secs(30));
        assert!(status.success(), "serve exited with {status}");
        self.logs()
    }
}

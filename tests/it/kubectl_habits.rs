//! Habits people bring from kubectl, on the real parts: `--dry-run[=server]`, `render -n`, a
//! `$KUBECONFIG` list naming a missing file, `--request-timeout` against a server that never
//! answers and one whose watches never answer, `-q`/`-v`, and `NO_COLOR`/`--no-color` on a real terminal (a pty from `script`).

use crate::support;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::ListParams;
use support::bin::{Bin, gpt_deploy};
use support::config_dir::ConfigDir;
use support::deploy_env::{DeployEnv, ENV, run};
use support::sentinel;

/// The cluster flags of `env` as arguments, for runs that need another shape of command line.
fn cluster_args(env: &DeployEnv, command: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        command.into(),
        "--config".into(),
        env.config.path().display().to_string(),
        "--env".into(),
        ENV.into(),
        "--kubeconfig".into(),
        env.ns.kubeconfig.display().to_string(),
        "--context".into(),
        env.context.clone(),
        "--namespace".into(),
        env.ns.name.clone(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

fn with_secrets(bin: Bin) -> Bin {
    bin.envs(sentinel::env())
}

async fn deployments(env: &DeployEnv) -> usize {
    let api: Api<Deployment> = Api::namespaced(env.ns.client(), &env.ns.name);
    api.list(&ListParams::default()).await.unwrap().items.len()
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_takes_kubectls_spelling_and_writes_nothing() {
    let env = DeployEnv::new().await;
    for (command, flag) in [("apply", "--dry-run=server"), ("deploy", "--dry-run")] {
        let out = run(env.cmd(command, &[flag])).await;
        out.success();
        assert!(
            out.stdout
                .contains("deployment.apps/gpt-service created (server dry run)"),
            "{command} {flag}: {}",
            out.stdout
        );
    }
    assert_eq!(deployments(&env).await, 0, "a dry run persists nothing");
    let out = run(env.cmd("apply", &["--dry-run=client"])).await;
    out.expect_code(2);
    assert!(out.stderr.contains("gpt-deploy render"), "{}", out.stderr);
    // `--dry-run=none` is a real run.
    run(env.cmd("apply", &["--dry-run=none"])).await.success();
    assert_eq!(deployments(&env).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn render_takes_a_namespace_like_kubectl() {
    let config = ConfigDir::shipped();
    let out = run(gpt_deploy([
        "render",
        "--config",
        config.arg(),
        "--env",
        ENV,
        "-n",
        "elsewhere",
        "--output",
        "json",
    ]))
    .await;
    out.success();
    let list: serde_json::Value = serde_json::from_str(&out.stdout).expect("a JSON list");
    let items = list["items"].as_array().expect("items");
    assert!(!items.is_empty());
    for item in items {
        assert_eq!(item["metadata"]["namespace"], "elsewhere", "{item}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kubeconfig_list_with_a_missing_file_skips_it() {
    let env = DeployEnv::new().await;
    let dir = tempfile::tempdir().unwrap();
    let list = std::env::join_paths([dir.path().join("not-there.yaml"), env.ns.kubeconfig.clone()])
        .unwrap();
    let mut args = cluster_args(&env, "diff", &[]);
    // The kubeconfig comes from $KUBECONFIG this time.
    let at = args.iter().position(|a| a == "--kubeconfig").unwrap();
    args.drain(at..at + 2);
    let out = run(with_secrets(gpt_deploy(&args)).env("KUBECONFIG", list.to_str().unwrap())).await;
    out.expect_code(1);
    assert!(out.stdout.contains("+kind: Deployment"), "{}", out.stdout);

    let only_missing = dir.path().join("not-there.yaml");
    let out =
        run(with_secrets(gpt_deploy(&args)).env("KUBECONFIG", only_missing.to_str().unwrap()))
            .await;
    out.expect_code(2);
    assert!(
        out.stderr.contains("none of the files in $KUBECONFIG"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn request_timeout_bounds_a_server_that_never_answers() {
    // Accepts connections and never says a word: a hung API server.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("hung.yaml");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: hung\n  cluster: {{server: \"https://127.0.0.1:{port}\", insecure-skip-tls-verify: true}}\nusers:\n- name: u\n  user: {{token: t}}\ncontexts:\n- name: hung\n  context: {{cluster: hung, user: u}}\ncurrent-context: hung\n"
        ),
    )
    .unwrap();
    let config = ConfigDir::shipped();
    let out = run(with_secrets(gpt_deploy([
        "diff",
        "--config",
        config.arg(),
        "--env",
        ENV,
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--context",
        "hung",
        "--request-timeout",
        "1s",
    ])))
    .await;
    out.expect_code(3);
    assert!(
        out.stderr
            .contains("no answer within 1s (--request-timeout)"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("trying again"),
        "a timed-out request is not repeated: {}",
        out.stderr
    );
}

/// An API server whose watches hang: `kubectl proxy` (plain HTTP, the test's credentials)
/// behind a proxy that forwards every request except watches, which it holds unanswered.
struct HangingWatches {
    kubectl: std::process::Child,
    kubeconfig: tempfile::NamedTempFile,
}

impl HangingWatches {
    async fn start(env: &DeployEnv) -> Self {
        use std::io::BufRead as _;
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/kubectl");
        let mut kubectl = std::process::Command::new(script)
            .arg("--kubeconfig")
            .arg(&env.ns.kubeconfig)
            .args(["proxy", "--port=0"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start kubectl proxy");
        let mut line = String::new();
        std::io::BufReader::new(kubectl.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "Starting to serve on 127.0.0.1:PORT"
        let upstream = format!(
            "http://{}",
            line.trim()
                .rsplit(' ')
                .next()
                .expect("kubectl proxy's address")
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new()
            .fallback(forward)
            .with_state((reqwest::Client::new(), upstream));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let kubeconfig = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            kubeconfig.path(),
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: h\n  cluster: {{server: \"http://127.0.0.1:{port}\"}}\nusers:\n- name: u\n  user: {{}}\ncontexts:\n- name: h\n  context: {{cluster: h, user: u}}\ncurrent-context: h\n"
            ),
        )
        .unwrap();
        Self {
            kubectl,
            kubeconfig,
        }
    }
}

impl Drop for HangingWatches {
    fn drop(&mut self) {
        let _ = self.kubectl.kill();
        let _ = self.kubectl.wait();
    }
}

async fn forward(
    axum::extract::State((client, upstream)): axum::extract::State<(reqwest::Client, String)>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let query = request.uri().query().unwrap_or_default().to_owned();
    if query
        .split('&')
        .any(|p| p == "watch=true" || p == "watch=1")
    {
        std::future::pending::<()>().await;
    }
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut outbound = client.request(parts.method, format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
            outbound = outbound.header(name, value);
        }
    }
    let answer = outbound.body(body).send().await.unwrap();
    let mut response = axum::response::Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != axum::http::header::TRANSFER_ENCODING
            && name != axum::http::header::CONTENT_LENGTH
            && name != axum::http::header::CONNECTION
        {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await.unwrap();
    response.body(axum::body::Body::from(bytes)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn request_timeout_bounds_a_watch_that_never_answers() {
    let env = DeployEnv::new().await;
    let hanging = HangingWatches::start(&env).await;
    let mut args = cluster_args(
        &env,
        "apply",
        &["--wait", "--timeout", "120s", "--request-timeout", "3s"],
    );
    let at = args.iter().position(|a| a == "--kubeconfig").unwrap();
    args[at + 1] = hanging.kubeconfig.path().display().to_string();
    let at = args.iter().position(|a| a == "--context").unwrap();
    args[at + 1] = "h".into();
    let out = run(with_secrets(gpt_deploy(&args))).await;
    // The first watch (the migration Job's) got no answer: the run stops there, an API
    // error (3), not a rollout timeout (4) after --timeout.
    out.expect_code(3);
    // Everything but the watches was answered: the config objects were applied.
    assert!(
        out.stderr
            .contains("3 of 6 objects applied before the failure"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("lost the watch on"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("no answer within 3s (--request-timeout)"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("after repeated errors") && !out.stderr.contains("retrying"),
        "a timed-out watch is not repeated: {}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn quiet_prints_nothing_but_errors_and_verbose_shows_debug_lines() {
    let env = DeployEnv::new().await;
    let out = run(env.cmd("apply", &["--quiet"])).await;
    out.success();
    assert_eq!(out.stdout, "", "no per-object lines");
    assert_eq!(out.stderr, "", "no notes");
    assert_eq!(deployments(&env).await, 1, "the apply happened");

    let out = run(env.cmd("apply", &["-v"])).await;
    out.success();
    assert!(out.stderr.contains("DEBUG"), "{}", out.stderr);
    assert!(out.stderr.contains("connected"), "{}", out.stderr);
    assert!(
        out.stdout.contains("deployment.apps/gpt-service unchanged"),
        "{}",
        out.stdout
    );
}

/// Runs `gpt-deploy ARGS` on a pseudo-terminal (util-linux `script`), stdout and stderr merged.
fn on_a_terminal(args: &[String]) -> Bin {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let line = std::iter::once(env!("CARGO_BIN_EXE_gpt-deploy").to_owned())
        .chain(args.iter().cloned())
        .map(|a| quote(&a))
        .collect::<Vec<_>>()
        .join(" ");
    gpt_deploy(["-qefc", line.as_str(), "/dev/null"]).program("script")
}

#[tokio::test(flavor = "multi_thread")]
async fn no_color_and_the_flag_turn_colour_off_on_a_terminal() {
    let env = DeployEnv::new().await;
    let args = cluster_args(&env, "diff", &[]);
    let out = run(with_secrets(on_a_terminal(&args))).await;
    out.expect_code(1);
    assert!(
        out.stdout.contains("\u{1b}[32m+kind: Deployment"),
        "coloured on a terminal: {:?}",
        out.stdout
    );
    let out = run(with_secrets(on_a_terminal(&args)).env("NO_COLOR", "1")).await;
    out.expect_code(1);
    assert!(out.stdout.contains("+kind: Deployment"), "{}", out.stdout);
    assert!(!out.stdout.contains('\u{1b}'), "NO_COLOR: {:?}", out.stdout);
    let mut flagged = args.clone();
    flagged.push("--no-color".into());
    let out = run(with_secrets(on_a_terminal(&flagged))).await;
    out.expect_code(1);
    assert!(out.stdout.contains("+kind: Deployment"), "{}", out.stdout);
    assert!(
        !out.stdout.contains('\u{1b}'),
        "--no-color: {:?}",
        out.stdout
    );
}

/// `render` prints what `kubectl apply -f -` reads, and kubectl reads YAML 1.1, where a plain
/// `yes`, `on`, `n`, `1_000` or `0x1F` is a boolean or a number: every string value must
/// reach the API server as that string.
#[tokio::test(flavor = "multi_thread")]
async fn rendered_strings_stay_strings_in_kubectl() {
    let env = DeployEnv::new().await;
    let values = [
        "yes",
        "No",
        "on",
        "OFF",
        "y",
        "n",
        "true",
        "~",
        "null",
        "<<",
        "1_000",
        "0x1F",
        "0o17",
        "1e3",
        ".5",
        "+1",
        "-1",
        "2001-12-14",
        "1:20",
        "0.0.0.0:8080",
        "250m",
        "-Xmx512m",
        "a: b",
        "#x",
        "it's",
        "two\nlines\n",
        "tab\there",
    ];
    let mut data = String::new();
    for (i, v) in values.iter().enumerate() {
        data.push_str(&format!("  k{i}: {}\n", serde_json::to_string(v).unwrap()));
    }
    env.config.write(
        "templates/flags.yaml.j2",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flags\n  namespace: {{{{ env.namespace | json }}}}\ndata:\n{data}"
        ),
    );
    let out = run(with_secrets(gpt_deploy([
        "render",
        "--config",
        env.config.arg(),
        "--env",
        ENV,
        "--namespace",
        &env.ns.name,
    ])))
    .await;
    out.success();
    let document = out
        .stdout
        .split("---\n")
        .find(|d| d.contains("kind: ConfigMap"))
        .expect("the ConfigMap in render's output");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/kubectl");
    let mut child = std::process::Command::new(script)
        .arg("--kubeconfig")
        .arg(&env.ns.kubeconfig)
        .args(["create", "--dry-run=server", "-o", "json", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(document.as_bytes())
        .unwrap();
    let created = child.wait_with_output().unwrap();
    assert!(
        created.status.success(),
        "kubectl refused render's output:\n{document}\n{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let object: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    for (i, v) in values.iter().enumerate() {
        assert_eq!(object["data"][format!("k{i}")], *v, "{document}");
    }
}

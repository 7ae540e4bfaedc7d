//! End to end on the real node (`tests/cluster/node`): `gpt-deploy deploy` puts the
//! image built from the release binary (`scripts/oci-image.sh`) on a kubelet with
//! containerd and runc, under the manifests we render, against a real PostgreSQL
//! that the pods reach over their bridge. Nothing here is simulated: the migration,
//! the probes, the webhook, the cleanup Job, the rolling update and the shutdown
//! are the shipped binary's own work inside real containers.

use crate::support;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, WatchEvent, WatchParams};
use sqlx::PgPool;
use support::bin::{Bin, Output};
use support::config_dir::ConfigDir;
use support::realnode::{NODE_NAME, RealNode};
use support::serve::{WEBHOOK, now, sign};

const WEB: &str = "app.kubernetes.io/component=web";
const CLEANUP: &str = "app.kubernetes.io/component=token-cleanup";

/// A configuration copy whose environment `e2e` runs two replicas on the real node.
fn e2e_config(node: &RealNode) -> ConfigDir {
    let config = ConfigDir::shipped();
    let pinned = support::realnode::pin_to_node(&config);
    assert!(
        pinned >= 2,
        "expected the Deployment and the CronJob to be pinned, pinned {pinned} pod specs"
    );
    config.write(
        "environments/e2e.toml",
        &format!(
            "namespace = \"gpt-e2e\"\nreplicas = 2\nimage_tag = \"{}\"\nkube_context = \"gpt-e2e\"\n\
             github_environment = \"e2e\"\nlog_level = \"debug\"\n\n[resources.requests]\ncpu = \"20m\"\nmemory = \"32Mi\"\n",
            node.tags[0]
        ),
    );
    config
}

/// Secret values that really work (and must never be printed).
struct Secrets {
    clerk: String,
    database_url: String,
    password: String,
}

/// `gpt-deploy COMMAND` for the e2e environment in `namespace`, with the secrets.
fn cmd(
    config: &ConfigDir,
    kubeconfig: &std::path::Path,
    namespace: &str,
    secrets: &Secrets,
    command: &str,
    extra: &[&str],
) -> Bin {
    let context = support::deploy_env::current_context(kubeconfig);
    let mut args: Vec<String> = [
        command,
        "--config",
        config.arg(),
        "--env",
        "e2e",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--context",
        &context,
        "--namespace",
        namespace,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    support::bin::gpt_deploy(args)
        .env("CLERK_WEBHOOK_SECRET", &secrets.clerk)
        .env("DATABASE_URL", &secrets.database_url)
}

async fn run(bin: Bin, secrets: &Secrets) -> Output {
    let out = bin.output().await;
    for value in [&secrets.clerk, &secrets.password] {
        assert!(
            !out.stdout.contains(value.as_str()) && !out.stderr.contains(value.as_str()),
            "a secret value was printed:\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
    out
}

fn is_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn image_of(pod: &Pod) -> String {
    pod.spec.as_ref().unwrap().containers[0]
        .image
        .clone()
        .unwrap_or_default()
}

fn pod_ip(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .expect("a running pod has an IP")
}

async fn web_pods(pods: &Api<Pod>) -> Vec<Pod> {
    pods.list(&ListParams::default().labels(WEB))
        .await
        .expect("list the web pods")
        .items
}

/// Rows of `user` in the three tables the webhook clears.
async fn held(pool: &PgPool, user: &str) -> (i64, i64, i64) {
    let count = |table: &'static str| {
        let sql = format!("select count(*) from {table} where clerk_user_id = $1");
        async move {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .bind(user)
                .fetch_one(pool)
                .await
                .unwrap()
        }
    };
    (
        count("gpt_authorization_codes").await,
        count("gpt_refresh_tokens").await,
        count("gpt_sessions").await,
    )
}

/// One authorization code, refresh token and session for `user`, expiring `expires_in` from now.
async fn seed(pool: &PgPool, user: &str, expires_in: &str) {
    for sql in [
        "insert into gpt_authorization_codes (code_hash, clerk_user_id, client_id, redirect_uri, expires_at)
         values ($1 || '-' || gen_random_uuid(), $1, 'chatgpt', 'https://chat.openai.com/cb', now() + $2::interval)",
        "insert into gpt_refresh_tokens (token_hash, clerk_user_id, client_id, expires_at)
         values ($1 || '-' || gen_random_uuid(), $1, 'chatgpt', now() + $2::interval)",
        "insert into gpt_sessions (clerk_user_id, expires_at) values ($1, now() + $2::interval)",
    ] {
        sqlx::query(sql)
            .bind(user)
            .bind(expires_in)
            .execute(pool)
            .await
            .unwrap();
    }
}

/// Where the pods and the node stand, for failure messages.
async fn diagnostics(pods: &Api<Pod>) -> String {
    let list = pods
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    list.iter()
        .map(|p| {
            format!(
                "{} node={:?} status={}",
                p.metadata.name.as_deref().unwrap_or("?"),
                p.spec.as_ref().and_then(|s| s.node_name.clone()),
                serde_json::to_string(&p.status).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_image_serves_migrates_cleans_up_and_rolls_on_a_real_node() {
    let node = tokio::task::spawn_blocking(support::realnode::node)
        .await
        .expect("start the real node");
    let ns = support::cluster::namespace_in(&node.kubeconfig).await;
    let pods: Api<Pod> = Api::namespaced(ns.client(), &ns.name);
    let db = support::pg::database_for_pods(IpAddr::V4(node.ip), &node.subnet).await;
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let mut pod_url = url::Url::parse(&db.login_role(&password).await).unwrap();
    pod_url.set_host(Some(&node.ip.to_string())).unwrap();
    let secrets = Secrets {
        clerk: format!(
            "whsec_{}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                rand::random::<[u8; 24]>()
            )
        ),
        database_url: pod_url.to_string(),
        password,
    };
    let config = e2e_config(node);
    let gpt = |command: &str, extra: &[&str]| {
        cmd(&config, &ns.kubeconfig, &ns.name, &secrets, command, extra)
    };

    // Deploy: the migration step migrates the database from inside the pod
    // network, and both pods become Ready through their own /readyz.
    let out = run(gpt("deploy", &["--timeout", "300s"]), &secrets).await;
    assert_eq!(
        out.code,
        0,
        "deploy failed:\n{}\n{}\n{}",
        out.stdout,
        out.stderr,
        diagnostics(&pods).await
    );
    let migrations: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
        .fetch_one(db.pool())
        .await
        .expect("the migration step created sqlx's bookkeeping table");
    assert!(migrations >= 1, "no migration recorded");
    let web = web_pods(&pods).await;
    assert_eq!(web.len(), 2, "{}", diagnostics(&pods).await);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let image = format!("gptservice.azurecr.io/gpt-service:{}", node.tags[0]);
    for pod in &web {
        assert!(is_ready(pod), "{}", diagnostics(&pods).await);
        assert_eq!(
            pod.spec.as_ref().unwrap().node_name.as_deref(),
            Some(NODE_NAME)
        );
        assert_eq!(image_of(pod), image);
        let res = client
            .get(format!("http://{}:8080/readyz", pod_ip(pod)))
            .send()
            .await
            .expect("GET /readyz of a pod");
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(res.text().await.unwrap(), r#"{"status":"ready"}"#);
    }

    // The Service's endpoints are exactly the two Ready pods, on the pods' real
    // port (the endpoint controller reads the kubelet's readiness; there is no
    // kube-proxy here, so the test itself talks to pod IPs).
    let services: Api<Service> = Api::namespaced(ns.client(), &ns.name);
    let service = services
        .list(&ListParams::default().labels(WEB))
        .await
        .unwrap()
        .items;
    assert_eq!(service.len(), 1, "one Service selects the web pods");
    let service_name = service[0].metadata.name.clone().unwrap();
    let slices: Api<EndpointSlice> = Api::namespaced(ns.client(), &ns.name);
    let mut endpoints: Vec<(String, Option<i32>)> = Vec::new();
    for _ in 0..100 {
        endpoints = slices
            .list(
                &ListParams::default()
                    .labels(&format!("kubernetes.io/service-name={service_name}")),
            )
            .await
            .unwrap()
            .items
            .iter()
            .flat_map(|slice| {
                let port = slice
                    .ports
                    .as_ref()
                    .and_then(|p| p.first())
                    .and_then(|p| p.port);
                slice
                    .endpoints
                    .iter()
                    .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
                    .flat_map(|e| e.addresses.clone())
                    .map(move |a| (a, port))
                    .collect::<Vec<_>>()
            })
            .collect();
        endpoints.sort();
        if endpoints.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut expected: Vec<(String, Option<i32>)> =
        web.iter().map(|p| (pod_ip(p), Some(8080))).collect();
    expected.sort();
    assert_eq!(endpoints, expected, "the Service's ready endpoints");

    // A svix-signed user.deleted delivered to a pod deletes that user's rows.
    seed(db.pool(), "user_gone", "1 day").await;
    seed(db.pool(), "user_stays", "1 day").await;
    let body = br#"{"data":{"deleted":true,"id":"user_gone","object":"user"},"object":"event","timestamp":1716883200000,"type":"user.deleted"}"#;
    let ts = now();
    let res = client
        .post(format!("http://{}:8080{WEBHOOK}", pod_ip(&web[0])))
        .header("svix-id", "msg_e2e_1")
        .header("svix-timestamp", ts.to_string())
        .header(
            "svix-signature",
            sign(&secrets.clerk, "msg_e2e_1", ts, body),
        )
        .body(body.to_vec())
        .send()
        .await
        .expect("deliver the webhook to a pod");
    let status = res.status().as_u16();
    let answer = res.text().await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("processed"), "{answer}");
    assert_eq!(held(db.pool(), "user_gone").await, (0, 0, 0));
    assert_eq!(held(db.pool(), "user_stays").await, (1, 1, 1));
    // A wrong signature is refused by the same pod.
    let res = client
        .post(format!("http://{}:8080{WEBHOOK}", pod_ip(&web[1])))
        .header("svix-id", "msg_e2e_2")
        .header("svix-timestamp", ts.to_string())
        .header(
            "svix-signature",
            sign(support::serve::OTHER_SECRET, "msg_e2e_2", ts, body),
        )
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);

    // cleanup-now runs the CronJob's template as a Job whose pod deletes the
    // expired rows on the real node and exits 0.
    seed(db.pool(), "user_expired", "-40 days").await;
    let out = run(
        gpt("cleanup-now", &["--wait", "--timeout", "240s"]),
        &secrets,
    )
    .await;
    assert_eq!(
        out.code,
        0,
        "cleanup-now failed:\n{}\n{}\n{}",
        out.stdout,
        out.stderr,
        diagnostics(&pods).await
    );
    assert_eq!(held(db.pool(), "user_expired").await, (0, 0, 0));
    assert_eq!(held(db.pool(), "user_stays").await, (1, 1, 1));
    let job_pods = pods
        .list(&ListParams::default().labels(CLEANUP))
        .await
        .unwrap()
        .items;
    assert_eq!(job_pods.len(), 1, "{}", diagnostics(&pods).await);
    let job_pod = &job_pods[0];
    assert_eq!(
        job_pod.spec.as_ref().unwrap().node_name.as_deref(),
        Some(NODE_NAME)
    );
    let terminated = support::deploy_env::terminated(job_pod, "the cleanup container");
    assert_eq!(terminated.exit_code, 0, "{terminated:?}");

    // A rolling image change (a second imported tag) keeps a pod Ready at every moment.
    let watching = Arc::new(AtomicBool::new(true));
    let sampler = {
        let pods = pods.clone();
        let watching = watching.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while watching.load(Ordering::Relaxed) {
                let ready = web_pods(&pods).await.iter().filter(|p| is_ready(p)).count();
                samples.push(ready);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            samples
        })
    };
    let out = run(
        gpt("deploy", &["--image", &node.tags[1], "--timeout", "300s"]),
        &secrets,
    )
    .await;
    watching.store(false, Ordering::Relaxed);
    let samples = sampler.await.unwrap();
    assert_eq!(
        out.code,
        0,
        "the rolling deploy failed:\n{}\n{}\n{}",
        out.stdout,
        out.stderr,
        diagnostics(&pods).await
    );
    assert!(samples.len() >= 5, "too few samples: {samples:?}");
    assert!(
        samples.iter().all(|&ready| ready >= 1),
        "a moment without a Ready pod during the rollout: {samples:?}"
    );
    let web = web_pods(&pods).await;
    let image = format!("gptservice.azurecr.io/gpt-service:{}", node.tags[1]);
    let current: Vec<&Pod> = web.iter().filter(|p| image_of(p) == image).collect();
    assert_eq!(current.len(), 2, "{}", diagnostics(&pods).await);
    assert!(current.iter().all(|p| is_ready(p)));

    // A deleted pod gets SIGTERM and exits by itself (code 0, not SIGKILL's
    // 137) before its grace period is over.
    let victim = current[0].metadata.name.clone().unwrap();
    let grace = current[0]
        .spec
        .as_ref()
        .unwrap()
        .termination_grace_period_seconds
        .unwrap();
    let version = pods
        .get(&victim)
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut events = pods
        .watch(
            &WatchParams::default()
                .fields(&format!("metadata.name={victim}"))
                .timeout(290),
            &version,
        )
        .await
        .unwrap()
        .boxed();
    let started = Instant::now();
    pods.delete(&victim, &DeleteParams::default())
        .await
        .unwrap();
    let mut exit_code = None;
    while let Some(event) = events.try_next().await.unwrap() {
        let (pod, deleted) = match event {
            WatchEvent::Modified(pod) => (pod, false),
            WatchEvent::Deleted(pod) => (pod, true),
            _ => continue,
        };
        if let Some(code) = pod
            .status
            .and_then(|s| s.container_statuses)
            .and_then(|c| c.into_iter().next())
            .and_then(|c| c.state)
            .and_then(|s| s.terminated)
            .map(|t| t.exit_code)
        {
            exit_code = Some(code);
        }
        if deleted {
            break;
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(
        exit_code,
        Some(0),
        "the container did not exit cleanly on SIGTERM"
    );
    assert!(
        elapsed < Duration::from_secs(grace as u64),
        "the pod took {elapsed:?}, its grace period is {grace}s: SIGTERM was not honoured"
    );
}

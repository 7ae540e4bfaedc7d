//! `tests/cluster/up`, `down` and the watchdog: several clusters side by side,
//! nothing left behind by `down`, by a crashed owner, or by a crashed run.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::ListParams;
use support::cluster::{client_for, clusters_root, scripts_dir};

/// True while process `pid` runs with `state` on its command line (how the
/// cluster scripts tell their processes from unrelated ones).
fn runs_for(pid: &str, state: &Path) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&cmdline).contains(&*state.to_string_lossy())
}

/// A cluster started by `up --owner-pid OWNER`: its kubeconfig, state
/// directory and recorded pids (all checked to be running).
fn up_owned_by(owner: u32) -> (PathBuf, PathBuf, Vec<String>) {
    let up = Command::new(scripts_dir().join("up"))
        .args(["--owner-pid", &owner.to_string()])
        .output()
        .expect("run tests/cluster/up");
    assert!(
        up.status.success(),
        "up failed: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let kubeconfig = PathBuf::from(String::from_utf8_lossy(&up.stdout).trim());
    let state = kubeconfig
        .parent()
        .expect("kubeconfig lives in the state directory")
        .to_path_buf();
    let pids =
        std::fs::read_to_string(state.join("pids")).expect("the state directory records pids");
    let recorded: Vec<String> = pids
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(String::from)
        .collect();
    assert_eq!(
        recorded.len(),
        6,
        "etcd, 4 components and the watchdog: {pids}"
    );
    assert!(
        recorded.iter().all(|pid| runs_for(pid, &state)),
        "not all are running: {pids}"
    );
    (kubeconfig, state, recorded)
}

fn assert_gone(state: &Path, recorded: &[String]) {
    assert!(!state.exists(), "{} still exists", state.display());
    let left: Vec<_> = recorded.iter().filter(|pid| runs_for(pid, state)).collect();
    assert!(
        left.is_empty(),
        "processes {left:?} of {} survived",
        state.display()
    );
}

#[tokio::test]
async fn private_cluster_up_sweeps_stale_state_and_down_removes_all_of_it() {
    // What a run killed outright leaves: a state directory whose processes are gone.
    let stale = clusters_root().join(format!("cluster-stale-{}", std::process::id()));
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join(".gpt-deploy-cluster"), "").unwrap();
    std::fs::write(stale.join("pids"), "etcd 4194305\nkube-apiserver 4194306\n").unwrap();

    // Owned by this test process, so the watchdog cleans up should an assertion fail.
    let (kubeconfig, state, recorded) = up_owned_by(std::process::id());
    assert!(
        !stale.exists(),
        "up did not clean the stale state directory {}",
        stale.display()
    );

    let nodes = Api::<Node>::all(client_for(&kubeconfig).await.unwrap())
        .list(&ListParams::default())
        .await
        .expect("list nodes of the private cluster");
    let ready = nodes.items.iter().filter(|node| {
        let conditions = node.status.as_ref().and_then(|s| s.conditions.as_ref());
        conditions.is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    });
    assert_eq!(ready.count(), 2, "{:#?}", nodes.items);

    let down = Command::new(scripts_dir().join("down"))
        .arg(&kubeconfig)
        .output()
        .expect("run tests/cluster/down");
    assert!(
        down.status.success(),
        "down failed: {}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert_gone(&state, &recorded);
}

#[test]
fn watchdog_tears_the_cluster_down_when_its_owner_dies() {
    // Stands in for a test runner that crashes without calling `down`.
    let mut owner = Command::new("sleep")
        .arg("600")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn sleep");
    let (kubeconfig, state, recorded) = up_owned_by(owner.id());
    let status = Command::new(scripts_dir().join("status"))
        .arg(&kubeconfig)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );

    owner.kill().unwrap();
    owner.wait().unwrap();
    // The watchdog polls every 2 s and `down` takes about 2 s more.
    let start = Instant::now();
    while state.exists() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_gone(&state, &recorded);
}

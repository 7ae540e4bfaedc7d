# shellcheck shell=bash disable=SC2034
# Shared settings for tests/cluster/{build,up,down}; sourced, never run.
#
# Binaries live outside the clone, one directory per pinned version, so only a
# new machine (or a version bump) pays for the Go build:
#   $GPT_DEPLOY_CACHE/k8s-<version>/   kube-apiserver, -controller-manager, -scheduler, kubectl
#   $GPT_DEPLOY_CACHE/etcd-<version>/  etcd
#   $GPT_DEPLOY_CACHE/kwok-<version>/  kwok and the stage files it is started with
#   $GPT_DEPLOY_CACHE/kubelet-<version>/  kubelet (the real node; same Kubernetes version)
#   $GPT_DEPLOY_CACHE/pause-<hash>/    the sandbox program of the real node's pods
# The Go module and build caches live there too, so `go clean -cache` elsewhere
# does not force a cold rebuild and removing one directory resets everything.

cluster_src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_dir=${GPT_DEPLOY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gpt-deploy}
# Clusters started by `up` without --state-dir live here, one directory each.
clusters_root=${GPT_DEPLOY_CLUSTERS_DIR:-${TMPDIR:-/tmp}/gpt-deploy-clusters-$(id -u)}

# The version of module $2 required by the go.mod in directory $1.
module_version() {
    awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$cluster_src/$1/go.mod"
}

k8s_version=$(module_version kubernetes k8s.io/kubernetes)
etcd_version=$(module_version etcd go.etcd.io/etcd/server/v3)
kwok_version=$(module_version kwok sigs.k8s.io/kwok)
k8s_bin=$cache_dir/k8s-$k8s_version
etcd_bin=$cache_dir/etcd-$etcd_version
kwok_bin=$cache_dir/kwok-$kwok_version
kubelet_bin=$cache_dir/kubelet-$k8s_version
# Keyed by the source's content: an edit builds a new one.
pause_bin=$cache_dir/pause-$(cat "$cluster_src/pause/go.mod" "$cluster_src/pause/main.go" | sha256sum | cut -c1-12)

# True when every binary directory was completely built.
binaries_present() {
    [[ -f $k8s_bin/.complete && -f $etcd_bin/.complete && -f $kwok_bin/.complete ]]
}

log() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

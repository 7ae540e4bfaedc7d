#!/usr/bin/env bash
# Whole-process timing of `gpt-deploy render --env production` (target: under 10 ms),
# from an empty directory so the built-in configuration is used, as in the image.
#
# Usage: scripts/bench-render.sh [RUNS]   (default 200)
# Uses hyperfine when installed (apt-get install hyperfine), else a timed loop.
set -euo pipefail

runs="${1:-200}"
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"

cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin="$target/release/gpt-deploy"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

# Secrets set so the run takes the real path (no warnings); the values are dummies.
export CLERK_WEBHOOK_SECRET=whsec_bench DATABASE_URL=postgres://bench@localhost/gpt

echo "binary: $bin ($(du -h "$bin" | cut -f1))"
echo "machine: $(nproc) cores, $(uname -sr)"
echo "target: < 10 ms per process"

if command -v hyperfine >/dev/null; then
    hyperfine --shell=none --warmup 20 --runs "$runs" --export-json "$work/h.json" \
        "$bin render --env production" "$bin --version" >/dev/null
    python3 - "$work/h.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    t = sorted(r["times"])
    pct = lambda p: t[min(len(t) - 1, int(p * len(t)))] * 1000
    print(f"{r['command']:<45} mean {r['mean']*1000:6.2f} ms  median {pct(0.5):6.2f} ms  p95 {pct(0.95):6.2f} ms  min {t[0]*1000:6.2f} ms  ({len(t)} runs)")
PY
else
    for cmd in "render --env production" "--version"; do
        for _ in $(seq 20); do "$bin" $cmd >/dev/null; done
        start=$(date +%s%N)
        for _ in $(seq "$runs"); do "$bin" $cmd >/dev/null; done
        end=$(date +%s%N)
        awk -v c="$cmd" -v n="$runs" -v ns="$((end - start))" \
            'BEGIN { printf "%-45s mean %6.2f ms  (%d runs, loop incl. fork/exec)\n", "gpt-deploy " c, ns / n / 1e6, n }'
    done
fi

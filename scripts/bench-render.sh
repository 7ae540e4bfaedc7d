#!/usr/bin/env bash
# Whole-process timing of `gpt-deploy render --env production` (goal: 3 ms or less), from an
# empty directory so the built-in configuration is used, as in the image.
#
# Each round runs every command once, in a fresh random order, so a busy or throttled
# moment of the machine falls on all of them alike; the table gives each command's median,
# 10th and 90th percentile over the rounds, next to the floor of this machine: `/bin/true`
# (what starting any process costs here) and `gpt-deploy --version` (what starting this
# binary costs). Instruction counts (callgrind, when installed) do not depend on the load.
#
# Usage: scripts/bench-render.sh [ROUNDS]   (default 300)
# Env:   GPT_DEPLOY_BIN       use this binary instead of building target/release/gpt-deploy
#        BENCH_BASELINE_BIN   also time this (older) binary in every round, for a before/after
set -euo pipefail

rounds="${1:-300}"
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"

if [[ -n ${GPT_DEPLOY_BIN:-} ]]; then
    bin=$GPT_DEPLOY_BIN
else
    cargo build --release --quiet --manifest-path "$root/Cargo.toml"
    bin="$target/release/gpt-deploy"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

# Secrets set so the run takes the real path (no warnings); the values are dummies.
export CLERK_WEBHOOK_SECRET=whsec_bench DATABASE_URL=postgres://bench@localhost/gpt

echo "binary: $bin ($(du -h "$bin" | cut -f1))${BENCH_BASELINE_BIN:+, baseline: $BENCH_BASELINE_BIN}"
echo "machine: $(nproc) cores, $(uname -sr), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$rounds" "$bin" "${BENCH_BASELINE_BIN:-}" <<'PY'
import os, random, sys, time

rounds, binary, baseline = int(sys.argv[1]), sys.argv[2], sys.argv[3]
commands = [
    ("/bin/true (process start)", ["/bin/true"]),
    ("gpt-deploy --version", [binary, "--version"]),
    ("gpt-deploy render --env production", [binary, "render", "--env", "production"]),
]
if baseline:
    commands += [
        ("baseline --version", [baseline, "--version"]),
        ("baseline render --env production", [baseline, "render", "--env", "production"]),
    ]
null = os.open(os.devnull, os.O_WRONLY)

def run(argv):
    start = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[
        (os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)])
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter_ns() - start
    if status != 0:
        sys.exit(f"{' '.join(argv)} exited with status {status}")
    return elapsed / 1e6

for _ in range(20):  # warm the page cache
    for _, argv in commands:
        run(argv)
times = {name: [] for name, _ in commands}
for _ in range(rounds):
    order = list(commands)
    random.shuffle(order)
    for name, argv in order:
        times[name].append(run(argv))

def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]

print(f"{'ms per process, ' + str(rounds) + ' rounds':<38} {'median':>7} {'p10':>7} {'p90':>7}")
for name, _ in commands:
    t = times[name]
    print(f"{name:<38} {pct(t, .5):7.2f} {pct(t, .1):7.2f} {pct(t, .9):7.2f}")
render, floor = times[commands[2][0]], times[commands[0][0]]
print(f"render above process start (medians): {pct(render, .5) - pct(floor, .5):.2f} ms")
PY

# Wall time depends on what else runs; the instruction count does not.
if command -v valgrind >/dev/null; then
    for b in "$bin" ${BENCH_BASELINE_BIN:+"$BENCH_BASELINE_BIN"}; do
        for cmd in "render --env production" "--version"; do
            # shellcheck disable=SC2086 # cmd holds the arguments: split on purpose
            valgrind --tool=callgrind --callgrind-out-file=/dev/null "$b" $cmd >/dev/null 2>"$work/vg.log"
            refs=$(sed -n 's/.*Collected *: *//p' "$work/vg.log")
            label=gpt-deploy
            [[ $b == "$bin" ]] || label=baseline
            printf '%-45s %s instructions per process (callgrind)\n' "$label $cmd" "$refs"
        done
    done
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

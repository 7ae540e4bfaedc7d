#!/usr/bin/env bash
# Writes link/startup.order: the functions the short commands run (`--version`, `render`,
# `render --output json`, `validate`), in the order callgrind first meets them. build.rs
# hands the file to the linker, which places those functions side by side, so a short
# command touches a few dozen 64 kB stretches of code instead of about a hundred (each
# one a page fault). Rerun after large changes; names that no longer exist are skipped
# at link time, so a stale file costs speed, never correctness.
#
# Usage: scripts/startup-order.sh
# Needs: valgrind, nm. Builds the release profile with its symbols and line tables kept in
# ${ORDER_TARGET_DIR:-target/startup-order}. Those profile settings give many crates'
# symbols other hashes than the shipped (stripped) build's, so only part of the list
# matches there (docs/benchmarks.md, "Startup functions linked side by side").
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
for tool in valgrind nm; do
    command -v "$tool" >/dev/null || { echo "startup-order: $tool is not installed (apt-get install valgrind binutils)" >&2; exit 1; }
done
export CARGO_TARGET_DIR="${ORDER_TARGET_DIR:-$root/target/startup-order}"
CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
    cargo build --release --locked --quiet --manifest-path "$root/Cargo.toml" --bin gpt-deploy
bin="$CARGO_TARGET_DIR/release/gpt-deploy"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/cwd"
cd "$work/cwd"   # no deploy.toml here: the built-in configuration, as in the image
# Dummy values so render takes its normal path (no placeholder warnings).
export CLERK_WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw DATABASE_URL=postgres://order@localhost/gpt

n=0
for command in "--version" "render --env production" "render --env staging --output json" "validate"; do
    n=$((n + 1))
    # shellcheck disable=SC2086 # the command is split into its words on purpose
    valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/run.$n" \
        "$bin" $command >/dev/null 2>"$work/valgrind.$n" \
        || { cat "$work/valgrind.$n" >&2; echo "startup-order: $command failed under valgrind" >&2; exit 1; }
done

nm --defined-only "$bin" | awk '$2 ~ /^[tTwW]$/ { print $3 }' | sort -u >"$work/defined"
python3 - "$work/defined" "$root/link/startup.order" "$work"/run.* <<'PY'
import re, sys

defined = set(open(sys.argv[1]).read().split())
entry = re.compile(r"^c?fn=\((\d+)\)(?: (.*))?$")
order, seen = [], set()
for path in sys.argv[3:]:
    names = {}
    for line in open(path):
        m = entry.match(line.rstrip("\n"))
        if not m:
            continue
        number, name = m.groups()
        if name:
            names[number] = name
        name = names[number]
        if name in defined and name not in seen:
            seen.add(name)
            order.append(name)
with open(sys.argv[2], "w") as out:
    out.write("".join(f"{name}\n" for name in order))
print(f"link/startup.order: {len(order)} functions of {len(defined)} in the binary")
PY

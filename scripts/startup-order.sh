#!/usr/bin/env bash
# Writes link/startup.order: the functions the short commands run (`--version`, `render`,
# `render --output json`, `validate`), in the order callgrind lists them. build.rs
# hands the file to the linker, which places those functions side by side, so a short
# command touches a few dozen 64 kB stretches of code instead of about a hundred (each
# one a page fault). Rerun after large changes; names that no longer exist are skipped
# at link time, so a stale file costs speed, never correctness.
#
# The names come from the shipped build itself: the release profile as it is (stripped),
# linked with a map (GPT_DEPLOY_LINK_MAP, see build.rs) that turns the addresses callgrind
# reports into the linker's names. A build with symbols or line tables kept would not
# do: those profile settings give every crate's symbols other hashes.
#
# Usage: scripts/startup-order.sh
# Needs: valgrind, python3. Builds in ${ORDER_TARGET_DIR:-target/startup-order}.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
command -v valgrind >/dev/null || { echo "startup-order: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
export CARGO_TARGET_DIR="${ORDER_TARGET_DIR:-$root/target/startup-order}"
mkdir -p "$CARGO_TARGET_DIR"
map="$CARGO_TARGET_DIR/gpt-deploy.map"
# The same map path every run: a new one would make Cargo relink.
GPT_DEPLOY_LINK_MAP="$map" \
    cargo build --release --locked --quiet --manifest-path "$root/Cargo.toml" --bin gpt-deploy
bin="$CARGO_TARGET_DIR/release/gpt-deploy"

[ -s "$map" ] || { echo "startup-order: the link wrote no map at $map" >&2; exit 1; }

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
    valgrind --tool=callgrind --callgrind-out-file="$work/run.$n" \
        "$bin" $command >/dev/null 2>"$work/valgrind.$n" \
        || { cat "$work/valgrind.$n" >&2; echo "startup-order: $command failed under valgrind" >&2; exit 1; }
done

python3 - "$map" "$bin" "$root/link/startup.order" "$work"/run.* <<'PY'
import bisect, os, re, sys

map_path, binary, out_path, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]

# The map's columns: VMA LMA Size Align, then the output section, the input section
# (file:(section)) or a symbol (demangled), each starting one column further right.
# Every function has its own input section (-ffunction-sections), named `.text.` and the
# mangled name (`.text.unlikely.` and the like for code the compiler set apart).
line_format = re.compile(r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+ (\s*)(\S.*)$")
input_section = re.compile(r":\(\.text\.(?:(?:unlikely|hot|startup|exit|split)\.)?(.+)\)$")
sections = []  # (start, end, the function's mangled name)
with open(map_path) as lines:
    header = next(lines)
    in_column = header.index(" In") + 1
    in_text = False
    for line in lines:
        m = line_format.match(line.rstrip("\n"))
        if not m:
            continue
        start, size, name = int(m.group(1), 16), int(m.group(2), 16), m.group(4)
        if m.start(4) < in_column:        # an output section
            in_text = name == ".text"
            continue
        section = input_section.search(name) if in_text and size else None
        if section:
            sections.append((start, start + size, section.group(1)))
sections.sort()
starts = [s[0] for s in sections]
if not sections:
    sys.exit(f"startup-order: no functions found in {map_path}")

binary = os.path.realpath(binary)
fn_entry = re.compile(r"^c?(ob|fn)=\((\d+)\)(?: (.*))?$")
order, seen = [], set()
for path in runs:
    objects, functions = {}, {}
    current_object = None
    for line in open(path):
        m = fn_entry.match(line.rstrip("\n"))
        if not m:
            continue
        kind, number, name = m.groups()
        table = objects if kind == "ob" else functions
        if name:
            table[number] = name
        name = table.get(number)
        if kind == "ob":
            if not line.startswith("c"):
                current_object = name
            continue
        if line.startswith("c") or current_object is None or os.path.realpath(current_object) != binary:
            continue
        if not name or not name.startswith("0x"):
            continue
        address = int(name.split("'")[0], 16)  # `'2`: a recursion level
        i = bisect.bisect_right(starts, address) - 1
        if i < 0 or address >= sections[i][1]:
            continue
        symbol = sections[i][2]
        if symbol not in seen:
            seen.add(symbol)
            order.append(symbol)
with open(out_path, "w") as out:
    out.write("".join(f"{name}\n" for name in order))
print(f"link/startup.order: {len(order)} functions of {len(sections)} in the binary's map")
PY

#!/usr/bin/env bash
# Side-by-side load test of `gpt-deploy serve` (release build), the reference
# Node.js receiver in benches/reference/ (express + svix + pg) and the ceiling: a
# bare axum server on the same route that reads the body and answers 200
# (benches/bare-webhook/), in one run, with the same load generator (wrk), the
# same requests and the same PostgreSQL server.
#
# Scenarios, each run against both servers:
#   verified  - correctly signed deliveries of an event type that needs no
#               database work: svix verification + JSON parsing -> 200
#   rejected  - the same deliveries signed with another secret -> 401
#   deleted   - distinct user.deleted deliveries, each deleting one seeded
#               user's rows in one transaction and recording one event -> 200
#   light     - "verified" again with only LIGHT_CONNECTIONS connections: latency
#               without queueing in the server
# The bare server runs verified, rejected and light (it answers 200 to all of
# them, so it is the ceiling of the HTTP stack, not a receiver); "ours / bare"
# is gpt-deploy's requests/s over the bare server's.
# Reported: requests/s, p50 and p99 latency, peak resident memory (VmHWM), log
# lines written and dropped.
# Targets: verified req/s >= 5x the reference and >= 0.8x the bare server,
# p99 < 5 ms, RSS < 30 MB.
#
# Usage: scripts/bench-serve.sh            (DURATION=10s CONNECTIONS=32 THREADS=1 USERS=60000;
#        BENCH_BIN=path skips the release build and uses that binary,
#        BARE_BIN=path likewise for the bare server)
# Needs: wrk (apt-get install -y wrk), node + npm, PostgreSQL server programs
# (tests/support/ensure-postgres.sh). All traffic stays on 127.0.0.1.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
USERS=${USERS:-60000}
LIGHT_CONNECTIONS=${LIGHT_CONNECTIONS:-2}
SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
OTHER=whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

need() { command -v "$1" >/dev/null 2>&1 || { echo "error: $1 is required ($2)" >&2; exit 2; }; }
need wrk "apt-get install -y wrk"
need node "apt-get install -y nodejs npm"
need npm "apt-get install -y npm"
need psql "apt-get install -y postgresql-client"

pg_bin() {
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && { echo "$d"; return; }
    done
    dirname "$(command -v initdb)"
}
PGBIN=$(pg_bin)
[ -x "$PGBIN/initdb" ] || { echo "error: PostgreSQL server programs not found; run tests/support/ensure-postgres.sh" >&2; exit 2; }

if [ -n "${BENCH_BIN:-}" ]; then
    BIN=$BENCH_BIN # a prebuilt binary (e.g. to try the script with a debug build)
else
    echo "building gpt-deploy (release)..." >&2
    (cd "$ROOT" && cargo build --release --quiet --bin gpt-deploy)
    BIN=$CARGO_TARGET_DIR/release/gpt-deploy
fi
if [ -n "${BARE_BIN:-}" ]; then
    BARE=$BARE_BIN
else
    echo "building the bare axum server (release)..." >&2
    (cd "$ROOT" && cargo build --release --quiet --manifest-path benches/bare-webhook/Cargo.toml)
    BARE=$CARGO_TARGET_DIR/release/bare-webhook
fi
echo "installing the reference server's packages..." >&2
(cd "$ROOT/benches/reference" && npm ci --no-audit --no-fund --silent >/dev/null 2>&1 || npm install --no-audit --no-fund --silent >/dev/null)

WORK=$(mktemp -d /tmp/bench-serve.XXXXXX)
PIDS=()
AS_PG=()
[ "$(id -u)" = 0 ] && AS_PG=(runuser -u postgres --)
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -d "$WORK/pg" ] && "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg" stop -m immediate -w >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A throwaway PostgreSQL server, tuned like the tests' (durability off: this measures the receivers).
[ "$(id -u)" = 0 ] && chown postgres "$WORK"
"${AS_PG[@]}" "$PGBIN/initdb" -D "$WORK/pg" -U postgres --auth=trust -N -E UTF8 --locale=C >/dev/null
PGPORT=$(free_port)
"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w -o \
    "-p $PGPORT -h 127.0.0.1 -k $WORK -c fsync=off -c synchronous_commit=off -c max_connections=100" start >/dev/null
ADMIN="postgres://postgres@127.0.0.1:$PGPORT"

prepare_db() { # name prefix
    psql -q "$ADMIN/postgres" -c "create database $1" >/dev/null
    DATABASE_URL="$ADMIN/$1" LOG_FORMAT=json RUST_LOG=warn "$BIN" migrate >/dev/null
    psql -q "$ADMIN/$1" >/dev/null <<SQL
insert into gpt_authorization_codes (code_hash, clerk_user_id, client_id, redirect_uri, expires_at)
  select 'code-' || g, 'user_$2_' || g, 'chatgpt', 'https://chat.openai.com/cb', now() + interval '10 minutes' from generate_series(1, $USERS) g;
insert into gpt_refresh_tokens (token_hash, clerk_user_id, client_id, expires_at)
  select 'token-' || g, 'user_$2_' || g, 'chatgpt', now() + interval '30 days' from generate_series(1, $USERS) g;
insert into gpt_sessions (clerk_user_id, expires_at)
  select 'user_$2_' || g, now() + interval '1 day' from generate_series(1, $USERS) g;
vacuum analyze;
SQL
}
prepare_db bench_rust rs
prepare_db bench_node js

wait_http() { # url
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "error: $1 did not come up" >&2
    exit 3
}

RS_PORT=$(free_port)
CLERK_WEBHOOK_SECRET=$SECRET DATABASE_URL="$ADMIN/bench_rust" LISTEN_ADDR=127.0.0.1:$RS_PORT \
    LOG_FORMAT=json RUST_LOG=info "$BIN" serve 2>"$WORK/rust.log" &
RS_PID=$!
PIDS+=("$RS_PID")
JS_PORT=$(free_port)
(cd "$ROOT/benches/reference" && CLERK_WEBHOOK_SECRET=$SECRET DATABASE_URL="$ADMIN/bench_node" \
    LISTEN_ADDR=127.0.0.1:$JS_PORT exec node server.js 2>"$WORK/node.log") &
JS_PID=$!
PIDS+=("$JS_PID")
BARE_PORT=$(free_port)
LISTEN_ADDR=127.0.0.1:$BARE_PORT "$BARE" 2>"$WORK/bare.log" &
BARE_PID=$!
PIDS+=("$BARE_PID")
wait_http "http://127.0.0.1:$RS_PORT/healthz"
wait_http "http://127.0.0.1:$JS_PORT/healthz"
for _ in $(seq 1 100); do
    curl -sS -o /dev/null -X POST -d '{}' "http://127.0.0.1:$BARE_PORT/v2/oauth/webhooks/clerk" 2>/dev/null && break
    sleep 0.1
done

declare -A RESULT
run() { # label server port script [connections]
    local out
    out=$(WRK_THREADS=$THREADS wrk -t"$THREADS" -c"${5:-$CONNECTIONS}" -d"$DURATION" --latency -s "$4" \
        "http://127.0.0.1:$3/v2/oauth/webhooks/clerk")
    echo "$out" > "$WORK/$1-$2.wrk"
    RESULT[$1,$2,rps]=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    RESULT[$1,$2,p50]=$(awk '$1=="50%" {print $2}' <<<"$out")
    RESULT[$1,$2,p99]=$(awk '$1=="99%" {print $2}' <<<"$out")
    RESULT[$1,$2,errors]=$(awk '/Non-2xx/ {print $5} /Socket errors/ {print "socket:" $0}' <<<"$out" | paste -sd' ')
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
cd "$WORK"
node "$ROOT/benches/reference/make-wrk-script.js" verified "$SECRET" "$SECRET" verified.lua
node "$ROOT/benches/reference/make-wrk-script.js" rejected "$SECRET" "$OTHER" rejected.lua
node "$ROOT/benches/reference/make-wrk-script.js" deleted "$SECRET" "$SECRET" deleted-rs.lua "$USERS" rs
node "$ROOT/benches/reference/make-wrk-script.js" deleted "$SECRET" "$SECRET" deleted-js.lua "$USERS" js

# Warm both up (JIT, connection pools) before measuring.
wrk -t1 -c4 -d2s -s verified.lua "http://127.0.0.1:$RS_PORT/v2/oauth/webhooks/clerk" >/dev/null
wrk -t1 -c4 -d2s -s verified.lua "http://127.0.0.1:$JS_PORT/v2/oauth/webhooks/clerk" >/dev/null
wrk -t1 -c4 -d2s -s verified.lua "http://127.0.0.1:$BARE_PORT/v2/oauth/webhooks/clerk" >/dev/null

for scenario in verified rejected; do
    run "$scenario" rust "$RS_PORT" "$scenario.lua"
    run "$scenario" node "$JS_PORT" "$scenario.lua"
    run "$scenario" bare "$BARE_PORT" "$scenario.lua"
done
# Latency without queueing: few connections, so p99 shows service time plus scheduling noise.
run light rust "$RS_PORT" verified.lua "$LIGHT_CONNECTIONS"
run light node "$JS_PORT" verified.lua "$LIGHT_CONNECTIONS"
run light bare "$BARE_PORT" verified.lua "$LIGHT_CONNECTIONS"
run deleted rust "$RS_PORT" deleted-rs.lua
run deleted node "$JS_PORT" deleted-js.lua

rss() { awk -v k="$2" '$1==k":" {printf "%.1f", $2/1024}' "/proc/$1/status"; }
RS_HWM=$(rss "$RS_PID" VmHWM); JS_HWM=$(rss "$JS_PID" VmHWM)
RS_RSS=$(rss "$RS_PID" VmRSS); JS_RSS=$(rss "$JS_PID" VmRSS)
BARE_HWM=$(rss "$BARE_PID" VmHWM); BARE_RSS=$(rss "$BARE_PID" VmRSS)
RS_DROPPED=$(curl -fsS "http://127.0.0.1:$RS_PORT/metrics" | awk '$1=="gpt_log_lines_dropped_total" {print $2}')
RS_ROWS=$(psql -tA "$ADMIN/bench_rust" -c "select count(*) from gpt_oauth_events where details->>'outcome' = 'processed'")
JS_ROWS=$(psql -tA "$ADMIN/bench_node" -c "select count(*) from gpt_oauth_events where details->>'outcome' = 'processed'")

ms() { # wrk latency (e.g. 812.00us, 1.20ms, 2.01s) -> milliseconds
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'; }
ratio2() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }

echo
echo "gpt-deploy serve vs reference (express + svix + pg) vs bare axum route, same run: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $(nproc) cores"
echo "load average before the run: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg) (other processes on the machine skew every column alike)"
printf '%-34s %18s %18s %8s %18s %11s\n' "" "gpt-deploy serve" "reference (node)" "ratio" "bare axum" "ours / bare"
for s in verified rejected light deleted; do
    case $s in
        verified) title="verified (200) req/s" ;;
        light) title="verified, $LIGHT_CONNECTIONS connections, req/s" ;;
        rejected) title="rejected (401) req/s" ;;
        deleted) title="user.deleted deliveries/s (db)" ;;
    esac
    bare_rps=${RESULT[$s,bare,rps]:-}
    bare_lat="-"
    [ -n "$bare_rps" ] && bare_lat="$(ms "${RESULT[$s,bare,p50]}") / $(ms "${RESULT[$s,bare,p99]}")"
    printf '%-34s %18s %18s %8s %18s %11s\n' "$title" "${RESULT[$s,rust,rps]}" "${RESULT[$s,node,rps]}" \
        "$(ratio "${RESULT[$s,rust,rps]}" "${RESULT[$s,node,rps]}")" "${bare_rps:--}" \
        "$( [ -n "$bare_rps" ] && ratio2 "${RESULT[$s,rust,rps]}" "$bare_rps" || echo -)"
    printf '%-34s %18s %18s %8s %18s\n' "  p50 / p99 latency (ms)" \
        "$(ms "${RESULT[$s,rust,p50]}") / $(ms "${RESULT[$s,rust,p99]}")" \
        "$(ms "${RESULT[$s,node,p50]}") / $(ms "${RESULT[$s,node,p99]}")" "" "$bare_lat"
    if [ -n "${RESULT[$s,rust,errors]}${RESULT[$s,node,errors]}" ]; then
        printf '%-34s %18s %18s\n' "  non-2xx / socket errors" "${RESULT[$s,rust,errors]:-0}" "${RESULT[$s,node,errors]:-0}"
    fi
done
printf '%-34s %18s %18s\n' "user.deleted rows processed" "$RS_ROWS" "$JS_ROWS"
printf '%-34s %18s %18s %8s %18s\n' "resident memory, peak / end (MB)" "$RS_HWM / $RS_RSS" "$JS_HWM / $JS_RSS" "" "$BARE_HWM / $BARE_RSS"
printf '%-34s %18s\n' "log lines written / dropped" "$(wc -l <"$WORK/rust.log") / ${RS_DROPPED:-?}"

echo
verdict() { if [ "$2" = 1 ]; then echo "  PASS  $1"; else echo "  MISS  $1"; fi; }
verdict "verified req/s >= 5x reference ($(ratio "${RESULT[verified,rust,rps]}" "${RESULT[verified,node,rps]}"))" \
    "$(awk -v a="${RESULT[verified,rust,rps]}" -v b="${RESULT[verified,node,rps]}" 'BEGIN{print (a >= 5*b) ? 1 : 0}')"
verdict "verified req/s >= 0.8x the bare axum route ($(ratio2 "${RESULT[verified,rust,rps]}" "${RESULT[verified,bare,rps]}"))" \
    "$(awk -v a="${RESULT[verified,rust,rps]}" -v b="${RESULT[verified,bare,rps]}" 'BEGIN{print (a >= 0.8*b) ? 1 : 0}')"
for s in verified rejected light deleted; do
    p99=$(ms "${RESULT[$s,rust,p99]}")
    verdict "p99 < 5 ms under load, $s ($p99 ms)" "$(awk -v p="$p99" 'BEGIN{print (p < 5) ? 1 : 0}')"
done
verdict "peak RSS < 30 MB ($RS_HWM MB)" "$(awk -v r="$RS_HWM" 'BEGIN{print (r < 30) ? 1 : 0}')"

#!/usr/bin/env bash
# Benchmark of `gpt-deploy cleanup` against a throwaway PostgreSQL server,
# side by side with one unbatched `DELETE ... WHERE <rule>` per table (the
# practical floor).
#
# For each layout it loads ROWS rows into each OAuth table (90% past the
# retention cutoff, one token in 20 revoked), runs `vacuum analyze`, and makes
# two identical copies of that database (`create database ... template`, file
# copy): the batched cleanup runs on one, the single statements on the other.
# Layouts:
#   ordered  rows stored in the order they were issued, as a live service does:
#            expiry follows the physical order (with minutes of jitter)
#   random   expiry scattered over the heap (`order by random()` at insert):
#            every deleted row of the index walk sits on another page
# Prints per table and layout, batched vs single: wall clock (client) and
# server-side execution time (pg_stat_statements, statements inside the heap
# walk's server-side runs included), their ratios, the walk the run chose, the
# batches and the client-server round trips they took (a server-side run of heap
# batches is one), and the first / middle / last / p99 / slowest batch (server
# time for batches of a server-side run, client wall clock otherwise). Targets:
# batched <= 1.5x the single statements, no batch over 100 ms.
#
# Usage: scripts/bench-cleanup.sh                     (both layouts, 1,000,000 rows per table)
#        LAYOUTS=random ROWS=100000 BATCH_SIZE=500 scripts/bench-cleanup.sh
#        WALK=index scripts/bench-cleanup.sh          (force a walk; default auto)
#        REPEAT=3 scripts/bench-cleanup.sh            (repeat each measurement)
#        SCALE="1000000 10000000" scripts/bench-cleanup.sh
#                  (scale run, not for CI: rows/s per size and time per row
#                   relative to the smallest size; ~20 GB of free disk at 10M:
#                   the script checks the free space first and says what it needs)
#        BENCH_PROFILE=dev scripts/bench-cleanup.sh   (default: release build)
#        GPT_DEPLOY_BIN=path/to/gpt-deploy scripts/bench-cleanup.sh   (no build)
#        PG_OPTS="-c max_wal_size=128MB" scripts/bench-cleanup.sh
#                  (more server settings: with a small max_wal_size, checkpoints fall
#                   inside a 1,000,000-row run as they do inside a 10,000,000-row one)
#        WAITS=1 scripts/bench-cleanup.sh
#                  (samples the cleanup backend's wait event every 10 ms during the
#                   batched run and prints where its time went and every stretch of
#                   30 ms or more spent in one wait, beside the checkpoints and
#                   autovacuum runs the server logged then; the sampler costs CPU)
# Needs: PostgreSQL server programs (tests/support/ensure-postgres.sh), psql, jq.
# The server runs with PostgreSQL's defaults (fsync on) in a temporary
# directory and is removed on exit; as root it runs as the `postgres` user.
# The load average is printed before and after every measurement: on a shared
# machine, repeat when it is high.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS="${ROWS:-1000000}"
BATCH_SIZE="${BATCH_SIZE:-1000}"
LAYOUTS="${LAYOUTS:-ordered random}"
WALK="${WALK:-auto}"
REPEAT="${REPEAT:-1}"
SCALE="${SCALE:-}"
PROFILE="${BENCH_PROFILE:-release}"

pg_bin="${GPT_DEPLOY_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
[ -x "$pg_bin/initdb" ] || { echo "PostgreSQL server programs not found; run tests/support/ensure-postgres.sh" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq is required (apt-get install -y jq)" >&2; exit 1; }

if [ -n "${GPT_DEPLOY_BIN:-}" ]; then
    bin="$GPT_DEPLOY_BIN"
    PROFILE="given binary $bin"
else
    echo "building gpt-deploy (profile $PROFILE)..." >&2
    cargo build --quiet --profile "$PROFILE" --bin gpt-deploy
    target_dir="${CARGO_TARGET_DIR:-target}"
    [ "$PROFILE" = dev ] && bin="$target_dir/debug/gpt-deploy" || bin="$target_dir/$PROFILE/gpt-deploy"
fi

# Disk: one database of the three tables takes about 0.72 GB per 1,000,000 rows per
# table (measured: 143 MB at 200,000 rows, indexes included); the source and one copy
# exist at a time, plus WAL (max_wal_size 4 GB) and the sort of the random layout's
# load. Checked before anything is written; BENCH_SKIP_DISK_CHECK=1 skips the check.
largest=$ROWS
for rows in $SCALE; do [ "$rows" -gt "$largest" ] && largest=$rows; done
need_mb=$(( largest * 1440 / 1000000 + 5120 ))
free_mb=$(df -Pm "${TMPDIR:-/tmp}" | awk 'NR == 2 { print $4 }')
echo "disk: $largest rows per table need about $(( need_mb / 1024 )) GB free in ${TMPDIR:-/tmp}; $(( free_mb / 1024 )) GB free" >&2
if [ "${BENCH_SKIP_DISK_CHECK:-0}" != 1 ] && [ "$free_mb" -lt "$need_mb" ]; then
    echo "not enough free disk for $largest rows per table: need about $need_mb MB in ${TMPDIR:-/tmp}, $free_mb MB free." >&2
    echo "Free some space, point TMPDIR at a larger filesystem, or lower ROWS/SCALE (BENCH_SKIP_DISK_CHECK=1 to run anyway)." >&2
    exit 1
fi

run_as=()
dir="$(mktemp -d "${TMPDIR:-/tmp}/gpt-deploy-bench-XXXXXX")"
if [ "$(id -u)" = 0 ]; then
    chown postgres: "$dir"
    run_as=(runuser -u postgres --)
fi
cleanup_server() {
    "${run_as[@]}" "$pg_bin/pg_ctl" -D "$dir/data" stop -m immediate >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup_server EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 55432)"
"${run_as[@]}" "$pg_bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
"${run_as[@]}" "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $port -h 127.0.0.1 -k $dir -c shared_buffers=256MB -c max_wal_size=4GB -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all -c log_checkpoints=on -c log_autovacuum_min_duration=0 -c log_timezone=UTC ${PG_OPTS:-}" start >/dev/null
base="postgres://postgres@127.0.0.1:$port"
psql_() { local db="$1"; shift; "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 "$base/$db" "$@"; }
server_version="$(psql_ postgres -At -c 'show server_version')"
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
ms_to_s() { awk -v m="$1" 'BEGIN { printf "%.2f", m/1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a/b; else print "-" }'; }

tables=(gpt_authorization_codes gpt_refresh_tokens gpt_sessions)
rule() {
    case "$1" in
        gpt_refresh_tokens) echo "revoked_at < \$1 or expires_at < \$1" ;;
        *) echo "expires_at < \$1" ;;
    esac
}

# Loads the source database `src` with $1 rows per table in layout $2.
load() {
    local rows="$1" layout="$2" exp order
    # Position p in [0, 1): 90% of the rows (p < 0.9) expired 31 to 120 days
    # ago, the rest expire within the next 10 days.
    exp="case when p < 0.9 then now() - interval '120 days' + (p / 0.9) * interval '89 days' + (random() - 0.5) * interval '20 minutes'
              else now() + (p - 0.9) * interval '100 days' end"
    case "$layout" in
        ordered) order="i" ;;
        random) order="random()" ;;
        *) echo "layouts are ordered and random" >&2; exit 1 ;;
    esac
    psql_ postgres -c "drop database if exists src" -c "create database src"
    DATABASE_URL="$base/src" "$bin" migrate >/dev/null 2>"$dir/migrate.log"
    psql_ src <<SQL
insert into gpt_authorization_codes (code_hash, clerk_user_id, client_id, redirect_uri, created_at, expires_at)
select md5(i::text), 'user_' || (i % 5000), 'chatgpt', 'https://chat.openai.com/aip/callback', e - interval '10 minutes', e
from (select i, $exp as e from (select i, (i - 1)::float8 / $rows as p from generate_series(1, $rows) i) g) s order by $order;
-- Tokens live 60 days; one in 20 is revoked somewhere in its lifetime.
insert into gpt_refresh_tokens (token_hash, clerk_user_id, client_id, created_at, expires_at, revoked_at)
select md5('t' || i), 'user_' || (i % 5000), 'chatgpt', e - interval '60 days', e,
       case when i % 20 = 0 then e - random() * interval '60 days' end
from (select i, $exp as e from (select i, (i - 1)::float8 / $rows as p from generate_series(1, $rows) i) g) s order by $order;
insert into gpt_sessions (clerk_user_id, created_at, expires_at)
select 'user_' || (i % 5000), e - interval '7 days', e
from (select i, $exp as e from (select i, (i - 1)::float8 / $rows as p from generate_series(1, $rows) i) g) s order by $order;
vacuum analyze gpt_authorization_codes, gpt_refresh_tokens, gpt_sessions;
checkpoint;
SQL
}

copy() {
    psql_ postgres -c "drop database if exists $1" -c "create database $1 template src strategy file_copy"
    psql_ "$1" -c "create extension if not exists pg_stat_statements"
}

# Results of the last measurement, per table.
declare -A deleted batches trips walk wall_b srv_b wall_s srv_s first middle last p99 p999 slowest over100 rows_s
whole_ms=0

# Server log lines (checkpoints, autovacuum) stamped between $1 and $2 (UTC, as the log writes them).
server_events() {
    awk -v from="$1" -v to="$2" '{ ts = $1 " " $2 } ts >= from && ts <= to && /checkpoint (starting|complete)|automatic (vacuum|analyze)/' "$dir/server.log"
}

# Summarises the wait-event samples of the batched run (WAITS=1): share of samples per
# wait (CPU = no wait), then every stretch of >= 30 ms in one wait.
waits_report() {
    awk -F'|' '
        { key = ($2 == "" ? "CPU (no wait)" : $2 ":" $3); n[key]++; total++
          if (key == cur) { len++ } else { flush(); cur = key; start = $1; len = 1 } }
        function flush() { if (cur != "" && cur != "CPU (no wait)" && len >= 3) printf "   stretch: %s  %s for %d samples (>= %d ms)\n", start, cur, len, len * 10 }
        END { flush(); for (k in n) printf "   samples: %-40s %6d (%.1f%%)\n", k, n[k], 100 * n[k] / total }' "$1"
}

# Every batch over 100 ms, lined up with what the server was doing then: the
# checkpoint in progress (log_checkpoints), autovacuum runs that overlapped
# (their end and elapsed time from log_autovacuum_min_duration=0) and, with
# WAITS=1, the cleanup backend's sampled wait events in the half second before.
# A batch's time is its server run's log line (the client logs a run's batches
# when the run returns, at most HEAP_RUN_BUDGET plus one batch after they ran).
slow_batches() {
    jq -r 'select(.message == "batch" and .elapsed_us > 100000) | "\(.timestamp) \(.table) \(.elapsed_us)"' "$dir/log" >"$dir/slow"
    [ -s "$dir/slow" ] || return 0
    { sed 's/^/S /' "$dir/slow"; awk '{ print "E " $0 }' "$dir/server.log"; [ ! -s "$dir/waits" ] || sed 's/^/W /' "$dir/waits"; } | awk '
        # Seconds since an arbitrary origin, from "YYYY-MM-DD?HH:MM:SS.fff".
        function secs(d, t,   a, b) { split(d, a, "-"); split(t, b, ":"); return ((a[1] * 12 + a[2]) * 31 + a[3]) * 86400 + b[1] * 3600 + b[2] * 60 + b[3] }
        $1 == "S" { ts = $2; sub(/Z$/, "", ts); split(ts, p, "T"); n++; at[n] = secs(p[1], p[2]); label[n] = substr(p[2], 1, 12); tab[n] = $3; us[n] = $4; next }
        $1 == "W" { split(substr($0, 3), f, "|"); split(f[1], p, " "); w++; wat[w] = secs(p[1], p[2]); wev[w] = (f[2] == "" ? "CPU" : f[2] ":" f[3]); next }
        $1 == "E" && $2 ~ /^[0-9-]+$/ { now = secs($2, $3) }
        $1 == "E" && /checkpoint starting/ { c++; cs[c] = now; ce[c] = 1e18; why[c] = $0; sub(/.*checkpoint starting: /, "", why[c]) }
        $1 == "E" && /checkpoint complete/ { ce[c] = now; cdet[c] = $0; sub(/.*checkpoint complete: /, "", cdet[c]) }
        $1 == "E" && /automatic vacuum of table/ { v++; ve[v] = now; vt[v] = $0; sub(/.*table "/, "", vt[v]); sub(/".*/, "", vt[v]) }
        /system usage: .*elapsed: / && v > 0 && !(v in vs) { e = $0; sub(/.*elapsed: /, "", e); sub(/ s.*/, "", e); vs[v] = ve[v] - e }
        END {
            for (i = 1; i <= n; i++) {
                line = sprintf("   slow batch: %s %s %.1f ms", label[i], tab[i], us[i] / 1000)
                what = ""
                for (j = 1; j <= c; j++) if (cs[j] <= at[i] && at[i] - us[i] / 1e6 - 0.2 <= ce[j]) what = what sprintf("; during checkpoint (%s, %s)", why[j], (ce[j] < 1e18 ? cdet[j] : "not complete"))
                for (j = 1; j <= v; j++) if ((j in vs) && vs[j] <= at[i] && at[i] - us[i] / 1e6 - 0.2 <= ve[j]) what = what "; autovacuum of " vt[j] " running"
                if (what == "") what = "; no checkpoint or autovacuum logged then"
                print line what
                if (w > 0) {
                    delete cnt; seen = ""
                    for (j = 1; j <= w; j++) if (wat[j] <= at[i] && wat[j] >= at[i] - 0.5) { if (!(wev[j] in cnt)) seen = seen " " wev[j]; cnt[wev[j]]++ }
                    out = ""; k = split(seen, names, " ")
                    for (j = 1; j <= k; j++) out = out sprintf(" %s x%d", names[j], cnt[names[j]])
                    print "      waits sampled in the 0.5 s before (10 ms apart):" (out == "" ? " none" : out)
                }
            }
        }' >&2
}

batched() {
    local db="$1" t start_ns from to wal_from sampler=""
    copy "$db"
    psql_ "$db" -At -c "select pg_stat_statements_reset()" >/dev/null
    : >"$dir/waits"
    if [ "${WAITS:-0}" = 1 ]; then
        printf '%s\n' "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'), coalesce(wait_event_type, ''), coalesce(wait_event, '') from pg_stat_activity where datname = '$db' and application_name = 'gpt-deploy cleanup' and state = 'active'" '\watch 0.01' >"$dir/sampler.sql"
        "$pg_bin/psql" -X -q -At -F'|' -f "$dir/sampler.sql" "$base/postgres" >"$dir/waits.raw" 2>/dev/null &
        sampler=$!
    fi
    wal_from="$(psql_ postgres -At -c 'select pg_current_wal_lsn()')"
    from="$(date -u '+%Y-%m-%d %H:%M:%S.%3N')"
    start_ns=$(date +%s%N)
    DATABASE_URL="$base/$db" LOG_FORMAT=json RUST_LOG=gpt_deploy=debug \
        "$bin" cleanup --batch-size "$BATCH_SIZE" --walk "$WALK" >"$dir/stdout" 2>"$dir/log"
    whole_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
    to="$(date -u '+%Y-%m-%d %H:%M:%S.%3N')"
    if [ -n "$sampler" ]; then
        kill "$sampler" 2>/dev/null || true
        wait "$sampler" 2>/dev/null || true
        grep '|' "$dir/waits.raw" >"$dir/waits" || true
    fi
    sed 's/^/   /' "$dir/stdout" >&2
    echo "   batched run $from .. $to UTC: $(psql_ postgres -At -c "select pg_size_pretty(pg_current_wal_lsn() - '$wal_from')") of WAL, $(server_events "$from" "$to" | grep -c 'checkpoint starting' || true) checkpoint(s), $(server_events "$from" "$to" | grep -c 'automatic vacuum' || true) autovacuum run(s) logged" >&2
    server_events "$from" "$to" | sed 's/^/   server: /' >&2
    [ ! -s "$dir/waits" ] || waits_report "$dir/waits" >&2
    slow_batches
    for t in "${tables[@]}"; do
        jq -r --arg t "$t" 'select(.message == "batch" and .table == $t) | .elapsed_us' "$dir/log" >"$dir/$t.us"
        batches[$t]=$(wc -l <"$dir/$t.us")
        read -r first[$t] middle[$t] last[$t] slowest[$t] < <(awk '
            { v[NR] = $1; if ($1 > max) max = $1 }
            END { if (NR == 0) { print "- - - -"; exit } printf "%.1f %.1f %.1f %.1f\n", v[1]/1000, v[int((NR+1)/2)]/1000, v[NR]/1000, max/1000 }' "$dir/$t.us")
        read -r p99[$t] p999[$t] over100[$t] < <(sort -n "$dir/$t.us" | awk '
            function at(q,  i) { i = int(NR * q + 0.999999); if (i < 1) i = 1; return v[i] / 1000 }
            { v[NR] = $1; if ($1 > 100000) over++ }
            END { if (NR == 0) { print "- - 0"; exit } printf "%.1f %.1f %d\n", at(0.99), at(0.999), over + 0 }')
        deleted[$t]=$(jq -r --arg t "$t" 'select(.message == "table cleaned" and .table == $t) | .rows' "$dir/log")
        walk[$t]=$(jq -r --arg t "$t" 'select(.message == "table cleaned" and .table == $t) | .walk' "$dir/log" | cut -d' ' -f1)
        wall_b[$t]=$(jq -r --arg t "$t" 'select(.message == "table cleaned" and .table == $t) | .elapsed_ms' "$dir/log")
        # Server-side execution time of the batch statements (both forms).
        srv_b[$t]=$(psql_ "$db" -At -c "
            select coalesce(round(sum(total_exec_time)::numeric, 1), 0) from pg_stat_statements
            where dbid = (select oid from pg_database where datname = current_database())
              and (query like 'with picked as materialized (%from $t %' or query like 'delete from $t where ctid%')")
        # Round trips: one per server-side run of heap batches, one per batch the client ran.
        read -r runs run_batches < <(jq -r --arg t "$t" 'select(.message == "server-side heap run" and .table == $t) | .batches' "$dir/log" |
            awk '{ n++; b += $1 } END { printf "%d %d\n", n, b }')
        trips[$t]=$(( runs + batches[$t] - run_batches ))
    done
    psql_ postgres -c "drop database $db"
}

single() {
    local db="$1" t r out
    copy "$db"
    psql_ "$db" -At -c "select pg_stat_statements_reset()" >/dev/null
    for t in "${tables[@]}"; do
        r="$(rule "$t")"
        out="$(psql_ "$db" -At <<SQL
\\timing on
prepare s(timestamptz) as delete from $t where $r;
execute s(now() - interval '30 days');
SQL
)"
        wall_s[$t]=$(echo "$out" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1)
        read -r srv_s[$t] rows_s[$t] < <(psql_ "$db" -At -F' ' -c "
            select round(sum(total_exec_time)::numeric, 1), sum(rows) from pg_stat_statements
            where query like 'prepare s(timestamptz) as delete from $t %'")
    done
    psql_ postgres -c "drop database $db"
}

# One side-by-side measurement of the loaded source; prints the tables.
measure() {
    local label="$1" t sb=0 ss=0 wb=0 ws=0 rows=0 max=0 overs=0 la_before la_mid la_after
    la_before="$(loadavg)"
    batched run_batched
    la_mid="$(loadavg)"
    single run_single
    la_after="$(loadavg)"
    echo
    echo "== $label   (load average: before $la_before; after batched $la_mid; after single $la_after)"
    printf '%-24s %-5s %9s %7s %6s | %-27s | %-27s | %6s %6s %6s %6s %6s %6s %5s\n' \
        "" "" "" "" "" "wall s: batched single ratio" "server s: batched single ratio" \
        "batch ms:" "" "" "" "" "" ""
    printf '%-24s %-5s %9s %7s %6s | %8s %8s %9s | %8s %8s %9s | %6s %6s %6s %6s %6s %6s %5s\n' \
        table walk rows batches trips batched single ratio batched single ratio \
        "first" "mid" "last" "p99" "p99.9" "max" ">100"
    for t in "${tables[@]}"; do
        [ "${deleted[$t]}" = "${rows_s[$t]}" ] || echo "!! $t: batched deleted ${deleted[$t]} rows, single ${rows_s[$t]}" >&2
        printf '%-24s %-5s %9s %7s %6s | %8s %8s %9s | %8s %8s %9s | %6s %6s %6s %6s %6s %6s %5s\n' \
            "$t" "${walk[$t]}" "${deleted[$t]}" "${batches[$t]}" "${trips[$t]}" \
            "$(ms_to_s "${wall_b[$t]}")" "$(ms_to_s "${wall_s[$t]}")" "$(ratio "${wall_b[$t]}" "${wall_s[$t]}")" \
            "$(ms_to_s "${srv_b[$t]}")" "$(ms_to_s "${srv_s[$t]}")" "$(ratio "${srv_b[$t]}" "${srv_s[$t]}")" \
            "${first[$t]}" "${middle[$t]}" "${last[$t]}" "${p99[$t]}" "${p999[$t]}" "${slowest[$t]}" "${over100[$t]}"
        wb=$(awk -v a="$wb" -v b="${wall_b[$t]}" 'BEGIN { print a + b }')
        ws=$(awk -v a="$ws" -v b="${wall_s[$t]}" 'BEGIN { print a + b }')
        sb=$(awk -v a="$sb" -v b="${srv_b[$t]}" 'BEGIN { print a + b }')
        ss=$(awk -v a="$ss" -v b="${srv_s[$t]}" 'BEGIN { print a + b }')
        rows=$(( rows + deleted[$t] ))
        max=$(awk -v a="$max" -v b="${slowest[$t]}" 'BEGIN { print (b > a) ? b : a }')
        overs=$(( overs + over100[$t] ))
    done
    printf '%-24s %-5s %9s %7s %6s | %8s %8s %9s | %8s %8s %9s | %s\n' \
        "all tables" "" "$rows" "" "" "$(ms_to_s "$wb")" "$(ms_to_s "$ws")" "$(ratio "$wb" "$ws")" \
        "$(ms_to_s "$sb")" "$(ms_to_s "$ss")" "$(ratio "$sb" "$ss")" "slowest batch $max ms, $overs over 100 ms"
    echo "whole command ${whole_ms} ms ($(awk -v r="$rows" -v m="$whole_ms" 'BEGIN { printf "%.0f", r/(m/1000) }') rows/s);" \
        "batched $(awk -v r="$rows" -v m="$wb" 'BEGIN { printf "%.0f", r/(m/1000) }') rows/s wall," \
        "single statements $(awk -v r="$rows" -v m="$ws" 'BEGIN { printf "%.0f", r/(m/1000) }') rows/s wall"
    last_rows=$rows
    last_whole=$whole_ms
}

echo "gpt-deploy cleanup benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'): PostgreSQL $server_version, $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(awk '/MemTotal/ { printf "%.0f GB", $2/1048576 }' /proc/meminfo) RAM"
echo "batch size $BATCH_SIZE, walk $WALK, profile $PROFILE; 90% of the rows past the cutoff"

if [ -z "$SCALE" ]; then
    for layout in $LAYOUTS; do
        echo "loading $ROWS rows per table, layout $layout..." >&2
        load "$ROWS" "$layout"
        for i in $(seq 1 "$REPEAT"); do
            measure "$layout, $ROWS rows per table, run $i of $REPEAT"
        done
    done
    exit 0
fi

declare -A scale_rate
for layout in $LAYOUTS; do
    smallest=""
    for rows in $SCALE; do
        echo "loading $rows rows per table, layout $layout..." >&2
        load "$rows" "$layout"
        measure "scale: $layout, $rows rows per table"
        rate=$(awk -v r="$last_rows" -v m="$last_whole" 'BEGIN { printf "%.0f", r/(m/1000) }')
        scale_rate[$layout,$rows]=$rate
        [ -n "$smallest" ] || smallest=$rows
    done
    echo
    echo "== scale, layout $layout: whole-command rows/s per size, and time per row relative to $smallest rows per table (1.00 = linear)"
    for rows in $SCALE; do
        echo "   $rows rows per table: ${scale_rate[$layout,$rows]} rows/s, time per row $(ratio "${scale_rate[$layout,$smallest]}" "${scale_rate[$layout,$rows]}")"
    done
done

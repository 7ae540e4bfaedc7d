#!/usr/bin/env bash
# Benchmark of `gpt-deploy cleanup` against a throwaway PostgreSQL server.
#
# Loads ROWS rows into each OAuth table (90% past the retention cutoff), runs
# the batched cleanup, reloads the same data, and times one unbatched
# `DELETE ... WHERE <rule>` per table (the practical floor). Prints, side by
# side: rows deleted per second, the first, middle, last and slowest batch,
# and the single statement's time. Targets: batched within 2x of the single
# statement, no batch slower than 100 ms.
#
# Usage: scripts/bench-cleanup.sh            (1,000,000 rows per table)
#        LAYOUT=random scripts/bench-cleanup.sh
#        ROWS=100000 BATCH_SIZE=500 scripts/bench-cleanup.sh
#        BENCH_PROFILE=release scripts/bench-cleanup.sh
# Needs: PostgreSQL server programs (tests/support/ensure-postgres.sh), psql, jq.
# The server runs with PostgreSQL's defaults (fsync on) in a temporary
# directory and is removed on exit; as root it runs as the `postgres` user.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS="${ROWS:-1000000}"
BATCH_SIZE="${BATCH_SIZE:-1000}"
PROFILE="${BENCH_PROFILE:-dev}"

pg_bin="${GPT_DEPLOY_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
[ -x "$pg_bin/initdb" ] || { echo "PostgreSQL server programs not found; run tests/support/ensure-postgres.sh" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq is required (apt-get install -y jq)" >&2; exit 1; }

echo "building gpt-deploy (profile $PROFILE)..." >&2
cargo build --quiet --profile "$PROFILE" --bin gpt-deploy
target_dir="${CARGO_TARGET_DIR:-target}"
[ "$PROFILE" = dev ] && bin="$target_dir/debug/gpt-deploy" || bin="$target_dir/$PROFILE/gpt-deploy"

run_as=()
dir="$(mktemp -d /tmp/gpt-deploy-bench-XXXXXX)"
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
    -o "-p $port -h 127.0.0.1 -k $dir -c shared_buffers=256MB -c max_wal_size=4GB -c shared_preload_libraries=pg_stat_statements" start >/dev/null
url="postgres://postgres@127.0.0.1:$port/bench"
psql_() { "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 "$url" "$@"; }
"$pg_bin/psql" -X -q "postgres://postgres@127.0.0.1:$port/postgres" -c "create database bench"
DATABASE_URL="$url" "$bin" migrate >/dev/null 2>"$dir/migrate.log"
psql_ -c "create extension pg_stat_statements"

server_version="$(psql_ -At -c 'show server_version')"

# 90% of the rows are past the cutoff. LAYOUT=ordered (the default) stores
# rows in the order they were issued, as a live service does: expiry follows
# issue time (with some minutes of jitter), so the oldest rows share pages.
# LAYOUT=random scatters expiry times over the heap: the worst case, where
# every deleted row sits on a different page.
LAYOUT="${LAYOUT:-ordered}"
case "$LAYOUT" in
    ordered) exp="now() - interval '120 days' + (i::float8 / $ROWS) * interval '100 days' + (random() - 0.5) * interval '20 minutes'" ;;
    random) exp="case when i % 10 <> 0 then now() - interval '31 days' - random() * interval '89 days' else now() + random() * interval '10 days' end" ;;
    *) echo "LAYOUT must be ordered or random" >&2; exit 1 ;;
esac
load() {
    psql_ <<SQL
truncate gpt_authorization_codes, gpt_refresh_tokens, gpt_sessions;
insert into gpt_authorization_codes (code_hash, clerk_user_id, client_id, redirect_uri, created_at, expires_at)
select md5(i::text), 'user_' || (i % 5000), 'chatgpt', 'https://chat.openai.com/aip/callback', e - interval '10 minutes', e
from (select i, $exp as e from generate_series(1, $ROWS) i) s;
-- Tokens live 60 days; one in 20 is revoked somewhere in its lifetime.
insert into gpt_refresh_tokens (token_hash, clerk_user_id, client_id, created_at, expires_at, revoked_at)
select md5('t' || i), 'user_' || (i % 5000), 'chatgpt', e - interval '60 days', e,
       case when i % 20 = 0 then e - random() * interval '60 days' end
from (select i, $exp as e from generate_series(1, $ROWS) i) s;
insert into gpt_sessions (clerk_user_id, created_at, expires_at)
select 'user_' || (i % 5000), e - interval '7 days', e
from (select i, $exp as e from generate_series(1, $ROWS) i) s;
vacuum analyze gpt_authorization_codes, gpt_refresh_tokens, gpt_sessions;
SQL
}

tables=(gpt_authorization_codes gpt_refresh_tokens gpt_sessions)
rule() {
    case "$1" in
        gpt_refresh_tokens) echo "revoked_at < \$1 or expires_at < \$1" ;;
        *) echo "expires_at < \$1" ;;
    esac
}

echo "loading $ROWS rows per table, layout $LAYOUT (PostgreSQL $server_version, $(nproc) cores)..." >&2
echo "rows per table: $ROWS, layout: $LAYOUT, batch size: $BATCH_SIZE, PostgreSQL $server_version, $(nproc) cores, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
load

echo
echo "== EXPLAIN (ANALYZE) of the first batch of each walk, with cleanup's session settings (rolled back)"
for t in "${tables[@]}"; do
    cols=(expires_at); [ "$t" = gpt_refresh_tokens ] && cols=(revoked_at expires_at)
    for c in "${cols[@]}"; do
        r="$(rule "$t")"
        echo "-- $t by $c"
        psql_ -At <<SQL | sed 's/^/   /'
begin;
set enable_seqscan = off; set enable_bitmapscan = off; set enable_sort = off; set synchronous_commit = off;
prepare b(timestamptz, bigint, timestamptz) as
  with deleted as (
    delete from $t where ctid = any(array(
        select ctid from $t where $c >= coalesce(\$3, '-infinity'::timestamptz) and $c < \$1 order by $c limit \$2))
      and ($r)
    returning $c)
  select count(*), max($c) from deleted;
explain (analyze, costs off, timing on, summary on) execute b(now() - interval '30 days', $BATCH_SIZE, null);
rollback;
SQL
    done
done

echo
echo "== batched: gpt-deploy cleanup --batch-size $BATCH_SIZE"
psql_ -At -c "select pg_stat_statements_reset()" >/dev/null
start_ns=$(date +%s%N)
DATABASE_URL="$url" LOG_FORMAT=json RUST_LOG=gpt_deploy=debug \
    "$bin" cleanup --batch-size "$BATCH_SIZE" >"$dir/stdout" 2>"$dir/log"
total_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
sed 's/^/   /' "$dir/stdout"

declare -A deleted batched_ms batches first middle last slowest p99 over100
for t in "${tables[@]}"; do
    jq -r --arg t "$t" 'select(.message == "batch" and .table == $t) | .elapsed_us' "$dir/log" >"$dir/$t.us"
    batches[$t]=$(wc -l <"$dir/$t.us")
    read -r first[$t] middle[$t] last[$t] slowest[$t] < <(awk '
        { v[NR] = $1; if ($1 > max) max = $1 }
        END { printf "%.1f %.1f %.1f %.1f\n", v[1]/1000, v[int((NR+1)/2)]/1000, v[NR]/1000, max/1000 }' "$dir/$t.us")
    read -r p99[$t] over100[$t] < <(sort -n "$dir/$t.us" | awk '
        { v[NR] = $1; if ($1 > 100000) over++ }
        END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.1f %d\n", v[i]/1000, over }')
    deleted[$t]=$(jq -r --arg t "$t" 'select(.message == "table cleaned" and .table == $t) | .rows' "$dir/log")
    batched_ms[$t]=$(jq -r --arg t "$t" 'select(.message == "table cleaned" and .table == $t) | .elapsed_ms' "$dir/log")
done

# Server-side execution time of the batch statements: unlike the client's
# wall clock, it does not include waiting for a CPU between round trips,
# which dominates on a machine busy with other work.
declare -A srv_calls srv_total srv_max srv_single
for t in "${tables[@]}"; do
    read -r srv_calls[$t] srv_total[$t] srv_max[$t] < <(psql_ -At -F' ' -c "
        select sum(calls), round(sum(total_exec_time)::numeric, 1), round(max(max_exec_time)::numeric, 1)
        from pg_stat_statements where query like 'with deleted as (delete from $t %'")
done

echo
echo "== single statement: reload, then one DELETE per table"
load
psql_ -At -c "select pg_stat_statements_reset()" >/dev/null
declare -A single_ms single_rows
for t in "${tables[@]}"; do
    r="$(rule "$t")"
    out="$(psql_ -At <<SQL
\\timing on
prepare s(timestamptz) as delete from $t where $r;
execute s(now() - interval '30 days');
SQL
)"
    single_ms[$t]=$(echo "$out" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1)
    single_rows[$t]=$(psql_ -At -c "select $ROWS - count(*) from $t")
    srv_single[$t]=$(psql_ -At -c "
        select round(sum(total_exec_time)::numeric, 1) from pg_stat_statements
        where query like 'prepare s(timestamptz) as delete from $t %'")
done

echo
echo "batched (client wall clock, per batch) vs single statement:"
printf '%-24s %9s %8s %10s %10s | %9s %10s %6s | %8s %8s %8s %8s %8s %7s\n' \
    table rows batches "batched s" "rows/s" "single s" "rows/s" ratio "first ms" "mid ms" "last ms" "p99 ms" "max ms" ">100ms"
for t in "${tables[@]}"; do
    b_s=$(awk -v m="${batched_ms[$t]}" 'BEGIN { printf "%.3f", m/1000 }')
    s_s=$(awk -v m="${single_ms[$t]}" 'BEGIN { printf "%.3f", m/1000 }')
    printf '%-24s %9s %8s %10s %10s | %9s %10s %6s | %8s %8s %8s %8s %8s %7s\n' \
        "$t" "${deleted[$t]}" "${batches[$t]}" "$b_s" \
        "$(awk -v r="${deleted[$t]}" -v m="${batched_ms[$t]}" 'BEGIN { printf "%.0f", r/(m/1000) }')" \
        "$s_s" "$(awk -v r="${single_rows[$t]}" -v m="${single_ms[$t]}" 'BEGIN { printf "%.0f", r/(m/1000) }')" \
        "$(awk -v b="${batched_ms[$t]}" -v s="${single_ms[$t]}" 'BEGIN { printf "%.2fx", b/s }')" \
        "${first[$t]}" "${middle[$t]}" "${last[$t]}" "${p99[$t]}" "${slowest[$t]}" "${over100[$t]}"
done
echo
echo "server-side execution time (pg_stat_statements):"
printf '%-24s %8s %14s %14s %7s %12s %12s\n' table batches "batched ms" "single ms" ratio "mean ms" "max ms"
for t in "${tables[@]}"; do
    printf '%-24s %8s %14s %14s %7s %12s %12s\n' "$t" "${srv_calls[$t]}" "${srv_total[$t]}" "${srv_single[$t]}" \
        "$(awk -v b="${srv_total[$t]}" -v s="${srv_single[$t]}" 'BEGIN { printf "%.2fx", b/s }')" \
        "$(awk -v b="${srv_total[$t]}" -v c="${srv_calls[$t]}" 'BEGIN { printf "%.2f", b/c }')" "${srv_max[$t]}"
done
sum_b=0; sum_s=0; sum_r=0; max=0
for t in "${tables[@]}"; do
    sum_b=$(awk -v a="$sum_b" -v b="${batched_ms[$t]}" 'BEGIN { print a + b }')
    sum_s=$(awk -v a="$sum_s" -v b="${single_ms[$t]}" 'BEGIN { print a + b }')
    sum_r=$(( sum_r + deleted[$t] ))
    max=$(awk -v a="$max" -v b="${slowest[$t]}" 'BEGIN { print (b > a) ? b : a }')
done
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "all tables: $sum_r rows; batched $(awk -v m="$sum_b" 'BEGIN { printf "%.2f", m/1000 }') s" \
    "($(awk -v r="$sum_r" -v m="$sum_b" 'BEGIN { printf "%.0f", r/(m/1000) }') rows/s, whole command ${total_ms} ms)," \
    "single statements $(awk -v m="$sum_s" 'BEGIN { printf "%.2f", m/1000 }') s;" \
    "ratio $(awk -v b="$sum_b" -v s="$sum_s" 'BEGIN { printf "%.2fx", b/s }') (target <= 2x);" \
    "slowest batch $max ms (target <= 100 ms)"

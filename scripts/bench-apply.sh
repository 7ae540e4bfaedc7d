#!/usr/bin/env bash
# Side-by-side benchmark on the local control plane (tests/cluster):
#
#   gpt-deploy apply --wait                                  (one process)
#   kubectl apply --server-side -f <rendered> + kubectl rollout status   (two processes)
#
# for a first deploy into an empty namespace and for an image change, ROUNDS times
# each. Reports wall time, CPU time (user + system of every process the step ran), the
# number of HTTP requests each side sends to the API server, and the time from the
# Deployment's last status change to the exit of the last process. Requests are counted
# by a small TLS proxy in front of the API server (both tools talk to it through an
# otherwise identical kubeconfig), so the count is what reaches the server, independent of
# either tool's own logging. The status changes are seen by a separate watch on the
# Deployment that talks to the API server directly (not through the proxy) and stamps
# each event as it arrives; "exit" is stamped by this script when the step's last process
# has exited. The load average is printed with the results.
#
# Usage: scripts/bench-apply.sh [ROUNDS]        (default 3)
# Env:   GPT_DEPLOY_BIN   use this binary instead of building target/release/gpt-deploy
#        BENCH_BASELINE_BIN=PATH   also measure this (older) gpt-deploy binary in every round,
#                         in a namespace of its own, for a before/after within one run
#        BENCH_KEEP=1     leave the cluster running afterwards (prints its state dir)
set -euo pipefail

rounds=${1:-3}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/tests/cluster/lib.sh"
kubectl_bin=$k8s_bin/kubectl

work=$(mktemp -d "${TMPDIR:-/tmp}/gpt-deploy-bench.XXXXXX")
state=$work/cluster
proxy_pid=""
cleanup() {
    [[ -n $proxy_pid ]] && kill "$proxy_pid" 2>/dev/null || true
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        log "cluster kept in $state"
    else
        "$root/tests/cluster/down" "$state" >/dev/null 2>&1 || true
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# --- binaries -----------------------------------------------------------------
if [[ -n ${GPT_DEPLOY_BIN:-} ]]; then
    gpt_deploy=$GPT_DEPLOY_BIN
else
    log "building gpt-deploy (release)..."
    (cd "$root" && cargo build --release --quiet --bin gpt-deploy)
    gpt_deploy=${CARGO_TARGET_DIR:-$root/target}/release/gpt-deploy
fi
[[ -x $gpt_deploy ]] || die "gpt-deploy binary $gpt_deploy not found."
binaries_present || "$root/tests/cluster/build" >&2
[[ -x $kubectl_bin ]] || die "kubectl not found at $kubectl_bin (tests/cluster/build makes it)."

# --- cluster and counting proxy ------------------------------------------------
log "starting a private control plane..."
"$root/tests/cluster/up" --state-dir "$state" --owner-pid $$ >/dev/null
api_port=$(sed -n 3p "$state/ports")
proxy_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
requests_log=$work/requests.log
: >"$requests_log"

cat >"$work/proxy.py" <<'PY'
# Counting HTTPS reverse proxy: logs one line per request, streams responses (watches).
import http.client, http.server, ssl, sys, threading

import time
listen_port, api_port, pki, log_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
lock = threading.Lock()
log = open(log_path, "a", buffering=1)
# start, response headers, end (seconds since the epoch) per request, for the timelines.
timed = open(log_path + ".timed", "a", buffering=1)
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection"}

def upstream():
    ctx = ssl.create_default_context(cafile=f"{pki}/ca.crt")
    ctx.load_cert_chain(f"{pki}/admin.crt", f"{pki}/admin.key")
    return http.client.HTTPSConnection("127.0.0.1", api_port, context=ctx)

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes: with Nagle's algorithm on, the body would
    # wait for the client's delayed ACK (~40 ms) and every request would look that slow.
    disable_nagle_algorithm = True
    up = None

    def log_message(self, *args):
        pass

    def relay(self):
        started = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        with lock:
            log.write(f"{self.command} {self.path.split('?')[0]} {self.headers.get('User-Agent', '-').split()[0]}\n")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        for attempt in (1, 2):
            try:
                if self.up is None:
                    self.up = upstream()
                self.up.request(self.command, self.path, body=body, headers=headers)
                resp = self.up.getresponse()
                answered = time.time()
                break
            except (http.client.HTTPException, OSError):
                self.up = None
                if attempt == 2:
                    raise
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        no_body = self.command == "HEAD" or resp.status in (204, 304)
        length = resp.getheader("Content-Length")
        if no_body:
            self.send_header("Content-Length", "0")
            self.end_headers()
            resp.read()
        elif length is not None and resp.getheader("Transfer-Encoding", "").lower() != "chunked":
            data = resp.read()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while True:
                data = resp.read1(65536)
                if not data:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        with lock:
            timed.write(f"{started:.6f} {answered:.6f} {time.time():.6f} {self.command} {self.path[:160]}\n")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = relay

    def finish(self):
        try:
            super().finish()
        finally:
            if self.up is not None:
                self.up.close()

server = http.server.ThreadingHTTPServer(("127.0.0.1", listen_port), Handler)
server.daemon_threads = True
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(f"{pki}/apiserver.crt", f"{pki}/apiserver.key")
tls.set_alpn_protocols(["http/1.1"])
server.socket = tls.wrap_socket(server.socket, server_side=True)
server.serve_forever()
PY
python3 "$work/proxy.py" "$proxy_port" "$api_port" "$state/pki" "$requests_log" 2>"$work/proxy.err" &
proxy_pid=$!
sed "s#server: https://127.0.0.1:$api_port#server: https://127.0.0.1:$proxy_port#" "$state/kubeconfig" >"$work/kubeconfig"
for _ in $(seq 50); do
    "$kubectl_bin" --kubeconfig "$work/kubeconfig" get --raw /readyz >/dev/null 2>&1 && break
    sleep 0.1
done
admin=("$kubectl_bin" --kubeconfig "$state/kubeconfig")

# --- configuration and rendered manifests ---------------------------------------
config=$work/config
mkdir -p "$config"
cp -r "$root/deploy.toml" "$root/environments" "$root/templates" "$config/"
export CLERK_WEBHOOK_SECRET=whsec_YmVuY2htYXJrLXNpZ25pbmctc2VjcmV0 DATABASE_URL=postgres://bench@db/bench
context=gpt-deploy-test
kubectl_cache=$work/kube-cache
# kubectl's discovery cache is warmed first (not counted): the kubectl side gets its best case.
"$kubectl_bin" --kubeconfig "$work/kubeconfig" --cache-dir "$kubectl_cache" api-resources >/dev/null

render() { # render NAMESPACE TAG > yaml, with the namespace of the kubectl side
    sed -i "s/^namespace = .*/namespace = \"$1\"/" "$config/environments/development.toml"
    "$gpt_deploy" render --config "$config" --env development --image "$2" --show-secrets
}

count() { wc -l <"$requests_log"; }
declare -a rows=()
step_no=0

cat >"$work/watch.py" <<'PY'
# Watches one Deployment directly on the API server; stamps every event as it arrives:
# "<epoch seconds> <type> <1 if .status changed> <resourceVersion>".
import http.client, json, ssl, sys, time
api_port, pki, ns, name, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=f"{pki}/ca.crt")
ctx.load_cert_chain(f"{pki}/admin.crt", f"{pki}/admin.key")
conn = http.client.HTTPSConnection("127.0.0.1", api_port, context=ctx)
conn.request("GET", f"/apis/apps/v1/namespaces/{ns}/deployments?watch=1&fieldSelector=metadata.name%3D{name}")
resp = conn.getresponse()
log = open(out, "w", buffering=1)
log.write(f"{time.time():.6f} READY 0 -\n")
last = None
while line := resp.readline():
    now = time.time()
    event = json.loads(line)
    status = json.dumps(event["object"].get("status"), sort_keys=True)
    log.write(f"{now:.6f} {event['type']} {int(status != last)} {event['object']['metadata'].get('resourceVersion')}\n")
    last = status
PY

# CPU seconds (user + system) of this shell's reaped children, from a `times` output saved
# by the shell itself (`times` is a builtin: in $(...) it would describe the subshell).
children_cpu() {
    awk 'NR == 2 { split($0, t, /[ms]/); printf "%.3f", t[1] * 60 + t[2] + t[3] * 60 + t[4] }' "$1"
}

# measure LABEL NAMESPACE COMMAND...: wall time, CPU, requests and exit − last status change
# of one step (several processes allowed).
measure() {
    local label=$1 ns=$2 before start end after watch_log watch_pid cpu0 cpu1 gap
    shift 2
    step_no=$((step_no + 1))
    watch_log=$work/watch-$step_no.log
    python3 "$work/watch.py" "$api_port" "$state/pki" "$ns" gpt-service "$watch_log" 2>"$work/watch.err" &
    watch_pid=$!
    for _ in $(seq 250); do [[ -s $watch_log ]] && break; sleep 0.02; done
    [[ -s $watch_log ]] || die "the Deployment watch for $ns did not start: $(cat "$work/watch.err")"
    before=$(count)
    times >"$work/times-before"
    start=$EPOCHREALTIME
    "$@" >"$work/last.out" 2>&1 || { cat "$work/last.out" >&2; die "$label failed"; }
    end=$EPOCHREALTIME
    times >"$work/times-after"
    cpu0=$(children_cpu "$work/times-before")
    cpu1=$(children_cpu "$work/times-after")
    sleep 0.3 # let the proxy log the last lines, and see any status change after the exit
    kill "$watch_pid" 2>/dev/null || true
    wait "$watch_pid" 2>/dev/null || true
    after=$(count)
    sed -n "$((before + 1)),${after}p" "$requests_log" >"$work/last-requests-${label//[^a-z]/_}.log"
    awk -v s="$start" '$1 >= s' "$requests_log.timed" >"$work/last-timeline-${label//[^a-z]/_}.log"
    cp "$watch_log" "$work/last-watch-${label//[^a-z]/_}.log"
    echo "$start" >"$work/last-start-${label//[^a-z]/_}"
    # ms from the last status change seen before the exit to the exit; "+N" counts status
    # changes seen after the exit (the rollout was not complete when it exited).
    gap=$(awk -v e="$end" '$2 != "READY" && $3 == 1 { if ($1 <= e) last = $1; else late++ }
        END { if (last == "") printf "-"; else printf "%.0f", (e - last) * 1000; if (late) printf "+%d", late }' "$watch_log")
    rows+=("$label|$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }')|$((after - before))|$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.3f", b - a }')|$gap")
}

kubectl_pair() { # kubectl_pair NAMESPACE MANIFEST [CACHE_DIR]
    local cache=${3:-$kubectl_cache}
    "$kubectl_bin" --kubeconfig "$work/kubeconfig" --cache-dir "$cache" --context "$context" \
        apply --server-side -f "$2" &&
        "$kubectl_bin" --kubeconfig "$work/kubeconfig" --cache-dir "$cache" --context "$context" \
            rollout status deployment/gpt-service -n "$1" --timeout=5m
}

# kubectl doing what gpt-deploy does, in its order: config objects, the migration Job
# waited for, the Deployment and its rollout, then the CronJob (DIR from `render --out`).
kubectl_ordered() { # kubectl_ordered NAMESPACE DIR
    local k=("$kubectl_bin" --kubeconfig "$work/kubeconfig" --cache-dir "$kubectl_cache" --context "$context")
    local first=() job
    for f in "$2"/*-secret-*.yaml "$2"/*-poddisruptionbudget-*.yaml "$2"/*-service-*.yaml; do
        [[ -f $f ]] && first+=(-f "$f")
    done
    job=$(basename "$2"/*-job-*.yaml .yaml)
    job=${job#*-job-}
    "${k[@]}" apply --server-side "${first[@]}" &&
        "${k[@]}" apply --server-side -f "$2"/*-job-*.yaml &&
        "${k[@]}" wait --for=condition=complete "job/$job" -n "$1" --timeout=5m &&
        "${k[@]}" apply --server-side -f "$2"/*-deployment-*.yaml &&
        "${k[@]}" rollout status deployment/gpt-service -n "$1" --timeout=5m &&
        "${k[@]}" apply --server-side -f "$2"/*-cronjob-*.yaml
}

gpt_apply() { # gpt_apply NAMESPACE TAG [BINARY]
    "${3:-$gpt_deploy}" apply --config "$config" --env development --kubeconfig "$work/kubeconfig" \
        --context "$context" --namespace "$1" --image "$2" --wait --timeout 5m
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$rounds"); do
    ns_g=bench-gpt-deploy-$round
    ns_k=bench-kubectl-$round
    ns_c=bench-kubectl-cold-$round
    ns_b=bench-baseline-$round
    ns_o=bench-kubectl-ordered-$round
    namespaces=("$ns_g" "$ns_k" "$ns_c" "$ns_o")
    [[ -n ${BENCH_BASELINE_BIN:-} ]] && namespaces+=("$ns_b")
    for ns in "${namespaces[@]}"; do "${admin[@]}" create namespace "$ns" >/dev/null; done
    # Pods need the namespace's default ServiceAccount, which the controller-manager adds.
    for ns in "${namespaces[@]}"; do
        for _ in $(seq 300); do
            "${admin[@]}" get serviceaccount default -n "$ns" >/dev/null 2>&1 && break
            sleep 0.2
        done
    done
    render "$ns_k" v1.0.0 >"$work/first.yaml"
    render "$ns_k" v1.0.1 >"$work/second.yaml"
    render "$ns_c" v1.0.0 >"$work/first-cold.yaml"
    render "$ns_c" v1.0.1 >"$work/second-cold.yaml"
    for tag in v1.0.0 v1.0.1; do
        rm -rf "$work/ordered-$tag"
        sed -i "s/^namespace = .*/namespace = \"$ns_o\"/" "$config/environments/development.toml"
        "$gpt_deploy" render --config "$config" --env development --image "$tag" --show-secrets \
            --out "$work/ordered-$tag" >/dev/null
    done
    log "round $round: first deploy"
    measure "first deploy|gpt-deploy apply --wait" "$ns_g" gpt_apply "$ns_g" v1.0.0
    if [[ -n ${BENCH_BASELINE_BIN:-} ]]; then
        measure "first deploy|baseline gpt-deploy apply --wait" "$ns_b" gpt_apply "$ns_b" v1.0.0 "$BENCH_BASELINE_BIN"
    fi
    measure "first deploy|kubectl apply --server-side + rollout status" "$ns_k" kubectl_pair "$ns_k" "$work/first.yaml"
    measure "first deploy|same kubectl pair, cold discovery cache (fresh CI runner)" "$ns_c" \
        kubectl_pair "$ns_c" "$work/first-cold.yaml" "$work/cold-cache-$round-1"
    measure "first deploy|kubectl in gpt-deploy's order (config, Job + wait, Deployment + rollout status, CronJob)" "$ns_o" \
        kubectl_ordered "$ns_o" "$work/ordered-v1.0.0"
    log "round $round: image change"
    measure "image change|gpt-deploy apply --wait" "$ns_g" gpt_apply "$ns_g" v1.0.1
    if [[ -n ${BENCH_BASELINE_BIN:-} ]]; then
        measure "image change|baseline gpt-deploy apply --wait" "$ns_b" gpt_apply "$ns_b" v1.0.1 "$BENCH_BASELINE_BIN"
    fi
    measure "image change|kubectl apply --server-side + rollout status" "$ns_k" kubectl_pair "$ns_k" "$work/second.yaml"
    measure "image change|same kubectl pair, cold discovery cache (fresh CI runner)" "$ns_c" \
        kubectl_pair "$ns_c" "$work/second-cold.yaml" "$work/cold-cache-$round-2"
    measure "image change|kubectl in gpt-deploy's order (config, Job + wait, Deployment + rollout status, CronJob)" "$ns_o" \
        kubectl_ordered "$ns_o" "$work/ordered-v1.0.1"
done

# --- report ---------------------------------------------------------------------
printf '\n%s\n' "control plane: kubernetes $k8s_version (kube-apiserver, controller-manager, scheduler, kwok), $rounds round(s)"
printf '%s\n' "gpt-deploy: $gpt_deploy; kubectl: $kubectl_bin"
[[ -n ${BENCH_BASELINE_BIN:-} ]] && printf '%s\n' "baseline gpt-deploy: $BENCH_BASELINE_BIN"
printf '%s\n' "load average at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
printf '\n| scenario | command | wall, median (s) | CPU user+sys, median (s) | HTTP requests, median | exit − last status change, median (ms) | all runs (wall s / CPU s / requests / gap ms) |\n|---|---|---:|---:|---:|---:|---|\n'
printf '%s\n' "${rows[@]}" | python3 -c '
import sys, statistics, collections
runs = collections.OrderedDict()
for line in sys.stdin:
    scenario, command, wall, reqs, cpu, gap = line.rstrip("\n").split("|")
    runs.setdefault((scenario, command), []).append((float(wall), int(reqs), float(cpu), gap))
medians = {}
for (scenario, command), values in runs.items():
    wall = statistics.median(v[0] for v in values)
    cpu = statistics.median(v[2] for v in values)
    reqs = statistics.median(v[1] for v in values)
    gaps = [int(v[3].split("+")[0]) for v in values if v[3][:1].isdigit()]
    gap = f"{statistics.median(gaps):.0f}" if gaps else "-"
    medians[(scenario, command)] = (wall, cpu)
    detail = ", ".join(f"{w:.2f}/{c:.3f}/{r}/{g}" for w, r, c, g in values)
    print(f"| {scenario} | `{command}` | {wall:.2f} | {cpu:.3f} | {reqs:g} | {gap} | {detail} |")
print()
for scenario in dict.fromkeys(s for s, _ in runs):
    ours = medians.get((scenario, "gpt-deploy apply --wait"))
    for label, command in (("kubectl pair (warm cache)", "kubectl apply --server-side + rollout status"),
                           ("kubectl in the same order", "kubectl in gpt-deploy\x27s order (config, Job + wait, Deployment + rollout status, CronJob)")):
        pair = medians.get((scenario, command))
        if ours and pair:
            cpu = f"{ours[1] / pair[1]:.2f}x" if pair[1] > 0 else "n/a"
            print(f"{scenario}: gpt-deploy / {label}: wall {ours[0] / pair[0]:.2f}x, CPU {cpu}")
'
printf '\n(a gap "N+M": M status changes came after the exit, i.e. the step exited before the rollout was complete)\n'

printf '\nRequests of the last round (method, path, user agent):\n'
for f in "$work"/last-requests-*.log; do
    name=$(basename "$f" .log)
    printf '\n%s\n' "${name#last-requests-}"
    sort "$f" | uniq -c | sort -rn | sed 's/^/  /'
done

# Where the time of the last image change went: every request (ms from the start of the
# step: sent, answered, done) and every status change the separate watch saw.
name=image_change_gpt_deploy_apply___wait
if [[ -f $work/last-start-$name ]]; then
    printf '\nTimeline of the last image change by gpt-deploy (ms from the start; request: sent / answered / done):\n'
    start=$(cat "$work/last-start-$name")
    {
        awk -v s="$start" '{ printf "%8.1f  %-6s %s  (answered %.1f, done %.1f)\n", ($1 - s) * 1000, $4, $5, ($2 - s) * 1000, ($3 - s) * 1000 }' "$work/last-timeline-$name.log"
        awk -v s="$start" '$2 != "READY" && $3 == 1 && $1 >= s { printf "%8.1f  status change of the Deployment (resourceVersion %s)\n", ($1 - s) * 1000, $4 }' "$work/last-watch-$name.log"
    } | sort -n | sed 's/^/  /'
fi

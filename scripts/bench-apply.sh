#!/usr/bin/env bash
# Side-by-side benchmark on the local control plane (tests/cluster):
#
#   gpt-deploy apply --wait                                  (one process)
#   kubectl apply --server-side -f <rendered> + kubectl rollout status   (two processes)
#
# for a first deploy into an empty namespace and for an image change, ROUNDS times
# each. Reports wall time and the number of HTTP requests each side sends to the API
# server. Requests are counted by a small TLS proxy in front of the API server (both
# tools talk to it through an otherwise identical kubeconfig), so the count is what
# reaches the server, independent of either tool's own logging.
#
# Usage: scripts/bench-apply.sh [ROUNDS]        (default 3)
# Env:   GPT_DEPLOY_BIN   use this binary instead of building target/release/gpt-deploy
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

listen_port, api_port, pki, log_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
lock = threading.Lock()
log = open(log_path, "a", buffering=1)
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection"}

def upstream():
    ctx = ssl.create_default_context(cafile=f"{pki}/ca.crt")
    ctx.load_cert_chain(f"{pki}/admin.crt", f"{pki}/admin.key")
    return http.client.HTTPSConnection("127.0.0.1", api_port, context=ctx)

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    up = None

    def log_message(self, *args):
        pass

    def relay(self):
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
export CLERK_WEBHOOK_SECRET=whsec_benchmark DATABASE_URL=postgres://bench@db/bench
context=gpt-deploy-test
kubectl_cache=$work/kube-cache
# kubectl's discovery cache is warmed first (not counted): the kubectl side gets its best case.
"$kubectl_bin" --kubeconfig "$work/kubeconfig" --cache-dir "$kubectl_cache" api-resources >/dev/null

render() { # render NAMESPACE TAG > yaml, with the namespace of the kubectl side
    sed -i "s/^namespace = .*/namespace = \"$1\"/" "$config/environments/development.toml"
    "$gpt_deploy" render --config "$config" --env development --image "$2" --show-secrets
}

now() { date +%s.%N; }
count() { wc -l <"$requests_log"; }
declare -a rows=()

# measure LABEL COMMAND...: wall time and requests of one step (several commands allowed via bash -c)
measure() {
    local label=$1 before start end after
    shift
    before=$(count)
    start=$(now)
    "$@" >"$work/last.out" 2>&1 || { cat "$work/last.out" >&2; die "$label failed"; }
    end=$(now)
    sleep 0.2 # let the proxy log the last lines
    after=$(count)
    sed -n "$((before + 1)),${after}p" "$requests_log" >"$work/last-requests-${label//[^a-z]/_}.log"
    rows+=("$label|$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }')|$((after - before))")
}

kubectl_pair() { # kubectl_pair NAMESPACE MANIFEST [CACHE_DIR]
    local cache=${3:-$kubectl_cache}
    "$kubectl_bin" --kubeconfig "$work/kubeconfig" --cache-dir "$cache" --context "$context" \
        apply --server-side -f "$2" &&
        "$kubectl_bin" --kubeconfig "$work/kubeconfig" --cache-dir "$cache" --context "$context" \
            rollout status deployment/gpt-service -n "$1" --timeout=5m
}

gpt_apply() { # gpt_apply NAMESPACE TAG
    "$gpt_deploy" apply --config "$config" --env development --kubeconfig "$work/kubeconfig" \
        --context "$context" --namespace "$1" --image "$2" --wait --timeout 5m
}

for round in $(seq "$rounds"); do
    ns_g=bench-gpt-deploy-$round
    ns_k=bench-kubectl-$round
    ns_c=bench-kubectl-cold-$round
    for ns in "$ns_g" "$ns_k" "$ns_c"; do "${admin[@]}" create namespace "$ns" >/dev/null; done
    # Pods need the namespace's default ServiceAccount, which the controller-manager adds.
    for ns in "$ns_g" "$ns_k" "$ns_c"; do
        for _ in $(seq 300); do
            "${admin[@]}" get serviceaccount default -n "$ns" >/dev/null 2>&1 && break
            sleep 0.2
        done
    done
    render "$ns_k" v1.0.0 >"$work/first.yaml"
    render "$ns_k" v1.0.1 >"$work/second.yaml"
    render "$ns_c" v1.0.0 >"$work/first-cold.yaml"
    render "$ns_c" v1.0.1 >"$work/second-cold.yaml"
    log "round $round: first deploy"
    measure "first deploy|gpt-deploy apply --wait" gpt_apply "$ns_g" v1.0.0
    measure "first deploy|kubectl apply --server-side + rollout status" kubectl_pair "$ns_k" "$work/first.yaml"
    measure "first deploy|same kubectl pair, cold discovery cache (fresh CI runner)" \
        kubectl_pair "$ns_c" "$work/first-cold.yaml" "$work/cold-cache-$round-1"
    log "round $round: image change"
    measure "image change|gpt-deploy apply --wait" gpt_apply "$ns_g" v1.0.1
    measure "image change|kubectl apply --server-side + rollout status" kubectl_pair "$ns_k" "$work/second.yaml"
    measure "image change|same kubectl pair, cold discovery cache (fresh CI runner)" \
        kubectl_pair "$ns_c" "$work/second-cold.yaml" "$work/cold-cache-$round-2"
done

# --- report ---------------------------------------------------------------------
printf '\n%s\n' "control plane: kubernetes $k8s_version (kube-apiserver, controller-manager, scheduler, kwok), $rounds round(s)"
printf '%s\n' "gpt-deploy: $gpt_deploy; kubectl: $kubectl_bin (discovery cache warm)"
printf '\n| scenario | command | wall time, median (s) | HTTP requests, median | all runs (s / requests) |\n|---|---|---:|---:|---|\n'
printf '%s\n' "${rows[@]}" | python3 -c '
import sys, statistics, collections
runs = collections.OrderedDict()
for line in sys.stdin:
    scenario, command, secs, reqs = line.rstrip("\n").split("|")
    runs.setdefault((scenario, command), []).append((float(secs), int(reqs)))
for (scenario, command), values in runs.items():
    secs = statistics.median(v[0] for v in values)
    reqs = statistics.median(v[1] for v in values)
    detail = ", ".join(f"{s:.2f}/{r}" for s, r in values)
    print(f"| {scenario} | `{command}` | {secs:.2f} | {reqs:g} | {detail} |")
'
printf '\nRequests of the last round (method, path, user agent):\n'
for f in "$work"/last-requests-*.log; do
    name=$(basename "$f" .log)
    printf '\n%s\n' "${name#last-requests-}"
    sort "$f" | uniq -c | sort -rn | sed 's/^/  /'
done

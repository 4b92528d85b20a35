#!/usr/bin/env bash
# bench/serving.sh - serving benchmarks (b) and (c) of issue 4.
#
# Usage: bench/serving.sh [BUILD_DIR]        (default ./build-release)
#
# Trains with /usr/bin/python3 (Debian's python3-xgboost) a binary:logistic
# model of 100 trees, depth 6, on 30 features, saved as an MLflow model
# directory (MLmodel + model.json), then:
#
#   (b) single-row V2 requests (POST /v2/models/m/infer) over loopback from
#       32 connections for BENCH_SERVE_SECS seconds, against
#         - BUILD_DIR/mw serve <dir> --name m       (defaults: batching on)
#         - a FastAPI + uvicorn + xgboost app serving the same model with a
#           V2-shaped /v2/models/m/infer (1 uvicorn worker)
#       requests/s, p50 and p99 for each, and the ratio;
#       targets: mw >= 20x FastAPI's throughput, mw p50 <= 0.5 ms.
#       Beside it, the HTTP floor of the same process: GET /ping from 32
#       connections, right before and right after the V2 run (half as long
#       each, averaged); target: V2 >= 0.7 of /ping.
#       Both must give the same prediction for a sample row (and the same as
#       booster.predict).
#   (c) the same requests from 64 connections to mw serve with batching on
#       (--batch-size 64, the default --batch-delay-us 0) and off (--batch-size 1):
#       requests/s, p50, p99 and the mean rows per batch from /metrics.
#
# The load generator is wrk (a fixed body, keep-alive, 2 threads).  Each
# figure is printed with its target and PASS/MISS; the verdicts are
# informational: the script exits 0 unless something crashes (a server dies,
# wrk is killed by a signal, a server never becomes ready).  Every loop is
# bounded, only 127.0.0.1 is used, and an EXIT trap stops the servers and
# removes the temporary directory.
#
# Environment (all optional):
#   BENCH_SERVE_SECS=10   duration of each load run
#   BENCH_OUT=FILE        also write the figures there as key=value lines
#   BENCH_KEEP=1          keep the temporary directory (model, logs, raw output)
set -euo pipefail

BUILD=${1:-./build-release}
MW="$BUILD/mw"
PY=/usr/bin/python3
SECS=${BENCH_SERVE_SECS:-10}
BENCH_OUT=${BENCH_OUT:-}
BENCH_KEEP=${BENCH_KEEP:-0}

die() { echo "bench/serving: $*" >&2; exit 1; }

[[ $SECS =~ ^[0-9]+$ && $SECS -gt 0 && $SECS -le 600 ]] || die "BENCH_SERVE_SECS must be 1..600"
[[ -x $MW ]] || die "$MW not found; build first (cmake --build $BUILD)"
command -v wrk >/dev/null || die "wrk not found (Debian package wrk)"
command -v curl >/dev/null || die "curl not found"
"$PY" -c 'import xgboost, numpy, fastapi, uvicorn' 2>/dev/null ||
	die "$PY needs xgboost, numpy, fastapi and uvicorn (Debian python3-xgboost python3-fastapi python3-uvicorn)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mw-bench-serving.XXXXXX")
PIDS=()

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
	local rc=$?
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 1 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [[ $BENCH_KEEP == 1 ]]; then
		echo "bench/serving: kept $TMP" >&2
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ helpers

kv() {
	awk -v k="$2" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }' "$1"
}

calc() {
	awk "BEGIN { x = $1; printf \"%.3f\", x }" 2>/dev/null || true
}

verdict() {
	local v=$1 op=$2 t=$3
	[[ -n $v ]] || { echo "n/a"; return; }
	if awk -v v="$v" -v t="$t" -v op="$op" 'BEGIN {
		ok = (op == "<=") ? (v + 0 <= t + 0) : (v + 0 >= t + 0); exit !ok }'; then
		echo PASS
	else
		echo MISS
	fi
}

SUMMARY=()
fig() {
	local id=$1 label=$2 value=${3:-n/a} unit=$4 target=${5:-} v=${6:-}
	[[ -n $value ]] || value=n/a
	printf '  %-46s %12s %-9s %-14s %s\n' "$label" "$value" "$unit" "$target" "$v"
	SUMMARY+=("$id=$value")
	[[ -z $v ]] || SUMMARY+=("$id.verdict=$v")
}

note() { printf '      %s\n' "$*"; }
section() { printf '\n%s\n' "$*"; }

free_port() {
	"$PY" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_ready PID URL: poll URL until 200 (at most 30 s); dies if PID exits.
wait_ready() {
	local pid=$1 url=$2
	for _ in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || return 1
		if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true) == 200 ]]; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

alive() {
	kill -0 "$1" 2>/dev/null || die "$2 died during the run; log: $(tail -n 20 "$3" 2>/dev/null)"
}

# start_mw NAME EXTRA...: mw serve the model on a free port; sets MW_PID, MW_PORT.
start_mw() {
	local name=$1
	shift
	MW_PORT=$(free_port)
	"$MW" serve "$TMP/model" --name m --host 127.0.0.1 --port "$MW_PORT" \
		--data-dir "$TMP/data-$name" --log-level warn "$@" >"$TMP/$name.log" 2>&1 &
	MW_PID=$!
	PIDS+=("$MW_PID")
	wait_ready "$MW_PID" "http://127.0.0.1:$MW_PORT/ping" ||
		die "mw serve ($name) did not become ready: $(tail -n 20 "$TMP/$name.log")"
}

stop_pid() {
	local pid=$1 rc=0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || rc=$?
	local keep=()
	for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
	PIDS=("${keep[@]}")
	return "$rc"
}

# load ID PORT CONNS SECS [SCRIPT PATH]: wrk (default: the V2 POST to
# /v2/models/m/infer); output in $TMP/ID.out
load() {
	local id=$1 port=$2 conns=$3 secs=$4 script=${5:-v2.lua} path=${6:-/v2/models/m/infer}
	local threads=2 rc=0
	((conns >= threads)) || threads=$conns
	BENCH_BODY="$TMP/body.json" timeout -k 5 $((secs + 30)) \
		wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 5s -s "$TMP/$script" \
		"http://127.0.0.1:$port$path" >"$TMP/$id.out" 2>&1 || rc=$?
	if ((rc > 128)); then
		die "wrk ($id) was killed by signal $((rc - 128)): $(tail -n 5 "$TMP/$id.out")"
	fi
	[[ $rc == 0 ]] || die "wrk ($id) failed ($rc): $(tail -n 5 "$TMP/$id.out")"
}

us_to_ms() {
	if [[ -n $1 ]]; then awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; fi
}

# batch_mean PORT: mean rows per batch of model m from /metrics
batch_mean() {
	curl -s --max-time 5 "http://127.0.0.1:$1/metrics" | awk '
		/^mw_model_batch_rows_sum\{model="m"/ { s = $2 }
		/^mw_model_batch_rows_count\{model="m"/ { c = $2 }
		END { if (c > 0) printf "%.2f", s / c }'
}

# ------------------------------------------------------------------ the model

"$PY" - "$TMP" <<'EOF'
import json
import os
import sys

import numpy as np
import xgboost as xgb

out = sys.argv[1]
rs = np.random.RandomState(42)
n, f = 20000, 30
X = rs.randn(n, f).astype(np.float32)
w = rs.randn(f)
z = X @ w + np.sin(3 * X[:, 0]) * X[:, 1] + 0.5 * rs.randn(n)
y = (z > 0).astype(np.float32)
params = {"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "seed": 1, "nthread": 2}
b = xgb.train(params, xgb.DMatrix(X, label=y), num_boost_round=100)
os.makedirs(f"{out}/model")
b.save_model(f"{out}/model/model.json")
with open(f"{out}/model/MLmodel", "w") as fh:
    fh.write("artifact_path: model\nflavors:\n  xgboost:\n    code: null\n"
             "    data: model.json\n    model_class: xgboost.core.Booster\n"
             "    model_format: json\n    xgb_version: %s\n" % xgb.__version__)
row = rs.randn(1, f).astype(np.float32)
body = {"inputs": [{"name": "input-0", "datatype": "FP32", "shape": [1, f],
                    "data": [float(v) for v in row[0]]}]}
with open(f"{out}/body.json", "w") as fh:
    fh.write(json.dumps(body, separators=(",", ":")))
ref = float(b.predict(xgb.DMatrix(row))[0])
with open(f"{out}/model.out", "w") as fh:
    fh.write("trees=%d\nfeatures=%d\nsample_prediction=%.9g\n" % (
        len(json.loads(b.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]),
        b.num_features(), ref))
EOF

mkdir -p "$TMP/app"
cat >"$TMP/app/app.py" <<'EOF'
# The FastAPI baseline: the same model, a V2-shaped single-input infer route.
import os

import numpy as np
import xgboost as xgb
from fastapi import FastAPI, HTTPException, Request

booster = xgb.Booster()
booster.load_model(os.environ["BENCH_MODEL"])
booster.set_param({"nthread": 1})
app = FastAPI()


@app.post("/v2/models/m/infer")
async def infer(request: Request):
    body = await request.json()
    try:
        inp = body["inputs"][0]
        x = np.asarray(inp["data"], dtype=np.float32).reshape(inp["shape"])
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise HTTPException(status_code=400, detail=str(e))
    y = booster.predict(xgb.DMatrix(x))
    return {"model_name": "m", "outputs": [{"name": "output-0", "datatype": "FP32",
                                            "shape": list(y.shape), "data": y.tolist()}]}


@app.get("/ping")
async def ping():
    return {}
EOF

cat >"$TMP/get.lua" <<'EOF'
-- print the run as key=value lines
done = function(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format("requests=%d\n", summary.requests))
  io.write(string.format("duration_s=%.3f\n", secs))
  io.write(string.format("rps=%.1f\n", summary.requests / secs))
  io.write(string.format("p50_us=%d\n", latency:percentile(50)))
  io.write(string.format("p90_us=%d\n", latency:percentile(90)))
  io.write(string.format("p99_us=%d\n", latency:percentile(99)))
  io.write(string.format("max_us=%d\n", latency.max))
  io.write(string.format("errors_status=%d\n", e.status))
  io.write(string.format("errors_socket=%d\n", e.connect + e.read + e.write + e.timeout))
end
EOF
{
	cat <<'EOF'
-- POST the same single-row V2 body on every request
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("BENCH_BODY"), "r"))
wrk.body = f:read("*a")
f:close()
EOF
	cat "$TMP/get.lua"
} >"$TMP/v2.lua"

echo "Millwright serving benchmark  $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "  mw:      $("$MW" version 2>/dev/null | head -n 1 || echo '?')"
echo "  machine: $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
echo "  model:   binary:logistic, $(kv "$TMP/model.out" trees) trees, depth 6, $(kv "$TMP/model.out" features) features (xgboost $("$PY" -c 'import xgboost; print(xgboost.__version__)'))"
echo "  load:    wrk, 2 threads, ${SECS} s per run, one single-row V2 body, keep-alive"
printf '\n  %-46s %12s %-9s %-14s %s\n' "figure" "value" "unit" "target" "verdict"

# ------------------------------------------------------------------ (b) mw vs FastAPI

section "(b) V2 single-row requests, 32 connections: mw serve vs FastAPI + uvicorn + xgboost"

start_mw b
B_PID=$MW_PID
B_PORT=$MW_PORT

FA_PORT=$(free_port)
(cd "$TMP/app" && BENCH_MODEL="$TMP/model/model.json" exec "$PY" -m uvicorn app:app \
	--host 127.0.0.1 --port "$FA_PORT" --workers 1 --log-level warning) >"$TMP/fastapi.log" 2>&1 &
FA_PID=$!
PIDS+=("$FA_PID")
wait_ready "$FA_PID" "http://127.0.0.1:$FA_PORT/ping" ||
	die "uvicorn did not become ready: $(tail -n 20 "$TMP/fastapi.log")"

# the same prediction from both, and from booster.predict
"$PY" - "$TMP/body.json" "http://127.0.0.1:$B_PORT/v2/models/m/infer" \
	"http://127.0.0.1:$FA_PORT/v2/models/m/infer" "$(kv "$TMP/model.out" sample_prediction)" \
	>"$TMP/same.out" <<'EOF' || true
import json
import sys
import urllib.request

body = open(sys.argv[1], "rb").read()
ref = float(sys.argv[4])


def ask(url):
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return float(json.loads(r.read())["outputs"][0]["data"][0])


a, b = ask(sys.argv[2]), ask(sys.argv[3])
ok = all(abs(v - ref) <= 1e-5 * max(1.0, abs(ref)) for v in (a, b))
print("mw=%.9g\nfastapi=%.9g\nxgboost=%.9g\nsame=%d" % (a, b, ref, ok))
EOF
SAME=$(kv "$TMP/same.out" same)
fig b.same_prediction "same prediction for a sample row" "${SAME:-0}" "" "= 1" \
	"$([[ ${SAME:-0} == 1 ]] && echo PASS || echo MISS)"
note "mw $(kv "$TMP/same.out" mw), FastAPI $(kv "$TMP/same.out" fastapi), booster.predict $(kv "$TMP/same.out" xgboost)"

# warm-up, then the measured runs; the HTTP floor (GET /ping on the same
# process, 32 connections) is measured right before and right after the V2
# run, half as long each, so a machine whose speed drifts weighs on both
PING_SECS=$(((SECS + 1) / 2))
((PING_SECS >= 2)) || PING_SECS=2
load b_mw_warm "$B_PORT" 32 1
load b_fa_warm "$FA_PORT" 32 1
load b_mw_ping1 "$B_PORT" 32 "$PING_SECS" get.lua /ping
load b_mw "$B_PORT" 32 "$SECS"
load b_mw_ping2 "$B_PORT" 32 "$PING_SECS" get.lua /ping
alive "$B_PID" "mw serve" "$TMP/b.log"
load b_fa "$FA_PORT" 32 "$SECS"
alive "$FA_PID" "uvicorn" "$TMP/fastapi.log"
load b_mw_1conn "$B_PORT" 1 3
alive "$B_PID" "mw serve" "$TMP/b.log"

MW_RPS=$(kv "$TMP/b_mw.out" rps)
FA_RPS=$(kv "$TMP/b_fa.out" rps)
MW_P50=$(us_to_ms "$(kv "$TMP/b_mw.out" p50_us)")
MW_P99=$(us_to_ms "$(kv "$TMP/b_mw.out" p99_us)")
FA_P50=$(us_to_ms "$(kv "$TMP/b_fa.out" p50_us)")
FA_P99=$(us_to_ms "$(kv "$TMP/b_fa.out" p99_us)")
RATIO=""
[[ -n $MW_RPS && -n $FA_RPS ]] && RATIO=$(calc "$MW_RPS / ($FA_RPS > 0 ? $FA_RPS : 1)")
PING1=$(kv "$TMP/b_mw_ping1.out" rps)
PING2=$(kv "$TMP/b_mw_ping2.out" rps)
PING_RPS=""
[[ -n $PING1 && -n $PING2 ]] && PING_RPS=$(calc "($PING1 + $PING2) / 2")
PING_RATIO=""
[[ -n $MW_RPS && -n $PING_RPS ]] && PING_RATIO=$(calc "$MW_RPS / ($PING_RPS > 0 ? $PING_RPS : 1)")
fig b.mw_rps "mw serve, requests/s" "$MW_RPS" req/s
fig b.mw_p50_ms "mw serve, p50" "$MW_P50" ms "<= 0.5" "$(verdict "$MW_P50" "<=" 0.5)"
fig b.mw_p99_ms "mw serve, p99" "$MW_P99" ms
fig b.fastapi_rps "FastAPI + uvicorn, requests/s" "$FA_RPS" req/s
fig b.fastapi_p50_ms "FastAPI + uvicorn, p50" "$FA_P50" ms
fig b.fastapi_p99_ms "FastAPI + uvicorn, p99" "$FA_P99" ms
fig b.ratio "throughput ratio mw / FastAPI" "$RATIO" x ">= 20" "$(verdict "$RATIO" ">=" 20)"
fig b.ping_rps "HTTP floor: GET /ping, same mw, requests/s" "$PING_RPS" req/s
fig b.v2_over_ping "V2 infer / GET /ping throughput" "$PING_RATIO" x ">= 0.7" \
	"$(verdict "$PING_RATIO" ">=" 0.7)"
note "errors: mw $(kv "$TMP/b_mw.out" errors_status) non-2xx, $(kv "$TMP/b_mw.out" errors_socket) socket;" \
	"FastAPI $(kv "$TMP/b_fa.out" errors_status) non-2xx, $(kv "$TMP/b_fa.out" errors_socket) socket"
note "mw at 1 connection: $(kv "$TMP/b_mw_1conn.out" rps) req/s, p50 $(us_to_ms "$(kv "$TMP/b_mw_1conn.out" p50_us)") ms," \
	"p99 $(us_to_ms "$(kv "$TMP/b_mw_1conn.out" p99_us)") ms (the latency floor without queueing)"
note "HTTP floor, GET /ping on the same mw at 32 connections: $PING1 req/s before the V2 run," \
	"$PING2 after (p50 $(us_to_ms "$(kv "$TMP/b_mw_ping2.out" p50_us)") ms)"
note "mw rows per batch at 32 connections (defaults --batch-size 64 --batch-delay-us 0): $(batch_mean "$B_PORT")"
note "load generator and servers share $(nproc) cores"

stop_pid "$FA_PID" || true
B_RC=0
stop_pid "$B_PID" || B_RC=$?
((B_RC == 0)) || die "mw serve exited $B_RC on SIGTERM: $(tail -n 20 "$TMP/b.log")"

# ------------------------------------------------------------------ (c) batching on vs off

section "(c) 64 connections: batching on (--batch-size 64 --batch-delay-us 0) vs off (--batch-size 1)"

start_mw c_on --batch-size 64 --batch-delay-us 0
load c_on_warm "$MW_PORT" 64 1
load c_on "$MW_PORT" 64 "$SECS"
alive "$MW_PID" "mw serve (batching on)" "$TMP/c_on.log"
ON_MEAN=$(batch_mean "$MW_PORT")
stop_pid "$MW_PID" || die "mw serve (batching on) did not exit 0"

start_mw c_off --batch-size 1
load c_off_warm "$MW_PORT" 64 1
load c_off "$MW_PORT" 64 "$SECS"
alive "$MW_PID" "mw serve (batching off)" "$TMP/c_off.log"
OFF_MEAN=$(batch_mean "$MW_PORT")
stop_pid "$MW_PID" || die "mw serve (batching off) did not exit 0"

ON_RPS=$(kv "$TMP/c_on.out" rps)
OFF_RPS=$(kv "$TMP/c_off.out" rps)
C_RATIO=""
[[ -n $ON_RPS && -n $OFF_RPS ]] && C_RATIO=$(calc "$ON_RPS / ($OFF_RPS > 0 ? $OFF_RPS : 1)")
fig c.on_rps "batching on, requests/s" "$ON_RPS" req/s
fig c.on_p50_ms "batching on, p50" "$(us_to_ms "$(kv "$TMP/c_on.out" p50_us)")" ms
fig c.on_p99_ms "batching on, p99" "$(us_to_ms "$(kv "$TMP/c_on.out" p99_us)")" ms
fig c.on_batch_rows "batching on, mean rows per batch" "$ON_MEAN" rows
fig c.off_rps "batching off, requests/s" "$OFF_RPS" req/s
fig c.off_p50_ms "batching off, p50" "$(us_to_ms "$(kv "$TMP/c_off.out" p50_us)")" ms
fig c.off_p99_ms "batching off, p99" "$(us_to_ms "$(kv "$TMP/c_off.out" p99_us)")" ms
fig c.off_batch_rows "batching off, mean rows per batch" "$OFF_MEAN" rows
fig c.ratio "throughput ratio on / off" "$C_RATIO" x ">= 1" "$(verdict "$C_RATIO" ">=" 1)"
note "errors: on $(kv "$TMP/c_on.out" errors_status) non-2xx, $(kv "$TMP/c_on.out" errors_socket) socket;" \
	"off $(kv "$TMP/c_off.out" errors_status) non-2xx, $(kv "$TMP/c_off.out" errors_socket) socket"

# ------------------------------------------------------------------ summary

if [[ -n $BENCH_OUT ]]; then
	printf '%s\n' "${SUMMARY[@]}" >"$BENCH_OUT"
	echo
	echo "figures written to $BENCH_OUT"
fi
pass=$(printf '%s\n' "${SUMMARY[@]}" | grep -c '\.verdict=PASS$' || true)
miss=$(printf '%s\n' "${SUMMARY[@]}" | grep -c '\.verdict=MISS$' || true)
echo
echo "targets: $pass PASS, $miss MISS (informational)"
exit 0

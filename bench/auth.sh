#!/usr/bin/env bash
# bench/auth.sh - what authentication costs per request (`make bench`).
#
# Usage: bench/auth.sh [BUILD_DIR]        (default ./build)
#
# Two `mw server` processes on free 127.0.0.1 ports, each with a fresh data
# directory: one without authentication, one with --auth true.  The same
# request, GET /api/2.0/mlflow/experiments/get?experiment_id=0 (a READ route:
# the filter checks the credentials, the handler reads one row), is sent by
# build/loadgen from BENCH_AUTH_CONNS keep-alive connections:
#
#   off     no Authorization header, to the server without auth   (the baseline)
#   bearer  Authorization: Bearer <API token>, to the server with auth
#   basic   Authorization: Basic admin:<password>, to the server with auth
#
# After one warm-up series each (which also fills the credential cache), the
# series run BENCH_AUTH_ROUNDS times in turn (off, bearer, basic, off, ...), so
# drift of the machine hits all three alike.  For each series the script reads
# the server's CPU time (utime + stime from /proc/PID/stat) before and after
# and divides by the requests answered: server CPU microseconds per request.
# The authentication overhead is the median of (bearer - off) and (basic -
# off) over the rounds.  Target: <= 2 us per request with the credential cache.
# Requests per second and p50 latency are printed beside, for reference.
#
# Environment: BENCH_AUTH_REQUESTS (200000 per series), BENCH_AUTH_CONNS (4),
# BENCH_AUTH_ROUNDS (7), BENCH_OUT (append key=value figures there).
# Exits 0 unless something crashes or a series gets an error status.  Every
# loop is bounded; only 127.0.0.1 is contacted.
set -euo pipefail

BUILD=${1:-./build}
MW="$BUILD/mw"
LG="$BUILD/loadgen"
REQUESTS=${BENCH_AUTH_REQUESTS:-200000}
CONNS=${BENCH_AUTH_CONNS:-4}
ROUNDS=${BENCH_AUTH_ROUNDS:-7}
BENCH_OUT=${BENCH_OUT:-}
PASSWORD="bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"

die() { echo "bench/auth: $*" >&2; exit 1; }
for n in REQUESTS CONNS ROUNDS; do
	[[ ${!n} =~ ^[0-9]+$ && ${!n} -gt 0 ]] || die "$n must be a positive integer (got '${!n}')"
done
for b in "$MW" "$LG"; do
	[[ -x $b ]] || die "$b not found; build first (cmake --build $BUILD)"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mw-bench-auth.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { # utime + stime of PID, in clock ticks
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# start NAME PORT [ARGS...]: a server in the background, ready when /health answers
start() {
	local name=$1 port=$2
	shift 2
	mkdir -p "$TMP/$name"
	"$MW" server --host 127.0.0.1 --port "$port" --data-dir "$TMP/$name/data" \
		--log-level warn "$@" >"$TMP/$name/log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 200); do
		curl -sf "http://127.0.0.1:$port/health" >/dev/null && return 0
		kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$TMP/$name/log" >&2; die "$name: server died"; }
		sleep 0.05
	done
	die "$name: server not ready after 10 s"
}

P_OFF=$(free_port)
start off "$P_OFF"
PID_OFF=${PIDS[-1]}
P_ON=$(free_port)
MW_ADMIN_PASSWORD=$PASSWORD start on "$P_ON" --auth true
PID_ON=${PIDS[-1]}

BASIC="Basic $(printf 'admin:%s' "$PASSWORD" | base64 -w0)"
TOKEN=$(curl -sf -H "Authorization: $BASIC" -H 'Content-Type: application/json' \
	-d '{"name":"bench"}' "http://127.0.0.1:$P_ON/api/mw/tokens" |
	/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token"]["token"])') ||
	die "could not create an API token"
BEARER="Bearer $TOKEN"
PATH_Q="/api/2.0/mlflow/experiments/get?experiment_id=0"

# series KIND N: prints "cpu_us_per_req req_per_s p50_ms"
series() {
	local kind=$1 n=$2 port pid hdr=()
	case $kind in
	off) port=$P_OFF pid=$PID_OFF ;;
	bearer) port=$P_ON pid=$PID_ON hdr=(--header "Authorization: $BEARER") ;;
	basic) port=$P_ON pid=$PID_ON hdr=(--header "Authorization: $BASIC") ;;
	esac
	local t0 t1 out
	t0=$(cpu_ticks "$pid")
	out=$("$LG" --mode fixed --port "$port" --conns "$CONNS" --requests "$n" --duration 120 \
		--method GET --path "$PATH_Q" "${hdr[@]}" --quiet) || die "$kind: loadgen failed"
	t1=$(cpu_ticks "$pid")
	local ok errs rps p50
	ok=$(awk -F= '$1 == "requests_ok" { print $2 }' <<<"$out")
	errs=$(awk -F= '$1 == "errors_status" || $1 == "errors_io" { s += $2 } END { print s + 0 }' <<<"$out")
	rps=$(awk -F= '$1 == "requests_per_s" { print $2 }' <<<"$out")
	p50=$(awk -F= '$1 ~ /_p50_ms$/ { print $2; exit }' <<<"$out")
	[[ $errs -eq 0 && $ok -gt 0 ]] || die "$kind: $errs errors ($(grep first_error <<<"$out"))"
	awk -v a="$t0" -v b="$t1" -v t="$CLK_TCK" -v n="$ok" -v r="$rps" -v p="$p50" \
		'BEGIN { printf "%.3f %s %s\n", (b - a) / t / n * 1e6, r, p }'
}

echo "Millwright authentication benchmark  $(date -u '+%F %T') UTC"
echo "  machine: $(nproc) cores; $REQUESTS requests x $CONNS connections per series, $ROUNDS rounds"
echo "  request: GET $PATH_Q"
for k in off bearer basic; do series "$k" $((REQUESTS / 4 + 1)) >/dev/null; done # warm-up

declare -A CPU RPS P50
for ((r = 0; r < ROUNDS; r++)); do
	for k in off bearer basic; do
		read -r c q p < <(series "$k" "$REQUESTS")
		CPU[$k]+="$c " RPS[$k]+="$q " P50[$k]+="$p "
	done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# diffs KIND: the per-round differences KIND - off
diffs() {
	paste -d' ' <(tr ' ' '\n' <<<"${CPU[$1]}" | grep -v '^$') <(tr ' ' '\n' <<<"${CPU[off]}" | grep -v '^$') |
		awk '{ printf "%.3f ", $1 - $2 }'
}

printf '  %-8s %18s %14s %10s\n' series "server CPU us/req" "req/s" "p50 ms"
for k in off bearer basic; do
	printf '  %-8s %18s %14s %10s\n' "$k" "$(median <<<"${CPU[$k]}")" "$(median <<<"${RPS[$k]}")" \
		"$(median <<<"${P50[$k]}")"
done
verdict() { awk -v v="$1" 'BEGIN { print (v <= 2.0) ? "PASS" : "MISS" }'; }
OB=$(diffs bearer | median)
OBA=$(diffs basic | median)
echo "  overhead, Bearer token (cached): $OB us/request (target <= 2)  $(verdict "$OB")"
echo "  overhead, Basic (cached):        $OBA us/request (target <= 2)  $(verdict "$OBA")"
echo "  (per-round differences, Bearer: $(diffs bearer); Basic: $(diffs basic))"
if [[ -n $BENCH_OUT ]]; then
	{
		echo "auth_cpu_us_off=$(median <<<"${CPU[off]}")"
		echo "auth_cpu_us_bearer=$(median <<<"${CPU[bearer]}")"
		echo "auth_cpu_us_basic=$(median <<<"${CPU[basic]}")"
		echo "auth_overhead_us_bearer=$OB"
		echo "auth_overhead_us_basic=$OBA"
	} >>"$BENCH_OUT"
fi

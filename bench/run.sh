#!/usr/bin/env bash
# bench/run.sh - Millwright's benchmark report (`make bench`).
#
# Usage: bench/run.sh [BUILD_DIR]        (default ./build)
#
# Starts `mw server` on a free 127.0.0.1 port with a fresh temporary data
# directory, drives it with build/loadgen and compares each figure with a
# baseline measured in the same run on the same machine:
#
#   (a) log-batch ingest: 8 clients, 1000 metrics per request      vs baseline_sqlite
#   (b) one log-metric per request over one keep-alive connection  vs GET /health, and
#                                                                     one durable SQLite commit
#   (c) runs/search, filter metrics.m > 0.5, 100 runs per page,
#       over BENCH_RUNS runs (default 100000)                       (target only)
#   (d) fork-to-ready time and idle RSS                              vs `mw version`
#
# Each figure is printed with its target and PASS/MISS.  The verdicts are
# informational: the script exits 0 unless something crashes (the server dies,
# a tool is killed by a signal, the server does not become ready).  Every
# loop is bounded by a count and a time limit; only 127.0.0.1 is contacted.
#
# Environment (all optional):
#   BENCH_RUNS=100000          runs to populate for (c)
#   BENCH_POPULATE_SECS=900    time limit for populating (c)
#   BENCH_INGEST_SECS=10       duration of (a), and of its baseline
#   BENCH_LAT_REQUESTS=5000    requests per latency series in (b)
#   BENCH_PAGES=20             pages per search series in (c)
#   BENCH_STARTS=5             fresh starts measured for (d)
#   BENCH_OUT=FILE             also write the figures there as key=value lines
#   BENCH_KEEP=1               keep the temporary directory (data, logs, raw output)
set -euo pipefail

BUILD=${1:-./build}
MW="$BUILD/mw"
LG="$BUILD/loadgen"
BASE="$BUILD/baseline_sqlite"

BENCH_RUNS=${BENCH_RUNS:-100000}
BENCH_POPULATE_SECS=${BENCH_POPULATE_SECS:-900}
BENCH_INGEST_SECS=${BENCH_INGEST_SECS:-10}
BENCH_LAT_REQUESTS=${BENCH_LAT_REQUESTS:-5000}
BENCH_PAGES=${BENCH_PAGES:-20}
BENCH_STARTS=${BENCH_STARTS:-5}
BENCH_OUT=${BENCH_OUT:-}
BENCH_KEEP=${BENCH_KEEP:-0}

die() { echo "bench: $*" >&2; exit 1; }

for n in BENCH_RUNS BENCH_POPULATE_SECS BENCH_INGEST_SECS BENCH_LAT_REQUESTS BENCH_PAGES BENCH_STARTS; do
	[[ ${!n} =~ ^[0-9]+$ && ${!n} -gt 0 ]] || die "$n must be a positive integer (got '${!n}')"
done
for b in "$MW" "$LG" "$BASE"; do
	[[ -x $b ]] || die "$b not found; build first (cmake --build $BUILD)"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mw-bench.XXXXXX")
SERVER_PID=""
SERVER_RC=""
PORT=""

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
	local rc=$?
	if [[ -n $SERVER_PID ]]; then
		kill -KILL "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
		SERVER_PID=""
	fi
	if [[ $BENCH_KEEP == 1 ]]; then
		echo "bench: kept $TMP" >&2
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ helpers

# kv FILE KEY: the value of KEY=... in FILE (empty if absent).
kv() {
	awk -v k="$2" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }' "$1"
}

# calc EXPR: floating-point arithmetic through awk (prints "" on bad input).
calc() {
	awk "BEGIN { x = $1; printf \"%.3f\", x }" 2>/dev/null || true
}

# verdict VALUE OP TARGET: PASS or MISS (n/a when VALUE is empty).
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
# fig ID LABEL VALUE UNIT [TARGET_TEXT VERDICT]
fig() {
	local id=$1 label=$2 value=${3:-n/a} unit=$4 target=${5:-} v=${6:-}
	[[ -n $value ]] || value=n/a
	printf '  %-46s %12s %-9s %-14s %s\n' "$label" "$value" "$unit" "$target" "$v"
	SUMMARY+=("$id=$value")
	[[ -z $v ]] || SUMMARY+=("$id.verdict=$v")
}

note() { printf '      %s\n' "$*"; }

section() { printf '\n%s\n' "$*"; }

rss_kb() {
	awk '/^VmRSS:/ { print $2; exit }' "/proc/$1/status" 2>/dev/null || true
}

# cpu_s PID: user + system CPU seconds the process has used so far.
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpu_s() {
	awk -v t="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat" 2>/dev/null || true
}

kb_to_mb() {
	if [[ -n $1 ]]; then awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; fi
}

port_free() {
	# a refused connect means nobody listens there
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port: a port below the kernel's ephemeral range, so that the load
# generator's own client sockets (and their TIME_WAIT) never sit on it.
free_port() {
	local i p lo=32768
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
	((lo > 12000)) || lo=32768
	for ((i = 0; i < 100; i++)); do
		p=$((10000 + (RANDOM * 32768 + RANDOM) % (lo - 10000)))
		if port_free "$p"; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

server_alive() {
	[[ -n $SERVER_PID ]] || return 1
	local st
	st=$(awk '{ print $3 }' "/proc/$SERVER_PID/stat" 2>/dev/null) || return 1
	[[ -n $st && $st != Z ]]
}

server_died() {
	echo "bench: the server (pid $SERVER_PID) died during: $1" >&2
	echo "bench: last lines of its log:" >&2
	tail -n 30 "$TMP/server.log" >&2 || true
	local rc=0
	wait "$SERVER_PID" 2>/dev/null || rc=$?
	echo "bench: its exit status: $rc" >&2
	SERVER_PID=""
	exit 1
}

# lg NAME ARGS...: run loadgen, raw output to $TMP/NAME.out.  A loadgen that
# fails is reported and tolerated; one killed by a signal, or a server that
# died meanwhile, ends the benchmark.
lg() {
	local name=$1
	shift
	local rc=0
	"$LG" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
	if ((rc > 128)); then
		echo "bench: loadgen ($name) killed by signal $((rc - 128))" >&2
		cat "$TMP/$name.err" >&2 || true
		exit 1
	fi
	if [[ -n $SERVER_PID ]] && ! server_alive; then
		server_died "$name"
	fi
	if ((rc != 0)); then
		echo "  warning: loadgen $name exited $rc: $(kv "$TMP/$name.out" first_error)" >&2
		sed 's/^/    /' "$TMP/$name.err" >&2 || true
	fi
	return 0
}

# warn_errors NAME: mention request errors seen by a loadgen run.
warn_errors() {
	local f="$TMP/$1.out" es ei rc
	es=$(kv "$f" errors_status)
	ei=$(kv "$f" errors_io)
	rc=$(kv "$f" reconnects)
	if [[ -n $es && $es != 0 ]] || [[ -n $ei && $ei != 0 ]]; then
		note "errors: ${es:-0} non-2xx, ${ei:-0} transport; first: $(kv "$f" first_error)"
	fi
	if [[ -n $rc && $rc != 0 ]]; then
		note "reconnects: $rc (the server closed keep-alive connections)"
	fi
}

start_server() {
	PORT=$(free_port)
	mkdir -p "$TMP/data"
	"$MW" server --host 127.0.0.1 --port "$PORT" --data-dir "$TMP/data" --log-level warn \
		>>"$TMP/server.log" 2>&1 &
	SERVER_PID=$!
	lg probe --port "$PORT" --probe --timeout-ms 15000
	if [[ $(kv "$TMP/probe.out" ready) != 1 ]]; then
		server_alive || server_died "startup"
		die "the server did not answer GET /health with 200 within 15 s (log: $TMP/server.log)"
	fi
}

# stop_server: SIGTERM, then wait at most 15 s (SIGKILL after that).
stop_server() {
	[[ -n $SERVER_PID ]] || return 0
	local t0 t1 wd rc=0
	t0=$(date +%s%N)
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	( sleep 15; kill -KILL "$SERVER_PID" 2>/dev/null ) &
	wd=$!
	wait "$SERVER_PID" 2>/dev/null || rc=$?
	t1=$(date +%s%N)
	kill "$wd" 2>/dev/null || true
	wait "$wd" 2>/dev/null || true
	SERVER_PID=""
	SERVER_RC=$rc
	STOP_MS=$(calc "($t1 - $t0) / 1e6")
}

# ------------------------------------------------------------------ report

echo "Millwright benchmark  $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "  mw:      $("$MW" version 2>/dev/null | head -n 1 || echo '?')"
echo "  machine: $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/^MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo)"
echo "  scratch: $TMP ($(df -hT "$TMP" | awk 'NR == 2 { print $2 }'))"
printf '\n  %-46s %12s %-9s %-14s %s\n' "figure" "value" "unit" "target" "verdict"

# ---------------------------------------------------------- (d) startup, part 1
section "(d) start-up and memory"
lg version_exec --mode exec --repeat 20 --duration 60 -- "$MW" version
VERSION_MS=$(kv "$TMP/version_exec.out" wall_p50_ms)

ready=()
rss_fresh=()
for ((i = 1; i <= BENCH_STARTS; i++)); do
	p=$(free_port)
	mkdir -p "$TMP/start$i"
	lg "start$i" --mode spawn --port "$p" --timeout-ms 10000 --settle-ms 300 \
		--log "$TMP/start$i.log" -- \
		"$MW" server --host 127.0.0.1 --port "$p" --data-dir "$TMP/start$i" --log-level warn
	f="$TMP/start$i.out"
	if [[ $(kv "$f" ready) != 1 ]]; then
		echo "bench: fresh start $i did not become ready; its log:" >&2
		tail -n 30 "$TMP/start$i.log" >&2 || true
		exit 1
	fi
	if [[ $(kv "$f" killed) == 1 ]]; then
		note "start $i: did not exit within 10 s of SIGTERM (killed)"
	fi
	ready+=("$(kv "$f" ready_ms)")
	rss_fresh+=("$(kv "$f" rss_settled_kb)")
	rm -rf "$TMP/start$i"
done
READY_P50=$(printf '%s\n' "${ready[@]}" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
READY_MAX=$(printf '%s\n' "${ready[@]}" | sort -g | tail -n 1)
fig d.ready_ms "start to ready (fork to first 200), median" "$READY_P50" ms "<= 100" \
	"$(verdict "$READY_P50" "<=" 100)"
note "$BENCH_STARTS fresh data dirs: ${ready[*]} ms (max $READY_MAX)"
fig d.version_ms "baseline: \`mw version\` wall time, median" "$VERSION_MS" ms
START_RSS_MB=$(kb_to_mb "$(printf '%s\n' "${rss_fresh[@]}" | sort -g | tail -n 1)")

start_server
sleep 0.5
IDLE_RSS_START=$(kb_to_mb "$(rss_kb "$SERVER_PID")")
fig d.rss_start_mb "idle RSS after start-up" "$IDLE_RSS_START" MB "<= 20" \
	"$(verdict "$IDLE_RSS_START" "<=" 20)"
note "largest RSS 300 ms after ready over the fresh starts: ${START_RSS_MB:-n/a} MB"

# ---------------------------------------------------------- (a) ingest
section "(a) log-batch ingest: 8 clients, 1000 metrics per request, ${BENCH_INGEST_SECS} s"
rc=0
"$BASE" --duration "$BENCH_INGEST_SECS" --batch 1000 --runs 8 --dir "$TMP" \
	>"$TMP/baseline.out" 2>"$TMP/baseline.err" || rc=$?
((rc <= 128)) || die "baseline_sqlite killed by signal $((rc - 128))"
((rc == 0)) || echo "  warning: baseline_sqlite exited $rc: $(cat "$TMP/baseline.err")" >&2
BASE_PPS=$(kv "$TMP/baseline.out" points_per_s)

CPU0=$(cpu_s "$SERVER_PID")
lg ingest --port "$PORT" --mode logbatch --conns 8 --batch 1000 --keys 10 \
	--duration "$BENCH_INGEST_SECS" --requests 1000000000
CPU1=$(cpu_s "$SERVER_PID")
MW_PPS=$(kv "$TMP/ingest.out" points_per_s)
fig a.points_per_s "mw log-batch ingest" "$MW_PPS" points/s ">= 200000" \
	"$(verdict "$MW_PPS" ">=" 200000)"
fig a.baseline_points_per_s "baseline: SQLite in-process, WAL, sync=FULL" "$BASE_PPS" points/s
RATIO=""
[[ -n $MW_PPS && -n $BASE_PPS && $BASE_PPS != 0 ]] && RATIO=$(calc "$MW_PPS / $BASE_PPS")
fig a.ratio "ratio mw / baseline" "$RATIO" x
note "requests: $(kv "$TMP/ingest.out" requests_ok) ok, $(kv "$TMP/ingest.out" requests_per_s)/s;" \
	"request latency p50 $(kv "$TMP/ingest.out" lat_p50_ms) ms, p99 $(kv "$TMP/ingest.out" lat_p99_ms) ms"
note "CPU-seconds used: server $(calc "$CPU1 - $CPU0"), load generator $(kv "$TMP/ingest.out" client_cpu_s)," \
	"of $(kv "$TMP/ingest.out" elapsed_s) s x $(nproc) cores"
warn_errors ingest

# ---------------------------------------------------------- (b) latency
section "(b) latency over one keep-alive connection, $BENCH_LAT_REQUESTS requests each"
sleep 2 # let the writes of (a) settle
lg health_warm --port "$PORT" --mode fixed --conns 1 --requests 500 --duration 30 --path /health
lg health --port "$PORT" --mode fixed --conns 1 --requests "$BENCH_LAT_REQUESTS" --duration 120 \
	--path /health
lg logmetric --port "$PORT" --mode logmetric --conns 1 --requests "$BENCH_LAT_REQUESTS" \
	--duration 120
rc=0
"$BASE" --duration 3 --batch 1 --runs 1 --dir "$TMP" >"$TMP/commit.out" 2>"$TMP/commit.err" || rc=$?
((rc <= 128)) || die "baseline_sqlite killed by signal $((rc - 128))"
LM_P50=$(kv "$TMP/logmetric.out" lat_p50_ms)
LM_P99=$(kv "$TMP/logmetric.out" lat_p99_ms)
fig b.logmetric_p50_ms "log-metric p50" "$LM_P50" ms "<= 0.3" "$(verdict "$LM_P50" "<=" 0.3)"
fig b.logmetric_p99_ms "log-metric p99" "$LM_P99" ms "<= 2" "$(verdict "$LM_P99" "<=" 2)"
note "log-metric max $(kv "$TMP/logmetric.out" lat_max_ms) ms, $(kv "$TMP/logmetric.out" requests_per_s) requests/s"
warn_errors logmetric
fig b.health_p50_ms "baseline: GET /health p50 (HTTP floor)" "$(kv "$TMP/health.out" lat_p50_ms)" ms
fig b.health_p99_ms "baseline: GET /health p99" "$(kv "$TMP/health.out" lat_p99_ms)" ms
warn_errors health
fig b.commit_p50_ms "baseline: one-row SQLite commit p50 (sync=FULL)" "$(kv "$TMP/commit.out" txn_p50_ms)" ms
fig b.commit_p99_ms "baseline: one-row SQLite commit p99" "$(kv "$TMP/commit.out" txn_p99_ms)" ms

# ---------------------------------------------------------- (c) search
section "(c) runs/search over $BENCH_RUNS runs, 100 runs per page, $BENCH_PAGES pages"
lg mkexp --port "$PORT" --mode mkexp --name "bench-search-$(date +%s)-$$"
EXP=$(kv "$TMP/mkexp.out" experiment_id)
[[ -n $EXP ]] || die "could not create the search experiment: $(kv "$TMP/mkexp.out" first_error)"
CPU0=$(cpu_s "$SERVER_PID")
lg populate --port "$PORT" --mode populate --conns 8 --experiment-id "$EXP" \
	--runs "$BENCH_RUNS" --duration "$BENCH_POPULATE_SECS"
CPU1=$(cpu_s "$SERVER_PID")
CREATED=$(kv "$TMP/populate.out" runs_complete)
fig c.runs "runs populated (create + log-batch m, p)" "$CREATED" runs "= $BENCH_RUNS" \
	"$([[ ${CREATED:-0} -ge $BENCH_RUNS ]] && echo PASS || echo MISS)"
note "$(kv "$TMP/populate.out" runs_per_s) runs/s over $(kv "$TMP/populate.out" elapsed_s) s" \
	"(limit ${BENCH_POPULATE_SECS} s, timed out: $(kv "$TMP/populate.out" timed_out));" \
	"per run p50 $(kv "$TMP/populate.out" run_p50_ms) ms, p99 $(kv "$TMP/populate.out" run_p99_ms) ms;" \
	"server CPU $(calc "$CPU1 - $CPU0") s"
sleep 2 # let the writes settle before timing reads
warn_errors populate

search_series() {
	local id=$1 label=$2 order=$3
	lg "search_$id" --port "$PORT" --mode search --experiment-id "$EXP" \
		--filter "metrics.m > 0.5" --order-by "$order" --max-results 100 \
		--pages "$BENCH_PAGES" --duration 300
	local f="$TMP/search_$id.out" p50 max
	p50=$(kv "$f" page_p50_ms)
	max=$(kv "$f" page_max_ms)
	fig "c.$id.p50_ms" "$label, p50" "$p50" ms/page "<= 50" "$(verdict "$p50" "<=" 50)"
	fig "c.$id.max_ms" "$label, max" "$max" ms/page "<= 50" "$(verdict "$max" "<=" 50)"
	note "first page $(kv "$f" first_page_ms) ms; $(kv "$f" pages) pages, $(kv "$f" runs_returned) runs;" \
		"filter violations $(kv "$f" filter_violations), order violations $(kv "$f" order_violations)"
	local fe
	fe=$(kv "$f" first_error)
	[[ -z $fe ]] || note "error: $fe"
}
search_series m_desc "m > 0.5, order_by metrics.m DESC" "metrics.m DESC"
search_series start_desc "m > 0.5, order_by start_time DESC" "start_time DESC"

# ---------------------------------------------------------- (d) startup, part 2
section "(d) after the benchmarks"
# idle = no request for a while: the server gives cached memory back after
# two quiet seconds (SQLite page caches, malloc_trim), so wait a little longer
sleep 3.5
IDLE_RSS_END=$(kb_to_mb "$(rss_kb "$SERVER_PID")")
fig d.rss_end_mb "idle RSS after the benchmarks" "$IDLE_RSS_END" MB "<= 20" \
	"$(verdict "$IDLE_RSS_END" "<=" 20)"

stop_server
case $SERVER_RC in
0) note "SIGTERM: clean exit after $STOP_MS ms" ;;
*) note "SIGTERM: exit status $SERVER_RC after $STOP_MS ms (expected 0; BENCH_KEEP=1 keeps the log)" ;;
esac
if [[ $SERVER_RC != 0 && $SERVER_RC != 143 ]]; then
	echo "bench: the server exited with status $SERVER_RC on SIGTERM" >&2
	tail -n 30 "$TMP/server.log" >&2 || true
	exit 1
fi

p=$(free_port)
lg restart --mode spawn --port "$p" --timeout-ms 30000 --settle-ms 300 --log "$TMP/restart.log" -- \
	"$MW" server --host 127.0.0.1 --port "$p" --data-dir "$TMP/data" --log-level warn
fig d.ready_populated_ms "start to ready on the populated store" "$(kv "$TMP/restart.out" ready_ms)" ms "<= 100" \
	"$(verdict "$(kv "$TMP/restart.out" ready_ms)" "<=" 100)"
fig d.rss_populated_mb "idle RSS after that start" "$(kb_to_mb "$(kv "$TMP/restart.out" rss_settled_kb)")" MB "<= 20" \
	"$(verdict "$(kb_to_mb "$(kv "$TMP/restart.out" rss_settled_kb)")" "<=" 20)"
note "data dir after the run: $(du -sh "$TMP/data" | awk '{ print $1 }')"

# ---------------------------------------------------------- summary
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

#!/usr/bin/env bash
# bench/registry.sh - registry search over 10,000 models x 10 versions (`make bench`).
#
# Fills a fresh data directory through the store API (bench/registry_bench.c),
# starts `mw server` on it, and times pages of 100 over HTTP with curl
# (time_total: request sent to last byte, no process start-up):
#   registered-models/search  first page and following pages (page_token)
#   the same with a tag filter, and ordered by last_updated_timestamp
#   model-versions/search by name
# Target: <= 20 ms a page.  Env: BENCH_RM_MODELS (10000), BENCH_RM_VERSIONS (10),
# BENCH_RM_PAGES (20).  Exits 0 unless something crashes.  127.0.0.1 only.
set -euo pipefail
BUILD=${1:-./build}
MODELS=${BENCH_RM_MODELS:-10000}
VERSIONS=${BENCH_RM_VERSIONS:-10}
PAGES=${BENCH_RM_PAGES:-20}
TMP=$(mktemp -d /tmp/mw-bench-registry.XXXXXX)
PID=
cleanup() {
	[[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "Millwright registry benchmark  $(date -u '+%F %T') UTC"
mkdir -p "$TMP/data"
"$BUILD/registry_bench" "$TMP/data" "$MODELS" "$VERSIONS" >"$TMP/fill.out"
echo "  filled $MODELS models x $VERSIONS versions in $(grep fill_s "$TMP/fill.out" | cut -d= -f2) s"
"$BUILD/mw" server --host 127.0.0.1 --port "$PORT" --data-dir "$TMP/data" --log-level warn &
PID=$!
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.05; done
B="http://127.0.0.1:$PORT/api/2.0/mlflow"

# series NAME ENDPOINT QUERY: PAGES pages following next_page_token; prints p50/max ms
series() {
	local name=$1 ep=$2 query=$3 tok="" times=()
	for ((i = 0; i < PAGES; i++)); do
		local url="$B/$ep?max_results=100${query:+&$query}"
		[[ -n $tok ]] && url="$url&page_token=$(/usr/bin/python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1]))' "$tok")"
		local out
		out=$(curl -s -w '\n%{time_total}' "$url")
		times+=("$(tail -n1 <<<"$out")")
		tok=$(head -n -1 <<<"$out" | /usr/bin/python3 -c 'import sys,json; print(json.load(sys.stdin).get("next_page_token",""))')
		[[ -z $tok ]] && break
	done
	printf '%s\n' "${times[@]}" | /usr/bin/python3 -c '
import sys
t=sorted(float(x)*1000 for x in sys.stdin if x.strip())
name=sys.argv[1]
p50=t[len(t)//2]; mx=t[-1]
print("  %-58s %8.2f ms p50 %8.2f ms max  (%d pages)  %s" % (name, p50, mx, len(t), "PASS" if p50<=20 else "MISS"))
' "$name"
}
series "registered-models/search" registered-models/search ""
series "registered-models/search filter tags.team = 'team-3'" registered-models/search "filter=tags.team%20%3D%20%27team-3%27"
series "registered-models/search filter name LIKE 'model-00%'" registered-models/search "filter=name%20LIKE%20%27model-00%25%27"
series "registered-models/search order_by last_updated_timestamp DESC" registered-models/search "order_by=last_updated_timestamp%20DESC"
series "model-versions/search filter name = 'model-004242'" model-versions/search "filter=name%3D%27model-004242%27"
series "model-versions/search (all versions, default order)" model-versions/search ""
echo "  target: <= 20 ms a page"

#!/usr/bin/env bash
# scripts/tour.sh - run the README's tour, exactly as written (`make demo`).
#
# The lines between <!-- tour:begin --> and <!-- tour:end --> in README.md run
# in one bash (set -e, each command echoed) in a scratch directory that has
# `build` (the directory of MW_BIN, default ./build/mw) and `scripts` linked
# from the checkout, so `$PWD/build` and `scripts/demo.py` resolve as they do
# in a checkout.  With MW_URI unset, a server is started on a free loopback
# port with a scratch data directory and stopped at the end; with MW_URI set,
# the tour runs against that server.  KEEP=1 keeps the scratch directory.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${MW_BIN:-$repo/build/mw}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
[ -x "$bin" ] || { echo "tour: $bin not found (make build)" >&2; exit 1; }
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] && echo "tour: kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
ln -s "$(dirname "$bin")" "$work/build"
ln -s "$repo/scripts" "$work/scripts"
if [ -z "${MW_URI:-}" ]; then
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$bin" server --host 127.0.0.1 --port "$port" --data-dir "$work/data" --log-level warn \
    >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  export MW_URI=http://127.0.0.1:$port
fi
# the tour, with its port replaced by this server's
sed -n '/<!-- tour:begin -->/,/<!-- tour:end -->/p' "$repo/README.md" |
  grep -v '^<!--\|^```' |
  sed "s#^export MW_URI=http://127.0.0.1:5000#export MW_URI=$MW_URI#" >"$work/tour.sh"
cd "$work"
bash -euo pipefail -x tour.sh

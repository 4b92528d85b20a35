#!/usr/bin/env bash
# Run every libFuzzer target in BUILD_DIR for SECONDS each, on a fresh corpus
# seeded from tests/fuzz/corpus/<target>/ when present.  Fails on a crash.
set -euo pipefail
build=${1:-build-fuzz}; secs=${2:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
shopt -s nullglob
targets=("$build"/fuzz_*)
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets in $build" >&2; exit 1; }
for t in "${targets[@]}"; do
  name=$(basename "$t")
  work=$(mktemp -d)
  seeds="$root/tests/fuzz/corpus/$name"
  [ -d "$seeds" ] && cp -r "$seeds"/. "$work"/ 2>/dev/null || true
  echo "fuzz: $name for ${secs}s"
  ASAN_OPTIONS=detect_leaks=1 "$t" -max_total_time="$secs" -max_len=4096 -artifact_prefix="$work/" "$work" 2>"$work/log" || {
    tail -40 "$work/log"; echo "fuzz: $name FAILED (artifacts in $work)"; exit 1; }
  grep -E "^(Done|#[0-9]+.*DONE)" "$work/log" | tail -1 || true
  rm -rf "$work"
done
echo "fuzz: all targets clean"

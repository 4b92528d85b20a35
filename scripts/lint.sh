#!/usr/bin/env bash
# Lint for `make lint` (and so `make test` and CI): cppcheck over every C
# file, clang-tidy (.clang-tidy) over src/.  Any finding fails.
#   scripts/lint.sh BUILD_DIR JOBS
# BUILD_DIR must be configured (its compile_commands.json feeds clang-tidy).
# cppcheck gets jansson's iteration macros from .cppcheck/jansson.cfg (without
# them it reports unknownMacro and skips src/api/serving.c) and its
# suppressions, each with a reason, from .cppcheck/suppressions.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
jobs=${2:-2}
[ -f "$build/compile_commands.json" ] || { echo "lint: $build is not configured" >&2; exit 2; }

echo "lint: cppcheck $(cppcheck --version | cut -d' ' -f2)"
cppcheck --quiet -j"$jobs" --error-exitcode=1 --std=c11 -D_GNU_SOURCE \
  --enable=warning,performance,portability --library=posix \
  --library=.cppcheck/jansson.cfg --suppressions-list=.cppcheck/suppressions.txt \
  --inline-suppr -Isrc src tests/unit tests/fuzz tests/tools bench

echo "lint: clang-tidy $(clang-tidy --version | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -1)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# "N warnings generated." counts what the check list filters out: noise
if ! ls src/*.c src/*/*.c | xargs -n8 -P"$jobs" clang-tidy -p "$build" --quiet >"$out" 2>&1; then
  grep -v ' warnings\? generated\.$' "$out" >&2
  echo "lint: clang-tidy found problems" >&2
  exit 1
fi
grep -v ' warnings\? generated\.$' "$out" || true
echo "lint: clean"

#!/usr/bin/env bash
# bench/xgb.sh BUILD_DIR [xgb_bench options]
#
# Benchmark (a) of issue 4: the native XGBoost evaluator against libxgboost's
# C API predictor.  Trains with Debian's python3-xgboost a binary:logistic
# model of 100 trees, depth 6, on 30 features (5% missing values), saves it
# as JSON, writes 16384 test rows as raw float32, then runs BUILD_DIR/xgb_bench
# (built when libxgboost-dev is installed), which checks that both give the
# same outputs (and that the native evaluator on a pool of threads gives the
# bytes it gives on one) and times batch 1, 64, 256 and 1024; with --sweep it
# measures the pool's split threshold instead (see docs/bench.md).
# Temporary files are removed.
set -euo pipefail
build=${1:-build-release}
shift || true
bench="$build/xgb_bench"
if [ ! -x "$bench" ]; then
  echo "xgb.sh: $bench not found (is libxgboost-dev installed? cmake skips it otherwise)" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

/usr/bin/python3 - "$work" <<'EOF'
import sys
import numpy as np
import xgboost as xgb

out = sys.argv[1]
rs = np.random.RandomState(42)
n, f = 20000, 30
X = rs.randn(n, f).astype(np.float32)
X[rs.rand(n, f) < 0.05] = np.nan
w = rs.randn(f)
Z = np.nan_to_num(X)
z = Z @ w + np.sin(3 * Z[:, 0]) * Z[:, 1] + 0.5 * rs.randn(n)
y = (z > 0).astype(np.float32)
params = {"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "seed": 1, "nthread": 2}
b = xgb.train(params, xgb.DMatrix(X, label=y), num_boost_round=100)
b.save_model(f"{out}/model.json")
Xt = rs.randn(16384, f).astype(np.float32)
Xt[rs.rand(*Xt.shape) < 0.05] = np.nan
Xt.astype("<f4").tofile(f"{out}/rows.f32")
print(f"trained: 100 trees, depth 6, 30 features; {Xt.shape[0]} test rows")
EOF

"$bench" "$work/model.json" "$work/rows.f32" "$@"

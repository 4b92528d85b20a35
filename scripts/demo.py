#!/usr/bin/python3
"""demo.py OUT_DIR - train two real models and log their runs, as a training
script with an MLflow client would.

Generates a small fraud-detection data set (6 named features), trains an
XGBoost classifier (Debian's python3-xgboost) and a scikit-learn random
forest (python3-sklearn) on it, and writes each as an MLflow model directory
(MLmodel plus the flavor's files) under OUT_DIR/xgboost and OUT_DIR/sklearn.
With MW_URI set, each training is also a run in the experiment "fraud"
(created when missing) with its parameters, AUC metrics per boosting round,
the data set as an input, the code commit as a tag, and the model's files
uploaded to the run's artifacts under model/, through mw's MLflow REST API and
artifact proxy; the run ids go to OUT_DIR/xgboost.run and OUT_DIR/sklearn.run.
OUT_DIR/v2-request.json and OUT_DIR/invocations.json are two rows to score.

Only the standard library talks HTTP, so nothing beyond Debian's packages is
needed.  Used by the README's tour (and `make demo`, which runs that tour).
"""

import hashlib
import json
import os
import pickle
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import sklearn
import xgboost as xgb
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score

FEATURES = ["amount", "hour", "age_days", "n_tx_24h", "foreign", "risk_score"]

MLMODEL_XGB = """\
artifact_path: model
flavors:
  python_function:
    data: model.json
    env:
      conda: conda.yaml
    loader_module: mlflow.xgboost
    python_version: {py}
  xgboost:
    code: null
    data: model.json
    model_class: xgboost.core.Booster
    model_format: json
    xgb_version: {ver}
mlflow_version: 2.9.2
"""

MLMODEL_SKLEARN = """\
artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: {py}
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: pickle
    sklearn_version: {ver}
mlflow_version: 2.9.2
"""

CONDA = "name: mlflow-env\ndependencies:\n  - python={py}\n"


def data(n, seed):
    rs = np.random.RandomState(seed)
    X = np.column_stack([
        rs.lognormal(3.5, 1.2, n),        # amount
        rs.randint(0, 24, n),             # hour
        rs.exponential(700, n),           # age_days
        rs.poisson(2, n),                 # n_tx_24h
        rs.rand(n) < 0.1,                 # foreign
        rs.rand(n),                       # risk_score
    ]).astype(np.float32)
    z = (0.004 * X[:, 0] + 0.8 * (X[:, 1] < 6) - 0.002 * X[:, 2] + 0.3 * X[:, 3]
         + 1.5 * X[:, 4] + 2.5 * X[:, 5] - 3.0 + rs.randn(n) * 0.7)
    return X, (z > 0).astype(np.int32)


# ------------------------------------------------------------------ mw's REST API

def call(method, path, body=None, params=None):
    url = os.environ["MW_URI"].rstrip("/") + path
    if params:
        url += "?" + urllib.parse.urlencode(params)
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        raise SystemExit(f"demo: {method} {path}: {e.code} {e.read()[:300]!r}")


def put_file(path, local):
    url = os.environ["MW_URI"].rstrip("/") + "/api/2.0/mlflow-artifacts/artifacts/" + path
    req = urllib.request.Request(url, data=Path(local).read_bytes(), method="PUT")
    with urllib.request.urlopen(req, timeout=120):
        pass


def experiment(name):
    api = "/api/2.0/mlflow/"
    try:
        got = call("GET", api + "experiments/get-by-name", params={"experiment_name": name})
        return got["experiment"]["experiment_id"]
    except SystemExit:
        return call("POST", api + "experiments/create", {"name": name})["experiment_id"]


def commit():
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def log_run(exp, name, params, history, model_dir, digest):
    api = "/api/2.0/mlflow/"
    now = int(time.time() * 1000)
    run = call("POST", api + "runs/create", {
        "experiment_id": exp, "run_name": name, "start_time": now,
        "tags": [{"key": "mlflow.source.git.commit", "value": commit()},
                 {"key": "mlflow.source.name", "value": "scripts/demo.py"}]})["run"]["info"]
    rid = run["run_id"]
    call("POST", api + "runs/log-batch", {
        "run_id": rid,
        "params": [{"key": k, "value": str(v)} for k, v in params.items()],
        "metrics": [{"key": "auc", "value": float(v), "timestamp": now, "step": i}
                    for i, v in enumerate(history)]})
    call("POST", api + "runs/log-inputs", {"run_id": rid, "datasets": [{"dataset": {
        "name": "fraud-synthetic", "digest": digest, "source_type": "code",
        "source": json.dumps({"generator": "scripts/demo.py", "seed": 7})}}]})
    root = run["artifact_uri"]  # mlflow-artifacts:/<exp>/<run>/artifacts
    base = root.split("mlflow-artifacts:", 1)[1].lstrip("/")
    for f in sorted(Path(model_dir).iterdir()):
        put_file(f"{base}/model/{f.name}", f)
    call("POST", api + "runs/update", {"run_id": rid, "status": "FINISHED",
                                       "end_time": int(time.time() * 1000)})
    return rid


# ------------------------------------------------------------------ training

def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    py = ".".join(map(str, sys.version_info[:3]))
    X, y = data(6000, seed=7)
    Xv, yv = data(2000, seed=8)
    digest = hashlib.sha256(X.tobytes() + y.tobytes()).hexdigest()[:8]

    # XGBoost: AUC on the validation set after every round
    params = {"objective": "binary:logistic", "max_depth": 4, "eta": 0.2, "seed": 1,
              "eval_metric": "auc"}
    evals = {}
    booster = xgb.train(params, xgb.DMatrix(X, label=y, feature_names=FEATURES), 60,
                        evals=[(xgb.DMatrix(Xv, label=yv, feature_names=FEATURES), "valid")],
                        evals_result=evals, verbose_eval=False)
    xdir = out / "xgboost"
    xdir.mkdir(exist_ok=True)
    booster.save_model(str(xdir / "model.json"))
    (xdir / "MLmodel").write_text(MLMODEL_XGB.format(py=py, ver=xgb.__version__))
    (xdir / "conda.yaml").write_text(CONDA.format(py=py))
    xauc = evals["valid"]["auc"]

    # scikit-learn: AUC as the forest grows
    forest = RandomForestClassifier(n_estimators=10, max_depth=6, random_state=1,
                                    warm_start=True)
    sauc = []
    for n in (10, 20, 40, 80):
        forest.set_params(n_estimators=n)
        forest.fit(X, y)
        sauc.append(roc_auc_score(yv, forest.predict_proba(Xv)[:, 1]))
    sdir = out / "sklearn"
    sdir.mkdir(exist_ok=True)
    (sdir / "model.pkl").write_bytes(pickle.dumps(forest, protocol=4))
    (sdir / "MLmodel").write_text(MLMODEL_SKLEARN.format(py=py, ver=sklearn.__version__))
    (sdir / "conda.yaml").write_text(CONDA.format(py=py))

    rows = Xv[:2].tolist()
    (out / "v2-request.json").write_text(json.dumps({"inputs": [
        {"name": "input-0", "shape": [2, len(FEATURES)], "datatype": "FP32",
         "data": [v for r in rows for v in r]}]}))
    (out / "invocations.json").write_text(json.dumps(
        {"dataframe_split": {"columns": FEATURES, "data": rows}}))
    print(f"trained xgboost (validation AUC {xauc[-1]:.3f}) and scikit-learn "
          f"(validation AUC {sauc[-1]:.3f}) into {out}")

    if os.environ.get("MW_URI"):
        exp = experiment("fraud")
        xr = log_run(exp, "xgboost", {k: v for k, v in params.items() if k != "eval_metric"}
                     | {"rounds": 60}, xauc, xdir, digest)
        sr = log_run(exp, "sklearn", {"n_estimators": 80, "max_depth": 6}, sauc, sdir, digest)
        (out / "xgboost.run").write_text(xr + "\n")
        (out / "sklearn.run").write_text(sr + "\n")
        print(f"logged runs {xr} (xgboost) and {sr} (sklearn) in experiment fraud ({exp})")


if __name__ == "__main__":
    main()

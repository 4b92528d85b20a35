"""End to end through the warehouse and into serving, the way an MLflow 3 client drives it:
train a real XGBoost model (Debian's python3-xgboost, data generated here), log it as a
logged model (MLmodel + model file uploaded through the artifact proxy), register it from
models:/<model_id>, set alias champion, resolve models:/<name>@champion, download every file
and check every byte; then check the version is pinned (the logged model's files changing does
not change it), that the CLI downloads the same bytes, and that the server predicts what
XGBoost predicts."""

import hashlib
import json
import os
import subprocess

import pytest

from conftest import assert_ok, mw_bin, unique

xgb = pytest.importorskip("xgboost")
np = pytest.importorskip("numpy")

ART = "/api/2.0/mlflow-artifacts/artifacts/"


def _train(tmp_path):
    rs = np.random.RandomState(7)
    X = rs.randn(400, 6).astype(np.float32)
    y = (X[:, 0] - 0.5 * X[:, 2] + 0.1 * rs.randn(400) > 0).astype(int)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 4, "eta": 0.3},
                        xgb.DMatrix(X, label=y), num_boost_round=25)
    path = tmp_path / "model.json"
    booster.save_model(str(path))
    mlmodel = ("artifact_path: model\nflavors:\n  xgboost:\n    data: model.json\n"
               "    model_format: json\n    xgb_version: %s\n"
               "  python_function:\n    loader_module: mlflow.xgboost\n    data: model.json\n"
               "utc_time_created: '2026-11-23 12:00:00.000000'\n" % xgb.__version__)
    return booster, X, {"MLmodel": mlmodel.encode(), "model.json": path.read_bytes()}


def _upload(mw, uri, files):
    assert uri.startswith("mlflow-artifacts:/")
    root = uri[len("mlflow-artifacts:/"):]
    for name, body in files.items():
        r = mw.request("PUT", ART + root + "/" + name, data=body, prefix="")
        assert r.status_code == 200, r.text


def _download_all(mw, uri):
    """What MLflow's client does for models:/: list recursively, GET every file."""
    root = uri[len("mlflow-artifacts:/"):]
    out = {}

    def walk(path):
        listing = assert_ok(mw.get("/api/2.0/mlflow-artifacts/artifacts", params={"path": path}))
        for f in listing.get("files", []):
            sub = path + "/" + f["path"]
            if f["is_dir"]:
                walk(sub)
            else:
                r = mw.request("GET", ART + sub, prefix="")
                assert r.status_code == 200
                assert r.headers["ETag"].strip('"') == hashlib.sha256(r.content).hexdigest()
                out[sub[len(root) + 1:]] = r.content

    walk(root)
    return out


def test_train_log_register_alias_download_serve(mw, tmp_path):
    booster, X, files = _train(tmp_path)
    name = unique("fraud")
    exp = assert_ok(mw.post("experiments/create", {"name": unique("e2e")}))["experiment_id"]
    run = assert_ok(mw.post("runs/create", {"experiment_id": exp}))["run"]["info"]["run_id"]
    assert_ok(mw.post("runs/log-batch", {"run_id": run, "params": [{"key": "max_depth",
                                                                       "value": "4"}]}))
    # MLflow 3 log_model: logged model, outputs, upload, finalize
    model = assert_ok(mw.post("logged-models", {"experiment_id": exp, "name": "model",
                                                 "source_run_id": run}))["model"]
    mid = model["info"]["model_id"]
    assert_ok(mw.post("runs/outputs", {"run_id": run, "models": [{"model_id": mid, "step": 0}]}))
    _upload(mw, model["info"]["artifact_uri"], files)
    assert_ok(mw.patch(f"logged-models/{mid}", {"model_id": mid, "status": "LOGGED_MODEL_READY"}))
    # register, alias
    assert_ok(mw.post("registered-models/create", {"name": name}))
    mv = assert_ok(mw.post("model-versions/create", {"name": name, "source": f"models:/{mid}",
                                                      "model_id": mid}))["model_version"]
    assert mv["version"] == "1" and mv["status"] == "READY"
    assert mv["run_id"] == run
    assert_ok(mw.post("registered-models/alias", {"name": name, "alias": "champion",
                                                   "version": "1"}))
    # pyfunc.load_model("models:/<name>@champion")
    got = assert_ok(mw.get("registered-models/alias", {"name": name, "alias": "champion"}))
    assert got["model_version"]["version"] == "1"
    uri = assert_ok(mw.get("model-versions/get-download-uri",
                           {"name": name, "version": "1"}))["artifact_uri"]
    downloaded = _download_all(mw, uri)
    assert downloaded == files  # every byte

    # pinned: the logged model's files change, the version does not
    _upload(mw, model["info"]["artifact_uri"], {"model.json": b"{\"not\": \"a model\"}"})
    assert _download_all(mw, uri) == files

    # the CLI resolves the alias and verifies SHA-256 on the way
    out = tmp_path / "cli"
    p = subprocess.run([mw_bin(), "artifacts", "download", f"models:/{name}@champion", str(out),
                        "--uri", mw.url, "--json"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    got_files = {}
    for dirpath, _, names in os.walk(out):
        for n in names:
            full = os.path.join(dirpath, n)
            got_files[os.path.basename(full)] = open(full, "rb").read()
    assert got_files == files
    assert all(e["verified"] for e in json.loads(p.stdout))

    # lineage links the version to its run and files
    lin = assert_ok(mw.get(f"/api/mw/models/{name}/versions/1/lineage"))
    assert lin["run"]["info"]["run_id"] == run
    assert {a["path"] for a in lin["artifacts"]} == set(files)

    # and the server predicts what XGBoost predicts
    rows = X[:16]
    want = booster.predict(xgb.DMatrix(rows))
    r = mw.post(f"/v2/models/{name}/infer",
                {"inputs": [{"name": "input-0", "shape": [16, 6], "datatype": "FP32",
                             "data": rows.tolist()}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_name"] == name and body["model_version"] == "1"
    got = np.array(body["outputs"][0]["data"], dtype=np.float64)
    assert np.allclose(got, want, rtol=1e-6, atol=1e-7)

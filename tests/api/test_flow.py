"""Replay of the MLflow 3 client wire trace (spec mlflow.md §8 steps 1-3, 5.1-5.6
and 6; artifact uploads and registry are a later issue), then check that every
value round-tripped exactly."""

import json
import time

from conftest import HEX32, MODEL_ID, assert_error, assert_ok, kv, unique


def test_mlflow3_client_flow(mw):
    P = mw  # requests go to /api/2.0/mlflow/
    exp_name = unique("flow")
    commit = "0123456789abcdef0123456789abcdef01234567"

    # 1. set_experiment(name): get-by-name 404 -> create -> get
    assert_error(P.get("experiments/get-by-name", {"experiment_name": exp_name}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    exp_id = assert_ok(P.post("experiments/create", {"name": exp_name}))["experiment_id"]
    exp = assert_ok(P.get("experiments/get", {"experiment_id": exp_id}))["experiment"]
    assert exp["name"] == exp_name and exp["lifecycle_stage"] == "active"

    # start_run(): runs/create with the client's context tags
    start = int(time.time() * 1000)
    client_tags = {
        "mlflow.user": "alice",
        "mlflow.source.name": "train.py",
        "mlflow.source.type": "LOCAL",
        "mlflow.source.git.commit": commit,
    }
    run = assert_ok(P.post("runs/create", {
        "experiment_id": exp_id, "user_id": "alice", "start_time": start,
        "tags": [{"key": k, "value": v} for k, v in client_tags.items()]}))["run"]
    R = run["info"]["run_id"]
    assert HEX32.match(R) and run["info"]["run_uuid"] == R
    assert run["info"]["artifact_uri"] == f"mlflow-artifacts:/{exp_id}/{R}/artifacts"
    assert run["info"]["status"] == "RUNNING"
    run_name = run["info"]["run_name"]
    assert run_name

    # 2. log_param
    params = {"lr": "0.001", "optimizer": "adam"}
    for k, v in params.items():
        assert assert_ok(P.post("runs/log-parameter",
                                {"run_id": R, "run_uuid": R, "key": k, "value": v})) == {}

    # 3. log_metric xN over steps
    history = {"loss": [], "acc": []}
    ts = start
    for step in range(25):
        for key, val in (("loss", 1.0 / (step + 1)), ("acc", min(0.5 + step * 0.02, 1.0))):
            ts += 1
            assert assert_ok(P.post("runs/log-metric", {
                "run_id": R, "run_uuid": R, "key": key, "value": val,
                "timestamp": ts, "step": step})) == {}
            history[key].append((val, ts, step))

    # log_metrics / log_params -> log-batch
    batch_metrics = [{"key": "val_loss", "value": 0.5 - i * 0.01, "timestamp": ts + i, "step": i}
                     for i in range(10)]
    history["val_loss"] = [(m["value"], m["timestamp"], m["step"]) for m in batch_metrics]
    assert assert_ok(P.post("runs/log-batch", {
        "run_id": R, "metrics": batch_metrics,
        "params": [{"key": "batch_size", "value": "32"}],
        "tags": [{"key": "phase", "value": "train"}]})) == {}
    params["batch_size"] = "32"

    # set_tag
    assert assert_ok(P.post("runs/set-tag", {"run_id": R, "run_uuid": R,
                                             "key": "note", "value": "first try"})) == {}

    # 5.1 GET runs/get (params copied into the model)
    got = assert_ok(P.get("runs/get", {"run_id": R}))["run"]
    run_params = kv(got["data"]["params"])
    assert run_params == params

    # 5.2 logged-models create
    model = assert_ok(P.post("logged-models", {
        "experiment_id": exp_id, "name": "model", "source_run_id": R,
        "params": [{"key": k, "value": v} for k, v in run_params.items()],
        "tags": [{"key": "mlflow.user", "value": "alice"},
                 {"key": "mlflow.source.git.commit", "value": commit}]}))["model"]
    X = model["info"]["model_id"]
    assert MODEL_ID.match(X)
    assert model["info"]["status"] == "LOGGED_MODEL_PENDING"
    assert model["info"]["artifact_uri"] == f"mlflow-artifacts:/{exp_id}/models/{X}/artifacts"

    # 5.3 runs/outputs
    assert assert_ok(P.post("runs/outputs", {"run_id": R,
                                             "models": [{"model_id": X, "step": 0}]})) == {}

    # 5.4 GET runs/get, get-history per metric key, log-batch with model_id
    got = assert_ok(P.get("runs/get", {"run_id": R}))["run"]
    keys = sorted(m["key"] for m in got["data"]["metrics"])
    assert keys == ["acc", "loss", "val_loss"]
    relog = []
    for key in keys:
        h = assert_ok(P.get("metrics/get-history", {"run_id": R, "metric_key": key}))["metrics"]
        assert len(h) == len(history[key])
        relog += [dict(m, model_id=X) for m in h if m["step"] == 0]
    assert len(relog) == 3
    for m in relog:
        m.pop("run_id", None)
    assert assert_ok(P.post("runs/log-batch", {"run_id": R, "metrics": relog})) == {}

    # 5.5 GET logged-models/X (artifact location); uploads are a later issue
    got_model = assert_ok(P.get(f"logged-models/{X}"))["model"]
    assert got_model["info"]["artifact_uri"] == model["info"]["artifact_uri"]

    # 5.6 finalize
    fin = assert_ok(P.patch(f"logged-models/{X}", {"model_id": X,
                                                   "status": "LOGGED_MODEL_READY"}))["model"]
    assert fin["info"]["status"] == "LOGGED_MODEL_READY"

    # 6. end of `with`: runs/update FINISHED
    end = ts + 1000
    info = assert_ok(P.post("runs/update", {"run_id": R, "run_uuid": R, "status": "FINISHED",
                                            "end_time": end}))["run_info"]
    assert info["status"] == "FINISHED" and info["end_time"] == end

    # ---- everything round-tripped
    out = assert_ok(P.post("runs/search", {
        "experiment_ids": [exp_id],
        "filter": f"tags.\"mlflow.source.git.commit\" = '{commit}'"}))
    assert [r["info"]["run_id"] for r in out["runs"]] == [R]
    r = out["runs"][0]
    assert r["info"]["status"] == "FINISHED"
    assert r["info"]["start_time"] == start and r["info"]["end_time"] == end
    assert r["info"]["run_name"] == run_name
    assert r["info"]["user_id"] == "alice"
    assert r["info"]["lifecycle_stage"] == "active"
    assert kv(r["data"]["params"]) == params
    tags = kv(r["data"]["tags"])
    for k, v in client_tags.items():
        assert tags[k] == v
    assert tags["phase"] == "train" and tags["note"] == "first try"
    assert tags["mlflow.runName"] == run_name
    latest = {m["key"]: (m["value"], m["timestamp"], m["step"]) for m in r["data"]["metrics"]}
    for key, pts in history.items():
        assert latest[key] == max(pts, key=lambda p: (p[2], p[1], p[0]))
    assert r["outputs"]["model_outputs"] == [{"model_id": X, "step": 0}]

    for key, pts in history.items():
        h = assert_ok(P.get("metrics/get-history", {"run_id": R, "metric_key": key}))["metrics"]
        assert sorted((m["value"], m["timestamp"], m["step"]) for m in h) == sorted(pts)

    # search by metric and by param, with order_by
    out = assert_ok(P.post("runs/search", {"experiment_ids": [exp_id],
                                           "filter": "metrics.acc >= 0.9 AND params.lr = '0.001'",
                                           "order_by": ["metrics.loss ASC"]}))
    assert [x["info"]["run_id"] for x in out["runs"]] == [R]

    final = assert_ok(P.get(f"logged-models/{X}"))["model"]
    assert final["info"]["status"] == "LOGGED_MODEL_READY"
    assert final["info"]["source_run_id"] == R
    assert kv(final["data"]["params"]) == params
    assert {m["key"] for m in final["data"].get("metrics", [])} == {"acc", "loss", "val_loss"}
    out = assert_ok(P.post("logged-models/search", {"experiment_ids": [exp_id]}))
    assert [m["info"]["model_id"] for m in out["models"]] == [X]


def test_mlflow2_client_flow(mw):
    """The 2.x variant: legacy experiments/list, runs/log-model, run_uuid-only calls."""
    name = unique("flow2")
    eid = assert_ok(mw.post("experiments/create", {"name": name}))["experiment_id"]
    listed = assert_ok(mw.get("experiments/list"))["experiments"]
    assert name in [e["name"] for e in listed]
    run = assert_ok(mw.post("runs/create", {"experiment_id": eid, "start_time": 1700000000000,
                                            "run_name": "legacy-run"}))["run"]
    R = run["info"]["run_uuid"]
    assert_ok(mw.post("runs/log-parameter", {"run_uuid": R, "key": "k", "value": "v"}))
    for step in range(5):
        assert_ok(mw.post("runs/log-metric", {"run_uuid": R, "key": "m", "value": step,
                                              "timestamp": 1700000000000 + step, "step": step}))
    model_json = json.dumps({"artifact_path": "model", "run_id": R,
                             "utc_time_created": "2024-05-01 10:00:00.000000",
                             "flavors": {"sklearn": {"pickled_model": "model.pkl"}}})
    assert_ok(mw.post("runs/log-model", {"run_id": R, "model_json": model_json}))
    assert_ok(mw.post("runs/update", {"run_uuid": R, "status": "FINISHED",
                                      "end_time": 1700000001000}))
    got = assert_ok(mw.get("runs/get", {"run_uuid": R}))["run"]
    assert got["info"]["status"] == "FINISHED"
    assert got["info"]["run_name"] == "legacy-run"
    assert kv(got["data"]["params"]) == {"k": "v"}
    assert kv(got["data"]["metrics"]) == {"m": 4}
    hist = json.loads(kv(got["data"]["tags"])["mlflow.log-model.history"])
    assert hist[0]["artifact_path"] == "model" and hist[0]["run_id"] == R

"""MLflow 1.x clients (issue 10, item 1): MLflow 1.x servers serve every
tracking and registry endpoint under /api/2.0/preview/mlflow/ as well, and
many 1.x clients (Java, Scala, JS, old Python) call only that prefix.  The
whole workflow of such a client runs against mw, with answers identical to the
/api/2.0/mlflow/ ones."""

import pytest

from conftest import assert_error, assert_ok, now_ms, unique

PREVIEW = ["/api/2.0/preview/mlflow/", "/ajax-api/2.0/preview/mlflow/"]


@pytest.mark.parametrize("prefix", PREVIEW)
def test_tracking_workflow_under_preview_prefix(mw, prefix):
    name = unique("v1")
    eid = assert_ok(mw.post("experiments/create", {"name": name}, prefix=prefix))["experiment_id"]
    assert assert_ok(mw.get("experiments/get", {"experiment_id": eid}, prefix=prefix))[
        "experiment"]["name"] == name
    run = assert_ok(mw.post("runs/create", {"experiment_id": eid, "start_time": now_ms()},
                            prefix=prefix))["run"]["info"]
    rid = run["run_uuid"]
    assert_ok(mw.post("runs/log-metric", {"run_uuid": rid, "key": "m", "value": 0.5,
                                           "timestamp": now_ms(), "step": 1}, prefix=prefix))
    assert_ok(mw.post("runs/log-parameter", {"run_uuid": rid, "key": "p", "value": "1"},
                      prefix=prefix))
    assert_ok(mw.post("runs/set-tag", {"run_uuid": rid, "key": "t", "value": "x"},
                      prefix=prefix))
    hist = assert_ok(mw.get("metrics/get-history", {"run_uuid": rid, "metric_key": "m"},
                            prefix=prefix))
    assert [m["value"] for m in hist["metrics"]] == [0.5]
    found = assert_ok(mw.post("runs/search", {"experiment_ids": [eid],
                                              "filter": "metrics.m > 0.1"}, prefix=prefix))
    assert [r["info"]["run_id"] for r in found["runs"]] == [rid]
    # the same answer as under the 2.0 prefix
    a = assert_ok(mw.get("runs/get", {"run_id": rid}, prefix=prefix))
    b = assert_ok(mw.get("runs/get", {"run_id": rid}))
    assert a == b
    assert_ok(mw.post("runs/update", {"run_uuid": rid, "status": "FINISHED",
                                      "end_time": now_ms()}, prefix=prefix))
    listing = assert_ok(mw.get("artifacts/list", {"run_id": rid}, prefix=prefix))
    assert "root_uri" in listing


@pytest.mark.parametrize("prefix", PREVIEW)
def test_registry_workflow_under_preview_prefix(mw, prefix):
    name = unique("reg1x")
    assert_ok(mw.post("registered-models/create", {"name": name}, prefix=prefix))
    got = assert_ok(mw.get("registered-models/get", {"name": name}, prefix=prefix))
    assert got["registered_model"]["name"] == name
    found = assert_ok(mw.get("registered-models/search",
                             {"filter": f"name = '{name}'"}, prefix=prefix))
    assert [m["name"] for m in found["registered_models"]] == [name]
    assert_ok(mw.patch("registered-models/update", {"name": name, "description": "d"},
                      prefix=prefix))
    assert_ok(mw.delete("registered-models/delete", {"name": name}, prefix=prefix))
    assert_error(mw.get("registered-models/get", {"name": name}, prefix=prefix), 404,
                 "RESOURCE_DOES_NOT_EXIST")


def test_unknown_endpoint_under_preview_prefix_is_mlflow_shaped(mw):
    for prefix in PREVIEW:
        assert_error(mw.get("nothing/here", prefix=prefix), 404, "ENDPOINT_NOT_FOUND")

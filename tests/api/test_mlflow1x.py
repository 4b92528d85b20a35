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


# ---- where 1.x and 2.x servers differ, a client of either works -------------

@pytest.mark.parametrize("prefix", PREVIEW[:1] + ["/api/2.0/mlflow/"])
def test_version_without_source_is_a_version_with_no_files(mw, prefix):
    """MLflow 1.x accepts model-versions/create without a source."""
    name = unique("nosrc")
    assert_ok(mw.post("registered-models/create", {"name": name}, prefix=prefix))
    mv = assert_ok(mw.post("model-versions/create", {"name": name}, prefix=prefix))[
        "model_version"]
    assert mv["version"] == "1" and mv["status"] == "READY"
    # nothing MLflow would leave out: no source, no status_message, no files
    assert "source" not in mv and "status_message" not in mv
    assert "storage_location" not in mv
    # clearly marked, in the native API
    lin = assert_ok(mw.get(f"/api/mw/models/{name}/versions/1/lineage"))
    assert "without a source" in lin["registration_note"]
    assert "files" in lin["registration_note"]
    # an empty source is no source too; versions go on counting
    mv2 = assert_ok(mw.post("model-versions/create", {"name": name, "source": ""},
                            prefix=prefix))["model_version"]
    assert mv2["version"] == "2" and "source" not in mv2


def test_no_version_ever_carries_status_message(mw, tmp_path):
    """MLflow leaves status_message empty on every version it creates: not for
    an external source, not for a source without files either."""
    name = unique("nomsg")
    assert_ok(mw.post("registered-models/create", {"name": name}))
    run = mw.create_run("0")["info"]
    for src in ("s3://bucket/models/m", f"runs:/{run['run_id']}/nothing-here"):
        mv = assert_ok(mw.post("model-versions/create", {"name": name, "source": src}))[
            "model_version"]
        assert "status_message" not in mv, src
        got = assert_ok(mw.get("model-versions/get", {"name": name,
                                                      "version": mv["version"]}))
        assert "status_message" not in got["model_version"]
        listed = assert_ok(mw.get("model-versions/search", {"filter": f"name='{name}'"}))
        assert all("status_message" not in v for v in listed["model_versions"])


@pytest.mark.parametrize("prefix", PREVIEW[:1] + ["/api/2.0/mlflow/"])
def test_deleting_a_deleted_run_is_mlflows_error(mw, prefix):
    rid = mw.create_run("0")["info"]["run_id"]
    assert_ok(mw.post("runs/delete", {"run_id": rid}, prefix=prefix))
    r = mw.post("runs/delete", {"run_id": rid}, prefix=prefix)
    body = assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert body["message"] == (f"The run {rid} must be in the 'active' state. "
                               "Current state is deleted.")
    # restore, then delete again works; restoring an active run changes nothing
    assert_ok(mw.post("runs/restore", {"run_id": rid}, prefix=prefix))
    assert_ok(mw.post("runs/restore", {"run_id": rid}, prefix=prefix))
    assert_ok(mw.post("runs/delete", {"run_id": rid}, prefix=prefix))
    assert mw.get_run(rid)["info"]["lifecycle_stage"] == "deleted"


@pytest.mark.parametrize("status", ["NOT_A_STATUS", "finished_later"])
def test_unknown_run_status_is_ignored_like_mlflow(mw, status):
    """MLflow parses with unknown values ignored: the rest of the update holds."""
    rid = mw.create_run("0")["info"]["run_id"]
    info = assert_ok(mw.post("runs/update", {"run_id": rid, "status": status,
                                             "run_name": "renamed", "end_time": 1234}))[
        "run_info"]
    assert info["status"] == "RUNNING" and info["run_name"] == "renamed"
    assert info["end_time"] == 1234
    # a wrong type, or a number outside the enum, is still an error
    for bad in (["FINISHED"], 99, 0):
        assert_error(mw.post("runs/update", {"run_id": rid, "status": bad}), 400,
                     "INVALID_PARAMETER_VALUE")


def test_unknown_view_type_names_are_the_default_view(mw):
    eid = mw.create_experiment()
    live = mw.create_run(eid)["info"]["run_id"]
    gone = mw.create_run(eid)["info"]["run_id"]
    assert_ok(mw.post("runs/delete", {"run_id": gone}))
    found = assert_ok(mw.post("runs/search", {"experiment_ids": [eid],
                                              "run_view_type": "SOMETIMES"}))
    assert [r["info"]["run_id"] for r in found["runs"]] == [live]
    assert_ok(mw.post("experiments/search", {"view_type": "NEVER_HEARD_OF"}))


def test_unknown_keys_in_log_inputs_are_ignored(mw):
    rid = mw.create_run("0")["info"]["run_id"]
    ds = {"name": "d", "digest": "abc", "source_type": "local", "source": "/tmp/d",
          "a_future_field": {"x": 1}}
    assert_ok(mw.post("runs/log-inputs", {"run_id": rid, "a_new_key": [1, 2],
                                          "datasets": [{"dataset": ds, "tags": [],
                                                        "extra": True}]}))
    run = mw.get_run(rid)
    assert [d["dataset"]["name"] for d in run["inputs"]["dataset_inputs"]] == ["d"]

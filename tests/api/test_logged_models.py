"""MLflow 3 logged models (spec mlflow.md §3)."""

import pytest

from conftest import AJAX, MODEL_ID, assert_error, assert_ok, kv, now_ms, unique


@pytest.fixture
def exp(mw):
    return mw.create_experiment(unique("lm"))


def create(mw, exp, **kw):
    body = {"experiment_id": exp}
    body.update(kw)
    return assert_ok(mw.post("logged-models", body))["model"]


def get(mw, mid):
    return assert_ok(mw.get(f"logged-models/{mid}"))["model"]


def test_create_shape(mw, exp):
    run = mw.create_run(exp)["info"]["run_id"]
    t0 = now_ms()
    m = create(mw, exp, name="model", model_type="sklearn", source_run_id=run,
               params=[{"key": "alpha", "value": "0.5"}],
               tags=[{"key": "stage", "value": "dev"}])
    info = m["info"]
    assert MODEL_ID.match(info["model_id"]), info
    assert info["experiment_id"] == exp
    assert info["name"] == "model"
    assert info["model_type"] == "sklearn"
    assert info["source_run_id"] == run
    assert info["status"] == "LOGGED_MODEL_PENDING"
    assert info["artifact_uri"] == f"mlflow-artifacts:/{exp}/models/{info['model_id']}/artifacts"
    for f in ("creation_timestamp_ms", "last_updated_timestamp_ms"):
        assert isinstance(info[f], int) and t0 - 5000 <= info[f] <= now_ms() + 5000
    assert kv(info["tags"]) == {"stage": "dev"}
    assert kv(m["data"]["params"]) == {"alpha": "0.5"}
    again = get(mw, info["model_id"])
    assert again["info"] == info
    assert kv(again["data"]["params"]) == {"alpha": "0.5"}


def test_create_generates_name_and_unique_ids(mw, exp):
    a = create(mw, exp)
    b = create(mw, exp)
    assert a["info"]["model_id"] != b["info"]["model_id"]
    assert isinstance(a["info"].get("name"), str) and a["info"]["name"]


def test_create_errors(mw):
    assert_error(mw.post("logged-models", {"name": "x"}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(mw.post("logged-models", {"experiment_id": "98765428"}), 404,
                 "RESOURCE_DOES_NOT_EXIST")


def test_get_missing(mw):
    assert_error(mw.get("logged-models/m-" + "0" * 32), 404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize("status", ["LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"])
def test_finalize(mw, exp, status):
    mid = create(mw, exp, name="fin")["info"]["model_id"]
    m = assert_ok(mw.patch(f"logged-models/{mid}", {"model_id": mid, "status": status}))["model"]
    assert m["info"]["model_id"] == mid
    assert m["info"]["status"] == status
    assert get(mw, mid)["info"]["status"] == status


def test_finalize_errors(mw, exp):
    mid = create(mw, exp)["info"]["model_id"]
    assert_error(mw.patch(f"logged-models/{mid}", {"model_id": mid, "status": "BOGUS"}), 400,
                 ("INVALID_PARAMETER_VALUE", "BAD_REQUEST"))
    assert_error(mw.patch(f"logged-models/{mid}", {"model_id": mid}), 400,
                 "INVALID_PARAMETER_VALUE")
    missing = "m-" + "1" * 32
    assert_error(mw.patch(f"logged-models/{missing}",
                          {"model_id": missing, "status": "LOGGED_MODEL_READY"}),
                 404, "RESOURCE_DOES_NOT_EXIST")
    assert get(mw, mid)["info"]["status"] == "LOGGED_MODEL_PENDING"


def test_delete(mw, exp):
    mid = create(mw, exp)["info"]["model_id"]
    assert assert_ok(mw.delete(f"logged-models/{mid}")) == {}
    assert_error(mw.get(f"logged-models/{mid}"), 404, "RESOURCE_DOES_NOT_EXIST")
    out = assert_ok(mw.post("logged-models/search", {"experiment_ids": [exp]}))
    assert mid not in [m["info"]["model_id"] for m in out.get("models", [])]
    assert_error(mw.delete("logged-models/m-" + "2" * 32), 404, "RESOURCE_DOES_NOT_EXIST")


def test_tags(mw, exp):
    mid = create(mw, exp, tags=[{"key": "a", "value": "1"}])["info"]["model_id"]
    m = assert_ok(mw.patch(f"logged-models/{mid}/tags",
                           {"tags": [{"key": "b", "value": "2"}, {"key": "a", "value": "3"}]}))
    assert kv(m["model"]["info"]["tags"]) == {"a": "3", "b": "2"}
    assert kv(get(mw, mid)["info"]["tags"]) == {"a": "3", "b": "2"}
    assert assert_ok(mw.delete(f"logged-models/{mid}/tags/a")) == {}
    assert kv(get(mw, mid)["info"].get("tags")) == {"b": "2"}
    # client's registration bookkeeping tag (JSON value)
    val = '[{"name": "M", "version": "1"}]'
    assert_ok(mw.patch(f"logged-models/{mid}/tags",
                       {"tags": [{"key": "mlflow.modelVersions", "value": val}]}))
    assert kv(get(mw, mid)["info"]["tags"])["mlflow.modelVersions"] == val
    missing = "m-" + "3" * 32
    assert_error(mw.patch(f"logged-models/{missing}/tags", {"tags": [{"key": "a", "value": "1"}]}),
                 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(mw.patch(f"logged-models/{mid}/tags", {"tags": [{"key": "bad!", "value": "1"}]}),
                 400, "INVALID_PARAMETER_VALUE")


def test_params(mw, exp):
    mid = create(mw, exp, params=[{"key": "p0", "value": "0"}])["info"]["model_id"]
    out = assert_ok(mw.post(f"logged-models/{mid}/params",
                            {"model_id": mid, "params": [{"key": "p1", "value": "1"},
                                                         {"key": "p2", "value": "two"}]}))
    assert out == {}
    assert kv(get(mw, mid)["data"]["params"]) == {"p0": "0", "p1": "1", "p2": "two"}
    missing = "m-" + "4" * 32
    assert_error(mw.post(f"logged-models/{missing}/params",
                         {"params": [{"key": "a", "value": "1"}]}),
                 404, "RESOURCE_DOES_NOT_EXIST")


def test_metrics_with_model_id(mw, exp):
    run = mw.create_run(exp)["info"]["run_id"]
    mid = create(mw, exp, source_run_id=run)["info"]["model_id"]
    t = now_ms()
    assert_ok(mw.post("runs/log-batch", {"run_id": run, "metrics": [
        {"key": "acc", "value": 0.75, "timestamp": t, "step": 0, "model_id": mid}]}))
    assert_ok(mw.post("runs/log-metric", {"run_id": run, "key": "f1", "value": 0.5,
                                          "timestamp": t, "step": 0, "model_id": mid,
                                          "dataset_name": "ds", "dataset_digest": "dg"}))
    metrics = {m["key"]: m for m in get(mw, mid)["data"]["metrics"]}
    assert metrics["acc"]["value"] == 0.75
    assert metrics["acc"]["model_id"] == mid and metrics["acc"]["run_id"] == run
    assert metrics["f1"]["dataset_name"] == "ds" and metrics["f1"]["dataset_digest"] == "dg"
    # the run's metric history also has them
    assert mw.history(run, "acc")[0]["value"] == 0.75


def test_search(mw):
    exp = mw.create_experiment(unique("lmsearch"))
    other = mw.create_experiment(unique("lmsearch2"))
    ids = [create(mw, exp, name=f"n{i}")["info"]["model_id"] for i in range(5)]
    create(mw, other, name="elsewhere")
    out = assert_ok(mw.post("logged-models/search", {"experiment_ids": [exp]}))
    assert sorted(m["info"]["model_id"] for m in out["models"]) == sorted(ids)
    # pagination
    seen, token = [], None
    for _ in range(10):
        body = {"experiment_ids": [exp], "max_results": 2}
        if token:
            body["page_token"] = token
        out = assert_ok(mw.post("logged-models/search", body))
        assert len(out.get("models", [])) <= 2
        seen += [m["info"]["model_id"] for m in out.get("models", [])]
        token = out.get("next_page_token")
        if not token:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    # filter by name and status
    out = assert_ok(mw.post("logged-models/search", {"experiment_ids": [exp],
                                                     "filter": "name = 'n3'"}))
    assert [m["info"]["model_id"] for m in out["models"]] == [ids[3]]
    assert_ok(mw.patch(f"logged-models/{ids[1]}", {"model_id": ids[1],
                                                   "status": "LOGGED_MODEL_READY"}))
    out = assert_ok(mw.post("logged-models/search", {
        "experiment_ids": [exp], "filter": "status = 'LOGGED_MODEL_READY'"}))
    assert [m["info"]["model_id"] for m in out["models"]] == [ids[1]]
    # order_by
    out = assert_ok(mw.post("logged-models/search", {
        "experiment_ids": [exp], "order_by": [{"field_name": "name", "ascending": False}]}))
    assert [m["info"]["name"] for m in out["models"]] == ["n4", "n3", "n2", "n1", "n0"]
    # ajax prefix
    out = assert_ok(mw.post("logged-models/search", {"experiment_ids": [exp]}, prefix=AJAX))
    assert len(out["models"]) == 5


def test_search_errors(mw):
    exp = mw.create_experiment(unique("lmse"))
    assert_error(mw.post("logged-models/search", {"experiment_ids": [exp],
                                                  "filter": "name = 'a' OR name = 'b'"}),
                 400, "INVALID_PARAMETER_VALUE")

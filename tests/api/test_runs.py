"""Runs: create/get/update/delete/restore, log-metric, log-parameter, set-tag,
delete-tag, log-batch, log-model, log-inputs, outputs (spec mlflow.md §2, §7)."""

import json

import pytest

from conftest import AJAX, HEX32, assert_error, assert_ok, kv, now_ms, unique


@pytest.fixture
def exp(mw):
    return mw.create_experiment(unique("runs"))


@pytest.fixture
def run(mw, exp):
    return mw.create_run(exp)


def rid(run):
    return run["info"]["run_id"]


# ---------------------------------------------------------------- create/get


def test_create_generated_name_and_shape(mw, exp):
    t = now_ms()
    run = mw.create_run(exp, start_time=t, user_id="alice")
    info = run["info"]
    assert HEX32.match(info["run_id"]), info
    assert info["run_uuid"] == info["run_id"]
    assert info["experiment_id"] == exp
    assert info["status"] == "RUNNING"
    assert info["start_time"] == t
    assert info["lifecycle_stage"] == "active"
    assert info["user_id"] == "alice"
    assert info["artifact_uri"] == f"mlflow-artifacts:/{exp}/{info['run_id']}/artifacts"
    assert isinstance(info["run_name"], str) and info["run_name"]
    assert kv(run["data"]["tags"])["mlflow.runName"] == info["run_name"]
    # generated ids are unique
    other = mw.create_run(exp)
    assert rid(other) != info["run_id"]


def test_create_with_run_name(mw, exp):
    run = mw.create_run(exp, run_name="my-run")
    assert run["info"]["run_name"] == "my-run"
    assert kv(run["data"]["tags"])["mlflow.runName"] == "my-run"


def test_create_with_run_name_tag_only(mw, exp):
    run = mw.create_run(exp, tags=[{"key": "mlflow.runName", "value": "from-tag"},
                                   {"key": "x", "value": "y"}])
    assert run["info"]["run_name"] == "from-tag"
    tags = kv(run["data"]["tags"])
    assert tags["mlflow.runName"] == "from-tag" and tags["x"] == "y"


def test_create_with_matching_name_and_tag(mw, exp):
    run = mw.create_run(exp, run_name="same", tags=[{"key": "mlflow.runName", "value": "same"}])
    assert run["info"]["run_name"] == "same"


def test_create_name_tag_mismatch(mw, exp):
    r = mw.post("runs/create", {"experiment_id": exp, "start_time": now_ms(), "run_name": "a",
                                "tags": [{"key": "mlflow.runName", "value": "b"}]})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_create_in_unknown_experiment(mw):
    r = mw.post("runs/create", {"experiment_id": "98765429", "start_time": now_ms()})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")


def test_create_in_deleted_experiment(mw):
    eid = mw.create_experiment(unique("deleted"))
    assert_ok(mw.post("experiments/delete", {"experiment_id": eid}))
    r = mw.post("runs/create", {"experiment_id": eid, "start_time": now_ms()})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_create_in_default_experiment(mw):
    run = mw.create_run("0")
    assert run["info"]["experiment_id"] == "0"
    assert run["info"]["artifact_uri"] == f"mlflow-artifacts:/0/{rid(run)}/artifacts"


def test_get_by_run_id_and_run_uuid(mw, run):
    a = assert_ok(mw.get("runs/get", {"run_id": rid(run)}))["run"]
    b = assert_ok(mw.get("runs/get", {"run_uuid": rid(run)}))["run"]
    assert a["info"] == b["info"] == run["info"]
    c = assert_ok(mw.get("runs/get", {"run_id": rid(run)}, prefix=AJAX))["run"]
    assert c["info"] == run["info"]


def test_get_missing(mw):
    assert_error(mw.get("runs/get", {"run_id": "0" * 32}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(mw.get("runs/get"), 400, "INVALID_PARAMETER_VALUE")


# ---------------------------------------------------------------- update/delete


def test_update_status_end_time(mw, run):
    end = now_ms() + 10
    out = assert_ok(mw.post("runs/update", {"run_id": rid(run), "run_uuid": rid(run),
                                            "status": "FINISHED", "end_time": end}))
    info = out["run_info"]
    assert info["run_id"] == rid(run)
    assert info["status"] == "FINISHED"
    assert info["end_time"] == end
    got = mw.get_run(rid(run))["info"]
    assert got["status"] == "FINISHED" and got["end_time"] == end
    # FINISHED does not block logging
    assert_ok(mw.post("runs/log-metric", {"run_id": rid(run), "key": "after", "value": 1,
                                          "timestamp": now_ms()}))


@pytest.mark.parametrize("status", ["FAILED", "KILLED", "SCHEDULED", "RUNNING"])
def test_update_statuses(mw, run, status):
    info = assert_ok(mw.post("runs/update", {"run_id": rid(run), "status": status}))["run_info"]
    assert info["status"] == status


def test_update_run_name(mw, run):
    out = assert_ok(mw.post("runs/update", {"run_id": rid(run), "run_name": "renamed"}))
    assert out["run_info"]["run_name"] == "renamed"
    got = mw.get_run(rid(run))
    assert got["info"]["run_name"] == "renamed"
    assert kv(got["data"]["tags"])["mlflow.runName"] == "renamed"
    assert got["info"]["status"] == "RUNNING"


def test_update_legacy_run_uuid_only(mw, run):
    out = assert_ok(mw.post("runs/update", {"run_uuid": rid(run), "status": "KILLED"}))
    assert out["run_info"]["status"] == "KILLED"


def test_update_errors(mw, run):
    # (an unknown status is ignored, as MLflow does: test_mlflow1x)
    assert_error(mw.post("runs/update", {"run_id": rid(run), "status": {"s": 1}}), 400,
                 ("INVALID_PARAMETER_VALUE", "BAD_REQUEST"))
    assert_error(mw.post("runs/update", {"run_id": "1" * 32, "status": "FINISHED"}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    assert_error(mw.post("runs/update", {"status": "FINISHED"}), 400, "INVALID_PARAMETER_VALUE")


def test_delete_restore(mw, exp, run):
    assert assert_ok(mw.post("runs/delete", {"run_id": rid(run)})) == {}
    assert mw.get_run(rid(run))["info"]["lifecycle_stage"] == "deleted"
    # logging to a deleted run is rejected, nothing is written
    r = mw.post("runs/log-metric", {"run_id": rid(run), "key": "m", "value": 1,
                                    "timestamp": now_ms()})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    r = mw.post("runs/log-batch", {"run_id": rid(run),
                                   "params": [{"key": "p", "value": "1"}]})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    r = mw.post("runs/log-parameter", {"run_id": rid(run), "key": "p2", "value": "1"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    r = mw.post("runs/set-tag", {"run_id": rid(run), "key": "t", "value": "1"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert assert_ok(mw.post("runs/restore", {"run_id": rid(run)})) == {}
    got = mw.get_run(rid(run))
    assert got["info"]["lifecycle_stage"] == "active"
    assert "m" not in kv(got["data"].get("metrics"))
    assert "p" not in kv(got["data"].get("params"))
    assert "t" not in kv(got["data"].get("tags"))
    assert_error(mw.post("runs/delete", {"run_id": "2" * 32}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(mw.post("runs/restore", {"run_id": "2" * 32}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(mw.post("runs/delete", {}), 400, "INVALID_PARAMETER_VALUE")


# ---------------------------------------------------------------- metrics


def test_log_metric_basic(mw, run):
    t = now_ms()
    out = assert_ok(mw.post("runs/log-metric", {"run_id": rid(run), "run_uuid": rid(run),
                                                "key": "loss", "value": 0.25, "timestamp": t,
                                                "step": 3}))
    assert out == {}
    m = [x for x in mw.get_run(rid(run))["data"]["metrics"] if x["key"] == "loss"]
    assert len(m) == 1
    assert m[0]["value"] == 0.25 and m[0]["timestamp"] == t and m[0]["step"] == 3
    assert isinstance(m[0]["timestamp"], int) and isinstance(m[0]["step"], int)


def test_log_metric_step_default_and_int_value(mw, run):
    t = now_ms()
    assert_ok(mw.post("runs/log-metric", {"run_id": rid(run), "key": "acc", "value": 1,
                                          "timestamp": t}))
    h = mw.history(rid(run), "acc")
    assert len(h) == 1
    assert h[0]["step"] == 0 and h[0]["value"] == 1.0 and h[0]["timestamp"] == t


def test_log_metric_legacy_run_uuid_only(mw, run):
    assert_ok(mw.post("runs/log-metric", {"run_uuid": rid(run), "key": "legacy", "value": 2,
                                          "timestamp": now_ms()}))
    assert mw.history(rid(run), "legacy")[0]["value"] == 2


def test_log_metric_int64_extremes(mw, run):
    big = 2 ** 62 + 1  # beyond 2^53: must not go through a double
    assert_ok(mw.post("runs/log-metric", {"run_id": rid(run), "key": "big", "value": 1.5,
                                          "timestamp": big, "step": -(2 ** 62) - 3}))
    h = mw.history(rid(run), "big")
    assert h[0]["timestamp"] == big
    assert h[0]["step"] == -(2 ** 62) - 3


def test_log_metric_numeric_strings_accepted(mw, run):
    # protobuf JSON parsers accept int64 as numeric strings
    assert_ok(mw.post("runs/log-metric", {"run_id": rid(run), "key": "s", "value": 1.0,
                                          "timestamp": "1700000000000", "step": "5"}))
    h = mw.history(rid(run), "s")
    assert h[0]["step"] == 5 and h[0]["timestamp"] == 1700000000000


@pytest.mark.parametrize("val", ["NaN", "Infinity", "-Infinity"])
def test_log_metric_non_finite(mw, run, val):
    assert_ok(mw.post("runs/log-metric", {"run_id": rid(run), "key": "nf", "value": val,
                                          "timestamp": now_ms(), "step": 1}))
    h = mw.history(rid(run), "nf")
    assert h[0]["value"] == val  # strict_json rejects bare NaN, so this is the string form
    m = kv(mw.get_run(rid(run))["data"]["metrics"])
    assert m["nf"] == val


def test_log_metric_missing_fields(mw, run):
    base = {"run_id": rid(run), "key": "k", "value": 1.0, "timestamp": now_ms()}
    for f in ("key", "value", "timestamp", "run_id"):
        body = dict(base)
        del body[f]
        assert_error(mw.post("runs/log-metric", body), 400, "INVALID_PARAMETER_VALUE")
    assert_error(mw.post("runs/log-metric", dict(base, run_id="3" * 32)), 404,
                 "RESOURCE_DOES_NOT_EXIST")


def test_latest_metric_is_max_step_timestamp_value(mw, run):
    r = rid(run)
    pts = [  # (value, timestamp, step)
        (9.0, 5000, 0),   # latest timestamp but lowest step: not latest
        (5.0, 100, 1),
        (3.0, 50, 2),
        (4.0, 50, 2),     # same step & timestamp, higher value: latest
        (1.0, 40, 2),
    ]
    for v, ts, st in pts:
        assert_ok(mw.post("runs/log-metric", {"run_id": r, "key": "lm", "value": v,
                                              "timestamp": ts, "step": st}))
    m = [x for x in mw.get_run(r)["data"]["metrics"] if x["key"] == "lm"]
    assert len(m) == 1
    assert (m[0]["value"], m[0]["timestamp"], m[0]["step"]) == (4.0, 50, 2)
    assert len(mw.history(r, "lm")) == 5


# ---------------------------------------------------------------- params


def test_log_param(mw, run):
    out = assert_ok(mw.post("runs/log-parameter", {"run_id": rid(run), "run_uuid": rid(run),
                                                   "key": "lr", "value": "0.01"}))
    assert out == {}
    assert kv(mw.get_run(rid(run))["data"]["params"])["lr"] == "0.01"
    # same value again: idempotent
    assert_ok(mw.post("runs/log-parameter", {"run_id": rid(run), "key": "lr", "value": "0.01"}))
    # different value: rejected, old value kept
    r = mw.post("runs/log-parameter", {"run_id": rid(run), "key": "lr", "value": "0.02"})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert kv(mw.get_run(rid(run))["data"]["params"])["lr"] == "0.01"
    assert_error(mw.post("runs/log-parameter", {"run_id": rid(run), "value": "1"}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_error(mw.post("runs/log-parameter", {"run_id": "4" * 32, "key": "a", "value": "1"}),
                 404, "RESOURCE_DOES_NOT_EXIST")


def test_param_value_length(mw, run):
    ok = "p" * 6000
    assert_ok(mw.post("runs/log-parameter", {"run_id": rid(run), "key": "ok", "value": ok}))
    assert kv(mw.get_run(rid(run))["data"]["params"])["ok"] == ok
    long = "q" * 6001 + "TAIL"
    r1 = mw.post("runs/log-parameter", {"run_id": rid(run), "key": "long1", "value": long})
    r2 = mw.post("runs/log-batch", {"run_id": rid(run),
                                    "params": [{"key": "long2", "value": long}]})
    assert r1.status_code == r2.status_code, (r1.text, r2.text)
    params = kv(mw.get_run(rid(run))["data"].get("params"))
    if r1.status_code == 200:
        assert params["long1"] == long[:6000]
        assert params["long2"] == long[:6000]
    else:
        assert_error(r1, 400, "INVALID_PARAMETER_VALUE")
        assert_error(r2, 400, "INVALID_PARAMETER_VALUE")
        assert "long1" not in params and "long2" not in params


# ---------------------------------------------------------------- tags


def test_set_and_delete_tag(mw, run):
    assert assert_ok(mw.post("runs/set-tag", {"run_id": rid(run), "run_uuid": rid(run),
                                              "key": "t1", "value": "a"})) == {}
    assert_ok(mw.post("runs/set-tag", {"run_id": rid(run), "key": "t1", "value": "b"}))
    assert_ok(mw.post("runs/set-tag", {"run_id": rid(run), "key": "t2", "value": ""}))
    tags = kv(mw.get_run(rid(run))["data"]["tags"])
    assert tags["t1"] == "b"
    assert assert_ok(mw.post("runs/delete-tag", {"run_id": rid(run), "key": "t1"})) == {}
    tags = kv(mw.get_run(rid(run))["data"]["tags"])
    assert "t1" not in tags
    r = mw.post("runs/delete-tag", {"run_id": rid(run), "key": "never"})
    if r.status_code != 200:
        assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(mw.post("runs/set-tag", {"run_id": rid(run), "value": "x"}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_error(mw.post("runs/delete-tag", {"run_id": rid(run)}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_error(mw.post("runs/set-tag", {"run_id": "5" * 32, "key": "a", "value": "x"}), 404,
                 "RESOURCE_DOES_NOT_EXIST")


def test_tag_value_length(mw, run):
    ok = "t" * 8000
    assert_ok(mw.post("runs/set-tag", {"run_id": rid(run), "key": "ok", "value": ok}))
    assert kv(mw.get_run(rid(run))["data"]["tags"])["ok"] == ok
    long = "u" * 8001 + "TAIL"
    r1 = mw.post("runs/set-tag", {"run_id": rid(run), "key": "long1", "value": long})
    r2 = mw.post("runs/log-batch", {"run_id": rid(run), "tags": [{"key": "long2", "value": long}]})
    assert r1.status_code == r2.status_code, (r1.text, r2.text)
    tags = kv(mw.get_run(rid(run))["data"]["tags"])
    if r1.status_code == 200:
        assert tags["long1"] == long[:8000]
        assert tags["long2"] == long[:8000]
    else:
        assert_error(r1, 400, "INVALID_PARAMETER_VALUE")
        assert_error(r2, 400, "INVALID_PARAMETER_VALUE")


# ---------------------------------------------------------------- key validation


@pytest.mark.parametrize("key", ["bad!key", "a*b", "x" * 251, "semi;colon", "../up", "/abs",
                                 "a/../b", "q'uote", "tab\tkey", "new\nline"])
def test_invalid_keys_rejected(mw, run, key):
    t = now_ms()
    for path, body in [
        ("runs/log-metric", {"run_id": rid(run), "key": key, "value": 1, "timestamp": t}),
        ("runs/log-parameter", {"run_id": rid(run), "key": key, "value": "v"}),
        ("runs/set-tag", {"run_id": rid(run), "key": key, "value": "v"}),
        ("runs/log-batch", {"run_id": rid(run), "metrics": [{"key": key, "value": 1,
                                                             "timestamp": t}]}),
    ]:
        assert_error(mw.post(path, body), 400, "INVALID_PARAMETER_VALUE")
    data = mw.get_run(rid(run))["data"]
    assert key not in kv(data.get("metrics")) and key not in kv(data.get("params"))


@pytest.mark.parametrize("key", ["a", "A_b-c.d e/f", "x" * 250, "ünïcode", "0"])
def test_valid_keys_accepted(mw, run, key):
    assert_ok(mw.post("runs/log-metric", {"run_id": rid(run), "key": key, "value": 1,
                                          "timestamp": now_ms()}))
    assert_ok(mw.post("runs/log-parameter", {"run_id": rid(run), "key": key, "value": "v"}))
    assert_ok(mw.post("runs/set-tag", {"run_id": rid(run), "key": key, "value": "v"}))
    data = mw.get_run(rid(run))["data"]
    assert key in kv(data["metrics"]) and key in kv(data["params"]) and key in kv(data["tags"])


# ---------------------------------------------------------------- log-batch


def test_log_batch_basic(mw, run):
    t = now_ms()
    out = assert_ok(mw.post("runs/log-batch", {
        "run_id": rid(run),
        "metrics": [{"key": "m1", "value": 1.5, "timestamp": t, "step": 0},
                    {"key": "m1", "value": 2.5, "timestamp": t + 1, "step": 1},
                    {"key": "m2", "value": "NaN", "timestamp": t}],
        "params": [{"key": "p1", "value": "a"}, {"key": "p2", "value": "b"}],
        "tags": [{"key": "t1", "value": "x"}, {"key": "t1", "value": "last-wins"}],
    }))
    assert out == {}
    data = mw.get_run(rid(run))["data"]
    assert kv(data["metrics"]) == {"m1": 2.5, "m2": "NaN"}
    assert kv(data["params"]) == {"p1": "a", "p2": "b"}
    assert kv(data["tags"])["t1"] == "last-wins"
    assert [m["value"] for m in sorted(mw.history(rid(run), "m1"), key=lambda m: m["step"])] \
        == [1.5, 2.5]


def test_log_batch_empty(mw, run):
    assert assert_ok(mw.post("runs/log-batch", {"run_id": rid(run)})) == {}
    assert assert_ok(mw.post("runs/log-batch", {"run_id": rid(run), "metrics": [],
                                                "params": [], "tags": []})) == {}


def test_log_batch_limits(mw, run):
    t = now_ms()
    metrics = [{"key": f"m{i % 7}", "value": i, "timestamp": t, "step": i} for i in range(1000)]
    assert_ok(mw.post("runs/log-batch", {"run_id": rid(run), "metrics": metrics}))
    assert len(mw.history(rid(run), "m0")) == len(range(0, 1000, 7))

    too_many = metrics + [{"key": "m", "value": 1, "timestamp": t, "step": 5000}]
    assert_error(mw.post("runs/log-batch", {"run_id": rid(run), "metrics": too_many}), 400,
                 "INVALID_PARAMETER_VALUE")

    params = [{"key": f"p{i}", "value": "v"} for i in range(100)]
    assert_ok(mw.post("runs/log-batch", {"run_id": rid(run), "params": params}))
    params101 = [{"key": f"q{i}", "value": "v"} for i in range(101)]
    assert_error(mw.post("runs/log-batch", {"run_id": rid(run), "params": params101}), 400,
                 "INVALID_PARAMETER_VALUE")

    tags = [{"key": f"t{i}", "value": "v"} for i in range(100)]
    assert_ok(mw.post("runs/log-batch", {"run_id": rid(run), "tags": tags}))
    tags101 = [{"key": f"u{i}", "value": "v"} for i in range(101)]
    assert_error(mw.post("runs/log-batch", {"run_id": rid(run), "tags": tags101}), 400,
                 "INVALID_PARAMETER_VALUE")

    # more than 1000 in total
    mixed_m = [{"key": "mix", "value": i, "timestamp": t, "step": i} for i in range(950)]
    mixed_p = [{"key": f"mp{i}", "value": "v"} for i in range(60)]
    assert_error(mw.post("runs/log-batch", {"run_id": rid(run), "metrics": mixed_m,
                                            "params": mixed_p}), 400, "INVALID_PARAMETER_VALUE")
    data = mw.get_run(rid(run))["data"]
    # rejected batches wrote nothing
    assert "mix" not in kv(data["metrics"])
    assert not any(k.startswith("q") or k.startswith("mp") for k in kv(data["params"]))
    assert not any(k.startswith("u") for k in kv(data["tags"]))


def test_log_batch_duplicate_param_keys(mw, run):
    r = mw.post("runs/log-batch", {"run_id": rid(run), "params": [{"key": "d", "value": "1"},
                                                                  {"key": "d", "value": "1"}]})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    r = mw.post("runs/log-batch", {"run_id": rid(run), "params": [{"key": "e", "value": "1"},
                                                                  {"key": "e", "value": "2"}]})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_log_batch_param_change(mw, run):
    assert_ok(mw.post("runs/log-batch", {"run_id": rid(run), "params": [{"key": "c", "value": "1"}]}))
    # same value: OK
    assert_ok(mw.post("runs/log-batch", {"run_id": rid(run), "params": [{"key": "c", "value": "1"}]}))
    r = mw.post("runs/log-batch", {"run_id": rid(run), "params": [{"key": "c", "value": "2"}]})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert kv(mw.get_run(rid(run))["data"]["params"])["c"] == "1"


def test_log_batch_tags_overwrite(mw, run):
    assert_ok(mw.post("runs/log-batch", {"run_id": rid(run), "tags": [{"key": "o", "value": "1"}]}))
    assert_ok(mw.post("runs/log-batch", {"run_id": rid(run), "tags": [{"key": "o", "value": "2"}]}))
    assert kv(mw.get_run(rid(run))["data"]["tags"])["o"] == "2"


def test_log_batch_duplicate_metrics_deduplicated(mw, run):
    m = {"key": "dd", "value": 0.5, "timestamp": 1234, "step": 7}
    assert_ok(mw.post("runs/log-batch", {"run_id": rid(run), "metrics": [m, m]}))
    assert_ok(mw.post("runs/log-batch", {"run_id": rid(run), "metrics": [m]}))
    assert_ok(mw.post("runs/log-metric", dict(m, run_id=rid(run))))
    h = mw.history(rid(run), "dd")
    assert len(h) == 1, h
    # a different value at the same step/timestamp is a new point
    assert_ok(mw.post("runs/log-batch", {"run_id": rid(run), "metrics": [dict(m, value=0.6)]}))
    assert len(mw.history(rid(run), "dd")) == 2


def test_log_batch_missing_fields(mw, run):
    t = now_ms()
    for bad in [{"value": 1, "timestamp": t}, {"key": "a", "timestamp": t},
                {"key": "a", "value": 1}]:
        assert_error(mw.post("runs/log-batch", {"run_id": rid(run), "metrics": [bad]}), 400,
                     "INVALID_PARAMETER_VALUE")
    assert_error(mw.post("runs/log-batch", {"run_id": rid(run), "params": [{"value": "x"}]}),
                 400, "INVALID_PARAMETER_VALUE")
    assert_error(mw.post("runs/log-batch", {"run_id": rid(run), "tags": [{"value": "x"}]}),
                 400, "INVALID_PARAMETER_VALUE")
    assert_error(mw.post("runs/log-batch", {"metrics": []}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(mw.post("runs/log-batch", {"run_id": "6" * 32, "tags": [{"key": "a",
                                                                        "value": "b"}]}),
                 404, "RESOURCE_DOES_NOT_EXIST")


# ---------------------------------------------------------------- log-model


def test_log_model(mw, run):
    model = {"artifact_path": "model", "flavors": {"python_function": {"loader_module": "x"}},
             "utc_time_created": "2024-01-01 00:00:00.000000", "run_id": rid(run)}
    out = assert_ok(mw.post("runs/log-model", {"run_id": rid(run),
                                               "model_json": json.dumps(model)}))
    assert out == {}
    hist = kv(mw.get_run(rid(run))["data"]["tags"])["mlflow.log-model.history"]
    parsed = json.loads(hist)
    assert isinstance(parsed, list) and len(parsed) == 1
    assert parsed[0]["artifact_path"] == "model"
    # a second model is appended
    model2 = dict(model, artifact_path="model2")
    assert_ok(mw.post("runs/log-model", {"run_id": rid(run), "model_json": json.dumps(model2)}))
    parsed = json.loads(kv(mw.get_run(rid(run))["data"]["tags"])["mlflow.log-model.history"])
    assert [m["artifact_path"] for m in parsed] == ["model", "model2"]


def test_log_model_errors(mw, run):
    assert_error(mw.post("runs/log-model", {"run_id": rid(run)}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(mw.post("runs/log-model", {"run_id": rid(run), "model_json": "{not json"}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_error(mw.post("runs/log-model", {"run_id": rid(run),
                                            "model_json": json.dumps({"artifact_path": "m"})}),
                 400, "INVALID_PARAMETER_VALUE")


# ---------------------------------------------------------------- inputs/outputs


def test_log_inputs_datasets(mw, run):
    ds = {"name": "train-ds", "digest": "abc123", "source_type": "local",
          "source": json.dumps({"uri": "/data/train.csv"}),
          "schema": json.dumps({"mlflow_colspec": [{"name": "x", "type": "double"}]}),
          "profile": json.dumps({"num_rows": 10})}
    out = assert_ok(mw.post("runs/log-inputs", {
        "run_id": rid(run),
        "datasets": [{"tags": [{"key": "mlflow.data.context", "value": "training"}],
                      "dataset": ds}]}))
    assert out == {}
    inputs = mw.get_run(rid(run))["inputs"]
    assert len(inputs["dataset_inputs"]) == 1
    di = inputs["dataset_inputs"][0]
    assert kv(di["tags"]) == {"mlflow.data.context": "training"}
    for k, v in ds.items():
        assert di["dataset"][k] == v
    # logging the same dataset again does not duplicate it
    assert_ok(mw.post("runs/log-inputs", {"run_id": rid(run), "datasets": [
        {"tags": [{"key": "mlflow.data.context", "value": "training"}], "dataset": ds}]}))
    assert len(mw.get_run(rid(run))["inputs"]["dataset_inputs"]) == 1


def test_log_inputs_errors(mw, run):
    for missing in ("name", "digest", "source_type", "source"):
        ds = {"name": "d", "digest": "x", "source_type": "local", "source": "{}"}
        del ds[missing]
        r = mw.post("runs/log-inputs", {"run_id": rid(run), "datasets": [{"dataset": ds}]})
        assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    r = mw.post("runs/log-inputs", {"run_id": rid(run), "datasets": [{"dataset": {
        "name": "d", "digest": "x" * 37, "source_type": "local", "source": "{}"}}]})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    r = mw.post("runs/log-inputs", {"run_id": "7" * 32, "datasets": [{"dataset": {
        "name": "d", "digest": "x", "source_type": "local", "source": "{}"}}]})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(mw.post("runs/log-inputs", {"datasets": []}), 400, "INVALID_PARAMETER_VALUE")


def test_outputs_and_model_inputs(mw, exp, run):
    model = assert_ok(mw.post("logged-models", {"experiment_id": exp, "name": "m",
                                                "source_run_id": rid(run)}))["model"]
    mid = model["info"]["model_id"]
    out = assert_ok(mw.post("runs/outputs", {"run_id": rid(run),
                                             "models": [{"model_id": mid, "step": 3}]}))
    assert out == {}
    got = mw.get_run(rid(run))
    assert got["outputs"]["model_outputs"] == [{"model_id": mid, "step": 3}]
    # a second run consumes the model as an input
    run2 = mw.create_run(exp)
    assert_ok(mw.post("runs/log-inputs", {"run_id": rid(run2), "models": [{"model_id": mid}]}))
    got2 = mw.get_run(rid(run2))
    assert got2["inputs"]["model_inputs"] == [{"model_id": mid}]
    assert_error(mw.post("runs/outputs", {"run_id": "8" * 32,
                                          "models": [{"model_id": mid, "step": 0}]}),
                 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(mw.post("runs/outputs", {"run_id": rid(run)}), 400, "INVALID_PARAMETER_VALUE")


def test_outputs_and_inputs_name_logged_models_that_exist(mw, exp, run):
    """A model input or output must name a logged model that exists (and is not
    deleted): 404 RESOURCE_DOES_NOT_EXIST in MLflow's words for a missing
    logged model, checked in the write, and nothing of the request is kept."""
    ghost = "m-" + "0" * 32
    e = assert_error(mw.post("runs/outputs", {"run_id": rid(run),
                                              "models": [{"model_id": ghost, "step": 0}]}),
                     404, "RESOURCE_DOES_NOT_EXIST")
    assert e["message"] == f"Logged model with ID '{ghost}' not found."
    ds = {"name": "d", "digest": "x", "source_type": "local", "source": "/d"}
    assert_error(mw.post("runs/log-inputs", {"run_id": rid(run), "datasets": [{"dataset": ds}],
                                             "models": [{"model_id": ghost}]}),
                 404, "RESOURCE_DOES_NOT_EXIST")
    got = mw.get_run(rid(run))
    assert not got.get("inputs", {}).get("dataset_inputs")  # all or nothing
    assert not got.get("inputs", {}).get("model_inputs")
    assert not got.get("outputs", {}).get("model_outputs")
    # a deleted logged model is not there either
    mid = assert_ok(mw.post("logged-models", {"experiment_id": exp, "name": "gone"}))["model"][
        "info"]["model_id"]
    assert_ok(mw.delete(f"logged-models/{mid}"))
    assert_error(mw.post("runs/outputs", {"run_id": rid(run),
                                          "models": [{"model_id": mid, "step": 0}]}),
                 404, "RESOURCE_DOES_NOT_EXIST")
    # the first missing one of several is named
    live = assert_ok(mw.post("logged-models", {"experiment_id": exp, "name": "live"}))["model"][
        "info"]["model_id"]
    e = assert_error(mw.post("runs/log-inputs", {"run_id": rid(run), "models": [
        {"model_id": live}, {"model_id": ghost}]}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert ghost in e["message"]
    assert_ok(mw.post("runs/log-inputs", {"run_id": rid(run), "models": [{"model_id": live}]}))


def test_every_endpoint_under_ajax_prefix(mw):
    """The UI prefix serves the same handlers as /api/2.0/mlflow/."""
    def P(path, body):
        return assert_ok(mw.post(path, body, prefix=AJAX))

    def G(path, params):
        return assert_ok(mw.get(path, params, prefix=AJAX))

    name = unique("ajaxall")
    eid = P("experiments/create", {"name": name})["experiment_id"]
    assert G("experiments/get", {"experiment_id": eid})["experiment"]["name"] == name
    assert G("experiments/get-by-name", {"experiment_name": name})["experiment"]["experiment_id"] == eid
    assert eid in [e["experiment_id"] for e in G("experiments/search", {"filter": f"name = '{name}'"})["experiments"]]
    P("experiments/set-experiment-tag", {"experiment_id": eid, "key": "k", "value": "v"})
    P("experiments/delete-experiment-tag", {"experiment_id": eid, "key": "k"})
    run = P("runs/create", {"experiment_id": eid, "start_time": now_ms()})["run"]
    r = rid(run)
    t = now_ms()
    P("runs/log-metric", {"run_id": r, "key": "m", "value": 1, "timestamp": t, "step": 0})
    P("runs/log-parameter", {"run_id": r, "key": "p", "value": "1"})
    P("runs/set-tag", {"run_id": r, "key": "t", "value": "1"})
    P("runs/delete-tag", {"run_id": r, "key": "t"})
    P("runs/log-batch", {"run_id": r, "metrics": [{"key": "m", "value": 2, "timestamp": t + 1,
                                                   "step": 1}]})
    P("runs/log-model", {"run_id": r, "model_json": json.dumps(
        {"artifact_path": "m", "flavors": {}, "utc_time_created": "x", "run_id": r})})
    P("runs/log-inputs", {"run_id": r, "datasets": [{"dataset": {
        "name": "d", "digest": "g", "source_type": "local", "source": "{}"}}]})
    mid = P("logged-models", {"experiment_id": eid})["model"]["info"]["model_id"]
    P("runs/outputs", {"run_id": r, "models": [{"model_id": mid, "step": 0}]})
    assert len(G("metrics/get-history", {"run_id": r, "metric_key": "m"})["metrics"]) == 2
    assert len(G("metrics/get-history-bulk-interval", {"run_ids": r, "metric_key": "m"})["metrics"]) == 2
    assert [x["info"]["run_id"] for x in P("runs/search", {"experiment_ids": [eid]})["runs"]] == [r]
    assert P("runs/update", {"run_id": r, "status": "FINISHED"})["run_info"]["status"] == "FINISHED"
    got = G("runs/get", {"run_id": r})["run"]
    assert kv(got["data"]["params"]) == {"p": "1"}
    assert assert_ok(mw.get(f"logged-models/{mid}", prefix=AJAX))["model"]["info"]["model_id"] == mid
    assert_ok(mw.patch(f"logged-models/{mid}", {"model_id": mid, "status": "LOGGED_MODEL_READY"},
                       prefix=AJAX))
    assert_ok(mw.patch(f"logged-models/{mid}/tags", {"tags": [{"key": "a", "value": "b"}]},
                       prefix=AJAX))
    assert_ok(mw.delete(f"logged-models/{mid}/tags/a", prefix=AJAX))
    P(f"logged-models/{mid}/params", {"params": [{"key": "x", "value": "y"}]})
    assert P("logged-models/search", {"experiment_ids": [eid]})["models"]
    assert_ok(mw.delete(f"logged-models/{mid}", prefix=AJAX))
    P("runs/delete", {"run_id": r})
    P("runs/restore", {"run_id": r})
    P("experiments/update", {"experiment_id": eid, "new_name": name + "-2"})
    P("experiments/delete", {"experiment_id": eid})
    P("experiments/restore", {"experiment_id": eid})
    assert "experiments" in G("experiments/list", {})


# ---------------------------------------------------------------- exact round-trips


def test_double_values_round_trip_exactly(mw, run):
    vals = [0.1 + 0.2, 1 / 3, 1e-300, 5e-324, 1.7976931348623157e308, 123456789.123456789,
            -2.5e-8, 2 ** 53 + 1.0, 0.0, -1.0, 3.141592653589793]
    for i, v in enumerate(vals):
        assert_ok(mw.post("runs/log-metric", {"run_id": rid(run), "key": "prec", "value": v,
                                              "timestamp": 1000 + i, "step": i}))
    got = sorted(mw.history(rid(run), "prec"), key=lambda m: m["step"])
    assert [m["value"] for m in got] == vals


def test_strings_round_trip_exactly(mw, exp):
    weird = ["é漢字🙂", 'quote " and \\ backslash', "tab\there\nnewline", "'single'",
             "\u0001\u001f control", "  spaces  ", "%_like_wildcards%", "a" * 1000]
    run = mw.create_run(exp, run_name="名前 🙂 \"q\"")
    r = rid(run)
    assert mw.get_run(r)["info"]["run_name"] == "名前 🙂 \"q\""
    assert_ok(mw.post("runs/log-batch", {
        "run_id": r,
        "params": [{"key": f"p{i}", "value": v} for i, v in enumerate(weird)],
        "tags": [{"key": f"t{i}", "value": v} for i, v in enumerate(weird)]}))
    data = mw.get_run(r)["data"]
    params, tags = kv(data["params"]), kv(data["tags"])
    for i, v in enumerate(weird):
        assert params[f"p{i}"] == v and tags[f"t{i}"] == v
    name = unique("exp") + " é \"x\" 'y' \\z"
    eid = mw.create_experiment(name, tags=[{"key": "d", "value": weird[1]}])
    got = mw.get_experiment(eid)
    assert got["name"] == name and kv(got["tags"])["d"] == weird[1]


def test_set_tag_run_name_updates_info(mw, run):
    assert_ok(mw.post("runs/set-tag", {"run_id": rid(run), "key": "mlflow.runName",
                                       "value": "via-tag"}))
    assert mw.get_run(rid(run))["info"]["run_name"] == "via-tag"
    assert_ok(mw.post("runs/log-batch", {"run_id": rid(run), "tags": [
        {"key": "mlflow.runName", "value": "via-batch"}]}))
    got = mw.get_run(rid(run))
    assert got["info"]["run_name"] == "via-batch"
    assert kv(got["data"]["tags"])["mlflow.runName"] == "via-batch"


def test_duplicate_run_names_allowed(mw, exp):
    a = mw.create_run(exp, run_name="twin")
    b = mw.create_run(exp, run_name="twin")
    assert rid(a) != rid(b)
    assert a["info"]["run_name"] == b["info"]["run_name"] == "twin"


def _ds(**kw):
    d = {"name": "d", "digest": "g", "source_type": "local", "source": "{}"}
    d.update(kw)
    return d


@pytest.mark.parametrize("field,limit", [("name", 500), ("digest", 36), ("source", 65535),
                                         ("schema", 1024 * 1024 - 1)])
def test_dataset_field_limits(mw, exp, field, limit):
    run = mw.create_run(exp)
    assert_ok(mw.post("runs/log-inputs", {"run_id": rid(run), "datasets": [
        {"dataset": _ds(**{field: "x" * limit})}]}))
    got = mw.get_run(rid(run))["inputs"]["dataset_inputs"][0]["dataset"]
    assert got[field] == "x" * limit
    r = mw.post("runs/log-inputs", {"run_id": rid(run), "datasets": [
        {"dataset": _ds(**{field: "y" * (limit + 1)})}]})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_dataset_profile_limit_16mib(mw, exp):
    """The dataset profile may be 16 MiB - 1: the body cap must admit it."""
    run = mw.create_run(exp)
    limit = 16 * 1024 * 1024 - 1
    assert_ok(mw.post("runs/log-inputs", {"run_id": rid(run), "datasets": [
        {"dataset": _ds(profile="p" * limit)}]}))
    got = mw.get_run(rid(run))["inputs"]["dataset_inputs"][0]["dataset"]
    assert len(got["profile"]) == limit
    r = mw.post("runs/log-inputs", {"run_id": rid(run), "datasets": [
        {"dataset": _ds(name="d2", profile="p" * (limit + 1))}]})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_input_tag_limits(mw, exp):
    run = mw.create_run(exp)
    ok = [{"key": "k" * 255, "value": "v" * 500}]
    assert_ok(mw.post("runs/log-inputs", {"run_id": rid(run), "datasets": [
        {"dataset": _ds(), "tags": ok}]}))
    for bad in ([{"key": "k" * 256, "value": "v"}], [{"key": "k", "value": "v" * 501}]):
        r = mw.post("runs/log-inputs", {"run_id": rid(run), "datasets": [
            {"dataset": _ds(name="other"), "tags": bad}]})
        assert_error(r, 400, "INVALID_PARAMETER_VALUE")

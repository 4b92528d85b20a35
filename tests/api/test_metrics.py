"""metrics/get-history (+ pagination) and metrics/get-history-bulk-interval."""

import pytest

from conftest import AJAX, assert_error, assert_ok, unique


def log_points(mw, run_id, key, steps, ts0=1_000_000, value=lambda s: s * 0.5):
    pts = [{"key": key, "value": value(s), "timestamp": ts0 + s, "step": s} for s in steps]
    for i in range(0, len(pts), 1000):
        assert_ok(mw.post("runs/log-batch", {"run_id": run_id, "metrics": pts[i:i + 1000]}))
    return pts


def as_tuples(metrics):
    return sorted((m["key"], m["value"], m["timestamp"], m["step"]) for m in metrics)


@pytest.fixture(scope="module")
def long_run(mw):
    """A run with 2500 points of 'loss' and 3 of 'acc'."""
    exp = mw.create_experiment(unique("hist"))
    run = mw.create_run(exp)
    r = run["info"]["run_id"]
    pts = log_points(mw, r, "loss", range(2500))
    acc = log_points(mw, r, "acc", [0, 1, 2], value=lambda s: 0.9 + s / 100)
    return exp, r, pts, acc


def test_history_all_points_without_max_results(mw, long_run):
    _, r, pts, _ = long_run
    out = assert_ok(mw.get("metrics/get-history", {"run_id": r, "metric_key": "loss"}))
    assert "next_page_token" not in out
    assert len(out["metrics"]) == 2500
    assert as_tuples(out["metrics"]) == as_tuples(pts)
    for m in out["metrics"][:5]:
        assert isinstance(m["timestamp"], int) and isinstance(m["step"], int)
        assert m["key"] == "loss"


def test_history_other_key_and_run_uuid(mw, long_run):
    _, r, _, acc = long_run
    out = assert_ok(mw.get("metrics/get-history", {"run_uuid": r, "metric_key": "acc"}))
    assert as_tuples(out["metrics"]) == as_tuples(acc)
    out = assert_ok(mw.get("metrics/get-history", {"run_id": r, "metric_key": "acc"},
                           prefix=AJAX))
    assert as_tuples(out["metrics"]) == as_tuples(acc)


def test_history_pagination(mw, long_run):
    _, r, pts, _ = long_run
    got, token, pages = [], None, 0
    for _ in range(100):
        p = {"run_id": r, "metric_key": "loss", "max_results": 300}
        if token:
            p["page_token"] = token
        out = assert_ok(mw.get("metrics/get-history", p))
        pages += 1
        page = out.get("metrics", [])
        assert len(page) <= 300
        got += page
        token = out.get("next_page_token")
        if not token:
            break
    assert pages in (9, 10)  # 2500/300 -> 9 pages (a trailing empty page is tolerated)
    assert len(got) == 2500
    assert as_tuples(got) == as_tuples(pts)  # every point exactly once


def test_history_unknown_key_is_empty(mw, long_run):
    _, r, _, _ = long_run
    out = assert_ok(mw.get("metrics/get-history", {"run_id": r, "metric_key": "nope"}))
    assert out.get("metrics", []) == []


def test_history_errors(mw, long_run):
    _, r, _, _ = long_run
    assert_error(mw.get("metrics/get-history", {"run_id": "9" * 32, "metric_key": "loss"}),
                 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(mw.get("metrics/get-history", {"run_id": r}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(mw.get("metrics/get-history", {"metric_key": "loss"}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_error(mw.get("metrics/get-history", {"run_id": r, "metric_key": "loss",
                                                "max_results": "abc"}),
                 400, "INVALID_PARAMETER_VALUE")
    assert_error(mw.get("metrics/get-history", {"run_id": r, "metric_key": "loss",
                                                "max_results": 10, "page_token": "%%garbage"}),
                 400, "INVALID_PARAMETER_VALUE")


def test_history_non_finite(mw):
    exp = mw.create_experiment(unique("nf"))
    r = mw.create_run(exp)["info"]["run_id"]
    vals = ["NaN", "Infinity", "-Infinity", 1.5, 0, -2.25, 1e308, 5e-324]
    for i, v in enumerate(vals):
        assert_ok(mw.post("runs/log-metric", {"run_id": r, "key": "x", "value": v,
                                              "timestamp": 10 + i, "step": i}))
    h = sorted(mw.history(r, "x"), key=lambda m: m["step"])
    assert [m["value"] for m in h] == vals


# ---------------------------------------------------------------- bulk interval


@pytest.fixture(scope="module")
def two_runs(mw):
    exp = mw.create_experiment(unique("bulk"))
    a = mw.create_run(exp)["info"]["run_id"]
    b = mw.create_run(exp)["info"]["run_id"]
    log_points(mw, a, "m", range(0, 1000))
    log_points(mw, b, "m", range(0, 1500, 3))
    return exp, a, b


def bulk(mw, params):
    return mw.get("metrics/get-history-bulk-interval", params)


def test_bulk_interval_all_points_when_small(mw, two_runs):
    _, a, b = two_runs
    out = assert_ok(bulk(mw, {"run_ids": [a], "metric_key": "m", "max_results": 2500}))
    ms = out["metrics"]
    assert len(ms) == 1000
    assert all(m["run_id"] == a and m["key"] == "m" for m in ms)
    assert sorted(m["step"] for m in ms) == list(range(1000))


def test_bulk_interval_sampling(mw, two_runs):
    _, a, b = two_runs
    out = assert_ok(bulk(mw, [("run_ids", a), ("run_ids", b), ("metric_key", "m"),
                              ("max_results", 50)]))
    ms = out["metrics"]
    by_run = {}
    for m in ms:
        by_run.setdefault(m["run_id"], []).append(m["step"])
        assert isinstance(m["step"], int) and isinstance(m["timestamp"], int)
    assert set(by_run) == {a, b}
    steps_a, steps_b = sorted(by_run[a]), sorted(by_run[b])
    # first and last steps of each run are always included
    assert steps_a[0] == 0 and steps_a[-1] == 999
    assert steps_b[0] == 0 and steps_b[-1] == 1497
    distinct = set(steps_a) | set(steps_b)
    assert 10 <= len(distinct) <= 50 + 1 + 4, len(distinct)
    assert len(steps_a) == len(set(steps_a))


def test_bulk_interval_range(mw, two_runs):
    _, a, b = two_runs
    out = assert_ok(bulk(mw, {"run_ids": [a, b], "metric_key": "m", "start_step": 100,
                              "end_step": 200, "max_results": 2500}))
    steps_a = sorted(m["step"] for m in out["metrics"] if m["run_id"] == a)
    steps_b = sorted(m["step"] for m in out["metrics"] if m["run_id"] == b)
    assert steps_a == list(range(100, 201))
    assert steps_b == [s for s in range(0, 1500, 3) if 100 <= s <= 200]
    out = assert_ok(bulk(mw, {"run_ids": a, "metric_key": "m", "start_step": 100,
                              "end_step": 900, "max_results": 10}))
    steps = sorted(m["step"] for m in out["metrics"])
    assert steps[0] == 100 and steps[-1] == 900
    assert len(steps) <= 10 + 1 + 2


def test_bulk_interval_single_run_id_reads_as_list(mw, two_runs):
    _, a, _ = two_runs
    out = assert_ok(bulk(mw, {"run_ids": a, "metric_key": "m", "max_results": 5}))
    assert {m["run_id"] for m in out["metrics"]} == {a}
    steps = sorted(m["step"] for m in out["metrics"])
    assert steps[0] == 0 and steps[-1] == 999 and len(steps) <= 5 + 1 + 2


def test_bulk_interval_default_max_results(mw, two_runs):
    _, a, _ = two_runs
    out = assert_ok(bulk(mw, {"run_ids": a, "metric_key": "m"}))
    assert len(out["metrics"]) == 1000


def test_bulk_interval_errors(mw, two_runs):
    _, a, _ = two_runs
    many = [("run_ids", f"{i:032x}") for i in range(101)]
    assert_error(bulk(mw, many + [("metric_key", "m")]), 400, "INVALID_PARAMETER_VALUE")
    assert_error(bulk(mw, {"metric_key": "m"}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(bulk(mw, {"run_ids": a}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(bulk(mw, {"run_ids": a, "metric_key": "m", "start_step": 1}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_error(bulk(mw, {"run_ids": a, "metric_key": "m", "end_step": 1}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_error(bulk(mw, {"run_ids": a, "metric_key": "m", "start_step": 10, "end_step": 5}),
                 400, "INVALID_PARAMETER_VALUE")
    for mr in (0, -1, 2501, 10 ** 12, "x"):
        assert_error(bulk(mw, {"run_ids": a, "metric_key": "m", "max_results": mr}), 400,
                     "INVALID_PARAMETER_VALUE")
    assert_ok(bulk(mw, {"run_ids": a, "metric_key": "m", "max_results": 1}))
    assert_ok(bulk(mw, {"run_ids": a, "metric_key": "m", "max_results": 2500}))
    # exactly 100 run ids is fine (unknown ones contribute nothing or 404)
    hundred = [("run_ids", a)] + [("run_ids", f"{i:032x}") for i in range(99)]
    r = bulk(mw, hundred + [("metric_key", "m"), ("max_results", 5)])
    if r.status_code != 200:
        assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")

"""Model loading off the HTTP threads, caps on what stays loaded, and the
queue's byte cap (issue 9, items 2-4).

- Loads run on the server's loader threads: first requests to several
  slow-loading models (more of them than HTTP threads) leave /health
  answering at once, and each request is answered when its model is loaded;
  a request whose model is still loading after --infer-timeout-ms is 503.
- --max-loaded-versions unloads the least recently used version to load
  another; --max-python-workers refuses a version whose workers cannot fit;
  --model-idle-unload unloads versions nobody used; an unloaded version just
  loads again when asked for.
- --max-queue-bytes refuses (503) a request whose inputs would take the
  queued input bytes past the cap, counted as rejected.

The slow models are scikit-learn models whose pickle sleeps while it is
loaded (time.sleep inside the unpickling), served by the python runtime.
"""

import operator
import pickle
import threading
import time

import pytest
import requests

from conftest import assert_ok
from test_serving import (MLMODEL_SKLEARN, assert_close, booster_predict, np, register, rows_for,
                          train_reg, v2_body, v2_error, v2_infer, v2_outputs, wait_for, xgb_files)
from test_serving_load import metric, metrics

LOAD_SECONDS = 2.5


class _Sleep:
    def __init__(self, seconds):
        self.seconds = seconds

    def __reduce__(self):
        return (time.sleep, (self.seconds,))


class _SlowPickle:
    """Unpickles to est, after sleeping: (sleep(s), est)[1]."""

    def __init__(self, est, seconds):
        self.est, self.seconds = est, seconds

    def __reduce__(self):
        return (operator.getitem, ((_Sleep(self.seconds), self.est), 1))


def slow_sklearn_files(seed, seconds=LOAD_SECONDS):
    import sklearn
    from sklearn.linear_model import LinearRegression
    rs = np.random.RandomState(seed)
    X = rs.randn(50, 3)
    est = LinearRegression().fit(X, X @ np.array([1.0, -2.0, seed]))
    return est, {"MLmodel": MLMODEL_SKLEARN.format(ver=sklearn.__version__,
                                                   predict_fn="predict").encode(),
                 "model.pkl": pickle.dumps(_SlowPickle(est, seconds), protocol=4)}


def infer_async(srv, name, X, results, key):
    def run():
        try:
            results[key] = v2_infer(srv, name, v2_body(X), timeout=60)
        except Exception as e:  # noqa: BLE001 - reported by the test
            results[key] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


# ------------------------------------------------------------------ loading

def test_slow_loads_do_not_block_http_threads(mw_factory):
    srv = mw_factory(extra_args=["--threads", "2", "--python-workers", "1",
                                 "--alias-poll-ms", "0"])
    models = {}
    for i in range(3):
        est, files = slow_sklearn_files(seed=i + 1)
        register(srv, f"slow-{i}", files)
        models[f"slow-{i}"] = est
    X = rows_for(3, 4, seed=9).astype(np.float64)
    results, threads = {}, []
    for name in models:
        for k in range(3):  # 9 first requests, 2 HTTP threads
            threads.append(infer_async(srv, name, X, results, (name, k)))
    time.sleep(0.3)
    # meanwhile the server answers at once
    for _ in range(4):
        t0 = time.monotonic()
        r = requests.get(srv.url + "/health", timeout=2)
        assert r.status_code == 200, r.text
        assert time.monotonic() - t0 < 1.0, "/health took over a second while models load"
        time.sleep(0.2)
    m = metrics(srv)
    assert metric(m, "mw_serve_load_queue") >= 1, "no load queued or running"
    for t in threads:
        t.join(90)
    for (name, k), r in results.items():
        assert not isinstance(r, Exception), (name, k, r)
        got, _ = v2_outputs(r)
        assert_close(got.reshape(-1), models[name].predict(X), f"{name} request {k}")
    assert len(results) == 9


def test_request_waiting_past_the_timeout_is_503(mw_factory):
    srv = mw_factory(extra_args=["--infer-timeout-ms", "700", "--python-workers", "1",
                                 "--alias-poll-ms", "0"])
    est, files = slow_sklearn_files(seed=7, seconds=3)
    register(srv, "slow-timeout", files)
    X = rows_for(3, 2, seed=1).astype(np.float64)
    t0 = time.monotonic()
    msg = v2_error(v2_infer(srv, "slow-timeout", v2_body(X)), 503)
    assert "still loading" in msg, msg
    assert time.monotonic() - t0 < 2.5
    # the load goes on: soon the model answers
    wait_for(lambda: v2_infer(srv, "slow-timeout", v2_body(X)).status_code == 200, timeout=30,
             interval=0.3, what="the slow model to load")
    assert metric(metrics(srv), "mw_serve_load_wait_timeouts_total") >= 1


# ------------------------------------------------------------------ caps

def test_max_loaded_versions_evicts_the_least_recently_used(mw_factory):
    srv = mw_factory(extra_args=["--max-loaded-versions", "2", "--alias-poll-ms", "0"])
    boosters = {}
    for i in range(3):
        b = train_reg(seed=60 + i, scale=1.0 + i)
        register(srv, f"cap-{i}", xgb_files(b))
        boosters[f"cap-{i}"] = b
    X = rows_for(6, 3, seed=6)
    for name in ["cap-0", "cap-1", "cap-2", "cap-0", "cap-1", "cap-2"]:
        got, _ = v2_outputs(v2_infer(srv, name, v2_body(X)))
        assert_close(got.reshape(-1), booster_predict(boosters[name], X), name)
        m = metrics(srv)
        assert metric(m, "mw_serve_loaded_versions") <= 2, m
    m = metrics(srv)
    assert metric(m, "mw_serve_evictions_total", reason="cap") >= 4
    assert metric(m, "mw_serve_loaded_versions") == 2


def test_max_python_workers_refuses_what_cannot_fit(mw_factory):
    srv = mw_factory(extra_args=["--python-workers", "2", "--max-python-workers", "1",
                                 "--alias-poll-ms", "0"])
    _, files = slow_sklearn_files(seed=3, seconds=0)
    register(srv, "too-many-workers", files)
    X = rows_for(3, 2, seed=1).astype(np.float64)
    msg = v2_error(v2_infer(srv, "too-many-workers", v2_body(X)), 503)
    assert "max-python-workers" in msg, msg
    assert metric(metrics(srv), "mw_serve_python_workers") == 0


def test_idle_versions_are_unloaded(mw_factory):
    srv = mw_factory(extra_args=["--model-idle-unload", "1", "--alias-poll-ms", "0"])
    b = train_reg(seed=70)
    register(srv, "idle", xgb_files(b))
    X = rows_for(6, 3, seed=7)
    assert_ok(v2_infer(srv, "idle", v2_body(X)))
    assert metric(metrics(srv), "mw_serve_loaded_versions") == 1
    wait_for(lambda: metric(metrics(srv), "mw_serve_loaded_versions") == 0, timeout=10,
             interval=0.2, what="the idle version to be unloaded")
    assert metric(metrics(srv), "mw_serve_evictions_total", reason="idle") >= 1
    got, _ = v2_outputs(v2_infer(srv, "idle", v2_body(X)))  # loads again
    assert_close(got.reshape(-1), booster_predict(b, X), "after the idle unload")


# ------------------------------------------------------------------ queue bytes

def test_max_queue_bytes(mw_factory):
    # a batch delay makes requests queue (no inline runs); 6 features x 4 bytes a row
    srv = mw_factory(extra_args=["--max-queue-bytes", "4096", "--batch-delay-us", "1000",
                                 "--alias-poll-ms", "0"])
    b = train_reg(seed=80)
    register(srv, "qbytes", xgb_files(b))
    small = rows_for(6, 10, seed=8)  # 240 bytes
    got, _ = v2_outputs(v2_infer(srv, "qbytes", v2_body(small)))
    assert_close(got.reshape(-1), booster_predict(b, small), "a small request")
    big = rows_for(6, 200, seed=8)  # 4800 bytes > 4096
    msg = v2_error(v2_infer(srv, "qbytes", v2_body(big)), 503)
    assert "max-queue-bytes" in msg, msg
    m = metrics(srv)
    assert metric(m, "mw_model_requests_total", model="qbytes", result="rejected") == 1
    assert metric(m, "mw_serve_queue_bytes") == 0
    got, _ = v2_outputs(v2_infer(srv, "qbytes", v2_body(small)))  # still serves
    assert_close(got.reshape(-1), booster_predict(b, small), "after the refusal")

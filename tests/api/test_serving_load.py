"""Serving under load and the serving processes (issue 4): dynamic batching
with concurrent clients, an alias move under continuous load, the response
cache, the queue cap, the prediction log, /metrics through promtool, python
worker crash recovery, SIGTERM with requests in flight, `mw serve` (a local
directory, and models:/name@champion through MW_URI) and `mw predict`.

Models are trained here by python3-xgboost (see test_serving.py for the
helpers); each test starts its own server with the settings it needs.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import (_live_lock, _live_servers, assert_ok, free_port, mw_bin, store_env,
                      strict_json, unique)
from test_serving import (REG_NAMES, assert_close, booster_predict, csv_text, inv_error,
                          inv_post, inv_predictions, jrows, np, q, register, rows_for, set_alias,
                          train_bin, train_multi, train_reg, v2_body, v2_error, v2_infer,
                          v2_outputs, wait_for, write_dir, xgb_files, NOT_BUILT)

START_TIMEOUT = 20.0


# ------------------------------------------------------------------ helpers

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metric(text, name, **labels):
    """Sum of the samples of `name` whose labels include `labels` (None if none)."""
    total, seen = 0.0, False
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if not m or m.group(1) != name:
            continue
        have = dict(LABEL.findall(m.group(2) or ""))
        if all(have.get(k) == str(v) for k, v in labels.items()):
            total += float(m.group(3))
            seen = True
    return total if seen else None


def metrics(srv):
    r = requests.get(srv.url + "/metrics", timeout=10)
    assert r.status_code == 200
    return r.text


class ServeProc:
    """One `mw serve MODEL` process on 127.0.0.1 (stderr attached to failures)."""

    def __init__(self, model, tmp, extra=(), env=None, cwd=None):
        self.model = str(model)
        self.cwd = cwd
        self.tmp = Path(tmp)
        self.data_dir = self.tmp / unique("serve-data")
        self.extra = list(extra)
        self.env = env
        self.proc = None

    def start(self, ready_path="/ping"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr_path = self.tmp / f"mw-serve-{self.port}.log"
        cmd = [mw_bin(), "serve", self.model, "--host", "127.0.0.1", "--port", str(self.port),
               "--data-dir", str(self.data_dir), "--log-level", "info", *self.extra]
        env = dict(os.environ)
        env.pop("MW_URI", None)
        env.update(self.env or {})
        with open(self.stderr_path, "wb") as errf:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=errf,
                                         stderr=errf, env=env, cwd=self.cwd)
        with _live_lock:
            _live_servers.append(self)
        self.session = requests.Session()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if requests.get(self.url + ready_path, timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.02)
        rc = self.proc.poll()
        if rc is None:
            self.proc.kill()
            self.proc.wait(5)
        self._forget()
        raise AssertionError(f"mw serve {self.model} not ready within {START_TIMEOUT}s "
                             f"(rc={rc}):\n{self.stderr_text()}")

    def stop(self, timeout=10.0):
        """SIGTERM; returns the exit code (must come within timeout)."""
        if self.proc is None:
            return None
        self.session.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                self._forget()
                pytest.fail(f"mw serve did not exit within {timeout}s of SIGTERM:\n"
                            f"{self.stderr_text()}")
        self._forget()
        return self.proc.returncode

    def _forget(self):
        with _live_lock:
            if self in _live_servers:
                _live_servers.remove(self)

    def stderr_text(self, tail=200):
        try:
            return "\n".join(Path(self.stderr_path).read_text(errors="replace")
                             .splitlines()[-tail:])
        except OSError:
            return ""


@pytest.fixture
def serve_factory(tmp_path):
    procs = []

    def make(model, extra=(), env=None, ready_path="/ping", cwd=None):
        p = ServeProc(model, tmp_path, extra, env, cwd)
        procs.append(p)
        return p.start(ready_path)

    yield make
    bad = []
    for p in procs:
        if p.proc is not None and p.proc.poll() is None:
            rc = p.stop()
            if rc != 0:
                bad.append(f"mw serve {p.model} exited {rc}:\n{p.stderr_text()}")
    assert not bad, "\n".join(bad)


def run_threads(n, fn):
    errors = []

    def wrap(i):
        try:
            fn(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(f"thread {i}: {type(e).__name__}: {e}")
    ts = [threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not any(t.is_alive() for t in ts), "client threads hung"
    assert not errors, "\n".join(errors[:10])


# ------------------------------------------------------------------ batching

def test_batching_correct_under_concurrency(mw_factory):
    """32 clients x 15 requests with distinct rows (1-3 per request, V2 and
    /invocations mixed): every answer is the prediction of its own rows, and
    batches of more than one row did form."""
    srv = mw_factory(extra_args=["--batch-size", "64", "--batch-delay-us", "2000"])
    booster = train_reg(seed=200, trees=25)
    name = unique("batch")
    register(srv, name, xgb_files(booster))
    threads, per = 32, 15
    sizes = [[1 + (t + i) % 3 for i in range(per)] for t in range(threads)]
    total = sum(map(sum, sizes))
    X = rows_for(6, total, seed=201)
    ref = booster_predict(booster, X)
    assert len(np.unique(ref)) > total * 0.9  # rows are told apart by their answers
    offsets = np.cumsum([0] + [s for row in sizes for s in row])

    def client(t):
        s = requests.Session()
        for i in range(per):
            k = t * per + i
            a, b = offsets[k], offsets[k + 1]
            if (t + i) % 2:
                r = v2_infer(srv, name, v2_body(X[a:b], id=f"{t}-{i}"))
                got, out = v2_outputs(r)
                assert out["id"] == f"{t}-{i}"
            else:
                r = s.post(srv.url + f"/models/{q(name)}/invocations", timeout=30,
                           json={"instances": jrows(X[a:b])})
                got = inv_predictions(r)
            assert_close(got, ref[a:b], f"thread {t} request {i} rows {a}:{b}")
        s.close()

    run_threads(threads, client)
    text = metrics(srv)
    lab = {"model": name, "version": "1"}
    batches = metric(text, "mw_model_batch_rows_count", **lab)
    single = metric(text, "mw_model_batch_rows_bucket", le="1", **lab)
    rows = metric(text, "mw_model_batch_rows_sum", **lab)
    assert rows == total, (rows, total)
    assert batches - single > 0, f"no batch had more than one row ({batches} batches)"
    assert batches < threads * per, "every request ran alone"
    assert metric(text, "mw_model_requests_total", result="ok", **lab) == threads * per
    assert metric(text, "mw_model_requests_total", result="error", **lab) == 0
    assert metric(text, "mw_model_queue_depth", **lab) == 0
    assert metric(text, "mw_model_loaded", **lab) == 1


# ------------------------------------------------------------------ hot swap

def test_alias_move_under_load_has_no_failed_request(mw_factory):
    srv = mw_factory(extra_args=["--alias-poll-ms", "100"])
    b1 = train_reg(seed=210, trees=15)
    b2 = train_reg(seed=211, trees=15, scale=-2.0)
    name = unique("swap")
    register(srv, name, xgb_files(b1))
    X = rows_for(6, 64, seed=212)
    refs = {"1": booster_predict(b1, X), "2": booster_predict(b2, X)}
    assert not np.allclose(refs["1"], refs["2"])
    v2_outputs(v2_infer(srv, name, v2_body(X[:1])))  # loaded
    results = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(t):
        s = requests.Session()
        i = 0
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            k = (t * 8 + i) % len(X)
            i += 1
            t0 = time.monotonic()
            r = s.post(srv.url + f"/v2/models/{q(name)}/infer", timeout=30,
                       data=json.dumps(v2_body(X[k:k + 1])))
            t1 = time.monotonic()
            body = r.json() if r.status_code == 200 else None
            with lock:
                results.append((t0, t1, r.status_code, r.headers.get("X-MW-Model-Version"),
                                body, k, r.text[:300]))
        s.close()

    ts = [threading.Thread(target=client, args=(t,), daemon=True) for t in range(8)]
    for t in ts:
        t.start()
    time.sleep(0.8)
    assert register(srv, name, xgb_files(b2), create=False) == "2"  # champion -> 2
    time.sleep(2.2)
    stop.set()
    for t in ts:
        t.join(30)
    assert not any(t.is_alive() for t in ts)
    bad = [r for r in results if r[2] != 200]
    assert not bad, f"{len(bad)} of {len(results)} requests failed, e.g. {bad[:3]}"
    versions = {r[3] for r in results}
    assert versions == {"1", "2"}, versions
    for t0, t1, status, ver, body, k, _ in results:
        assert body["model_version"] == ver
        got = np.asarray(body["outputs"][0]["data"], dtype=np.float64)
        assert_close(got, refs[ver][k:k + 1], f"row {k} on version {ver}")
    t_swap = min(r[1] for r in results if r[3] == "2")
    late = [r for r in results if r[0] > t_swap and r[3] != "2"]
    assert not late, f"{len(late)} requests sent after the first v2 answer got v1"
    assert len(results) > 100, len(results)


# ------------------------------------------------------------------ response cache

def test_response_cache_counts_hits(mw_factory):
    srv = mw_factory(extra_args=["--cache-bytes", "1048576", "--cache-ttl-ms", "800"])
    booster = train_bin(seed=220, feats=5, trees=10)
    name = unique("cache")
    register(srv, name, xgb_files(booster))
    lab = {"model": name, "version": "1"}
    A, B = rows_for(5, 3, seed=221), rows_for(5, 3, seed=222)
    first = v2_outputs(v2_infer(srv, name, v2_body(A)))[0]
    assert metric(metrics(srv), "mw_model_cache_hits_total", **lab) == 0
    second = v2_outputs(v2_infer(srv, name, v2_body(A)))[0]
    assert metric(metrics(srv), "mw_model_cache_hits_total", **lab) == 1
    assert np.array_equal(first, second)
    assert_close(second, booster_predict(booster, A), "cached answer")
    v2_outputs(v2_infer(srv, name, v2_body(B)))
    assert metric(metrics(srv), "mw_model_cache_hits_total", **lab) == 1
    # the key is the input values, whatever the protocol
    r = inv_post(srv, f"/models/{q(name)}/invocations", body={"instances": jrows(A)})
    assert_close(inv_predictions(r), booster_predict(booster, A), "cached over /invocations")
    assert metric(metrics(srv), "mw_model_cache_hits_total", **lab) == 2
    # after the TTL the entry is gone
    time.sleep(1.0)
    v2_outputs(v2_infer(srv, name, v2_body(A)))
    assert metric(metrics(srv), "mw_model_cache_hits_total", **lab) == 2
    v2_outputs(v2_infer(srv, name, v2_body(A)))
    assert metric(metrics(srv), "mw_model_cache_hits_total", **lab) == 3


# ------------------------------------------------------------------ queue cap

def test_queue_full_is_503(mw_factory):
    srv = mw_factory(extra_args=["--max-queue", "1", "--batch-delay-us", "1000000",
                                 "--batch-size", "64"])
    booster = train_bin(seed=230, feats=4, trees=5)
    name = unique("qfull")
    register(srv, name, xgb_files(booster))
    X = rows_for(4, 8, seed=231)
    results = [None] * 8

    def client(i):
        r = requests.post(srv.url + f"/v2/models/{q(name)}/infer", timeout=30,
                          data=json.dumps(v2_body(X[i:i + 1])))
        results[i] = r

    run_threads(8, client)
    codes = sorted(r.status_code for r in results)
    assert set(codes) <= {200, 503}, codes
    assert 200 in codes and 503 in codes, codes
    for i, r in enumerate(results):
        if r.status_code == 503:
            msg = v2_error(r, 503)
            assert "queue" in msg.lower() or "overloaded" in msg.lower(), msg
        else:
            assert_close(v2_outputs(r)[0], booster_predict(booster, X[i:i + 1]), "queued one")
    # /invocations: MLflow's error format
    holder = []
    t = threading.Thread(target=lambda: holder.append(inv_post(
        srv, f"/models/{q(name)}/invocations", body={"instances": jrows(X[:1])})))
    t.start()
    time.sleep(0.3)
    r = inv_post(srv, f"/models/{q(name)}/invocations", body={"instances": jrows(X[1:2])})
    inv_error(r, 503, "TEMPORARILY_UNAVAILABLE")
    t.join(30)
    assert holder and holder[0].status_code == 200
    text = metrics(srv)
    assert metric(text, "mw_model_requests_total", model=name, result="rejected") >= 2


def test_batch_delay_is_honoured(mw_factory):
    """A lone request waits up to --batch-delay-us for company (the batcher
    runs when the batch is full or the oldest request has waited the delay)."""
    srv = mw_factory(extra_args=["--batch-size", "64", "--batch-delay-us", "400000"])
    booster = train_bin(seed=235, feats=4, trees=5)
    name = unique("delay")
    register(srv, name, xgb_files(booster))
    X = rows_for(4, 2, seed=236)
    v2_outputs(v2_infer(srv, name, v2_body(X[:1])))  # loaded
    t0 = time.monotonic()
    got, _ = v2_outputs(v2_infer(srv, name, v2_body(X[1:2])))
    elapsed = time.monotonic() - t0
    assert_close(got, booster_predict(booster, X[1:2]), "delayed")
    assert elapsed >= 0.3, f"a lone request was answered after {elapsed * 1000:.1f} ms"
    text = metrics(srv)
    lab = {"model": name, "version": "1"}
    assert metric(text, "mw_model_queue_seconds_bucket", le="0.25", **lab) == 0, \
        "the queue-time histogram shows no wait"


# ------------------------------------------------------------------ prediction log and metrics

def read_log(data_dir):
    recs = []
    for p in sorted(Path(data_dir, "logs").glob("predictions-*.jsonl")):
        for line in p.read_text().splitlines():
            if line.strip():
                recs.append(json.loads(line))
    return recs


def test_prediction_log_records_requests(mw_factory):
    srv = mw_factory()
    booster = train_multi(seed=240)
    name = unique("plog")
    register(srv, name, xgb_files(booster))
    X = rows_for(5, 6, seed=241)
    ref = booster_predict(booster, X)
    rids = [unique("rid") for _ in range(4)]
    t_before = int(time.time() * 1000)
    for i, rid in enumerate(rids):
        v2_outputs(v2_infer(srv, name, v2_body(X[i:i + 1]), headers={"X-Request-ID": rid}))
    v2_outputs(v2_infer(srv, name, v2_body(X[4:6], id="v2-id-" + rids[0])))
    r = inv_post(srv, f"/models/{q(name)}/invocations", body={"instances": jrows(X[:2])})
    assert r.status_code == 200
    want = set(rids) | {"v2-id-" + rids[0]}

    def logged():
        recs = [x for x in read_log(srv.data_dir) if x.get("model") == name]
        return recs if want <= {x["request_id"] for x in recs} and len(recs) >= 6 else None
    recs = wait_for(logged, timeout=10, what="prediction log records")
    by = {x["request_id"]: x for x in recs}
    for i, rid in enumerate(rids):
        rec = by[rid]
        assert rec["model"] == name and rec["version"] == "1" and rec["ok"] is True
        assert t_before - 5000 <= rec["ts"] <= int(time.time() * 1000) + 5000
        assert_close(rec["inputs"], X[i:i + 1], "logged inputs")
        assert_close(rec["outputs"], ref[i:i + 1], "logged outputs")
        assert rec["latency_ms"] >= rec["queue_ms"] >= 0
    rec = by["v2-id-" + rids[0]]
    assert_close(rec["outputs"], ref[4:6], "logged outputs of a 2-row request")
    # every record has a request id, even without X-Request-ID or id
    assert all(isinstance(x["request_id"], str) and x["request_id"] for x in recs)
    text = metrics(srv)
    assert metric(text, "mw_prediction_log_records_total", result="written") >= 6
    assert metric(text, "mw_prediction_log_records_total", result="dropped") == 0


def predictions(*args, check=True, timeout=30):
    env = dict(os.environ)
    env.pop("MW_DATA_DIR", None)
    p = subprocess.run([mw_bin(), "predictions", *map(str, args)], capture_output=True,
                       timeout=timeout, env=env)
    if check:
        assert p.returncode == 0, (args, p.stderr.decode())
    return p


def json_lines(out):
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


def test_mw_predictions_read_and_tail(mw_factory):
    """`mw predictions read|tail` prints the prediction log as JSON lines with
    the documented keys, filters by model, version and request id, tails the
    last N, and follows new records as they are written."""
    srv = mw_factory()
    booster = train_multi(seed=242)
    name, other = unique("preds"), unique("preds-other")
    register(srv, name, xgb_files(booster))
    register(srv, other, xgb_files(train_bin(seed=243, feats=3, trees=3)))
    X = rows_for(5, 4, seed=244)
    ref = booster_predict(booster, X)
    rids = [unique("rid") for _ in range(4)]
    for i, rid in enumerate(rids):
        v2_outputs(v2_infer(srv, name, v2_body(X[i:i + 1]), headers={"X-Request-ID": rid}))
    v2_outputs(v2_infer(srv, other, v2_body(rows_for(3, 1, seed=245))))
    data = srv.data_dir

    def logged():
        recs = json_lines(predictions("read", "--data-dir", data).stdout)
        return recs if len(recs) >= 5 else None
    recs = wait_for(logged, timeout=10, what="records through mw predictions read")
    keys = ["ts", "request_id", "model", "version", "inputs", "outputs", "latency_ms",
            "queue_ms", "ok"]
    for rec in recs:
        assert list(rec)[:len(keys)] == keys, rec
    mine = [r for r in recs if r["model"] == name]
    assert [r["request_id"] for r in mine] == rids
    for i, rec in enumerate(mine):
        assert rec["version"] == "1" and rec["ok"] is True and "error" not in rec
        assert_close(rec["inputs"], X[i:i + 1], "read: inputs")
        assert_close(rec["outputs"], ref[i:i + 1], "read: outputs")
        assert rec["latency_ms"] >= rec["queue_ms"] >= 0
    # filters
    got = json_lines(predictions("read", "--data-dir", data, "--model", name).stdout)
    assert [r["request_id"] for r in got] == rids
    got = json_lines(predictions("read", "--data-dir", data, "--request-id", rids[2]).stdout)
    assert [r["request_id"] for r in got] == [rids[2]]
    assert json_lines(predictions("read", "--data-dir", data, "--model", name, "--version",
                                  "2").stdout) == []
    future = int(time.time() * 1000) + 3600 * 1000
    assert json_lines(predictions("read", "--data-dir", data, "--since", future).stdout) == []
    # tail
    got = json_lines(predictions("tail", "--data-dir", data, "--model", name, "--lines",
                                 2).stdout)
    assert [r["request_id"] for r in got] == rids[2:]
    got = json_lines(predictions("tail", "--data-dir", data, "--lines", 100).stdout)
    assert len(got) == len(recs)
    # follow: new records appear as they are written
    env = dict(os.environ)
    env.pop("MW_DATA_DIR", None)
    out_path = Path(data).parent / (unique("follow") + ".out")
    with open(out_path, "wb") as out:
        p = subprocess.Popen([mw_bin(), "predictions", "tail", "--data-dir", data,
                              "--model", name, "--lines", "1", "--follow"],
                             stdout=out, stderr=subprocess.PIPE, env=env)
        try:
            late = unique("late")
            time.sleep(0.3)
            v2_outputs(v2_infer(srv, name, v2_body(X[:1]), headers={"X-Request-ID": late}))

            def followed():
                got = json_lines(out_path.read_bytes())
                return got if got and got[-1]["request_id"] == late else None
            got = wait_for(followed, timeout=10, what="tail --follow to print the new record")
            assert [r["request_id"] for r in got] == [rids[-1], late]
        finally:
            p.send_signal(signal.SIGTERM)
            assert p.wait(10) == 0, p.stderr.read().decode()
    # bad usage
    p = predictions("list", "--data-dir", data, check=False)
    assert p.returncode == 2 and p.stderr.strip()
    p = predictions("read", "--data-dir", data, "--follow", check=False)
    assert p.returncode == 2 and p.stderr.strip()


def test_mw_predictions_skips_damaged_lines(tmp_path):
    """A line that is not a record is skipped and counted; a line still being
    written at the end of the newest segment is not printed until finished."""
    logs = tmp_path / "data" / "logs"
    logs.mkdir(parents=True)
    rec = {"ts": 1, "request_id": "a", "model": "m", "version": "1", "inputs": [[1.5, None]],
           "outputs": [[0.25]], "latency_ms": 0.5, "queue_ms": 0.25, "ok": True}
    bad = dict(rec, request_id="b", ok=False, outputs=[], error="boom")
    (logs / "predictions-100.jsonl").write_text(json.dumps(rec) + "\nnot json\n" +
                                                json.dumps(bad) + "\n")
    (logs / "predictions-200.jsonl").write_text(json.dumps(dict(rec, request_id="c")) + "\n" +
                                                json.dumps(dict(rec, request_id="d"))[:20])
    p = predictions("read", "--data-dir", tmp_path / "data")
    got = json_lines(p.stdout)
    assert [r["request_id"] for r in got] == ["a", "b", "c"]
    assert got[1]["ok"] is False and got[1]["error"] == "boom"
    assert b"1 line" in p.stderr, p.stderr
    # an empty or missing log is no error
    p = predictions("read", "--data-dir", tmp_path / "nothing")
    assert p.stdout == b""


def test_prediction_log_off(mw_factory):
    srv = mw_factory(extra_args=["--prediction-log", "false"])
    booster = train_bin(seed=245, feats=3, trees=3)
    name = unique("nolog")
    register(srv, name, xgb_files(booster))
    v2_outputs(v2_infer(srv, name, v2_body(rows_for(3, 2, seed=246))))
    time.sleep(0.3)
    assert read_log(srv.data_dir) == []
    assert metric(metrics(srv), "mw_prediction_log_records_total", result="written") == 0


@pytest.mark.skipif(not Path("/usr/bin/promtool").exists(),
                    reason="/usr/bin/promtool missing (Debian prometheus package)")
def test_metrics_pass_promtool(mw_factory):
    srv = mw_factory(extra_args=["--cache-bytes", "65536"])
    b1, b2 = train_bin(seed=250, feats=4, trees=4), train_multi(seed=251)
    n1, n2 = unique("prom-a"), unique("prom-b")
    register(srv, n1, xgb_files(b1))
    register(srv, n2, xgb_files(b2))
    X = rows_for(4, 3, seed=252)
    for _ in range(3):
        v2_outputs(v2_infer(srv, n1, v2_body(X)))  # hits the cache
    v2_outputs(v2_infer(srv, n2, v2_body(rows_for(5, 2, seed=253))))
    v2_error(v2_infer(srv, n1, v2_body(rows_for(3, 1, seed=254))), 400)
    v2_error(v2_infer(srv, unique("nope"), v2_body(X)), 404)
    text = metrics(srv)
    for series in ("mw_model_requests_total", "mw_model_cache_hits_total",
                   "mw_model_queue_depth", "mw_model_queue_seconds_bucket",
                   "mw_model_compute_seconds_bucket", "mw_model_request_seconds_bucket",
                   "mw_model_batch_rows_bucket", "mw_model_loaded",
                   "mw_prediction_log_records_total"):
        assert metric(text, series) is not None, series
    assert metric(text, "mw_model_loaded", model=n2, version="1", runtime="xgboost") == 1
    p = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=60)
    assert p.returncode == 0, (p.stdout + p.stderr).decode()[:3000]


@pytest.mark.skipif(not Path("/usr/bin/promtool").exists(),
                    reason="/usr/bin/promtool missing (Debian prometheus package)")
def test_metrics_escape_model_names(mw_factory):
    """A model name cannot forge series or break the scrape (issue 9): its
    quotes and backslashes are escaped in every label."""
    srv = mw_factory()
    name = unique("evil") + '"} 1\\ mw_forged{x="1'
    register(srv, name, xgb_files(train_bin(seed=260, feats=4, trees=4)))
    v2_outputs(v2_infer(srv, name, v2_body(rows_for(4, 2, seed=261))))
    text = metrics(srv)
    assert "\nmw_forged" not in text
    assert not any(line.startswith("mw_forged") for line in text.splitlines())
    esc = name.replace("\\", "\\\\").replace('"', '\\"')
    assert f'mw_model_loaded{{model="{esc}",version="1",runtime="xgboost"}} 1' in text
    p = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=60)
    assert p.returncode == 0, (p.stdout + p.stderr).decode()[:3000]


# ------------------------------------------------------------------ python runtime: crashes and hangs

CRASHY = '''\
import os
import time

import numpy as np

FEATURES = 3


def predict(batch):
    batch = np.asarray(batch, dtype=np.float64)
    if (batch[:, 0] == 666).any():
        os._exit(3)
    if (batch[:, 0] == 777).any():
        time.sleep(60)
    return batch.sum(axis=1)
'''


def test_python_worker_crash_and_hang_recovery(serve_factory, tmp_path):
    d = write_dir(tmp_path / "crashy", {"model.py": CRASHY.encode()})
    srv = serve_factory(d, extra=["--name", "crashy", "--python-workers", "1",
                                  "--batch-size", "1", "--infer-timeout-ms", "1500"],
                        ready_path="/v2/health/live")
    ok = np.array([[1.0, 2.0, 3.0]], np.float32)
    r = v2_infer(srv, "crashy", v2_body(ok))
    if r.status_code != 200 and NOT_BUILT in r.text:
        pytest.xfail(f"python runtime (src/serve/rt_python.c) answers: {r.text[:200]}")
    got, _ = v2_outputs(r)
    assert_close(got, [6.0], "module predict")
    for round_ in range(2):
        t0 = time.monotonic()
        r = v2_infer(srv, "crashy", v2_body(np.array([[666, 0, 0]], np.float32)), timeout=30)
        assert r.status_code in (500, 503), r.text
        v2_error(r, r.status_code)
        assert time.monotonic() - t0 < 15
        r = v2_infer(srv, "crashy", v2_body(ok + round_), timeout=30)
        assert_close(v2_outputs(r)[0], [6.0 + 3 * round_], f"after crash {round_}")
    # /invocations: MLflow's error format for the crash
    r = inv_post(srv, "/invocations", body={"instances": [[666, 0, 0]]})
    assert r.status_code in (500, 503), r.text
    inv_error(r, r.status_code)
    assert_close(inv_predictions(inv_post(srv, "/invocations", body={"instances": [[1, 1, 1]]})),
                 [3.0], "after crash over /invocations")
    # a hung worker: the request times out cleanly, the next one is served
    t0 = time.monotonic()
    r = v2_infer(srv, "crashy", v2_body(np.array([[777, 0, 0]], np.float32)), timeout=30)
    assert r.status_code in (500, 503, 504), r.text
    v2_error(r, r.status_code)
    assert time.monotonic() - t0 < 15
    r = wait_for(lambda: (lambda r: r if r.status_code == 200 else None)(
        v2_infer(srv, "crashy", v2_body(ok), timeout=30)), timeout=15,
        what="a request to succeed after the hang")
    assert_close(v2_outputs(r)[0], [6.0], "after the hang")
    assert srv.proc.poll() is None
    text = metrics(srv)
    assert metric(text, "mw_model_requests_total", model="crashy", result="error") >= 4
    assert metric(text, "mw_model_errors_total", model="crashy") >= 4


MODULE = '''\
import numpy as np

FEATURES = 2


def predict(batch):
    return np.asarray(batch, dtype=np.float64) @ np.array([2.0, -1.0])
'''


def test_python_module_dir_given_as_a_relative_path(serve_factory, tmp_path):
    """`mw serve mymodel` / `mw predict mymodel` from the directory that holds
    it: a relative model path works for the python runtime as for xgboost."""
    write_dir(tmp_path / "lin", {"model.py": MODULE.encode()})
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps([[1.0, 2.0], [3.0, 1.0]]))
    p = subprocess.run([mw_bin(), "predict", "lin", "--input", "rows.json"], cwd=tmp_path,
                       capture_output=True, timeout=60)
    if p.returncode and NOT_BUILT.encode() in p.stderr:
        pytest.xfail(f"python runtime (src/serve/rt_python.c): {p.stderr[:200]!r}")
    assert p.returncode == 0, p.stderr.decode()
    assert_close(parse_lines(p.stdout.decode()), [0.0, 5.0], "mw predict lin")
    srv = serve_factory("lin", cwd=tmp_path, ready_path="/v2/health/live")
    r = inv_post(srv, "/invocations", body={"instances": [[1.0, 2.0], [3.0, 1.0]]})
    assert_close(inv_predictions(r), [0.0, 5.0], "mw serve lin")


# ------------------------------------------------------------------ shutdown

SLOW = '''\
import time

import numpy as np

FEATURES = 4


def predict(batch):
    time.sleep(0.5)
    return np.asarray(batch, dtype=np.float64).sum(axis=1)
'''


@pytest.mark.parametrize("which", ["serve-xgboost", "serve-python", "server-python"])
def test_sigterm_with_requests_in_flight_exits_0(which, mw_factory, serve_factory, tmp_path):
    """SIGTERM while requests are queued and computing: every client gets an
    answer (200 for a batch that was computing, else 503) and mw exits 0."""
    booster = train_bin(seed=260, feats=4, trees=5)
    X = rows_for(4, 6, seed=262)
    if which == "serve-xgboost":
        d = write_dir(tmp_path / "m", xgb_files(booster))
        srv = serve_factory(d, extra=["--name", "m", "--batch-size", "64",
                                      "--batch-delay-us", "800000"])
        name = "m"

        def ref(i):
            return booster_predict(booster, X[i:i + 1])
    else:
        slow = ["--batch-size", "1", "--python-workers", "1"]
        if which == "serve-python":
            d = write_dir(tmp_path / "slow", {"model.py": SLOW.encode()})
            srv = serve_factory(d, extra=["--name", "slow", *slow], ready_path="/v2/health/live")
            name = "slow"
        else:
            srv = mw_factory(extra_args=slow)
            name = unique("term")
            register(srv, name, {"model.py": SLOW.encode()})
        r = v2_infer(srv, name, v2_body(X[:1]))
        if r.status_code != 200 and NOT_BUILT in r.text:
            pytest.xfail(f"python runtime (src/serve/rt_python.c) answers: {r.text[:200]}")
        v2_outputs(r)

        def ref(i):
            return X[i:i + 1].astype(np.float64).sum(axis=1)
    results = [None] * 6

    def client(i):
        try:
            results[i] = requests.post(srv.url + f"/v2/models/{q(name)}/infer", timeout=30,
                                       data=json.dumps(v2_body(X[i:i + 1])))
        except requests.RequestException as e:
            results[i] = e
    ts = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(6)]
    for t in ts:
        t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    rc = srv.proc.wait(15)
    elapsed = time.monotonic() - t0
    for t in ts:
        t.join(15)
    assert rc == 0, f"exit {rc}:\n{srv.stderr_text()}"
    assert elapsed < 12
    for i, r in enumerate(results):
        assert isinstance(r, requests.Response), f"request {i}: {r!r}"
        assert r.status_code in (200, 503), (i, r.status_code, r.text)
        if r.status_code == 200:
            assert_close(v2_outputs(r)[0], ref(i), "in flight")
        else:
            v2_error(r, 503)


# ------------------------------------------------------------------ mw serve

def test_mw_serve_directory(serve_factory, tmp_path):
    booster = train_multi(seed=270)
    d = write_dir(tmp_path / "irises", xgb_files(booster))
    X = rows_for(5, 7, seed=271)
    ref = booster_predict(booster, X)
    srv = serve_factory(d)  # served under the directory's name
    r = requests.get(srv.url + "/ping", timeout=10)
    assert r.status_code == 200
    r = inv_post(srv, "/invocations", body={"dataframe_split": {"data": jrows(X)}})
    assert_close(inv_predictions(r), ref, "mw serve /invocations")
    assert r.headers.get("X-MW-Model-Version") == "1"
    r = inv_post(srv, "/invocations", data=csv_text(X, [f"c{i}" for i in range(5)]),
                 content_type="text/csv")
    assert_close(inv_predictions(r), ref, "mw serve /invocations CSV")
    got, out = v2_outputs(v2_infer(srv, "irises", v2_body(X, id="a")))
    assert out["model_name"] == "irises" and out["id"] == "a"
    assert_close(got, ref, "mw serve V2")
    assert_ok(requests.get(srv.url + "/v2/models/irises", timeout=10))
    r = requests.get(srv.url + "/v2/health/ready", timeout=10)
    assert r.status_code == 200
    r = requests.get(srv.url + "/v2/models/irises/ready", timeout=10)
    assert r.status_code == 200 and strict_json(r)["ready"] is True
    v2_error(v2_infer(srv, "other", v2_body(X)), 404)
    v2_error(v2_infer(srv, "irises", v2_body(X), version="2"), 404)
    inv_error(inv_post(srv, "/invocations", body={"instances": [[1.0, 2.0]]}), 400, "BAD_REQUEST")
    text = metrics(srv)
    assert metric(text, "mw_model_requests_total", model="irises", version="1",
                  result="ok") == 3
    assert srv.stop() == 0

    # a plain model file (no MLmodel), served under --name
    plain = tmp_path / "plain"
    plain.mkdir()
    b2 = train_bin(seed=272, feats=6, trees=8)
    b2.save_model(str(plain / "model.ubj"))
    srv2 = serve_factory(plain / "model.ubj", extra=["--name", "plain"])
    X2 = rows_for(6, 4, seed=273)
    r = inv_post(srv2, "/invocations", body={"inputs": jrows(X2)})
    assert_close(inv_predictions(r), booster_predict(b2, X2), "plain model.ubj")
    assert_close(v2_outputs(v2_infer(srv2, "plain", v2_body(X2)))[0], booster_predict(b2, X2),
                 "plain model.ubj over V2")


def test_mw_serve_refuses_a_corrupt_model(tmp_path):
    d = write_dir(tmp_path / "bad", {"MLmodel": xgb_files(train_bin(seed=275, feats=3,
                                                                    trees=2))["MLmodel"],
                                     "model.json": b"{\"learner\": 12"})
    p = subprocess.run([mw_bin(), "serve", str(d), "--port", str(free_port()), "--data-dir",
                        str(tmp_path / "data"), "--log-level", "warn"],
                       capture_output=True, timeout=30)
    assert p.returncode != 0
    err = p.stderr.decode()
    assert "cannot serve" in err and "Traceback" not in err, err


@pytest.fixture
def two_versions(mw_factory):
    """A server with name/1 and name/2 registered, champion -> 2."""
    srv = mw_factory()
    b1, b2 = train_reg(seed=280, trees=10), train_reg(seed=281, trees=10, scale=-2.0)
    name = unique("remote")
    register(srv, name, xgb_files(b1), alias=None)
    register(srv, name, xgb_files(b2), create=False)  # champion -> 2
    X = rows_for(6, 5, seed=282)
    refs = {"1": booster_predict(b1, X), "2": booster_predict(b2, X)}
    return srv, name, X, refs


def test_mw_serve_registered_version_remote(two_versions, serve_factory):
    """`mw serve models:/<name>/<version>` with MW_URI downloads the version's
    files from the server and answers /ping, /invocations and V2."""
    srv, name, X, refs = two_versions
    rep = serve_factory(f"models:/{name}/2", env={"MW_URI": srv.url})
    assert requests.get(rep.url + "/ping", timeout=10).status_code == 200
    r = inv_post(rep, "/invocations", body={"dataframe_split": {"columns": REG_NAMES,
                                                                "data": jrows(X)}})
    assert_close(inv_predictions(r), refs["2"], "remote models:/name/2")
    got, out = v2_outputs(v2_infer(rep, name, v2_body(X)))
    assert out["model_name"] == name
    assert_close(got, refs["2"], "remote V2")
    rep1 = serve_factory(f"models:/{name}/1", extra=["--uri", srv.url])
    assert_close(inv_predictions(inv_post(rep1, "/invocations", body={"instances": jrows(X)})),
                 refs["1"], "remote models:/name/1 (--uri)")


def test_mw_serve_remote_reports_the_version_it_serves(two_versions, serve_factory):
    """The replica labels answers, metadata and metrics with the registered
    version it serves, not with "1"."""
    srv, name, X, refs = two_versions
    rep = serve_factory(f"models:/{name}/2", env={"MW_URI": srv.url})
    r = inv_post(rep, "/invocations", body={"instances": jrows(X)})
    assert_close(inv_predictions(r), refs["2"], "models:/name/2")
    assert r.headers.get("X-MW-Model-Version") == "2", dict(r.headers)
    got, out = v2_outputs(v2_infer(rep, name, v2_body(X)))
    assert out["model_version"] == "2", out
    assert assert_ok(requests.get(rep.url + f"/v2/models/{q(name)}", timeout=10))["versions"] \
        == ["2"]
    assert metric(metrics(rep), "mw_model_loaded", model=name, version="2") == 1


def test_mw_serve_registered_alias_remote(two_versions, serve_factory):
    """`mw serve models:/<name>@champion` with MW_URI: the alias is resolved on
    the server and polled; a move swaps the version."""
    srv, name, X, refs = two_versions
    rep = serve_factory(f"models:/{name}@champion", extra=["--alias-poll-ms", "100"],
                        env={"MW_URI": srv.url})
    assert requests.get(rep.url + "/ping", timeout=10).status_code == 200
    r = inv_post(rep, "/invocations", body={"instances": jrows(X)})
    assert_close(inv_predictions(r), refs["2"], "remote champion = 2")
    assert_close(v2_outputs(v2_infer(rep, name, v2_body(X)))[0], refs["2"], "remote V2")
    set_alias(srv, name, 1)

    def follows():
        r = inv_post(rep, "/invocations", body={"instances": jrows(X)})
        assert r.status_code == 200, r.text
        return np.allclose(inv_predictions(r), refs["1"], rtol=1e-5, atol=1e-6)
    wait_for(follows, timeout=10, what="the replica to serve version 1")


def test_mw_serve_registered_version_local_data_dir(mw_factory, serve_factory):
    """`mw serve models:/<name>/<version> --data-dir D` reads the registry in D."""
    srv = mw_factory()
    booster = train_bin(seed=285, feats=5, trees=6)
    name = unique("local")
    register(srv, name, xgb_files(booster))
    data_dir = srv.data_dir
    srv.stop()
    X = rows_for(5, 3, seed=286)
    for uri in (f"models:/{name}/1", f"models:/{name}@champion"):
        p = ServeProc(uri, Path(data_dir).parent, ["--data-dir", data_dir],
                      env=store_env(data_dir))
        try:
            p.start()
            r = inv_post(p, "/invocations", body={"instances": jrows(X)})
            assert_close(inv_predictions(r), booster_predict(booster, X), uri)
        finally:
            assert p.stop() == 0
    rows = Path(data_dir).parent / (unique("rows") + ".json")
    rows.write_text(json.dumps({"inputs": jrows(X)}))
    for uri in (f"models:/{name}/1", f"models:/{name}@champion"):
        out = run_predict(uri, "--input", rows, "--data-dir", data_dir, env=store_env(data_dir))
        assert_close(parse_lines(out), booster_predict(booster, X), f"mw predict {uri} local")


# ------------------------------------------------------------------ mw predict

def run_predict(*args, env=None):
    e = dict(os.environ)
    e.pop("MW_URI", None)
    e.update(env or {})
    p = subprocess.run([mw_bin(), "predict", *map(str, args)], capture_output=True, timeout=60,
                       env=e)
    assert p.returncode == 0, (args, p.stderr.decode())
    return p.stdout.decode()


def parse_lines(out):
    """One line per row, comma-separated outputs; one output per row -> 1-D."""
    a = np.array([[float(v) for v in line.split(",")] for line in out.splitlines() if line])
    return a[:, 0] if a.ndim == 2 and a.shape[1] == 1 else a


def test_mw_predict(mw_factory, tmp_path):
    booster = train_multi(seed=290)
    d = write_dir(tmp_path / "model", xgb_files(booster))
    X = rows_for(5, 9, seed=291)
    ref = booster_predict(booster, X)
    js = tmp_path / "rows.json"
    js.write_text(json.dumps({"inputs": jrows(X)}))
    cs = tmp_path / "rows.csv"
    cs.write_text(csv_text(X, [f"c{i}" for i in range(5)]))
    inst = tmp_path / "inst.json"
    inst.write_text(json.dumps({"dataframe_split": {"columns": [f"c{i}" for i in range(5)],
                                                    "data": jrows(X)}}))
    assert_close(parse_lines(run_predict(d, "--input", js)), ref, "predict dir json")
    assert_close(parse_lines(run_predict(d, "--input", cs)), ref, "predict dir csv")
    assert_close(parse_lines(run_predict(d, "--input", inst)), ref, "predict dir split")
    out = json.loads(run_predict(d, "--input", js, "--json"))
    assert_close(out["predictions"], ref, "predict --json")

    srv = mw_factory()
    name = unique("pred")
    b_reg = train_reg(seed=292, trees=10)
    register(srv, name, xgb_files(b_reg))
    Xr = rows_for(6, 5, seed=293)
    ref_r = booster_predict(b_reg, Xr)
    js.write_text(json.dumps(jrows(Xr)))
    cs.write_text(csv_text(Xr, REG_NAMES))
    assert_close(parse_lines(run_predict(f"models:/{name}/1", "--input", js, "--uri", srv.url)),
                 ref_r, "predict models:/name/1 json")
    assert_close(parse_lines(run_predict(f"models:/{name}/1", "--input", cs,
                                         env={"MW_URI": srv.url})), ref_r,
                 "predict models:/name/1 csv (MW_URI)")
    out = json.loads(run_predict(f"models:/{name}/1", "--input", cs, "--json",
                                 "--uri", srv.url))
    assert out["version"] == "1"
    assert_close(out["predictions"], ref_r, "predict models:/name/1 --json")
    # errors: a clear message and a non-zero exit
    p = subprocess.run([mw_bin(), "predict", str(d), "--input", str(tmp_path / "missing.json")],
                       capture_output=True, timeout=60)
    assert p.returncode != 0 and b"missing.json" in p.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"inputs": [[1.0, 2.0]]}))
    p = subprocess.run([mw_bin(), "predict", str(d), "--input", str(bad)],
                       capture_output=True, timeout=60)
    assert p.returncode != 0 and p.stderr.strip()


def test_mw_predict_bad_cell_is_an_error(tmp_path):
    """`mw predict` reads files with the same row parser as /invocations: a
    non-numeric cell is an error naming its line and column (it used to drop
    the row, so predictions stopped lining up with input lines), and missing
    cells stay rows."""
    booster = train_reg(seed=294, trees=6)
    d = write_dir(tmp_path / "model", xgb_files(booster))
    X = rows_for(6, 4, seed=295, nan=True)
    text = csv_text(X, REG_NAMES)
    good = tmp_path / "good.csv"
    good.write_text(text)
    got = parse_lines(run_predict(d, "--input", good))
    assert_close(got, booster_predict(booster, X), "rows with missing cells")
    lines = text.splitlines()
    cells = lines[3].split(",")
    cells[1] = "twelve"
    lines[3] = ",".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    p = subprocess.run([mw_bin(), "predict", str(d), "--input", str(bad)], capture_output=True,
                       timeout=60)
    err = p.stderr.decode()
    assert p.returncode != 0 and p.stdout == b"", (p.returncode, p.stdout, err)
    assert "line 4, column 2" in err and "twelve" in err and "bad.csv" in err, err
    rows = jrows(X)
    rows[2][0] = "?"
    js = tmp_path / "bad.json"
    js.write_text(json.dumps({"inputs": rows}))
    p = subprocess.run([mw_bin(), "predict", str(d), "--input", str(js)], capture_output=True,
                       timeout=60)
    assert p.returncode != 0 and b"row 3, column 1" in p.stderr, p.stderr


def test_mw_predict_alias_remote(two_versions, tmp_path):
    srv, name, X, refs = two_versions
    js = tmp_path / "rows.json"
    js.write_text(json.dumps({"inputs": jrows(X)}))
    out = json.loads(run_predict(f"models:/{name}@champion", "--input", js, "--json",
                                 "--uri", srv.url))
    assert out["version"] == "2"
    assert_close(out["predictions"], refs["2"], "mw predict models:/name@champion")


def test_replica_says_when_its_registry_is_unreachable(two_versions, serve_factory):
    """Issue 10: a replica keeps serving its last good version while its registry
    is down, and says so in /v2/health/ready, its log and a metric; when the
    registry is back it says that too."""
    srv, name, X, refs = two_versions
    rep = serve_factory(f"models:/{name}@champion", extra=["--alias-poll-ms", "100"],
                        env={"MW_URI": srv.url})

    def ready():
        r = requests.get(rep.url + "/v2/health/ready", timeout=10)
        assert r.status_code == 200, r.text  # still ready: it serves what it has
        return strict_json(r)

    body = ready()
    assert body["ready"] is True and body["model_source"]["kind"] == "remote"
    assert v2_outputs(v2_infer(rep, name, v2_body(X), version="champion"))[1][
        "model_version"] == "2"  # resolved while the registry answers
    wait_for(lambda: ready()["model_source"]["reachable"], timeout=10, what="a first answer")
    srv.kill9()
    src = wait_for(lambda: (lambda s: s if not s["reachable"] else None)(
        ready()["model_source"]), timeout=10, what="the replica to notice")
    assert src["error"] and src["unreachable_since_ms"] > 0, src
    r = inv_post(rep, "/invocations", body={"instances": jrows(X)})
    assert_close(inv_predictions(r), refs["2"], "served while the registry is down")
    # a reference resolved before the outage keeps answering from what it named
    time.sleep(1.1)  # past the reference's memo (max(--alias-poll-ms, 1 s))
    got, out = v2_outputs(v2_infer(rep, name, v2_body(X), version="champion"))
    assert out["model_version"] == "2"
    text = metrics(rep)
    assert metric(text, "mw_serve_source_reachable") == 0
    assert metric(text, "mw_serve_source_failures_total") >= 1
    assert "unreachable" in rep.stderr_text()
    # the registry back on its address: the replica says so
    port = int(srv.url.rsplit(":", 1)[1])
    back = subprocess.Popen([mw_bin(), "server", "--host", "127.0.0.1", "--port", str(port),
                             "--data-dir", str(srv.data_dir), "--log-level", "warn"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            env={**os.environ, **store_env(srv.data_dir)})
    try:
        wait_for(lambda: ready()["model_source"]["reachable"], timeout=20,
                 what="the replica to see its registry again")
        assert metric(metrics(rep), "mw_serve_source_reachable") == 1
        assert "answers again" in rep.stderr_text()
    finally:
        back.terminate()
        back.wait(10)


@pytest.mark.parametrize("via", ["uri", "data-dir"])
def test_mw_serve_and_predict_take_every_models_uri(two_versions, serve_factory, tmp_path, via):
    """models:/NAME/STAGE (any case) and models:/NAME/latest work for mw serve and
    mw predict, through a server or on a data directory."""
    srv, name, X, refs = two_versions
    assert_ok(srv.post("model-versions/transition-stage", {
        "name": name, "version": "1", "stage": "Production", "archive_existing_versions": False}))
    env = {"MW_URI": srv.url} if via == "uri" else {}
    extra = [] if via == "uri" else ["--data-dir", str(srv.data_dir)]
    if via == "data-dir":
        srv.stop()
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps({"instances": jrows(X)}))
    for uri, want in ((f"models:/{name}/Production", "1"), (f"models:/{name}/production", "1"),
                      (f"models:/{name}/latest", "2")):
        p = subprocess.run([mw_bin(), "predict", uri, "--input", str(rows), "--json", *extra],
                           capture_output=True, text=True, timeout=120,
                           env={**os.environ, **env, **store_env(srv.data_dir)})
        assert p.returncode == 0, (uri, p.stderr)
        out = json.loads(p.stdout)
        assert out["version"] == want, (uri, out)
        assert_close(np.asarray(out["predictions"], dtype=np.float64), refs[want], uri)
    if via == "uri":
        rep = serve_factory(f"models:/{name}/Production", env=env)
        r = inv_post(rep, "/invocations", body={"instances": jrows(X)})
        assert r.headers.get("X-MW-Model-Version") == "1"
        assert_close(inv_predictions(r), refs["1"], "mw serve models:/name/Production")


def test_replica_default_never_falls_back_to_latest(two_versions, serve_factory):
    """A replica following a model's default (`mw serve models:/NAME`) stops serving
    when the champion alias is deleted; it never swaps to the latest, unpromoted
    version (the same rule as mw server's)."""
    srv, name, X, refs = two_versions
    set_alias(srv, name, 1)  # champion -> 1; the latest is 2
    rep = serve_factory(f"models:/{name}", extra=["--alias-poll-ms", "100"],
                        env={"MW_URI": srv.url})
    r = inv_post(rep, "/invocations", body={"instances": jrows(X)})
    assert r.headers.get("X-MW-Model-Version") == "1"
    assert_ok(srv.delete("registered-models/alias", {"name": name, "alias": "champion"}))

    def stopped():
        r = inv_post(rep, "/invocations", body={"instances": jrows(X)})
        assert r.headers.get("X-MW-Model-Version") != "2", "fell back to the latest version"
        return r.status_code in (404, 503)
    wait_for(stopped, timeout=10, what="the replica to stop serving its default")
    for _ in range(5):  # and it stays so: no fall back on later polls
        assert not inv_post(rep, "/invocations",
                            body={"instances": jrows(X)}).headers.get("X-MW-Model-Version")
        time.sleep(0.1)

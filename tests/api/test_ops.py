"""Operator surface: /health, /version, /metrics (Prometheus text), graceful
SIGTERM under load, keep-alive."""

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import assert_ok, mw_bin, unique

PROMTOOL = "/usr/bin/promtool"


def test_health_and_version(mw):
    r = requests.get(mw.url + "/health", timeout=5)
    assert r.status_code == 200
    r = requests.get(mw.url + "/version", timeout=5)
    assert r.status_code == 200
    assert r.text.strip()
    assert any(ch.isdigit() for ch in r.text)


def _metrics_text(mw):
    r = requests.get(mw.url + "/metrics", timeout=5)
    assert r.status_code == 200
    ctype = r.headers.get("Content-Type", "")
    assert ctype.startswith("text/plain") or "openmetrics" in ctype, ctype
    return r.text


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)(\s+\d+)?$')


def _samples(text):
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        v = m.group(3)
        float(v.replace("+Inf", "inf").replace("-Inf", "-inf"))
        out.append((m.group(1), labels, v))
    return out


def test_metrics_exposition(mw):
    exp = mw.create_experiment(unique("metrics"))
    run = mw.create_run(exp)["info"]["run_id"]
    for i in range(5):
        assert_ok(mw.post("runs/log-metric", {"run_id": run, "key": "m", "value": i,
                                              "timestamp": i, "step": i}))
    mw.get("runs/get", {"run_id": "0" * 32})  # a 404
    text = _metrics_text(mw)
    samples = _samples(text)
    names = {n for n, _, _ in samples}
    for required in ("mw_http_requests_total", "mw_http_request_duration_seconds_bucket",
                     "process_resident_memory_bytes"):
        assert required in names, f"{required} missing from /metrics"
    assert any(n.startswith("mw_store_commit_batch_size") for n in names), names
    reqs = [(lbl, v) for n, lbl, v in samples if n == "mw_http_requests_total"]
    assert all("route" in lbl and "status" in lbl for lbl, _ in reqs), reqs[:5]
    assert any(lbl["status"] == "200" and float(v) >= 5 for lbl, v in reqs), reqs
    assert any(lbl["status"] == "404" for lbl, _ in reqs), reqs
    # routes are templates, not raw paths with ids
    assert not any(run in lbl["route"] for lbl, _ in reqs)
    buckets = [(lbl, v) for n, lbl, v in samples if n == "mw_http_request_duration_seconds_bucket"]
    assert any(lbl.get("le") == "+Inf" for lbl, _ in buckets)
    assert "# TYPE mw_http_requests_total counter" in text
    assert re.search(r"# TYPE mw_http_request_duration_seconds histogram", text)
    rss = [float(v) for n, _, v in samples if n == "process_resident_memory_bytes"]
    assert rss and rss[0] > 0


@pytest.mark.skipif(not os.path.exists(PROMTOOL), reason="promtool not installed")
def test_metrics_promtool(mw):
    text = _metrics_text(mw)
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr


def test_keep_alive(mw):
    s = requests.Session()
    exp = mw.create_experiment(unique("ka"))
    run = mw.create_run(exp)["info"]["run_id"]
    url = mw.url + "/api/2.0/mlflow/runs/log-metric"
    for i in range(200):
        r = s.post(url, json={"run_id": run, "key": "ka", "value": i, "timestamp": i, "step": i},
                   timeout=10)
        assert r.status_code == 200, r.text
        assert r.headers.get("Connection", "").lower() != "close"
    pool = s.get_adapter(url).poolmanager.connection_from_url(url)
    assert pool.num_connections == 1, f"{pool.num_connections} connections for 200 requests"
    assert len(mw.history(run, "ka")) == 200
    s.close()


def test_sigterm_during_requests_exits_0_and_keeps_data(mw_factory, tmp_path):
    data = tmp_path / "term-data"
    srv = mw_factory(data_dir=data)
    exp = srv.create_experiment(unique("term"))
    run = srv.create_run(exp)["info"]["run_id"]
    acked = []
    stop = threading.Event()

    def client():
        s = requests.Session()
        try:
            for i in range(20000):
                if stop.is_set():
                    return
                r = s.post(srv.url + "/api/2.0/mlflow/runs/log-metric",
                           json={"run_id": run, "key": "t", "value": i, "timestamp": i,
                                 "step": i}, timeout=10)
                if r.status_code == 200:
                    acked.append(i)
                elif r.status_code != 503:
                    return
        except requests.RequestException:
            return
        finally:
            s.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.8)
    srv.proc.send_signal(signal.SIGTERM)
    try:
        rc = srv.proc.wait(10)
    except subprocess.TimeoutExpired:
        pytest.fail("mw did not exit within 10 s of SIGTERM under load")
    stop.set()
    for t in threads:
        t.join(15)
    assert rc == 0, srv.stderr_text()
    srv._forget()
    assert acked, "no request was answered before SIGTERM"
    srv2 = mw_factory(data_dir=data)
    steps = {m["step"] for m in srv2.history(run, "t")}
    missing = set(acked) - steps
    assert not missing, f"{len(missing)} acknowledged points lost after SIGTERM"


def test_version_matches_cli(mw):
    from conftest import mw_bin
    cli = subprocess.run([mw_bin(), "version"], capture_output=True, text=True, timeout=10)
    assert cli.returncode == 0
    ver = re.search(r"\d+\.\d+\.\d+", cli.stdout)
    assert ver, cli.stdout
    assert ver.group(0) in requests.get(mw.url + "/version", timeout=5).text


def test_metrics_route_labels_are_bounded(mw):
    tag = unique("card").replace("-", "")
    for i in range(5):
        requests.get(f"{mw.url}/api/2.0/mlflow/{tag}{i}", timeout=5)
        requests.get(f"{mw.url}/api/2.0/mlflow/logged-models/m-{tag}{i}", timeout=5)
    text = _metrics_text(mw)
    assert tag not in text, "raw request paths leak into metric labels (unbounded cardinality)"


def test_concurrent_writers_same_run(mw):
    """8 clients hammer one run: every request answers 200 (no 'database is
    locked'), every point lands."""
    exp = mw.create_experiment(unique("conc"))
    run = mw.create_run(exp)["info"]["run_id"]
    errors = []

    def client(idx):
        s = requests.Session()
        try:
            for i in range(40):
                ms = [{"key": f"c{idx}", "value": i * 10 + j, "timestamp": i, "step": i * 10 + j}
                      for j in range(10)]
                r = s.post(mw.url + "/api/2.0/mlflow/runs/log-batch",
                           json={"run_id": run, "metrics": ms,
                                 "params": [{"key": "shared", "value": "same"}],
                                 "tags": [{"key": f"tag{idx}", "value": str(i)}]},
                           timeout=30)
                if r.status_code != 200:
                    errors.append((idx, i, r.status_code, r.text[:200]))
                r = s.post(mw.url + "/api/2.0/mlflow/runs/log-metric",
                           json={"run_id": run, "key": "single", "value": idx * 1000 + i,
                                 "timestamp": i, "step": idx * 1000 + i}, timeout=30)
                if r.status_code != 200:
                    errors.append((idx, i, r.status_code, r.text[:200]))
        finally:
            s.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:5]
    data = mw.get_run(run)["data"]
    for k in range(8):
        assert len(mw.history(run, f"c{k}")) == 400
        assert {m["key"]: m["value"] for m in data["tags"]}[f"tag{k}"] == "39"
    assert len(mw.history(run, "single")) == 320


def test_concurrent_duplicate_experiment_creates(mw):
    name = unique("race")
    results = []

    def create():
        r = requests.post(mw.url + "/api/2.0/mlflow/experiments/create", json={"name": name},
                          timeout=30)
        results.append((r.status_code, r.json()))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    ok = [b for st, b in results if st == 200]
    assert len(ok) == 1, results
    for st, b in results:
        if st != 200:
            assert st == 400 and b["error_code"] == "RESOURCE_ALREADY_EXISTS", (st, b)


def test_sigterm_with_idle_and_half_sent_connections(mw_factory):
    srv = mw_factory()
    import socket
    idle = requests.Session()
    assert idle.get(srv.url + "/health", timeout=5).status_code == 200  # kept alive, idle
    half = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    half.sendall(b"POST /api/2.0/mlflow/experiments/create HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: 100\r\n\r\n{\"name\":")
    time.sleep(0.2)
    assert requests.get(srv.url + "/health", timeout=5).status_code == 200
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    try:
        rc = srv.proc.wait(10)
    except subprocess.TimeoutExpired:
        pytest.fail("mw did not exit within 10 s of SIGTERM with idle/half-sent connections")
    finally:
        half.close()
        idle.close()
    srv._forget()
    assert rc == 0, srv.stderr_text()
    assert time.monotonic() - t0 < 10


def test_restart_preserves_everything(mw_factory, tmp_path):
    data = tmp_path / "persist"
    srv = mw_factory(data_dir=data)
    eid = srv.create_experiment(unique("persist"), tags=[{"key": "et", "value": "1"}])
    run = srv.create_run(eid, run_name="keep")
    r = run["info"]["run_id"]
    assert_ok(srv.post("runs/log-batch", {
        "run_id": r,
        "metrics": [{"key": "m", "value": v, "timestamp": 10 + i, "step": i}
                    for i, v in enumerate([1.5, "NaN", "Infinity", -3.25])],
        "params": [{"key": "p", "value": "v"}],
        "tags": [{"key": "t", "value": "x"}]}))
    assert_ok(srv.post("runs/log-inputs", {"run_id": r, "datasets": [{"dataset": {
        "name": "d", "digest": "g", "source_type": "local", "source": "{}"},
        "tags": [{"key": "mlflow.data.context", "value": "train"}]}]}))
    mid = assert_ok(srv.post("logged-models", {"experiment_id": eid, "name": "lm",
                                               "source_run_id": r,
                                               "params": [{"key": "a", "value": "b"}]}))["model"]["info"]["model_id"]
    assert_ok(srv.post("runs/outputs", {"run_id": r, "models": [{"model_id": mid, "step": 1}]}))
    assert_ok(srv.patch(f"logged-models/{mid}", {"model_id": mid,
                                                 "status": "LOGGED_MODEL_READY"}))
    assert_ok(srv.post("runs/update", {"run_id": r, "status": "FINISHED", "end_time": 99}))
    gone = srv.create_experiment(unique("gone"))
    assert_ok(srv.post("experiments/delete", {"experiment_id": gone}))
    before_run = srv.get_run(r)
    before_exp = srv.get_experiment(eid)
    before_model = assert_ok(srv.get(f"logged-models/{mid}"))["model"]
    before_hist = srv.history(r, "m")
    srv.stop()
    srv.start()
    assert srv.get_run(r) == before_run
    assert srv.get_experiment(eid) == before_exp
    assert assert_ok(srv.get(f"logged-models/{mid}"))["model"] == before_model
    assert srv.history(r, "m") == before_hist
    assert srv.get_experiment(gone)["lifecycle_stage"] == "deleted"
    # new ids keep being unique after a restart
    eid2 = srv.create_experiment(unique("after"))
    assert eid2 not in (eid, gone, "0")


# ---------------------------------------------------------------- HTTP details


def _raw_exchange(srv, payload, expect_responses=1, timeout=10):
    import socket
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
    try:
        s.sendall(payload)
        data = b""
        deadline = time.monotonic() + timeout
        while data.count(b"HTTP/1.1 ") < expect_responses or not data.endswith(b"}"):
            if time.monotonic() > deadline:
                break
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data
    finally:
        s.close()


def test_query_string_decoding(mw):
    for name in (unique("sp") + " a b", unique("amp") + "&x=y", unique("plus") + "+1",
                 unique("uni") + " é/🙂", unique("pct") + "%41"):
        eid = mw.create_experiment(name)
        out = assert_ok(mw.get("experiments/get-by-name", {"experiment_name": name}))
        assert out["experiment"]["experiment_id"] == eid, name


def test_chunked_request_body(mw):
    name = unique("chunked")

    def gen():
        yield b'{"na'
        yield b'me": "' + name.encode() + b'"}'

    r = mw.session.post(mw.url + "/api/2.0/mlflow/experiments/create", data=gen(),
                        headers={"Content-Type": "application/json"}, timeout=10)
    eid = assert_ok(r)["experiment_id"]
    assert mw.get_experiment(eid)["name"] == name


def test_expect_100_continue(mw):
    import socket
    name = unique("expect")
    body = json.dumps({"name": name}).encode()
    s = socket.create_connection(("127.0.0.1", mw.port), timeout=10)
    try:
        s.sendall(b"POST /api/2.0/mlflow/experiments/create HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        first = s.recv(4096)
        assert first.startswith(b"HTTP/1.1 100"), first
        s.sendall(body)
        data = b""
        while not data.endswith(b"}"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        assert b" 200 " in data.split(b"\r\n")[0] or b" 200 " in data, data
    finally:
        s.close()
    got = assert_ok(mw.get("experiments/get-by-name", {"experiment_name": name}))
    assert got["experiment"]["name"] == name


def test_expect_100_continue_over_the_cap_is_413_at_once(mw):
    """A body declared over the cap is refused before the client sends it:
    no "100 Continue" (issue 9: the client was told to go on, then got 413)."""
    import socket
    for path, fmt in (("/api/2.0/mlflow/experiments/create", "error_code"),
                      ("/v2/models/nothing/infer", "error")):
        s = socket.create_connection(("127.0.0.1", mw.port), timeout=10)
        try:
            s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
                      b"Content-Length: %d\r\n\r\n" % (1 << 30))
            data = b""
            deadline = time.monotonic() + 10
            while b"\r\n\r\n" not in data or not data.endswith(b"}"):
                if time.monotonic() > deadline:
                    break
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        assert data.startswith(b"HTTP/1.1 413"), data[:200]
        assert b"100 Continue" not in data
        body = json.loads(data.split(b"\r\n\r\n", 1)[1])
        assert fmt in body, body


def test_access_log_escapes_what_the_client_sent(mw_factory):
    """A request path cannot forge access-log lines or send terminal escapes
    (issue 9): control characters and bytes that are not UTF-8 are written
    as \\xHH, a backslash as two."""
    import socket
    srv = mw_factory(extra_args=["--log-level", "info"])
    forged = b"/x%0a2026-01-01T00:00:00.000Z%20INFO%20%20GET%20/forged%20200%1b[31m%ff\\y"
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        s.sendall(b"GET " + forged + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while s.recv(4096):
            pass
    finally:
        s.close()
    srv.stop()
    log = Path(srv.stderr_path).read_bytes()
    lines = [ln for ln in log.split(b"\n") if b"/x" in ln and b"GET" in ln]
    assert len(lines) == 1, log[-2000:]
    line = lines[0]
    assert b"\x1b" not in line and b"\xff" not in line
    assert b"/x\\x0a2026-01-01T00:00:00.000Z INFO  GET /forged 200\\x1b[31m\\xff\\\\y" in line
    assert not any(ln.startswith(b"2026-01-01T00:00:00.000Z") for ln in log.split(b"\n"))


def test_pipelined_requests(mw):
    a, b = unique("pipe"), unique("pipe")
    req = b""
    for n in (a, b):
        body = json.dumps({"name": n}).encode()
        req += (b"POST /api/2.0/mlflow/experiments/create HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    data = _raw_exchange(mw, req, expect_responses=2)
    assert data.count(b"HTTP/1.1 200") == 2, data
    for n in (a, b):
        assert_ok(mw.get("experiments/get-by-name", {"experiment_name": n}))


def test_json_content_type(mw):
    r = mw.get("experiments/get", {"experiment_id": "0"})
    assert r.headers["Content-Type"].startswith("application/json")
    r = mw.get("experiments/get", {"experiment_id": "4242424242"})
    assert r.headers["Content-Type"].startswith("application/json")


def test_busy_port_is_found_before_the_data_directory(mw, tmp_path):
    """A second server on a busy port says so and creates nothing (issue 10)."""
    data = tmp_path / "never-created"
    p = subprocess.run([mw_bin(), "server", "--port", str(mw.port),
                        "--data-dir", str(data)], capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    assert p.returncode != 0
    assert "in use" in p.stderr, p.stderr
    assert not data.exists()


def test_config_shows_the_bound_port(mw_factory):
    srv = mw_factory()
    rows = {r["name"]: r for r in srv.session.get(srv.url + "/api/mw/config",
                                                  timeout=10).json()["settings"]}
    assert rows["port"]["value"] == str(srv.port)

"""The request pipeline and the application object, against the real binary:
X-Request-Id echo and generation, the identity filter, errors in each
route's own format (MLflow, V2, /invocations) for 404, 405, 413 and filter
rejections, typed settings refused at start-up, a secret setting that never
shows (/api/mw/config, --help, the log), and the drain on SIGTERM with
inferences queued."""

import json
import re
import signal
import subprocess
import threading
import time

import pytest
import requests

from conftest import API, assert_ok, mw_bin, unique

HEX32 = re.compile(r"^[0-9a-f]{32}$")


# ---------------------------------------------------------------- request id


def test_request_id_is_echoed(mw):
    for path in ("/health", API + "experiments/get?experiment_id=0", "/v2/health/live",
                 API + "nosuch", "/v2/nosuch"):
        r = mw.session.get(mw.url + path, headers={"X-Request-Id": "trace-7.a:b"}, timeout=10)
        assert r.headers.get("X-Request-Id") == "trace-7.a:b", (path, r.status_code, r.headers)


def test_request_id_is_generated(mw):
    ids = set()
    for _ in range(5):
        r = mw.session.get(mw.url + "/health", timeout=10)
        rid = r.headers.get("X-Request-Id", "")
        assert HEX32.match(rid), rid
        ids.add(rid)
    assert len(ids) == 5
    # an id the pipeline will not carry (spaces, quotes, too long) is replaced
    for bad in ("has space", 'q"uote', "x" * 129):
        r = mw.session.get(mw.url + "/health", headers={"X-Request-Id": bad}, timeout=10)
        assert HEX32.match(r.headers.get("X-Request-Id", "")), bad


def test_request_id_on_streamed_upload_and_errors(mw):
    exp = mw.create_experiment(unique("rid"))
    run = mw.create_run(exp)["info"]["run_id"]
    url = f"{mw.url}/api/2.0/mlflow-artifacts/artifacts/{exp}/{run}/artifacts/rid.txt"
    r = mw.session.put(url, data=b"hello", headers={"X-Request-Id": "up-1"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers.get("X-Request-Id") == "up-1"
    r = mw.post("runs/log-metric", {"run_id": run}, headers={"X-Request-Id": "bad-1"})
    assert r.status_code == 400
    assert r.headers.get("X-Request-Id") == "bad-1"


def test_request_id_in_access_log(mw_factory):
    srv = mw_factory(extra_args=["--log-level", "info"])
    r = srv.session.get(srv.url + "/version", headers={"X-Request-Id": "log-me-42"}, timeout=10)
    assert r.status_code == 200
    deadline = time.monotonic() + 5
    while "rid=log-me-42" not in srv.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    line = [ln for ln in srv.stderr_text().splitlines() if "rid=log-me-42" in ln]
    assert line and "GET /version 200" in line[0], srv.stderr_text()


# ---------------------------------------------------------------- identity


def test_identity_reaches_the_operation(mw):
    """The user an operation records is the one the identity filter took from
    X-MW-User, else from Basic credentials, else "anonymous"."""
    from test_registry import FILES, mv_create, native, run_with_files
    name = unique("who")
    assert_ok(mw.post("registered-models/create", {"name": name}))
    run = run_with_files(mw, FILES)
    for _ in range(3):
        mv_create(mw, name, f"runs:/{run['run_id']}/model")
    path = mw.url + "/api/mw/models/" + name + "/aliases"
    r = mw.session.post(path, json={"alias": "a", "version": "1"}, auth=("frank", "pw"),
                        timeout=10)
    assert r.status_code == 200, r.text
    r = mw.session.post(path, json={"alias": "a", "version": "2"}, auth=("frank", "pw"),
                        headers={"X-MW-User": "gina"}, timeout=10)
    assert r.status_code == 200, r.text
    r = mw.session.post(path, json={"alias": "a", "version": "3"}, timeout=10)
    assert r.status_code == 200, r.text
    events = assert_ok(native(mw, "GET", name, "history"))["events"]
    assert [e["who"] for e in events] == ["frank", "gina", "anonymous"], events


# ---------------------------------------------------------------- error formats

BAD_USER = {"X-MW-User": "u" * 300}


def _mlflow(r, status, code):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error_code", "message"}, body
    assert body["error_code"] == code, body
    assert body["message"], body
    return body


def _v2(r, status):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and body["error"], body
    return body["error"]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from conftest import MwServer
    d = tmp_path_factory.mktemp("pipeline-small")
    srv = MwServer(d / "data", log_dir=d, extra_args=["--max-body", "4KiB"])
    srv.start()
    yield srv
    srv.stop()


def test_mlflow_route_errors(small):
    s = small
    r = s.get(API + "no-such-endpoint")
    assert _mlflow(r, 404, "ENDPOINT_NOT_FOUND")["message"] == \
        "No endpoint: /api/2.0/mlflow/no-such-endpoint"
    r = s.request("PUT", "experiments/create", json_body={"name": "x"})
    assert _mlflow(r, 405, "ENDPOINT_NOT_FOUND")["message"] == \
        "Method not allowed: /api/2.0/mlflow/experiments/create"
    r = s.post("experiments/create", {"name": "x" * 5000})
    assert _mlflow(r, 413, "RESOURCE_EXHAUSTED")["message"] == \
        "Request body too large: the limit is 4096 bytes"
    r = s.post("experiments/create", {"name": unique("x")}, headers=BAD_USER)
    assert "X-MW-User" in _mlflow(r, 400, "INVALID_PARAMETER_VALUE")["message"]
    # the native registry and operator routes answer the same way
    r = s.session.post(s.url + "/api/mw/models/m/aliases", data=b"{}", headers=BAD_USER,
                       timeout=10)
    _mlflow(r, 400, "INVALID_PARAMETER_VALUE")
    r = s.session.post(s.url + "/health", timeout=10)
    _mlflow(r, 405, "ENDPOINT_NOT_FOUND")
    r = s.session.get(s.url + "/definitely/not/here", timeout=10)
    _mlflow(r, 404, "ENDPOINT_NOT_FOUND")


def test_v2_route_errors(small):
    s = small
    r = s.session.get(s.url + "/v2/models/m/not-a-thing", timeout=10)
    assert _v2(r, 404) == "No endpoint: /v2/models/m/not-a-thing"
    r = s.session.get(s.url + "/v2/nothing", timeout=10)
    assert _v2(r, 404) == "No endpoint: /v2/nothing"
    r = s.session.delete(s.url + "/v2/models/m/infer", timeout=10)
    assert _v2(r, 405) == "Method not allowed: /v2/models/m/infer"
    r = s.session.post(s.url + "/v2/models/m/infer", data=b"[" + b"1," * 4000 + b"1]",
                       timeout=10)
    assert _v2(r, 413) == "Request body too large: the limit is 4096 bytes"
    r = s.session.get(s.url + "/v2/health/live", headers=BAD_USER, timeout=10)
    assert "X-MW-User" in _v2(r, 400)
    # /v2x is not under /v2: MLflow's format, the server's default
    r = s.session.get(s.url + "/v2x", timeout=10)
    _mlflow(r, 404, "ENDPOINT_NOT_FOUND")


def test_invocations_route_errors(small):
    s = small
    r = s.session.post(s.url + "/invocations", data=b"x" * 5000,
                       headers={"Content-Type": "application/json"}, timeout=10)
    _mlflow(r, 413, "RESOURCE_EXHAUSTED")
    r = s.session.get(s.url + "/invocations", timeout=10)
    _mlflow(r, 405, "ENDPOINT_NOT_FOUND")
    r = s.session.post(s.url + "/models/m/invocations", data=b"{}", headers=BAD_USER,
                       timeout=10)
    _mlflow(r, 400, "INVALID_PARAMETER_VALUE")


# ---------------------------------------------------------------- settings


def _run_server(*args, env=None, timeout=20):
    return subprocess.run([mw_bin(), "server", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=env)


@pytest.mark.parametrize("args,words", [
    (["--port", "http"], "setting 'port' (--port): 'http' is not an integer in [0, 65535]"),
    (["--max-body", "12XB"], "setting 'max-body' (--max-body): '12XB' is not a size"),
    (["--shutdown-timeout", "500ms"], "setting 'shutdown-timeout' (--shutdown-timeout)"),
    (["--sync", "sometimes"], "is not one of full, normal"),
    (["--prediction-log", "maybe"], "is not true or false"),
    (["--log-level", "loud"], "is not one of debug, info, warn, error, off"),
])
def test_bad_settings_refused_at_start(tmp_path, args, words):
    p = _run_server("--data-dir", str(tmp_path / "d"), "--port", "0", *args)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert words in p.stderr, p.stderr
    assert p.stderr.count("\n") == 1, p.stderr  # one error, naming the setting


def test_bad_setting_from_environment(tmp_path):
    import os
    env = dict(os.environ, MW_THREADS="many")
    env.pop("MW_URI", None)
    p = _run_server("--data-dir", str(tmp_path / "d"), env=env)
    assert p.returncode == 2
    assert "setting 'threads' (MW_THREADS): 'many'" in p.stderr, p.stderr


SECRET = "postgresql://mw:hunter2-s3cr3t@db.example/mw"


def secret_sqlite(tmp_path):
    """A store URI the server opens (PostgreSQL is not built yet: a server
    given SECRET stops at start), holding the same marker."""
    return f"sqlite:///{tmp_path}/hunter2-s3cr3t.db"


def test_secret_setting_hidden(mw_factory, tmp_path):
    srv = mw_factory(extra_args=["--store-uri", secret_sqlite(tmp_path), "--log-level", "debug"])
    r = srv.session.get(srv.url + "/api/mw/config", timeout=10)
    assert r.status_code == 200
    assert "hunter2" not in r.text
    rows = {s["name"]: s for s in r.json()["settings"]}
    row = rows["store-uri"]
    assert row == {"name": "store-uri", "value": "(set)", "default": "(unset)", "source": "flag",
                   "type": "string", "secret": True}, row
    assert rows["port"]["value"] == str(srv.port) and rows["port"]["secret"] is False
    assert rows["max-body"]["type"] == "size" and rows["sync"]["type"] == "enum"
    srv.stop()
    assert "hunter2" not in srv.stderr_text()


def test_secret_setting_from_environment_hidden(mw_factory, tmp_path):
    # store_uri=None: no --store-uri flag (MW_TEST_STORE_URI), whose source would be "flag"
    srv = mw_factory(env={"MW_STORE_URI": secret_sqlite(tmp_path)}, store_uri=None)
    rows = {s["name"]: s for s in srv.session.get(srv.url + "/api/mw/config",
                                                   timeout=10).json()["settings"]}
    assert rows["store-uri"]["value"] == "(set)" and rows["store-uri"]["source"] == "env"
    rows = {s["name"]: s for s in requests.get(srv.url + "/api/mw/config",
                                               timeout=10).json()["settings"]}
    assert "hunter2" not in json.dumps(rows)


def test_unset_secret_shows_unset(mw_factory):
    srv = mw_factory(store_uri=None)  # not even MW_TEST_STORE_URI's
    rows = {s["name"]: s for s in srv.session.get(srv.url + "/api/mw/config",
                                                  timeout=10).json()["settings"]}
    assert rows["store-uri"]["value"] == "(unset)"


def test_help_never_shows_a_secret():
    import os
    env = dict(os.environ, MW_STORE_URI=SECRET)
    p = _run_server("--help", env=env)
    assert p.returncode == 0
    assert "hunter2" not in p.stdout + p.stderr
    line = [ln for ln in p.stdout.splitlines() if "--store-uri" in ln]
    assert line and "secret; unset by default" in line[0], p.stdout
    assert "--port N" in p.stdout and "--max-body BYTES" in p.stdout


# ---------------------------------------------------------------- the drain


def test_sigterm_drains_queued_inferences(mw_factory):
    """A SIGTERM with inferences waiting for a batch: the server stops
    accepting, fails the queued ones with 503 at once (they need not wait
    for the 3 s batch delay), waits for in-flight requests, and exits 0."""
    from test_serving import register, rows_for, train_bin, v2_body, xgb_files, q
    srv = mw_factory(extra_args=["--batch-size", "64", "--batch-delay-us", "3000000",
                                 "--log-level", "info"])
    name = unique("drain")
    register(srv, name, xgb_files(train_bin(seed=11, feats=4, trees=3)))
    X = rows_for(4, 3, seed=12)
    results = [None] * 3

    def client(i):
        try:
            results[i] = requests.post(srv.url + f"/v2/models/{q(name)}/infer", timeout=30,
                                       data=json.dumps(v2_body(X[i:i + 1])))
        except requests.RequestException as e:
            results[i] = e

    ts = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(3)]
    for t in ts:
        t.start()
    time.sleep(0.5)  # queued, waiting for more rows
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    rc = srv.proc.wait(15)
    elapsed = time.monotonic() - t0
    for t in ts:
        t.join(15)
    srv._forget()
    assert rc == 0, srv.stderr_text()
    for i, r in enumerate(results):
        assert isinstance(r, requests.Response), (i, r)
        if r.status_code == 200:  # loaded and batched before the signal: a real answer
            assert r.json()["outputs"], r.text
        else:
            assert _v2(r, 503)
    assert any(isinstance(r, requests.Response) and r.status_code == 503 for r in results), \
        [getattr(r, "status_code", r) for r in results]
    assert elapsed < 2.5, f"queued inferences waited for their batch ({elapsed:.2f} s)"
    log = srv.stderr_text()
    a = log.find("signal 15: stopping (draining in-flight requests)")
    b = log.find("INFO  stopped")
    assert 0 <= a < b, log

"""Every Nth file operation fails, in turn, as SQLite's test VFS loops do (issue 11, item 6).

For each operation type (open, write, fsync, rename) and each error (EIO,
ENOSPC), and for N = 1, 2, ...: a fresh server starts with
MW_TEST_FAULT="<err>:<op>#<N>,under=<data dir>,while=<flag>", sets up a run
and a registered model with the flag absent, then runs one fixed workload with
the flag present, so the Nth operation of that type inside the data
directory (blob files, the model cache, side files, and SQLite's files
through the VFS shim) fails once.  After each run:

- every answer was 200, or a clean error in its API's format (MLflow
  {"error_code","message"} or V2 {"error"}) with a 5xx status and a message;
  for ENOSPC the message says the disk is full;
- the server is still up (/health), answers every acknowledged write, reports
  a clean /api/mw/fsck, and stops with exit code 0 on SIGTERM;
- the database passes PRAGMA integrity_check and `mw fsck` on the data
  directory is clean;
- restarted without the fault on the same data directory, every acknowledged
  write is there (metric values, artifact bytes, the version created, the
  alias where it was last moved) and the champion answers inference.

The loop for one (op, error) ends at the first N the workload never reaches
(the server logs each injected fault), or at MW_FAULT_LOOP_MAX (default 150),
which the test asserts it did not need: the workload must be covered whole.
"""

import hashlib
import os
import shutil
import sqlite3
import subprocess

import pytest

from conftest import assert_ok, mw_bin, now_ms, store_env, strict_json
from test_serving import q, rows_for, train_reg, v2_body, xgb_files

ART = "/api/2.0/mlflow-artifacts/artifacts"
MAX_N = int(os.environ.get("MW_FAULT_LOOP_MAX", "150"))
MODEL = "fl"
VERBOSE = os.environ.get("MW_FAULT_LOOP_VERBOSE", "") not in ("", "0")

_booster = []


def booster():
    if not _booster:
        _booster.append(train_reg(seed=7, rows=200, trees=3))
    return _booster[0]


def put(srv, path, data):
    return srv.session.put(f"{srv.url}{ART}/{path}", data=data, timeout=30)


def infer(srv):
    return srv.session.post(f"{srv.url}/v2/models/{q(MODEL)}/infer",
                            json=v2_body(rows_for(6, 3, seed=1)), timeout=30)


def clean_error(step, r, err, data_dir):
    """A failed answer: 5xx, its API's error format, a message that says what
    failed (the disk is full, for ENOSPC), and not where: no server path."""
    assert 500 <= r.status_code < 600, f"{step}: {r.status_code} {r.text[:300]}"
    body = strict_json(r)
    assert isinstance(body, dict), f"{step}: {r.text[:300]}"
    msg = body.get("error") if step == "infer" else body.get("message")
    assert isinstance(msg, str) and msg.strip(), f"{step}: {r.text[:300]}"
    if step != "infer":
        assert isinstance(body.get("error_code"), str) and body["error_code"], body
    if err == "enospc":
        assert "full" in msg.lower(), f"{step}: ENOSPC without 'full': {msg}"
    assert str(data_dir) not in msg, f"{step}: the message names a server path: {msg}"
    return msg


def setup_state(srv):
    """Before the fault: a run with the model's files, version 1 as champion."""
    run = srv.create_run("0")["info"]["run_id"]
    for p, data in xgb_files(booster()).items():
        assert_ok(put(srv, f"0/{run}/artifacts/model/{p}", data))
    assert_ok(srv.post("registered-models/create", {"name": MODEL}))
    assert_ok(srv.post("model-versions/create",
                       {"name": MODEL, "source": f"runs:/{run}/model"}))
    assert_ok(srv.post("registered-models/alias",
                       {"name": MODEL, "alias": "champion", "version": "1"}))
    return run


def workload(srv, run, err, seed):
    """The fixed workload; returns what was acknowledged."""
    rnd = hashlib.sha256(seed.encode()).digest()
    blob = rnd * 1024  # 32 KiB, new content
    ack = {"metrics": [], "files": {}, "version": None, "alias": "1"}
    ts = now_ms()

    def step(name, r):
        if r.status_code == 200:
            return True
        msg = clean_error(name, r, err, srv.data_dir)
        if VERBOSE:
            print(f"  {seed} {name}: {r.status_code} {msg}")
        return False

    ms = [{"key": "m", "value": float(i), "timestamp": ts, "step": i} for i in range(3)]
    if step("log-batch", srv.post("runs/log-batch", {"run_id": run, "metrics": ms,
                                                     "params": [{"key": "p", "value": "v"}]})):
        ack["metrics"] += [(m["step"], m["value"]) for m in ms]
    for path in ("a.bin", "again/a.bin"):  # the second one finds the blob stored
        if step("upload", put(srv, f"0/{run}/artifacts/{path}", blob)):
            ack["files"][path] = blob
    r = srv.post("model-versions/create", {"name": MODEL, "source": f"runs:/{run}/model"})
    if step("model-version", r):
        ack["version"] = r.json()["model_version"]["version"]
        if step("alias", srv.post("registered-models/alias",
                                  {"name": MODEL, "alias": "champion",
                                   "version": ack["version"]})):
            ack["alias"] = ack["version"]
    step("infer", infer(srv))  # loads the champion: the model cache
    if step("log-metric", srv.post("runs/log-metric", {"run_id": run, "key": "m", "value": 9.0,
                                                       "timestamp": ts, "step": 9})):
        ack["metrics"].append((9, 9.0))
    r = srv.session.get(f"{srv.url}{ART}/0/{run}/artifacts/a.bin", timeout=30)
    if "a.bin" in ack["files"] and step("download", r):
        assert r.content == blob
    return ack


def verify(srv, run, ack, after_restart):
    hist = {(m["step"], m["value"]) for m in srv.history(run, "m")}
    assert set(ack["metrics"]) <= hist, (ack["metrics"], hist)
    for path, data in ack["files"].items():
        r = srv.session.get(f"{srv.url}{ART}/0/{run}/artifacts/{path}", timeout=30)
        assert r.status_code == 200 and r.content == data, (path, r.status_code)
    if ack["version"]:
        assert_ok(srv.get("model-versions/get", {"name": MODEL, "version": ack["version"]}))
    mv = assert_ok(srv.get("registered-models/alias",
                           {"name": MODEL, "alias": "champion"}))
    assert mv["model_version"]["version"] == ack["alias"]
    rep = assert_ok(srv.post("/api/mw/fsck", {}))
    assert rep["ok"] is True, rep
    if after_restart:
        r = infer(srv)
        assert r.status_code == 200, r.text[:300]
        assert r.json()["model_version"] == ack["alias"]


def integrity(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("PRAGMA integrity_check").fetchall()
    finally:
        db.close()


def one_round(mw_factory, base, op, err, n):
    """Returns False when the workload never reached the Nth operation."""
    d = base / f"data-{n}"
    flag = base / "flag"
    flag.unlink(missing_ok=True)
    rule = f"{err}:{op}#{n},under={d},while={flag}"
    srv = mw_factory(data_dir=d, env={"MW_TEST_FAULT": rule})
    run = setup_state(srv)
    flag.touch()
    try:
        ack = workload(srv, run, err, f"{op}-{err}-{n}")
    finally:
        flag.unlink()
    log = srv.stderr_text(tail=10000)
    fired = "fs: injected" in log
    assert srv.health() == 200, f"{rule}: the server is down:\n{log[-3000:]}"
    verify(srv, run, ack, after_restart=False)
    srv.stop()
    if srv.store_uri is None:
        assert integrity(d / "mw.db") == [("ok",)], rule
    env = dict(os.environ, **store_env(d))
    env.pop("MW_URI", None)
    env.pop("MW_TEST_FAULT", None)
    p = subprocess.run([mw_bin(), "fsck", "--data-dir", str(d)], capture_output=True,
                       text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"{rule}: mw fsck: {p.stdout}{p.stderr}"
    srv2 = mw_factory(data_dir=d)
    verify(srv2, run, ack, after_restart=True)
    srv2.stop()
    shutil.rmtree(d, ignore_errors=True)
    return fired


@pytest.mark.parametrize("err", ["eio", "enospc"])
@pytest.mark.parametrize("op", ["open", "write", "fsync", "rename"])
def test_nth_operation_fails(mw_factory, tmp_path, op, err):
    fired = 0
    for n in range(1, MAX_N + 1):
        if not one_round(mw_factory, tmp_path, op, err, n):
            break
        fired += 1
    else:
        pytest.fail(f"{op}/{err}: the workload still had {op}s left after {MAX_N} rounds "
                    f"(raise MW_FAULT_LOOP_MAX)")
    print(f"{op}/{err}: {fired} rounds with an injected fault")
    assert fired >= 1, f"the workload never reached one {op}"

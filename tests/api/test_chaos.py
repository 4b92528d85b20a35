"""kill -9 under mixed load, in a loop, on one data directory (issue 11, item 7).

Each round restarts the server on the same data directory and runs, at once:
ingest (runs/log-batch), artifact uploads (some of them of content equal to a
blob an acknowledged delete left unreferenced, for gc to find), artifact
deletes, inference on the champion (a small XGBoost model), alias moves of
the champion between versions 1 and 2, and `gc` with grace 0 (POST
/api/mw/gc).  After a random 0.5-2.5 s the server is killed with SIGKILL.
Before the kill every answer must be 200 (a connection error from the kill
is expected).  With the server down, the database passes PRAGMA
integrity_check and `mw fsck` on the data directory is clean; then, after
the restart, every write acknowledged in every round so far is there:

- metric values (by run, key and step);
- artifact bytes, by digest (GET returns the acknowledged bytes; the ETag is
  their SHA-256), and acknowledged deletes stay deleted (unless uploaded
  again later);
- the champion points at the last acknowledged target, or at the target of
  the one move in flight at the kill;
- inference answers 200 from that version.

Rounds: MW_CHAOS_ROUNDS (default 6; `make soak` runs more).  Every loop is
bounded by a count and a time limit.
"""

import hashlib
import os
import random
import sqlite3
import subprocess
import threading
import time

import requests

from conftest import assert_ok, mw_bin, store_env
from test_serving import q, rows_for, train_reg, v2_body, xgb_files

ART = "/api/2.0/mlflow-artifacts/artifacts"
API = "/api/2.0/mlflow/"
ROUNDS = int(os.environ.get("MW_CHAOS_ROUNDS", "6"))
MODEL = "chaos"
MAX_OPS = 100_000  # per worker and round


def sha(b):
    return hashlib.sha256(b).hexdigest()


class Worker(threading.Thread):
    """One kind of load; records what was acknowledged and any non-200
    answer before the kill."""

    def __init__(self, url, fn):
        super().__init__(daemon=True)
        self.url = url
        self.fn = fn
        self.stop = threading.Event()
        self.errors = []
        self.ops = 0

    def run(self):
        s = requests.Session()
        try:
            for i in range(MAX_OPS):
                if self.stop.is_set():
                    break
                self.fn(s, i, self)
                self.ops += 1
        except requests.RequestException:
            pass  # the kill
        finally:
            s.close()

    def check(self, what, r):
        if r.status_code != 200:
            self.errors.append(f"{what}: {r.status_code} {r.text[:200]}")
            return False
        return True


class State:
    """Everything acknowledged, across rounds."""

    def __init__(self, run):
        self.run = run
        self.metrics = {}   # (key, step) -> value
        self.files = {}     # path -> bytes (acknowledged, latest)
        self.deleted = set()  # paths whose last acknowledged write was a delete
        self.alias = "1"
        self.alias_in_flight = None
        self.deletes_in_flight = set()  # a delete the kill cut short may have happened
        self.round = 0
        self.lock = threading.Lock()
        self.infer_ok = 0


def make_workers(url, st):
    rnd = st.round
    gone_pool = []  # contents whose only path was deleted in this round

    def ingest(s, i, w):
        key = f"r{rnd}"
        ms = [{"key": key, "value": float(i * 10 + j), "timestamp": 1_000 + i, "step": i * 10 + j}
              for j in range(10)]
        r = s.post(url + API + "runs/log-batch", json={"run_id": st.run, "metrics": ms},
                   timeout=10)
        if w.check("log-batch", r):
            with st.lock:
                for m in ms:
                    st.metrics[(key, m["step"])] = m["value"]

    def upload(s, i, w):
        path = f"0/{st.run}/artifacts/r{rnd}/{w.name}-{i}.bin"
        if gone_pool and i % 3 == 0:
            data = gone_pool.pop()  # equal to a blob nothing references: gc's candidate
        else:
            data = os.urandom(random.randint(1, 256) * 1024)
        r = s.put(f"{url}{ART}/{path}", data=data, timeout=30)
        if w.check(f"PUT {path}", r):
            with st.lock:
                st.files[path] = data
                st.deleted.discard(path)
        if i % 4 == 3:  # delete one of this round's files
            with st.lock:
                mine = [p for p in st.files
                        if p.startswith(f"0/{st.run}/artifacts/r{rnd}/{w.name}-")]
            if mine:
                victim = random.choice(mine)
                data = st.files[victim]
                with st.lock:
                    st.deletes_in_flight.add(victim)
                r = s.delete(f"{url}{ART}/{victim}", timeout=30)
                if w.check(f"DELETE {victim}", r):
                    with st.lock:
                        st.files.pop(victim, None)
                        st.deleted.add(victim)
                    gone_pool.append(data)
                with st.lock:
                    st.deletes_in_flight.discard(victim)

    body = v2_body(rows_for(6, 4, seed=3))

    def infer(s, i, w):
        r = s.post(f"{url}/v2/models/{q(MODEL)}/infer", json=body, timeout=30)
        if w.check("infer", r):
            with st.lock:
                st.infer_ok += 1

    def alias(s, i, w):
        target = "2" if st.alias == "1" else "1"
        st.alias_in_flight = target
        r = s.post(url + API + "registered-models/alias",
                   json={"name": MODEL, "alias": "champion", "version": target}, timeout=10)
        if w.check("alias", r):
            st.alias = target
        st.alias_in_flight = None
        time.sleep(0.02)

    def gc(s, i, w):
        r = s.post(url + "/api/mw/gc", json={"grace_seconds": 0}, timeout=60)
        w.check("gc", r)
        time.sleep(0.05)

    return [Worker(url, f) for f in (ingest, ingest, upload, upload, infer, alias, gc)]


def integrity(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("PRAGMA integrity_check").fetchall()
    finally:
        db.close()


def fsck_cli(d):
    env = dict(os.environ, **store_env(d))
    env.pop("MW_URI", None)
    p = subprocess.run([mw_bin(), "fsck", "--data-dir", str(d)], capture_output=True, text=True,
                       timeout=120, env=env, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"mw fsck: {p.stdout}{p.stderr}"


def verify(srv, st):
    s = srv.session
    hist = {}
    keys = {k for k, _ in st.metrics}
    for k in keys:
        for m in srv.history(st.run, k):
            hist[(k, m["step"])] = m["value"]
    lost = {k: v for k, v in st.metrics.items() if hist.get(k) != v}
    assert not lost, f"{len(lost)} acknowledged metric points lost, e.g. {list(lost)[:3]}"
    for path, data in list(st.files.items()):
        r = s.get(f"{srv.url}{ART}/{path}", timeout=60)
        if r.status_code == 404 and path in st.deletes_in_flight:
            del st.files[path]  # the delete the kill cut short had happened
            st.deleted.add(path)
            continue
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
        assert r.headers["ETag"].strip('"') == sha(data), path
        assert r.content == data, path
    for path in st.deleted:
        r = s.get(f"{srv.url}{ART}/{path}", timeout=30)
        assert r.status_code == 404, (path, r.status_code)
    mv = assert_ok(srv.get("registered-models/alias", {"name": MODEL, "alias": "champion"}))
    got = mv["model_version"]["version"]
    assert got in {st.alias, st.alias_in_flight}, (got, st.alias, st.alias_in_flight)
    st.alias = got
    st.deletes_in_flight.clear()
    r = s.post(f"{srv.url}/v2/models/{q(MODEL)}/infer", json=v2_body(rows_for(6, 2, seed=4)),
               timeout=30)
    assert r.status_code == 200, r.text[:300]
    assert r.json()["model_version"] == got
    rep = assert_ok(srv.post("/api/mw/fsck", {}))
    assert rep["ok"] is True, rep


def test_kill9_loop_under_mixed_load(mw_factory, tmp_path):
    d = tmp_path / "chaos"
    srv = mw_factory(data_dir=d)
    run = srv.create_run("0")["info"]["run_id"]
    assert_ok(srv.post("registered-models/create", {"name": MODEL}))
    for seed in (1, 2):
        r2 = srv.create_run("0")["info"]["run_id"]
        for p, data in xgb_files(train_reg(seed=seed, rows=200, trees=5)).items():
            assert_ok(srv.session.put(f"{srv.url}{ART}/0/{r2}/artifacts/model/{p}", data=data,
                                      timeout=30))
        assert_ok(srv.post("model-versions/create",
                           {"name": MODEL, "source": f"runs:/{r2}/model"}))
    assert_ok(srv.post("registered-models/alias",
                       {"name": MODEL, "alias": "champion", "version": "1"}))
    st = State(run)
    rng = random.Random(11)
    totals = {"ops": 0, "acked_files": 0, "infer_ok": 0}
    for rnd in range(ROUNDS):
        st.round = rnd
        workers = make_workers(srv.url, st)
        for w in workers:
            w.start()
        time.sleep(rng.uniform(0.5, 2.5))
        srv.kill9()
        for w in workers:
            w.stop.set()
        for w in workers:
            w.join(60)
            assert not w.is_alive()
        errors = [e for w in workers for e in w.errors]
        assert not errors, f"round {rnd}: non-200 answers before the kill: {errors[:5]}"
        totals["ops"] += sum(w.ops for w in workers)
        if srv.store_uri is None:
            assert integrity(d / "mw.db") == [("ok",)], f"round {rnd}"
        fsck_cli(d)
        srv = mw_factory(data_dir=d)
        verify(srv, st)
    totals["acked_files"] = len(st.files)
    totals["infer_ok"] = st.infer_ok
    print(f"chaos: {ROUNDS} kill -9 rounds, {totals['ops']} requests, "
          f"{len(st.metrics)} metric points, {len(st.files)} files, "
          f"{len(st.deleted)} deletes, {st.infer_ok} inferences acknowledged")
    assert len(st.metrics) > 0 and len(st.files) > 0 and st.infer_ok > 0

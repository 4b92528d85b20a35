"""kill -9 in the middle of concurrent artifact uploads, restart on the same
data dir: every upload that was answered 200 downloads with the right bytes,
fsck is clean, no partial blob is visible, and an upload that was never
answered is either complete or absent, never truncated (issue 3, Tests)."""

import hashlib
import os
import random
import re
import threading
import time
from pathlib import Path

import requests

from conftest import assert_ok

ART = "/api/2.0/mlflow-artifacts/artifacts"
MIB = 1 << 20
N_CLIENTS = 4
MAX_FILES = 200           # per client: bounded loops
RUN_AT_LEAST = 1.5        # seconds of uploads before the kill
RUN_AT_MOST = 5.0
DIGEST = re.compile(r"^[0-9a-f]{64}$")


class Uploader(threading.Thread):
    def __init__(self, base_url, idx, seed):
        super().__init__(daemon=True)
        self.base = f"{base_url}{ART}/0/crash/artifacts/c{idx}"
        self.idx = idx
        self.rng = random.Random(seed)
        self.attempted = {}    # path -> (sha256, size), recorded before the PUT
        self.acked = {}        # path -> (sha256, size), answered 200
        self.errors = []
        self.in_flight = threading.Event()
        self.stop = threading.Event()

    def run(self):
        s = requests.Session()
        try:
            for i in range(MAX_FILES):
                if self.stop.is_set():
                    break
                size = self.rng.randint(1 * MIB, 4 * MIB)
                data = os.urandom(size)
                rel = f"c{self.idx}/f{i:03d}.bin"
                self.attempted[rel] = (hashlib.sha256(data).hexdigest(), size)
                self.in_flight.set()
                try:
                    r = s.put(f"{self.base}/f{i:03d}.bin", data=data, timeout=30)
                finally:
                    self.in_flight.clear()
                if r.status_code == 200:
                    self.acked[rel] = self.attempted[rel]
                else:
                    self.errors.append((rel, r.status_code, r.text[:200]))
        except requests.RequestException:
            pass  # the server died under us: expected
        finally:
            s.close()


def _blob_files(data_dir):
    root = Path(data_dir) / "blobs" / "sha256"
    return [p for p in root.rglob("*") if p.is_file()]


def _file_sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def test_kill9_during_concurrent_uploads(mw_factory, tmp_path):
    data_dir = tmp_path / "crash-data"
    srv = mw_factory(data_dir=data_dir)
    clients = [Uploader(srv.url, i, seed=1000 + i) for i in range(N_CLIENTS)]
    t0 = time.monotonic()
    for c in clients:
        c.start()

    # let them run, then kill while uploads are in flight
    while time.monotonic() - t0 < RUN_AT_MOST:
        busy = sum(c.in_flight.is_set() for c in clients)
        acked = sum(len(c.acked) for c in clients)
        if time.monotonic() - t0 >= RUN_AT_LEAST and busy >= 2 and acked >= N_CLIENTS:
            break
        time.sleep(0.01)
    busy_at_kill = sum(c.in_flight.is_set() for c in clients)
    srv.kill9()
    for c in clients:
        c.stop.set()
    for c in clients:
        c.join(30)
        assert not c.is_alive()
    for c in clients:
        assert not c.errors, c.errors

    acked = {}
    attempted = {}
    for c in clients:
        acked.update(c.acked)
        attempted.update(c.attempted)
    assert len(acked) >= N_CLIENTS, "too few uploads were acknowledged before the kill"
    assert busy_at_kill >= 1, "the kill did not happen during an upload"
    unacked = {p: v for p, v in attempted.items() if p not in acked}
    assert unacked, "every upload had finished: the kill was not mid-upload"

    # no partial blob is visible, even before the server is back
    for f in _blob_files(data_dir):
        assert DIGEST.match(f.name), f"stray file in the blob store: {f}"
        assert f.parent.name == f.name[:2], f
        assert _file_sha(f) == f.name, f"blob {f.name} does not hash to its name"

    srv2 = mw_factory(data_dir=data_dir)
    sess = srv2.session
    base = f"{srv2.url}{ART}/0/crash/artifacts"

    # every acknowledged file, byte for byte
    for rel, (digest, size) in sorted(acked.items()):
        r = sess.get(f"{base}/{rel}", timeout=60)
        assert r.status_code == 200, (rel, r.status_code, r.text[:200])
        assert len(r.content) == size, rel
        assert hashlib.sha256(r.content).hexdigest() == digest, rel
        assert r.headers["ETag"] == f'"{digest}"'

    # unacknowledged: complete or absent, never truncated
    present = 0
    for rel, (digest, size) in sorted(unacked.items()):
        r = sess.get(f"{base}/{rel}", timeout=60)
        if r.status_code == 404:
            assert r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
            continue
        assert r.status_code == 200, (rel, r.status_code, r.text[:200])
        assert len(r.content) == size, f"{rel}: truncated to {len(r.content)} of {size}"
        assert hashlib.sha256(r.content).hexdigest() == digest, rel
        present += 1

    # the listings show only what was attempted, with the right sizes
    for c in clients:
        lst = assert_ok(sess.get(srv2.url + ART, params={"path": f"0/crash/artifacts/c{c.idx}"},
                                 timeout=30))
        for f in lst.get("files", []):
            rel = f"c{c.idx}/{f['path']}"
            assert rel in attempted, rel
            assert f["is_dir"] is False
            assert f["file_size"] == attempted[rel][1], rel
        listed = {f"c{c.idx}/{f['path']}" for f in lst.get("files", [])}
        assert set(c.acked) <= listed

    rep = assert_ok(srv2.post("/api/mw/fsck", {}))
    assert rep["corrupt"] == [] and rep["missing"] == [] and rep["size_mismatch"] == [], rep
    assert rep["ok"] is True

    for f in _blob_files(data_dir):
        assert DIGEST.match(f.name) and _file_sha(f) == f.name, f

    # leftovers of the killed uploads go with gc; the acknowledged files stay
    gc = assert_ok(srv2.post("/api/mw/gc", {"grace_seconds": 0}))
    assert gc["dry_run"] is False
    assert not [p for p in (data_dir / "tmp").iterdir()], "temporary files survived gc"
    for rel, (digest, size) in sorted(acked.items()):
        r = sess.get(f"{base}/{rel}", headers={"Range": "bytes=-1"}, timeout=30)
        assert r.status_code == 206, rel
    rep = assert_ok(srv2.post("/api/mw/fsck", {}))
    assert rep["ok"] is True, rep
    # still writable after the crash
    r = sess.put(f"{base}/after.bin", data=b"after the crash", timeout=30)
    assert assert_ok(r) == {}

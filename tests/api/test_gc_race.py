"""Garbage collection next to uploads, and repair of a corrupt blob (issue 9).

An adversarial probe found that `gc` could remove the bytes of an upload it
had just acknowledged: the upload reused an old, unreferenced blob with the
same content, and a gc whose mark phase started before the upload's manifest
entry was committed swept it (PUT 200, then GET 500 "bytes ... are
missing"); that `gc` with grace 0 removed the temporary file of an upload in
progress (500 on rename); and that re-uploading the right bytes over a blob
corrupted on disk answered 200 while GET kept the corrupt bytes.

Every loop here is bounded by a count and a time limit.  The race runs
against the server's gc and against `mw gc` in its local mode (another
process on the same data directory).
"""

import hashlib
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import assert_ok, mw_bin, store_env

ART = "/api/2.0/mlflow-artifacts/artifacts"


def sha(b):
    return hashlib.sha256(b).hexdigest()


def put(srv, path, data):
    return srv.session.put(f"{srv.url}{ART}/{path}", data=data, timeout=60)


def get(srv, path):
    return srv.session.get(f"{srv.url}{ART}/{path}", timeout=60)


def blob_file(srv, digest):
    return Path(srv.data_dir) / "blobs" / "sha256" / digest[:2] / digest


def gc(srv, **body):
    return assert_ok(srv.post("/api/mw/gc", body))


def fsck(srv):
    return assert_ok(srv.post("/api/mw/fsck", {}))


def _age(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))


def gc_local(srv):
    """`mw gc` in its local mode: another process on the server's data
    directory (it meets the server's uploads through file locks and SQLite)."""
    env = dict(os.environ, **store_env(srv.data_dir))
    env.pop("MW_URI", None)
    p = subprocess.run([mw_bin(), "gc", "--data-dir", srv.data_dir, "--grace", "3600", "--json"],
                       capture_output=True, text=True, timeout=60, env=env,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout + p.stderr


@pytest.mark.parametrize("how", ["api", "cli-local"])
def test_gc_never_removes_an_acknowledged_upload(mw_factory, how):
    """Each round plants an old blob nothing references (gc's candidate),
    starts a gc (POST /api/mw/gc, or `mw gc` on the data directory from
    another process) and, while its sweep walks the blob directory, uploads
    the same bytes: the upload reuses the blob and references it after gc's
    mark.  The bytes of every acknowledged upload must survive."""
    srv = mw_factory()
    # young unreferenced files every sweep walks past (and keeps): they give
    # the sweep time, so the upload lands between gc's mark and its decision
    for _ in range(3000):
        f = blob_file(srv, os.urandom(32).hex())
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"j")

    import requests
    gcs = requests.Session()
    acknowledged, errors = [], []
    deadline = time.monotonic() + 20
    for i in range(40):
        if time.monotonic() > deadline:
            break
        c = os.urandom(4096)
        f = blob_file(srv, sha(c))
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(c)
        f.chmod(0o444)
        _age(f, 7200)
        res = {}
        if how == "api":
            t = threading.Thread(target=lambda: res.update(
                r=gcs.post(srv.url + "/api/mw/gc", json={"grace_seconds": 3600}, timeout=30)))
        else:
            t = threading.Thread(target=lambda: res.update(cli=gc_local(srv)))
        t.start()
        time.sleep(0.002 if how == "api" else 0.01)
        p = f"0/new/artifacts/x{i}.bin"
        r = put(srv, p, c)
        t.join(timeout=60)
        if how == "api" and res["r"].status_code != 200:
            errors.append(res["r"].text)
        if how != "api" and res["cli"][0] != 0:
            errors.append(f"mw gc: {res['cli'][1][:300]}")
        if r.status_code == 200:
            acknowledged.append((p, c))
        else:
            errors.append(f"PUT {p}: {r.status_code} {r.text}")
    assert not errors, errors[:3]
    assert len(acknowledged) >= 10
    lost = [p for p, _ in acknowledged if get(srv, p).status_code != 200]
    assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged uploads lost"
    for p, c in acknowledged:
        assert get(srv, p).content == c, p
    # a last gc with grace 0 removes the junk and keeps every referenced blob
    gc(srv, grace_seconds=0)
    for _, c in acknowledged:
        assert blob_file(srv, sha(c)).exists()
    assert fsck(srv)["ok"] is True


def test_gc_spares_an_upload_in_progress(mw_factory):
    srv = mw_factory()
    chunk = os.urandom(32 * 1024)
    sent = threading.Event()

    def slow_body():
        for i in range(12):
            yield chunk
            if i == 2:
                sent.set()
            time.sleep(0.1)

    result = {}

    def upload():
        result["r"] = srv.session.put(f"{srv.url}{ART}/0/slow/artifacts/big.bin",
                                      data=slow_body(), timeout=60)

    t = threading.Thread(target=upload)
    t.start()
    assert sent.wait(10)
    removed_tmp = 0
    for _ in range(5):
        removed_tmp += gc(srv, grace_seconds=0)["removed_tmp"]
        time.sleep(0.1)
    t.join(timeout=60)
    r = result["r"]
    assert r.status_code == 200, r.text
    assert removed_tmp == 0
    assert get(srv, "0/slow/artifacts/big.bin").content == chunk * 12
    assert fsck(srv)["ok"] is True


def test_reupload_repairs_a_corrupt_blob(mw_factory):
    srv = mw_factory()
    data = os.urandom(10_000)
    assert assert_ok(put(srv, "0/r/artifacts/a.bin", data)) == {}
    f = blob_file(srv, sha(data))
    f.chmod(0o644)
    f.write_bytes(os.urandom(len(data)))  # same size: only the content tells
    rep = fsck(srv)
    assert rep["ok"] is False and [c["digest"] for c in rep["corrupt"]] == [sha(data)]

    # the right bytes again, under another path: they replace the corrupt copy
    assert assert_ok(put(srv, "0/r/artifacts/b.bin", data)) == {}
    for p in ("0/r/artifacts/a.bin", "0/r/artifacts/b.bin"):
        r = get(srv, p)
        assert r.status_code == 200
        assert r.content == data
        assert r.headers["ETag"].strip('"') == sha(data)
    assert fsck(srv)["ok"] is True

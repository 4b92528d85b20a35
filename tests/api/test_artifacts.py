"""The artifact proxy (spec mlflow.md §5, wire trace §8 steps 4, 5.5 and 8),
the entity listings, get-artifact, fsck and gc (issue 3, src/api/artifacts.c).

Paths that a client library would rewrite (`..` segments, control characters)
go over a raw socket so the server sees exactly the bytes of the test.  Tests
that look inside the data dir, corrupt it or need an empty store start their
own server (mw_factory); the others share the session server and keep to a
unique prefix.
"""

import hashlib
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import (AJAX, MwServer, assert_error, assert_ok, strict_json,
                      unique)

ART = "/api/2.0/mlflow-artifacts/artifacts"
MPU = "/api/2.0/mlflow-artifacts/mpu"
MIB = 1 << 20


# ------------------------------------------------------------------ helpers

def sha(b):
    return hashlib.sha256(b).hexdigest()


def url(srv, path):
    return f"{srv.url}{ART}/{path}"


def put(srv, path, data, **kw):
    kw.setdefault("timeout", 60)
    return srv.session.put(url(srv, path), data=data, **kw)


def put_ok(srv, path, data):
    r = put(srv, path, data)
    assert assert_ok(r) == {}
    return r


def get(srv, path, **kw):
    kw.setdefault("timeout", 60)
    return srv.session.get(url(srv, path), **kw)


def delete(srv, path):
    return srv.session.delete(url(srv, path), timeout=30)


def listing(srv, path):
    return assert_ok(srv.session.get(srv.url + ART, params={"path": path}, timeout=30))


def names(body):
    return [f["path"] for f in body.get("files", [])]


def blob_dir(srv):
    return Path(srv.data_dir) / "blobs" / "sha256"


def blob_file(srv, digest):
    return blob_dir(srv) / digest[:2] / digest


def blob_files(srv):
    return sorted(p for p in blob_dir(srv).rglob("*") if p.is_file())


def tmp_files(srv):
    d = Path(srv.data_dir) / "tmp"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def fsck(srv):
    return assert_ok(srv.post("/api/mw/fsck", {}))


def gc(srv, **body):
    return assert_ok(srv.post("/api/mw/gc", body))


class RawResponse:
    def __init__(self, status, headers, body):
        self.status_code = status
        self.headers = headers
        self.content = body

    def json(self):
        return json.loads(self.content.decode())


def raw_http(srv, method, target, body=b"", headers=None, timeout=30):
    """One request over a fresh socket, the request target sent byte for byte
    (no client-side normalisation or quoting)."""
    if isinstance(target, str):
        target = target.encode("utf-8")
    h = {"Host": f"127.0.0.1:{srv.port}", "Connection": "close"}
    if method not in ("GET", "HEAD") or body:
        h["Content-Length"] = str(len(body))
    h.update(headers or {})
    head = method.encode() + b" " + target + b" HTTP/1.1\r\n"
    head += b"".join(f"{k}: {v}\r\n".encode() for k, v in h.items()) + b"\r\n"
    with socket.create_connection(("127.0.0.1", srv.port), timeout=timeout) as s:
        s.sendall(head + body)
        chunks = []
        while True:
            d = s.recv(1 << 16)
            if not d:
                break
            chunks.append(d)
    data = b"".join(chunks)
    top, _, rest = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if method == "HEAD":
        rest = b""
    elif "content-length" in hdrs:
        rest = rest[:int(hdrs["content-length"])]
    return RawResponse(status, hdrs, rest)


def assert_raw_error(resp, status, code):
    assert resp.status_code == status, (resp.status_code, resp.content[:300])
    body = resp.json()
    assert body.get("error_code") == code, body
    assert isinstance(body.get("message"), str) and body["message"].strip(), body
    return body


@pytest.fixture
def pfx():
    """A unique top-level directory for one test on the shared server."""
    return unique("art")


# ------------------------------------------------------------------ round trips

def test_empty_file_round_trip(mw, pfx):
    put_ok(mw, f"{pfx}/empty.bin", b"")
    r = get(mw, f"{pfx}/empty.bin")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["ETag"] == f'"{sha(b"")}"'
    assert r.headers["Content-Length"] == "0"
    assert listing(mw, pfx) == {"files": [{"path": "empty.bin", "is_dir": False,
                                           "file_size": 0}]}


def test_all_byte_values_round_trip(mw, pfx):
    data = bytes(range(256)) * 17 + bytes(reversed(range(256)))
    put_ok(mw, f"{pfx}/bytes.bin", data)
    r = get(mw, f"{pfx}/bytes.bin")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["ETag"] == f'"{sha(data)}"'
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Disposition"] == 'attachment; filename="bytes.bin"'
    assert r.headers["Accept-Ranges"] == "bytes"
    assert int(r.headers["Content-Length"]) == len(data)


def test_content_type_is_guessed(mw, pfx):
    put_ok(mw, f"{pfx}/m.json", b'{"a": 1}')
    put_ok(mw, f"{pfx}/notes.txt", b"hello")
    assert get(mw, f"{pfx}/m.json").headers["Content-Type"] == "application/json"
    assert get(mw, f"{pfx}/notes.txt").headers["Content-Type"].startswith("text/plain")


def test_50mib_streamed_round_trip(mw, pfx, tmp_path):
    src = tmp_path / "big.bin"
    h = hashlib.sha256()
    with open(src, "wb") as f:
        for i in range(50):
            block = os.urandom(MIB)
            h.update(block)
            f.write(block)
    digest = h.hexdigest()
    with open(src, "rb") as f:   # streamed from the file, with a Content-Length
        put_ok(mw, f"{pfx}/big.bin", f)
    r = get(mw, f"{pfx}/big.bin", stream=True)
    assert r.status_code == 200
    assert r.headers["ETag"] == f'"{digest}"'
    assert int(r.headers["Content-Length"]) == 50 * MIB
    got = hashlib.sha256()
    n = 0
    with open(src, "rb") as f:
        for chunk in r.iter_content(1 << 18):
            want = f.read(len(chunk))
            assert chunk == want, f"bytes differ in [{n}, {n + len(chunk)})"
            got.update(chunk)
            n += len(chunk)
        assert f.read(1) == b""
    assert n == 50 * MIB
    assert got.hexdigest() == digest
    assert listing(mw, pfx)["files"] == [{"path": "big.bin", "is_dir": False,
                                          "file_size": 50 * MIB}]


def test_chunked_upload(mw, pfx):
    blocks = [os.urandom(64 * 1024 + i) for i in range(40)]
    data = b"".join(blocks)
    r = put(mw, f"{pfx}/chunked.bin", iter(blocks))  # Transfer-Encoding: chunked
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert assert_ok(r) == {}
    g = get(mw, f"{pfx}/chunked.bin")
    assert g.content == data
    assert g.headers["ETag"] == f'"{sha(data)}"'


def test_identical_content_stored_once(mw_factory):
    srv = mw_factory()
    data = os.urandom(300_000)
    put_ok(srv, "0/a/artifacts/one.bin", data)
    put_ok(srv, "0/b/artifacts/deep/two.bin", data)
    files = blob_files(srv)
    assert [p.name for p in files] == [sha(data)], files
    assert files[0].read_bytes() == data
    assert get(srv, "0/a/artifacts/one.bin").content == data
    assert get(srv, "0/b/artifacts/deep/two.bin").content == data
    rep = fsck(srv)
    assert rep["ok"] is True and rep["blobs"] == 1 and rep["bytes"] == len(data)


def test_reput_with_different_content_is_recorded(mw, pfx):
    old, new = os.urandom(1000), os.urandom(2345)
    put_ok(mw, f"{pfx}/model.pkl", old)
    assert listing(mw, pfx)["files"][0]["file_size"] == 1000
    assert get(mw, f"{pfx}/model.pkl").content == old
    put_ok(mw, f"{pfx}/model.pkl", new)
    assert listing(mw, pfx)["files"] == [{"path": "model.pkl", "is_dir": False,
                                          "file_size": 2345}]
    r = get(mw, f"{pfx}/model.pkl")
    assert r.content == new
    assert r.headers["ETag"] == f'"{sha(new)}"'


def test_duplicate_puts_replayed_are_harmless(mw_factory):
    srv = mw_factory()
    data = os.urandom(200_000)
    for _ in range(3):
        put_ok(srv, "0/r/artifacts/model/model.pkl", data)
    errors = []

    def replay():
        try:
            r = put(srv, "0/r/artifacts/model/model.pkl", data)
            if r.status_code != 200:
                errors.append((r.status_code, r.text[:200]))
        except requests.RequestException as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=replay) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert listing(srv, "0/r/artifacts/model") == {
        "files": [{"path": "model.pkl", "is_dir": False, "file_size": len(data)}]}
    assert [p.name for p in blob_files(srv)] == [sha(data)]
    assert get(srv, "0/r/artifacts/model/model.pkl").content == data
    assert fsck(srv)["ok"] is True
    assert tmp_files(srv) == []


# ------------------------------------------------------------------ listings

def test_listing_nested_directories(mw, pfx):
    put_ok(mw, f"{pfx}/a.txt", b"a")
    put_ok(mw, f"{pfx}/d1/b.txt", b"bb")
    put_ok(mw, f"{pfx}/d1/d2/c.txt", b"ccc")
    put_ok(mw, f"{pfx}/d1/d2/d3/e.txt", b"eeee")
    put_ok(mw, f"{pfx}x/sibling.txt", b"not under pfx")
    top = listing(mw, pfx)
    assert top == {"files": [{"path": "a.txt", "is_dir": False, "file_size": 1},
                             {"path": "d1", "is_dir": True}]}
    d1 = listing(mw, f"{pfx}/d1")
    assert sorted(d1["files"], key=lambda f: f["path"]) == [
        {"path": "b.txt", "is_dir": False, "file_size": 2},
        {"path": "d2", "is_dir": True}]
    assert names(listing(mw, f"{pfx}/d1/d2")) == sorted(["c.txt", "d3"])
    assert listing(mw, f"{pfx}/d1/d2/d3")["files"] == [
        {"path": "e.txt", "is_dir": False, "file_size": 4}]
    # a trailing slash is the same directory
    assert listing(mw, f"{pfx}/d1/") == d1
    # the client's other spelling: GET .../artifacts/?path=
    r = mw.session.get(mw.url + ART + "/", params={"path": f"{pfx}/d1"}, timeout=30)
    assert assert_ok(r) == d1
    # the root lists the prefix as a directory
    root = listing(mw, "")
    assert {"path": pfx, "is_dir": True} in root["files"]


def test_listing_of_missing_dir_has_no_files(mw, pfx):
    assert listing(mw, f"{pfx}/nothing/here") == {}
    put_ok(mw, f"{pfx}/file.txt", b"x")
    # a file is not a directory
    assert listing(mw, f"{pfx}/file.txt") == {}
    assert listing(mw, f"{pfx}/fil") == {}


@pytest.mark.parametrize("bad", ["../x", "a/../..", "/etc", "a//b", "a\\b", "%2e%2e/x",
                                 "a\x01b", "x" * 1001])
def test_listing_rejects_bad_paths(mw, bad):
    r = mw.session.get(mw.url + ART, params={"path": bad}, timeout=30)
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


# ------------------------------------------------------------------ entity listings

def test_run_artifacts_list(mw):
    exp = mw.create_experiment(unique("artexp"))
    run = mw.create_run(exp)
    rid = run["info"]["run_id"]
    root_uri = run["info"]["artifact_uri"]
    assert root_uri == f"mlflow-artifacts:/{exp}/{rid}/artifacts"
    base = f"{exp}/{rid}/artifacts"
    out = assert_ok(mw.get("artifacts/list", {"run_id": rid}))
    assert out == {"root_uri": root_uri}  # no files yet
    put_ok(mw, f"{base}/f.txt", b"hello")            # wire trace step 4
    put_ok(mw, f"{base}/model/MLmodel", b"flavors: {}\n")
    put_ok(mw, f"{base}/model/data/weights.bin", os.urandom(4096))
    out = assert_ok(mw.get("artifacts/list", {"run_id": rid}))
    assert out["root_uri"] == root_uri
    assert sorted(out["files"], key=lambda f: f["path"]) == [
        {"path": "f.txt", "is_dir": False, "file_size": 5},
        {"path": "model", "is_dir": True}]
    out = assert_ok(mw.get("artifacts/list", {"run_id": rid, "path": "model"}))
    assert sorted(out["files"], key=lambda f: f["path"]) == [
        {"path": "model/MLmodel", "is_dir": False, "file_size": 12},
        {"path": "model/data", "is_dir": True}]
    out = assert_ok(mw.get("artifacts/list", {"run_id": rid, "path": "model/data"}))
    assert out["files"] == [{"path": "model/data/weights.bin", "is_dir": False,
                             "file_size": 4096}]
    assert assert_ok(mw.get("artifacts/list", {"run_id": rid, "path": "none"})) == {
        "root_uri": root_uri}
    # the older parameter name and the UI's prefix
    assert assert_ok(mw.get("artifacts/list", {"run_uuid": rid, "path": "model/data"})) == out
    assert assert_ok(mw.get("artifacts/list", {"run_id": rid, "path": "model/data"},
                            prefix=AJAX)) == out


def test_run_artifacts_list_errors(mw):
    exp = mw.create_experiment(unique("artexp"))
    rid = mw.create_run(exp)["info"]["run_id"]
    assert_error(mw.get("artifacts/list", {}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(mw.get("artifacts/list", {"run_id": "0" * 32}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    for bad in ("../other", "/abs", "a/../../x", "%2e%2e"):
        assert_error(mw.get("artifacts/list", {"run_id": rid, "path": bad}), 400,
                     "INVALID_PARAMETER_VALUE")


def test_logged_model_artifact_directories(mw):
    exp = mw.create_experiment(unique("artlm"))
    rid = mw.create_run(exp)["info"]["run_id"]
    model = assert_ok(mw.post("logged-models", {"experiment_id": exp, "name": "model",
                                                "source_run_id": rid}))["model"]
    mid = model["info"]["model_id"]
    root_uri = model["info"]["artifact_uri"]
    assert root_uri == f"mlflow-artifacts:/{exp}/models/{mid}/artifacts"
    # wire trace 5.5: GET logged-models/X, then PUT each file under its artifact_uri
    got = assert_ok(mw.get(f"logged-models/{mid}"))["model"]
    assert got["info"]["artifact_uri"] == root_uri
    base = f"{exp}/models/{mid}/artifacts"
    files = {"MLmodel": b"artifact_path: model\n", "model.pkl": os.urandom(5000),
             "conda.yaml": b"name: env\n", "python_env.yaml": b"python: 3.11\n",
             "requirements.txt": b"scikit-learn\n", "extra/notes.md": b"# notes\n"}
    for name, data in files.items():
        put_ok(mw, f"{base}/{name}", data)
    path = f"logged-models/{mid}/artifacts/directories"
    out = assert_ok(mw.get(path))
    assert out["root_uri"] == root_uri
    want = [{"path": n, "is_dir": False, "file_size": len(d)}
            for n, d in files.items() if "/" not in n] + [{"path": "extra", "is_dir": True}]
    assert sorted(out["files"], key=lambda f: f["path"]) == sorted(want,
                                                                 key=lambda f: f["path"])
    sub = assert_ok(mw.get(path, {"artifact_directory_path": "extra"}))
    assert sub["files"] == [{"path": "extra/notes.md", "is_dir": False, "file_size": 8}]
    assert assert_ok(mw.get(path, {"artifact_directory_path": "extra"}, prefix=AJAX)) == sub
    assert assert_ok(mw.get(path, {"artifact_directory_path": "none"})) == {
        "root_uri": root_uri}
    assert_error(mw.get(path, {"artifact_directory_path": "../../x"}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_error(mw.get("logged-models/m-" + "0" * 32 + "/artifacts/directories"), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    # wire trace 8: the client lists the model's directory through the proxy
    # and fetches each file
    lst = listing(mw, base)
    assert sorted(names(lst)) == sorted(["MLmodel", "model.pkl", "conda.yaml",
                                         "python_env.yaml", "requirements.txt", "extra"])
    for name, data in files.items():
        assert get(mw, f"{base}/{name}").content == data


def test_get_artifact(mw):
    exp = mw.create_experiment(unique("artget"))
    rid = mw.create_run(exp)["info"]["run_id"]
    data = os.urandom(3000)
    put_ok(mw, f"{exp}/{rid}/artifacts/plots/roc.png", data)
    for prefix in ("/get-artifact", "/ajax-api/2.0/mlflow/get-artifact"):
        r = mw.session.get(mw.url + prefix, params={"run_uuid": rid,
                                                    "path": "plots/roc.png"}, timeout=30)
        assert r.status_code == 200
        assert r.content == data
        assert r.headers["ETag"] == f'"{sha(data)}"'
        assert r.headers["Content-Type"] == "image/png"
    r = mw.session.get(mw.url + "/get-artifact", params={"run_id": rid, "path": "plots/roc.png"},
                       timeout=30)
    assert r.content == data
    g = lambda **p: mw.session.get(mw.url + "/get-artifact", params=p, timeout=30)  # noqa: E731
    assert_error(g(run_uuid=rid), 400, "INVALID_PARAMETER_VALUE")
    assert_error(g(path="plots/roc.png"), 400, "INVALID_PARAMETER_VALUE")
    assert_error(g(run_uuid=rid, path="plots/none.png"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(g(run_uuid="0" * 32, path="plots/roc.png"), 404, "RESOURCE_DOES_NOT_EXIST")
    for bad in ("../../x", "/etc/passwd", "plots/../../../x", "a\\b", "%2e%2e/x"):
        assert_error(g(run_uuid=rid, path=bad), 400, "INVALID_PARAMETER_VALUE")


# ------------------------------------------------------------------ ranges, HEAD, ETag

@pytest.fixture
def ranged(mw, pfx):
    data = os.urandom(10_000)
    put_ok(mw, f"{pfx}/r.bin", data)
    return f"{pfx}/r.bin", data


def _range(mw, path, spec):
    return get(mw, path, headers={"Range": spec})


@pytest.mark.parametrize("spec,lo,hi", [
    ("bytes=0-9", 0, 9),              # first bytes
    ("bytes=0-0", 0, 0),
    ("bytes=100-199", 100, 199),      # middle
    ("bytes=-10", 9990, 9999),        # suffix
    ("bytes=-20000", 0, 9999),        # suffix longer than the file
    ("bytes=9000-", 9000, 9999),      # open-ended
    ("bytes=9999-", 9999, 9999),
    ("bytes=9990-20000", 9990, 9999),  # end past the file is clamped
])
def test_range(mw, ranged, spec, lo, hi):
    path, data = ranged
    r = _range(mw, path, spec)
    assert r.status_code == 206, r.text[:200]
    assert r.content == data[lo:hi + 1]
    assert r.headers["Content-Range"] == f"bytes {lo}-{hi}/{len(data)}"
    assert int(r.headers["Content-Length"]) == hi - lo + 1
    assert r.headers["ETag"] == f'"{sha(data)}"'


@pytest.mark.parametrize("spec", ["bytes=10000-", "bytes=20000-30000", "bytes=500-400",
                                  "bytes=-0", "bytes=abc", "bytes=-"])
def test_range_unsatisfiable(mw, ranged, spec):
    path, data = ranged
    r = _range(mw, path, spec)
    assert_error(r, 416, "INVALID_PARAMETER_VALUE")
    assert r.headers["Content-Range"] == f"bytes */{len(data)}"


def test_range_on_empty_file_is_unsatisfiable(mw, pfx):
    put_ok(mw, f"{pfx}/e", b"")
    assert _range(mw, f"{pfx}/e", "bytes=0-").status_code == 416
    assert _range(mw, f"{pfx}/e", "bytes=-5").status_code == 416


def test_range_other_units_are_ignored(mw, ranged):
    path, data = ranged
    r = _range(mw, path, "items=0-5")
    assert r.status_code == 200 and r.content == data


def test_head(mw, ranged):
    path, data = ranged
    r = mw.session.head(url(mw, path), timeout=30)
    assert r.status_code == 200
    assert r.content == b""
    assert int(r.headers["Content-Length"]) == len(data)
    assert r.headers["ETag"] == f'"{sha(data)}"'
    raw = raw_http(mw, "HEAD", f"{ART}/{path}")
    assert raw.status_code == 200 and raw.content == b""
    assert raw.headers["etag"] == f'"{sha(data)}"'
    r = mw.session.head(url(mw, path + ".missing"), timeout=30)
    assert r.status_code == 404


def test_if_none_match(mw, ranged):
    path, data = ranged
    etag = f'"{sha(data)}"'
    r = get(mw, path, headers={"If-None-Match": etag})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["ETag"] == etag
    assert get(mw, path, headers={"If-None-Match": "*"}).status_code == 304
    r = get(mw, path, headers={"If-None-Match": '"' + "0" * 64 + '"'})
    assert r.status_code == 200 and r.content == data


def test_get_missing_and_directory(mw, pfx):
    assert_error(get(mw, f"{pfx}/missing.bin"), 404, "RESOURCE_DOES_NOT_EXIST")
    put_ok(mw, f"{pfx}/dir/file", b"x")
    assert_error(get(mw, f"{pfx}/dir"), 404, "RESOURCE_DOES_NOT_EXIST")


# ------------------------------------------------------------------ multipart

@pytest.mark.parametrize("op", ["create", "complete", "abort"])
def test_multipart_not_implemented(mw, pfx, op):
    r = mw.session.post(f"{mw.url}{MPU}/{op}/{pfx}/big.bin",
                        json={"path": "big.bin", "num_parts": 3, "upload_id": "u"}, timeout=30)
    body = assert_error(r, 501, "NOT_IMPLEMENTED")
    assert body["message"].startswith(
        "Multipart upload is not supported for the current artifact repository")


# ------------------------------------------------------------------ bad paths

@pytest.fixture(scope="module")
def jail(tmp_path_factory):
    """A server of its own whose data dir sits two levels inside a scratch
    directory, so that anything written outside the data dir can be found."""
    top = tmp_path_factory.mktemp("jail")
    srv = MwServer(top / "outer" / "data", log_dir=top / "logs")
    srv.start()
    yield srv, top
    srv.stop()


def _escapes(top, marker):
    data = (top / "outer" / "data").resolve()
    found = []
    for p in Path(top).rglob("*"):
        if marker in p.name and data not in p.resolve().parents:
            found.append(p)
    for p in (Path("/tmp") / marker, Path("/") / marker):
        if p.exists():
            found.append(p)
    return found


# (request target after ".../artifacts/", with {m} the unique marker)
TRAVERSALS = [
    ("dotdot", "../{m}"),
    ("dotdot-deep", "../../../../../../tmp/{m}"),
    ("dotdot-inside", "sub/../../{m}"),
    ("dotdot-only", ".."),
    ("dot", "./{m}"),
    ("dot-inner", "sub/./{m}"),
    ("pct-dotdot", "%2e%2e/{m}"),
    ("pct-dotdot-upper", "%2E%2E/%2E%2E/{m}"),
    ("pct-dotdot-slash", "%2e%2e%2f%2e%2e%2f{m}"),
    ("double-pct-dotdot", "%252e%252e/{m}"),
    ("double-pct-slash", "%252e%252e%252f{m}"),
    ("pct-slash-dotdot", "..%2f..%2f{m}"),
    ("pct-slash-absolute", "%2ftmp%2f{m}"),
    ("pct-slash-inside", "sub%2f..%2f..%2f{m}"),
    ("backslash", "..\\..\\{m}"),
    ("backslash-inner", "sub\\{m}"),
    ("pct-backslash", "..%5c..%5c{m}"),
    ("double-pct-backslash", "..%255c{m}"),
    ("absolute", "/tmp/{m}"),
    ("absolute-etc", "/etc/passwd"),
    ("empty-segment", "sub//{m}"),
    ("nul", "{m}%00.txt"),
    ("nul-dotdot", "..%00/{m}"),
    ("double-pct-nul", "{m}%2500.txt"),
    ("ctrl-raw", "{m}\x01x"),
    ("ctrl-tab", "{m}\tx"),
    ("ctrl-pct-newline", "{m}%0ax"),
    ("ctrl-pct-cr", "{m}%0d%0aSet-Cookie:x"),
    ("ctrl-pct-esc", "{m}%1b[31m"),
    ("del", "{m}%7f"),
    ("overlong", "{m}" + "a" * 1001),
    ("overlong-nested", "{m}/" + "d/" * 520 + "f"),
    ("invalid-utf8", "{m}%ff%fe"),
]


@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
@pytest.mark.parametrize("case,target", TRAVERSALS, ids=[c for c, _ in TRAVERSALS])
def test_bad_paths_are_rejected(jail, method, case, target):
    srv, top = jail
    marker = unique("escaped")
    path = target.format(m=marker)
    body = b"secret " + marker.encode() if method == "PUT" else b""
    blobs_before = blob_files(srv)
    r = raw_http(srv, method, f"{ART}/{path}", body=body)
    assert_raw_error(r, 400, "INVALID_PARAMETER_VALUE")
    # nothing stored under any name, nothing written outside the data dir
    assert _escapes(top, marker) == []
    root = listing(srv, "")
    assert not any(marker in f["path"] for f in root.get("files", [])), root
    assert blob_files(srv) == blobs_before


def test_bad_path_does_not_reach_an_existing_file(jail):
    srv, _top = jail
    d = unique("sec")
    put_ok(srv, f"{d}/secret.txt", b"s3cret")
    try:
        for t in (f"pub/../{d}/secret.txt", f"pub/%2e%2e/{d}/secret.txt",
                  f"{d}/./secret.txt", f"{d}//secret.txt", f"{d}/secret.txt/."):
            r = raw_http(srv, "GET", f"{ART}/{t}")
            assert_raw_error(r, 400, "INVALID_PARAMETER_VALUE")
            assert b"s3cret" not in r.content
            r = raw_http(srv, "DELETE", f"{ART}/{t}")
            assert_raw_error(r, 400, "INVALID_PARAMETER_VALUE")
        assert get(srv, f"{d}/secret.txt").content == b"s3cret"
    finally:
        assert assert_ok(delete(srv, d)) == {}
        gc(srv, grace_seconds=0)


def test_empty_path_is_rejected(mw):
    assert_raw_error(raw_http(mw, "PUT", ART + "/", body=b"x"), 400, "INVALID_PARAMETER_VALUE")
    assert_raw_error(raw_http(mw, "DELETE", ART + "/"), 400, "INVALID_PARAMETER_VALUE")


def test_path_limit_is_1000_bytes(mw, pfx):
    ok = pfx + "/" + "a" * (1000 - len(pfx) - 1)
    assert len(ok) == 1000
    put_ok(mw, ok, b"long")
    assert get(mw, ok).content == b"long"
    assert_error(put(mw, ok + "b", b"longer"), 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("root", ["_registry", "_sources"])
def test_reserved_roots_are_read_only(mw, root):
    for p in (f"{root}/m/1/model.pkl", f"{root}/x", root):
        assert_error(put(mw, p, b"forged"), 400, "INVALID_PARAMETER_VALUE")
        assert_error(delete(mw, p), 400, "INVALID_PARAMETER_VALUE")
    assert_error(get(mw, f"{root}/m/1/model.pkl"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert "files" not in listing(mw, f"{root}/m/1")
    # a name that only starts like a reserved root is an ordinary path
    p = f"{root}x-{unique()}/f"
    put_ok(mw, p, b"fine")
    assert assert_ok(delete(mw, p)) == {}


# ------------------------------------------------------------------ delete

def test_delete_file_and_directory(mw, pfx):
    put_ok(mw, f"{pfx}/d/a.txt", b"a")
    put_ok(mw, f"{pfx}/d/sub/b.txt", b"b")
    put_ok(mw, f"{pfx}/d/sub/deeper/c.txt", b"c")
    put_ok(mw, f"{pfx}/d2/keep.txt", b"keep")        # shares the prefix "d"
    put_ok(mw, f"{pfx}/d.txt", b"keep too")
    put_ok(mw, f"{pfx}/single.txt", b"s")
    assert assert_ok(delete(mw, f"{pfx}/single.txt")) == {}
    assert_error(get(mw, f"{pfx}/single.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert assert_ok(delete(mw, f"{pfx}/d")) == {}
    for p in ("d/a.txt", "d/sub/b.txt", "d/sub/deeper/c.txt"):
        assert_error(get(mw, f"{pfx}/{p}"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert listing(mw, f"{pfx}/d") == {}
    assert listing(mw, f"{pfx}/d/sub") == {}
    assert get(mw, f"{pfx}/d2/keep.txt").content == b"keep"
    assert get(mw, f"{pfx}/d.txt").content == b"keep too"
    assert sorted(names(listing(mw, pfx))) == ["d.txt", "d2"]
    # a trailing slash names the same directory
    assert assert_ok(delete(mw, f"{pfx}/d2/")) == {}
    assert names(listing(mw, pfx)) == ["d.txt"]


def test_delete_missing_is_404(mw, pfx):
    assert_error(delete(mw, f"{pfx}/never.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
    put_ok(mw, f"{pfx}/once.txt", b"1")
    assert assert_ok(delete(mw, f"{pfx}/once.txt")) == {}
    assert_error(delete(mw, f"{pfx}/once.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(delete(mw, f"{pfx}/onc"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_upload_after_delete(mw, pfx):
    data = os.urandom(777)
    put_ok(mw, f"{pfx}/f", data)
    assert assert_ok(delete(mw, f"{pfx}/f")) == {}
    put_ok(mw, f"{pfx}/f", data)
    assert get(mw, f"{pfx}/f").content == data


# ------------------------------------------------------------------ aborted uploads

def _partial_upload(srv, path, declared, sent, half_close, while_open=None):
    """Headers with Content-Length `declared`, `sent` bytes of body, then the
    client goes away (close, or shutdown of its sending side first).
    while_open() runs once the server has started the upload."""
    head = (f"PUT {ART}/{path} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n")
    tmp_before = set(tmp_files(srv))
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    try:
        s.sendall(head.encode())
        chunk = os.urandom(64 * 1024)
        n = 0
        while n < sent:
            k = min(len(chunk), sent - n)
            s.sendall(chunk[:k])
            n += k
        # the upload is in flight: its temporary file exists
        _wait_for(lambda: set(tmp_files(srv)) - tmp_before, "the upload's temporary file")
        if while_open:
            while_open()
        if half_close:
            s.shutdown(socket.SHUT_WR)   # EOF before the declared length
    finally:
        s.close()


def _wait_for(pred, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


@pytest.mark.parametrize("half_close", [False, True], ids=["close", "half-close"])
def test_client_disconnect_mid_upload_leaves_nothing(mw_factory, half_close):
    srv = mw_factory()
    _partial_upload(srv, "0/r/artifacts/model.bin", 10 * MIB, 1 * MIB, half_close)
    time.sleep(0.2)
    assert_error(get(srv, "0/r/artifacts/model.bin"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert listing(srv, "0/r/artifacts") == {}
    assert listing(srv, "") == {}
    assert blob_files(srv) == []
    rep = gc(srv, grace_seconds=0)
    assert rep["removed_blobs"] == 0
    assert tmp_files(srv) == []
    assert blob_files(srv) == []
    rep = fsck(srv)
    assert rep["ok"] is True and rep["blobs"] == 0
    # the server is still fine, and so is the same path
    put_ok(srv, "0/r/artifacts/model.bin", b"complete")
    assert get(srv, "0/r/artifacts/model.bin").content == b"complete"
    assert names(listing(srv, "0/r/artifacts")) == ["model.bin"]


def test_server_drops_an_abandoned_upload_by_itself(mw_factory):
    """Without gc: once the client is gone the server aborts the upload (its
    temporary file goes) instead of holding the connection open."""
    srv = mw_factory()
    for i in range(4):
        _partial_upload(srv, f"0/r/artifacts/m{i}.bin", 10 * MIB, 1 * MIB, i % 2 == 1)
        _wait_for(lambda: tmp_files(srv) == [],
                  f"the server to abort abandoned upload #{i + 1} (its temporary file "
                  f"is still there: the server did not notice the client closing)",
                  timeout=5.0)
    assert listing(srv, "") == {}
    assert blob_files(srv) == []


def test_disconnect_does_not_disturb_other_uploads(mw_factory):
    srv = mw_factory()
    data = os.urandom(3 * MIB)
    result = {}

    def upload():
        result["r"] = put(srv, "0/r/artifacts/good.bin", data)

    t = threading.Thread(target=upload)
    _partial_upload(srv, "0/r/artifacts/bad.bin", 10 * MIB, 2 * MIB, False,
                    while_open=lambda: (t.start(), time.sleep(0.05)))
    t.join(60)
    assert assert_ok(result["r"]) == {}
    assert get(srv, "0/r/artifacts/good.bin").content == data
    assert names(listing(srv, "0/r/artifacts")) == ["good.bin"]
    assert [p.name for p in blob_files(srv)] == [sha(data)]
    gc(srv, grace_seconds=0)
    assert tmp_files(srv) == []
    assert get(srv, "0/r/artifacts/good.bin").content == data
    assert fsck(srv)["ok"] is True


# ------------------------------------------------------------------ full disk

def blob_fault(tmp_path, rule):
    """A data dir and the MW_TEST_FAULT rule `rule` limited to its upload
    files (tmp/), so the store's own files are not affected."""
    d = tmp_path / "data"
    return d, {"MW_TEST_FAULT": f"{rule},under={d}/tmp"}


def test_full_disk(mw_factory, tmp_path):
    d, env = blob_fault(tmp_path, "enospc:1048576")
    srv = mw_factory(data_dir=d, env=env)
    big = os.urandom(2 * MIB)
    r = put(srv, "0/r/artifacts/big.bin", big)
    body = assert_error(r, 500, "INTERNAL_ERROR")
    assert "disk is full" in body["message"].lower(), body
    # nothing visible, nothing half-written
    assert_error(get(srv, "0/r/artifacts/big.bin"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert listing(srv, "0/r/artifacts") == {}
    assert blob_files(srv) == []
    assert tmp_files(srv) == []
    rep = fsck(srv)
    assert rep["ok"] is True and rep["blobs"] == 0
    # an upload that fits still works, and so does a retry of the big one
    small = os.urandom(64 * 1024)
    put_ok(srv, "0/r/artifacts/small.bin", small)
    assert get(srv, "0/r/artifacts/small.bin").content == small
    assert_error(put(srv, "0/r/artifacts/big.bin", big), 500, "INTERNAL_ERROR")
    assert names(listing(srv, "0/r/artifacts")) == ["small.bin"]
    assert fsck(srv)["ok"] is True
    # a failed re-PUT of an existing path keeps the old bytes
    assert_error(put(srv, "0/r/artifacts/small.bin", big), 500, "INTERNAL_ERROR")
    assert get(srv, "0/r/artifacts/small.bin").content == small


def test_io_error(mw_factory, tmp_path):
    d, env = blob_fault(tmp_path, "eio:1000")
    srv = mw_factory(data_dir=d, env=env)
    body = assert_error(put(srv, "0/r/artifacts/f.bin", os.urandom(5000)), 500,
                        "INTERNAL_ERROR")
    assert "disk is full" not in body["message"].lower()
    assert listing(srv, "") == {}
    assert blob_files(srv) == [] and tmp_files(srv) == []
    put_ok(srv, "0/r/artifacts/tiny.bin", b"ok")
    assert fsck(srv)["ok"] is True


# ------------------------------------------------------------------ fsck

def test_fsck_clean(mw_factory):
    srv = mw_factory()
    rep = fsck(srv)
    assert rep == {"blobs": 0, "bytes": 0, "corrupt": [], "missing": [],
                   "size_mismatch": [], "ok": True}
    a, b = os.urandom(1000), os.urandom(2000)
    put_ok(srv, "0/r/artifacts/a", a)
    put_ok(srv, "0/r/artifacts/b", b)
    rep = fsck(srv)
    assert rep["ok"] is True and rep["blobs"] == 2 and rep["bytes"] == 3000


def test_fsck_detects_corrupt_and_missing_blobs(mw_factory):
    srv = mw_factory()
    good, bad, gone, short = (os.urandom(4096) for _ in range(4))
    for name, data in (("good", good), ("bad", bad), ("gone", gone), ("short", short)):
        put_ok(srv, f"0/r/artifacts/{name}", data)
    assert fsck(srv)["ok"] is True

    # flip bytes in place (same size)
    f = blob_file(srv, sha(bad))
    os.chmod(f, 0o644)
    with open(f, "r+b") as fh:
        fh.seek(100)
        fh.write(bytes(x ^ 0xFF for x in bad[100:110]))
    # delete one
    blob_file(srv, sha(gone)).unlink()
    # truncate one
    f2 = blob_file(srv, sha(short))
    os.chmod(f2, 0o644)
    with open(f2, "r+b") as fh:
        fh.truncate(1000)

    rep = fsck(srv)
    assert rep["ok"] is False
    corrupt = {c["digest"] for c in rep["corrupt"]}
    assert sha(bad) in corrupt and sha(short) in corrupt, rep
    assert sha(good) not in corrupt and sha(gone) not in corrupt
    assert all(isinstance(c["reason"], str) and c["reason"] for c in rep["corrupt"])
    assert rep["missing"] == [{"path": "0/r/artifacts/gone", "digest": sha(gone)}], rep
    assert [(m["path"], m["digest"]) for m in rep["size_mismatch"]] == [
        ("0/r/artifacts/short", sha(short))], rep
    assert rep["blobs"] == 3

    # reads: a good file is served, a missing or resized one is an error, not bytes
    assert get(srv, "0/r/artifacts/good").content == good
    assert_error(get(srv, "0/r/artifacts/gone"), 500, "INTERNAL_ERROR")
    assert_error(get(srv, "0/r/artifacts/short"), 500, "INTERNAL_ERROR")

    # gc never removes what is referenced, even when it is corrupt
    rep = gc(srv, grace_seconds=0)
    assert rep["removed_blobs"] == 0
    assert blob_file(srv, sha(bad)).exists() and blob_file(srv, sha(short)).exists()


def test_fsck_reports_a_misnamed_blob(mw_factory):
    srv = mw_factory()
    put_ok(srv, "0/r/artifacts/a", b"a")
    stray = blob_dir(srv) / "ab" / "not-a-digest"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"junk")
    rep = fsck(srv)
    assert rep["ok"] is False
    assert [c["digest"] for c in rep["corrupt"]] == ["not-a-digest"]


# ------------------------------------------------------------------ gc

def _age(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_gc_grace_period(mw_factory):
    srv = mw_factory()
    keep, drop = os.urandom(5000), os.urandom(7000)
    put_ok(srv, "0/r/artifacts/keep.bin", keep)
    put_ok(srv, "0/r/artifacts/drop.bin", drop)
    assert assert_ok(delete(srv, "0/r/artifacts/drop.bin")) == {}
    kf, df = blob_file(srv, sha(keep)), blob_file(srv, sha(drop))
    assert kf.exists() and df.exists()

    # young: kept
    rep = gc(srv, grace_seconds=3600)
    assert rep == {"removed_blobs": 0, "removed_bytes": 0, "kept_young": 1, "removed_tmp": 0,
                   "dry_run": False, "grace_ms": 3_600_000,
                   "kept_in_use": 0}
    assert df.exists()

    # old: a dry run reports it and removes nothing
    _age(df, 7200)
    _age(kf, 7200)
    rep = gc(srv, grace_seconds=3600, dry_run=True)
    assert rep["removed_blobs"] == 1 and rep["removed_bytes"] == 7000
    assert rep["dry_run"] is True
    assert df.exists() and kf.exists()

    # the real run removes the unreferenced blob only
    rep = gc(srv, grace_seconds=3600)
    assert rep["removed_blobs"] == 1 and rep["removed_bytes"] == 7000
    assert rep["kept_young"] == 0 and rep["dry_run"] is False
    assert not df.exists()
    assert kf.exists()
    assert get(srv, "0/r/artifacts/keep.bin").content == keep
    assert fsck(srv)["ok"] is True
    rep = gc(srv, grace_seconds=0)
    assert rep["removed_blobs"] == 0
    assert kf.exists()


def test_gc_default_grace_keeps_recent_blobs(mw_factory):
    srv = mw_factory()
    put_ok(srv, "0/r/artifacts/x", b"x" * 100)
    assert assert_ok(delete(srv, "0/r/artifacts/x")) == {}
    rep = gc(srv)
    assert rep["removed_blobs"] == 0 and rep["kept_young"] == 1
    assert rep["grace_ms"] == 3_600_000
    rep = gc(srv, grace_seconds=0)
    assert rep["removed_blobs"] == 1 and rep["removed_bytes"] == 100
    assert blob_files(srv) == []


def test_gc_replaced_content(mw_factory):
    srv = mw_factory()
    old, new = os.urandom(1111), os.urandom(2222)
    put_ok(srv, "0/r/artifacts/m.pkl", old)
    put_ok(srv, "0/r/artifacts/m.pkl", new)
    for f in blob_files(srv):
        _age(f, 7200)
    gc(srv, grace_seconds=3600)
    # the current bytes are never removed
    assert blob_file(srv, sha(new)).exists()
    assert get(srv, "0/r/artifacts/m.pkl").content == new
    assert fsck(srv)["ok"] is True


def test_gc_temporary_files(mw_factory):
    srv = mw_factory()
    tmpdir = Path(srv.data_dir) / "tmp"
    stale, fresh = tmpdir / "up-stale0000", tmpdir / "up-fresh0000"
    stale.write_bytes(b"left by a crash")
    fresh.write_bytes(b"an upload in flight")
    other = tmpdir / "not-an-upload"
    other.write_bytes(b"x")
    _age(stale, 7200)
    _age(other, 7200)
    rep = gc(srv, grace_seconds=3600, dry_run=True)
    assert stale.exists()
    rep = gc(srv, grace_seconds=3600)
    assert rep["removed_tmp"] == 1
    assert not stale.exists() and fresh.exists() and other.exists()
    rep = gc(srv, grace_seconds=0)
    assert rep["removed_tmp"] == 1 and not fresh.exists()


def test_gc_and_fsck_bad_requests(mw_factory):
    srv = mw_factory()
    assert_error(srv.post("/api/mw/gc", {"grace_seconds": -1}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(srv.post("/api/mw/gc", {"grace_seconds": "soon"}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_error(srv.post("/api/mw/gc", {"dry_run": "yes"}), 400, "INVALID_PARAMETER_VALUE")
    r = srv.session.post(srv.url + "/api/mw/gc", data=b"{not json",
                         headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 400
    assert strict_json(r)["error_code"] in ("INVALID_PARAMETER_VALUE", "MALFORMED_REQUEST",
                                            "BAD_REQUEST")
    r = srv.session.get(srv.url + "/api/mw/fsck", timeout=30)
    assert r.status_code == 405


def test_routes_wrong_method(mw, pfx):
    r = mw.session.post(url(mw, f"{pfx}/x"), data=b"x", timeout=30)
    assert r.status_code == 405
    r = mw.session.get(f"{mw.url}{MPU}/create/{pfx}/x", timeout=30)
    assert r.status_code == 405

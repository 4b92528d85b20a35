"""An artifact path is a file or a directory, never both (issue 9): a PUT of
a/b/c when a/b is a file, or of a/b when files lie below it, is 400
INVALID_PARAMETER_VALUE naming the other path, decided in the store's write
job, so two uploads racing for the two shapes cannot both win."""

import threading

import requests

from conftest import assert_error, assert_ok, unique

ART = "/api/2.0/mlflow-artifacts/artifacts"


def put(srv, path, data=b"x", session=None):
    return (session or srv.session).put(f"{srv.url}{ART}/{path}", data=data, timeout=30)


def listing(srv, path):
    return assert_ok(srv.session.get(srv.url + ART, params={"path": path}, timeout=30))


def test_a_file_is_not_a_directory(mw):
    p = unique("shape")
    assert_ok(put(mw, f"{p}/a/b", b"file"))
    e = assert_error(put(mw, f"{p}/a/b/c"), 400, "INVALID_PARAMETER_VALUE")
    assert f"'{p}/a/b' is a file" in e["message"]
    assert_error(put(mw, f"{p}/a/b/c/d"), 400, "INVALID_PARAMETER_VALUE")
    assert mw.session.get(f"{mw.url}{ART}/{p}/a/b/c", timeout=30).status_code == 404
    assert mw.session.get(f"{mw.url}{ART}/{p}/a/b", timeout=30).content == b"file"
    # and a directory is not a file
    assert_ok(put(mw, f"{p}/x/y/z"))
    e = assert_error(put(mw, f"{p}/x/y"), 400, "INVALID_PARAMETER_VALUE")
    assert f"{p}/x/y/z" in e["message"]
    assert_error(put(mw, f"{p}/x"), 400, "INVALID_PARAMETER_VALUE")
    # names that only share a prefix are fine, and a file can be replaced
    assert_ok(put(mw, f"{p}/x/y.txt"))
    assert_ok(put(mw, f"{p}/a/bc"))
    assert_ok(put(mw, f"{p}/a/b", b"new"))
    assert [(f["path"], f["is_dir"]) for f in listing(mw, f"{p}/a")["files"]] == [
        ("b", False), ("bc", False)]
    # once the file is deleted, the directory may be written
    assert mw.session.delete(f"{mw.url}{ART}/{p}/a/b", timeout=30).status_code == 200
    assert_ok(put(mw, f"{p}/a/b/c"))
    assert listing(mw, f"{p}/a")["files"][0] == {"path": "b", "is_dir": True}


def test_racing_shapes_one_wins(mw):
    """Each round, two clients write p/f and p/f/g at the same moment: exactly
    one of them is acknowledged, and the listing shows one thing named f."""
    for round_ in range(20):
        p = unique(f"race{round_}")
        results = {}
        barrier = threading.Barrier(2)

        def writer(path):
            s = requests.Session()
            barrier.wait()
            results[path] = put(mw, path, session=s).status_code
            s.close()

        threads = [threading.Thread(target=writer, args=(x,)) for x in (f"{p}/f", f"{p}/f/g")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(results.values()) == [200, 400], results
        files = listing(mw, p)["files"]
        assert len(files) == 1 and files[0]["path"] == "f"
        assert files[0]["is_dir"] == (results[f"{p}/f/g"] == 200)

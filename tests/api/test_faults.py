"""Store writes on a full disk, through the fault seam of core/fs.c.

The server starts with MW_TEST_FAULT set to fail every write of a file under
the test's temporary directory (its data directory, and the store of
MW_TEST_STORE_URI when that is a SQLite file there) while a flag file exists (SQLite's files go through the
seam by the VFS shim in store/sqlite_vfs.c).  Creating the flag fills the
disk, removing it frees the disk again, all within one server process.
"""

import sqlite3

from conftest import assert_error, assert_ok, now_ms


def start_with_fault(mw_factory, tmp_path, rule):
    d = tmp_path / "data"
    flag = tmp_path / "disk-full"
    env = {"MW_TEST_FAULT": f"{rule},under={tmp_path},while={flag}"}
    return mw_factory(data_dir=d, env=env), d, flag


def log_metric(srv, run_id, value, step):
    return srv.post("runs/log-metric", {"run_id": run_id, "key": "loss", "value": value,
                                        "timestamp": now_ms(), "step": step})


def values(srv, run_id):
    return [(m["step"], m["value"]) for m in srv.history(run_id, "loss")]


def integrity(srv):
    """PRAGMA integrity_check of the server's SQLite database."""
    uri = srv.store_uri
    assert uri is None or uri.startswith("sqlite:///"), f"not a SQLite store: {uri}"
    # sqlite:///relative.db or sqlite:////absolute.db (SQLAlchemy's convention)
    path = f"{srv.data_dir}/mw.db" if uri is None else uri[len("sqlite:///"):]
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("PRAGMA integrity_check").fetchall()
    finally:
        db.close()


def test_full_disk_during_metric_write(mw_factory, tmp_path):
    srv, d, flag = start_with_fault(mw_factory, tmp_path, "enospc:write#1+")
    exp = srv.create_experiment()
    run = srv.create_run(exp)["info"]["run_id"]
    assert_ok(log_metric(srv, run, 1.0, 1))

    flag.touch()  # the disk is full from here on
    body = assert_error(log_metric(srv, run, 2.0, 2), 500, "INTERNAL_ERROR")
    assert "disk" in body["message"].lower() and "full" in body["message"].lower(), body
    assert_error(srv.post("runs/log-batch", {"run_id": run, "metrics": [
        {"key": "loss", "value": 3.0, "timestamp": now_ms(), "step": 3}]}),
        500, "INTERNAL_ERROR")
    assert_error(srv.post("runs/create", {"experiment_id": exp, "start_time": now_ms()}),
                 500, "INTERNAL_ERROR")
    # the server is up and reads see only what was committed
    assert srv.health() == 200
    assert values(srv, run) == [(1, 1.0)]
    latest = {m["key"]: m["value"] for m in srv.get_run(run)["data"]["metrics"]}
    assert latest == {"loss": 1.0}

    flag.unlink()  # space again: writes work in the same process
    assert_ok(log_metric(srv, run, 4.0, 4))
    assert values(srv, run) == [(1, 1.0), (4, 4.0)]
    run2 = srv.create_run(exp)["info"]["run_id"]
    assert_ok(log_metric(srv, run2, 5.0, 1))

    srv.stop()
    assert integrity(srv) == [("ok",)]
    srv = mw_factory(data_dir=d)
    assert values(srv, run) == [(1, 1.0), (4, 4.0)]
    assert values(srv, run2) == [(1, 5.0)]


def test_fsync_error_during_metric_write(mw_factory, tmp_path):
    srv, d, flag = start_with_fault(mw_factory, tmp_path, "eio:fsync#1")
    exp = srv.create_experiment()
    run = srv.create_run(exp)["info"]["run_id"]
    flag.touch()  # the next fsync of a store file fails, once
    body = assert_error(log_metric(srv, run, 2.0, 2), 500, "INTERNAL_ERROR")
    assert "full" not in body["message"].lower(), body
    assert srv.health() == 200
    assert_ok(log_metric(srv, run, 3.0, 3))
    flag.unlink()
    srv.stop()
    assert integrity(srv) == [("ok",)]
    srv = mw_factory(data_dir=d)
    assert (3, 3.0) in values(srv, run)

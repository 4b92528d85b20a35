"""--store-uri picks the metadata store: SQLite files named the way SQLAlchemy
and MLflow name them (sqlite:///relative.db, sqlite:////absolute.db), the
data directory's mw.db when unset, a clear "not built yet" for PostgreSQL and
a clear error for anything else, never repeating the URI (it may hold a
password)."""

import os
import subprocess

import pytest

from conftest import MwServer, assert_ok, mw_bin, unique


def start_fails(tmp_path, uri):
    """Start `mw server` with uri; it must exit non-zero at once.  stderr."""
    env = dict(os.environ)
    env.pop("MW_URI", None)
    p = subprocess.run([mw_bin(), "server", "--host", "127.0.0.1", "--port", "0",
                        "--data-dir", str(tmp_path / "data"), "--store-uri", uri],
                       capture_output=True, text=True, timeout=30, env=env,
                       stdin=subprocess.DEVNULL)
    assert p.returncode != 0, p.stderr
    assert "s3cret" not in p.stdout + p.stderr
    assert "dbhost" not in p.stdout + p.stderr
    return p.stderr


@pytest.mark.parametrize("uri", ["postgresql://mw:s3cret@dbhost/mw",
                                 "postgres://mw:s3cret@dbhost:5432/mw",
                                 "postgresql+psycopg2://mw:s3cret@dbhost/mw"])
def test_postgresql_is_not_built_yet(tmp_path, uri):
    err = start_fails(tmp_path, uri)
    assert "PostgreSQL backend is not built yet" in err


@pytest.mark.parametrize("uri", ["mysql://mw:s3cret@dbhost/mw", "sqlite://", "sqlite:///",
                                 "sqlite://dbhost/mw.db", "just-a-path.db"])
def test_bad_store_uri(tmp_path, uri):
    err = start_fails(tmp_path, uri)
    assert "store URI" in err


def test_sqlite_uri_absolute_path(tmp_path):
    db = tmp_path / "elsewhere" / "meta.db"
    db.parent.mkdir()
    srv = MwServer(tmp_path / "data", log_dir=tmp_path / "logs")
    srv.store_uri = f"sqlite:///{db}"  # sqlite: + /// + /abs/path: four slashes
    name = unique("exp")
    srv.start()
    try:
        exp = srv.create_experiment(name)
        assert db.exists()
        assert not (tmp_path / "data" / "mw.db").exists()
        srv.restart()
        assert_ok(srv.get("experiments/get-by-name", params={"experiment_name": name}))
        assert srv.get_experiment(exp)["name"] == name
    finally:
        srv.stop()
    # the same data directory without the URI: the default store, without it
    plain = MwServer(tmp_path / "data", log_dir=tmp_path / "logs")
    plain.store_uri = None
    plain.start()
    try:
        r = plain.get("experiments/get-by-name", params={"experiment_name": name})
        assert r.status_code == 404
        assert (tmp_path / "data" / "mw.db").exists()
    finally:
        plain.stop()

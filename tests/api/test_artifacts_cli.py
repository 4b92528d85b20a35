"""`mw artifacts upload` says what it stored (issue 10, item 8): every file's
path, size and SHA-256, and whether it was new, unchanged, or replaced an
older content (kept in the history), through a server and on a data
directory alike."""

import hashlib
import json
import os
import subprocess

import pytest

from conftest import mw_bin, store_env


def cli(*args, env=None):
    e = dict(os.environ)
    e.pop("MW_URI", None)
    e.update(env or {})
    p = subprocess.run([mw_bin(), "artifacts", *args], capture_output=True, text=True,
                       timeout=60, env=e, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p


@pytest.mark.parametrize("kind", ["uri", "data-dir"])
def test_upload_reports_digests_and_replacements(kind, mw_factory, tmp_path):
    data = tmp_path / "data"
    srv = mw_factory(data_dir=data)
    src = tmp_path / "m"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"first")
    (src / "sub" / "b.bin").write_bytes(b"\x00" * 1000)

    def upload(*extra):
        if kind == "uri":
            return cli("upload", str(src), "0/r/artifacts/model", *extra,
                       env={"MW_URI": srv.url})
        if srv.proc is not None and srv.proc.poll() is None:
            srv.stop()
        return cli("upload", str(src), "0/r/artifacts/model", "--data-dir", str(data), *extra,
                   env=store_env(data))

    out = json.loads(upload("--json").stdout)
    by = {f["path"].rsplit("/", 1)[-1]: f for f in out}
    assert by["a.txt"]["sha256"] == hashlib.sha256(b"first").hexdigest()
    assert by["b.bin"]["sha256"] == hashlib.sha256(b"\x00" * 1000).hexdigest()
    assert "replaced" not in by["a.txt"] and "unchanged" not in by["a.txt"]

    (src / "a.txt").write_bytes(b"second")
    p = upload()
    lines = {ln.split()[0].rsplit("/", 1)[-1]: ln for ln in p.stdout.splitlines()[1:-1]}
    old = hashlib.sha256(b"first").hexdigest()
    assert hashlib.sha256(b"second").hexdigest() in lines["a.txt"]
    assert f"replaced {old[:12]}" in lines["a.txt"]
    assert lines["b.bin"].rstrip().endswith("unchanged")
    assert p.stdout.splitlines()[-1] == "uploaded 2 files, 1006 bytes"
    assert p.stderr == ""  # no progress line when stderr is not a terminal

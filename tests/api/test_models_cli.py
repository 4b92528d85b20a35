"""`mw models ...` (issue 3 item 7): every subcommand answers --help, and
list/show/versions/register/alias/promote/rollback/history/lineage/card work
both against a running server (MW_URI) and directly on a stopped server's data
directory (--data-dir), with aligned tables and --json."""

import hashlib
import json
import os
import subprocess

import pytest

from conftest import assert_ok, mw_bin, now_ms, store_env, unique

ART = "/api/2.0/mlflow-artifacts/artifacts"
SUBS = ["list", "show", "versions", "register", "log", "alias", "promote", "rollback", "history",
        "lineage", "card"]


def cli(*args, env_extra=None, check=True, timeout=60, input=None):
    env = dict(os.environ)
    env.pop("MW_URI", None)
    env["MW_USER"] = "cli-tester"
    if env_extra:
        env.update(env_extra)
    p = subprocess.run([mw_bin(), *args], capture_output=True, text=True, timeout=timeout,
                       env=env, input=input, stdin=None if input is not None else subprocess.DEVNULL)
    if check:
        assert p.returncode == 0, (args, p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return p


def table(text):
    """Rows of an aligned table as dicts keyed by header (columns split at header starts)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    header = lines[0]
    names = header.split("  ")
    names = [n.strip() for n in names if n.strip()]
    starts = [header.index(n) for n in names]
    rows = []
    for ln in lines[1:]:
        row = {}
        for i, n in enumerate(names):
            end = starts[i + 1] if i + 1 < len(names) else None
            row[n] = ln[starts[i]:end].strip()
        rows.append(row)
    return rows


def test_models_help():
    p = cli("models", "--help")
    assert p.stdout.startswith("usage: mw models")
    for s in SUBS:
        assert f"mw models {s}" in p.stdout
    for s in SUBS:
        p = cli("models", s, "--help")
        assert p.stdout.startswith(f"usage: mw models {s}"), (s, p.stdout)
        assert "--json" in p.stdout


def test_models_usage_errors():
    assert cli("models", check=False).returncode == 2
    p = cli("models", "frobnicate", check=False)
    assert p.returncode == 2 and "unknown command" in p.stderr
    assert cli("models", "show", check=False).returncode == 2
    assert cli("models", "lineage", "m", check=False).returncode == 2
    assert cli("models", "alias", "m", "a", check=False).returncode == 2
    p = cli("models", "promote", "m", "1", "--alias", "a", "--stage", "Production", check=False)
    assert p.returncode == 2
    p = cli("models", "promote", "m", "1", "--evidence", "not json",
            env_extra={"MW_URI": "http://127.0.0.1:1"}, check=False)
    assert p.returncode == 2 and "evidence" in p.stderr
    p = cli("models", "list", "--bogus", check=False)
    assert p.returncode == 2


FILES = {"MLmodel": b"flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n    model_path: model.pkl\n", "model.pkl": b"\x00\x01\x02weights"}


@pytest.fixture(params=["uri", "data-dir"])
def mode(request, mw_factory, tmp_path):
    data = tmp_path / "cli-data"
    srv = mw_factory(data_dir=data)

    class Mode:
        kind = request.param

        def server(self):
            if srv.proc is None or srv.proc.poll() is not None:
                srv.start()
            return srv

        def seed(self):
            """A model 'fraud' with 3 versions from a run with files, through the API."""
            s = self.server()
            exp = s.create_experiment(unique("cli"))
            run = s.create_run(exp, tags=[{"key": "mlflow.source.git.commit", "value": "c0ffee"}])
            self.run_id = run["info"]["run_id"]
            assert_ok(s.post("runs/log-batch", {"run_id": self.run_id,
                                                "params": [{"key": "depth", "value": "6"}],
                                                "metrics": [{"key": "auc", "value": 0.9,
                                                             "timestamp": now_ms(), "step": 0}]}))
            for p, b in FILES.items():
                r = s.session.put(f"{s.url}{ART}/{exp}/{self.run_id}/artifacts/model/{p}", data=b)
                assert_ok(r)
            assert_ok(s.post("registered-models/create", {"name": "fraud",
                                                          "description": "scores fraud"}))
            for _ in range(3):
                assert_ok(s.post("model-versions/create",
                                 {"name": "fraud", "source": f"runs:/{self.run_id}/model"}))
            assert_ok(s.post("registered-models/create", {"name": "team/churn"}))
            if self.kind == "data-dir":
                srv.stop()

        def run(self, *args, check=True, input=None):
            if self.kind == "uri":
                return cli("models", *args, env_extra={"MW_URI": srv.url}, check=check,
                           input=input)
            if srv.proc is not None and srv.proc.poll() is None:
                srv.stop()
            return cli("models", *args, "--data-dir", str(data), check=check, input=input,
                       env_extra=store_env(data))

    return Mode()


def test_list_show_versions(mode):
    mode.seed()
    rows = table(mode.run("list").stdout)
    assert [r["NAME"] for r in rows] == ["fraud", "team/churn"]
    assert rows[0]["LATEST"] == "3" and rows[0]["ALIASES"] == "-"
    assert rows[1]["LATEST"] == "-"
    assert rows[0]["UPDATED (UTC)"].startswith("20")
    out = json.loads(mode.run("list", "--json").stdout)
    assert [m["name"] for m in out["registered_models"]] == ["fraud", "team/churn"]
    rows = table(mode.run("list", "--filter", "name LIKE 'team/%'").stdout)
    assert [r["NAME"] for r in rows] == ["team/churn"]
    rows = table(mode.run("list", "--order-by", "name DESC", "--max", "1").stdout)
    assert [r["NAME"] for r in rows] == ["team/churn"]

    rows = table(mode.run("versions", "fraud").stdout)
    assert [r["VERSION"] for r in rows] == ["3", "2", "1"]
    assert all(r["STAGE"] == "None" and r["STATUS"] == "READY" for r in rows)
    assert rows[0]["RUN_ID"] == mode.run_id
    assert rows[0]["SOURCE"] == f"runs:/{mode.run_id}/model"
    out = json.loads(mode.run("versions", "fraud", "--json").stdout)
    assert [v["version"] for v in out["model_versions"]] == ["3", "2", "1"]
    assert json.loads(mode.run("versions", "team/churn", "--json").stdout) == {"model_versions": []}

    p = mode.run("show", "fraud")
    assert "scores fraud" in p.stdout and "versions:" in p.stdout
    out = json.loads(mode.run("show", "fraud", "--json").stdout)
    assert out["registered_model"]["name"] == "fraud" and len(out["model_versions"]) == 3
    p = mode.run("show", "fraud", "--version", "2")
    assert "storage_location" in p.stdout and "model card:" in p.stdout and "(none" in p.stdout
    out = json.loads(mode.run("show", "fraud", "--version", "2", "--json").stdout)
    assert out["model_version"]["version"] == "2" and out["model_card"] is None

    for args in (("show", "nope"), ("versions", "nope"), ("show", "fraud", "--version", "9"),
                 ("history", "nope"), ("lineage", "fraud", "9")):
        p = mode.run(*args, check=False)
        assert p.returncode == 1 and "not found" in p.stderr, (args, p.stderr)


def test_alias_promote_rollback_history(mode):
    mode.seed()
    p = mode.run("alias", "fraud", "champion", "1", "--reason", "first", "--evidence",
                 '{"eval": "run-1"}')
    assert "fraud@champion -> version 1" in p.stdout
    mode.run("promote", "fraud", "2", "--reason", "better")  # default alias: champion
    out = json.loads(mode.run("promote", "fraud", "3", "--alias", "champion", "--json").stdout)
    assert out["model_version"]["version"] == "3"
    p = mode.run("promote", "fraud", "3", "--stage", "production", "--reason", "approved")
    assert "stage Production" in p.stdout
    mode.run("promote", "fraud", "2", "--stage", "Production", "--archive-existing")
    p = mode.run("rollback", "fraud", "champion", "--reason", "latency")
    assert "fraud@champion: version 3 -> 2" in p.stdout
    out = json.loads(mode.run("rollback", "fraud", "champion", "--json").stdout)
    assert (out["from_version"], out["to_version"]) == ("2", "1")
    p = mode.run("rollback", "fraud", "champion", check=False)
    assert p.returncode == 1 and "roll back" in p.stderr
    mode.run("alias", "fraud", "canary", "3")
    p = mode.run("alias", "fraud", "canary", "--delete", "--reason", "done")
    assert "deleted" in p.stdout
    p = mode.run("alias", "fraud", "latest", "1", check=False)
    assert p.returncode == 1 and "reserved" in p.stderr

    rows = table(mode.run("history", "fraud").stdout)
    kinds = [r["KIND"] for r in rows]
    assert kinds == ["alias_set", "alias_set", "alias_set", "stage_transition",
                     "stage_transition", "stage_transition", "rollback", "rollback",
                     "alias_set", "alias_deleted"]
    assert rows[0]["WHO"] == "cli-tester" and rows[0]["REASON"] == "first"
    assert rows[0]["EVIDENCE"] == '{"eval":"run-1"}'
    assert (rows[0]["FROM"], rows[0]["TO"]) == ("-", "1")
    assert (rows[3]["FROM"], rows[3]["TO"]) == ("None", "Production")
    assert rows[4]["TARGET"] == "3" and rows[4]["TO"] == "Archived"
    assert rows[6]["REASON"] == "latency"
    out = json.loads(mode.run("history", "fraud", "--json").stdout)
    assert len(out["events"]) == 10 and out["events"][-1]["reason"] == "done"
    out = json.loads(mode.run("show", "fraud", "--json").stdout)
    assert out["registered_model"]["aliases"] == [{"alias": "champion", "version": "1"}]
    stages = {v["version"]: v["current_stage"] for v in out["model_versions"]}
    assert stages == {"1": "None", "2": "Production", "3": "Archived"}


def test_lineage_and_card(mode, tmp_path):
    mode.seed()
    p = mode.run("lineage", "fraud", "1")
    for s in (mode.run_id, "c0ffee", "depth=6", "auc=0.9", "MLmodel", "model.pkl",
              hashlib.sha256(FILES["model.pkl"]).hexdigest()):
        assert s in p.stdout, (s, p.stdout)
    out = json.loads(mode.run("lineage", "fraud", "1", "--json").stdout)
    assert out["code"]["git_commit"] == "c0ffee"
    assert sorted(a["path"] for a in out["artifacts"]) == sorted(FILES)

    p = mode.run("card", "fraud", "1", check=False)
    assert p.returncode == 1 and "no model card" in p.stderr
    card = {"owner": "risk-ml", "intended_use": "fraud scoring",
            "slice_metrics": {"eu": {"auc": 0.93}}, "markdown": "# Fraud\nnotes"}
    f = tmp_path / "card.json"
    f.write_text(json.dumps(card))
    p = mode.run("card", "fraud", "1", "--set", str(f))
    assert "risk-ml" in p.stdout and "# Fraud" in p.stdout
    out = json.loads(mode.run("card", "fraud", "1", "--json").stdout)
    assert out["card"] == card and out["updated_by"] == "cli-tester"
    p = mode.run("show", "fraud", "--version", "1")
    assert "fraud scoring" in p.stdout and "(none" not in p.stdout
    # from stdin
    mode.run("card", "fraud", "2", "--set", "-", input='{"owner": "x"}')
    assert json.loads(mode.run("card", "fraud", "2", "--json").stdout)["card"] == {"owner": "x"}
    bad = tmp_path / "bad.json"
    bad.write_text('{"owner": 5}')
    p = mode.run("card", "fraud", "1", "--set", str(bad), check=False)
    assert p.returncode == 1 and "owner" in p.stderr
    bad.write_text("[1]")
    p = mode.run("card", "fraud", "1", "--set", str(bad), check=False)
    assert p.returncode == 1 and "object" in p.stderr


def test_register(mode, tmp_path):
    mode.seed()
    p = mode.run("register", "newmodel", f"runs:/{mode.run_id}/model", "--description", "d")
    assert "registered newmodel version 1" in p.stdout
    out = json.loads(mode.run("register", "newmodel", "models:/fraud/2", "--json").stdout)
    assert out["model_version"]["version"] == "2"
    assert out["model_version"]["run_id"] == mode.run_id
    src = tmp_path / "local-model"
    (src / "sub").mkdir(parents=True)
    mlm = b"flavors:\n  python_function:\n    loader_module: mymodel\n"
    (src / "MLmodel").write_bytes(mlm)
    (src / "sub" / "w.bin").write_bytes(b"\xff" * 100)
    p = mode.run("register", "newmodel", str(src), check=mode.kind == "data-dir")
    if mode.kind == "uri":
        # a server never reads its own filesystem for a client
        assert p.returncode == 1 and "local" in p.stderr
        return
    assert "registered newmodel version 3" in p.stdout
    out = json.loads(mode.run("lineage", "newmodel", "3", "--json").stdout)
    assert {a["path"]: a["size"] for a in out["artifacts"]} == {"MLmodel": len(mlm),
                                                                   "sub/w.bin": 100}
    # the files are served by the server afterwards
    s = mode.server()
    uri = assert_ok(s.get("model-versions/get-download-uri",
                          {"name": "newmodel", "version": "3"}))["artifact_uri"]
    path = uri[len("mlflow-artifacts:/"):]
    r = s.session.get(f"{s.url}{ART}/{path}/sub/w.bin")
    assert r.status_code == 200 and r.content == b"\xff" * 100
    # the staging copy is gone from the manifest
    listing = assert_ok(s.session.get(f"{s.url}{ART}", params={"path": "_sources"}))
    assert "files" not in listing
    s.stop()
    (src / "link").symlink_to(src / "MLmodel")
    p = mode.run("register", "newmodel", str(src), check=False)
    assert p.returncode == 1 and "symbolic link" in p.stderr
    p = mode.run("register", "newmodel", str(tmp_path / "missing"), check=False)
    assert p.returncode == 1
    p = mode.run("register", "newmodel", f"file://{src}/../x", check=False)
    assert p.returncode == 1 and ".." in p.stderr


def test_log_a_model_directory(mode, tmp_path):
    """mw models log NAME DIR: a real XGBoost model directory uploaded as a run's
    model/ and registered in one command; the server then serves it."""
    from test_serving import (assert_close, booster_predict, rows_for, train_bin, v2_body,
                              v2_infer, v2_outputs, xgb_files)
    booster = train_bin(seed=31, feats=5, trees=6)
    src = tmp_path / "xgb-model"
    src.mkdir()
    for name, data in xgb_files(booster).items():
        (src / name).write_bytes(data)
    mode.server()  # a fresh data directory gets its store
    p = mode.run("log", "logged", str(src))
    assert "registered logged version 1" in p.stdout, p.stdout
    out = json.loads(mode.run("log", "logged", str(src), "--json").stdout)
    assert out["model_version"]["version"] == "2"
    files = {f["path"].rsplit("/", 1)[-1] for f in out["files"]}
    assert files == set(xgb_files(booster))
    run = out["run_id"]
    assert out["model_version"]["run_id"] == run
    assert out["model_version"]["source"] == f"runs:/{run}/model"
    s = mode.server()
    X = rows_for(5, 4, seed=32)
    got, _ = v2_outputs(v2_infer(s, "logged", v2_body(X), version="2"))
    assert_close(got, booster_predict(booster, X), "logged model")
    # a directory without an MLmodel is refused before anything is written
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "model.json").write_bytes(b"{}")
    p = mode.run("log", "logged", str(bare), check=False)
    assert p.returncode == 2 and "MLmodel" in p.stderr


def test_download_by_every_model_uri(mode, tmp_path):
    """models:/NAME/VERSION, /STAGE (any case), /latest and @ALIAS all download, and the
    files land directly in the target directory (the path never moves with an alias)."""
    mode.seed()
    s = mode.server()
    assert_ok(s.post("registered-models/alias", {"name": "fraud", "alias": "champion",
                                                 "version": "2"}))
    assert_ok(s.post("model-versions/transition-stage", {"name": "fraud", "version": "1",
                                                         "stage": "Production",
                                                         "archive_existing_versions": False}))

    def download(uri, dest):
        args = ["artifacts", "download", uri, str(dest)]
        if mode.kind == "uri":
            return cli(*args, env_extra={"MW_URI": s.url}, check=False)
        if s.proc is not None and s.proc.poll() is None:
            s.stop()
        return cli(*args, "--data-dir", str(tmp_path / "cli-data"), check=False,
                   env_extra=store_env(tmp_path / "cli-data"))

    for i, uri in enumerate(["models:/fraud/3", "models:/fraud/Production",
                             "models:/fraud/production", "models:/fraud/latest",
                             "models:/fraud@champion"]):
        dest = tmp_path / f"dl{i}"
        p = download(uri, dest)
        assert p.returncode == 0, (uri, p.stderr)
        got = {str(f.relative_to(dest)): f.read_bytes() for f in dest.rglob("*") if f.is_file()}
        assert got == FILES, (uri, sorted(got))
    for bad, code in [("models:/fraud/Staging", 1), ("models:/fraud@nobody", 1),
                      ("models:/fraud/9", 1), ("models:/fraud", 1)]:
        p = download(bad, tmp_path / "bad")
        assert p.returncode == code, (bad, p.stdout, p.stderr)
        assert p.stderr.strip(), bad
    # without LOCAL_DIR a model goes to ./<name>, never over the working directory
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "MLmodel").write_bytes(b"mine")
    args = ["artifacts", "download", "models:/fraud@champion"]
    env = dict(os.environ)
    env.pop("MW_URI", None)
    if mode.kind == "uri":
        env["MW_URI"] = s.url
    else:
        args += ["--data-dir", str(tmp_path / "cli-data")]
        env.update(store_env(tmp_path / "cli-data"))
    p = subprocess.run([mw_bin(), *args], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert (cwd / "MLmodel").read_bytes() == b"mine"
    assert (cwd / "fraud" / "MLmodel").read_bytes() == FILES["MLmodel"]
    # a run's path keeps its last part, as MLflow does
    p = download(f"runs:/{mode.run_id}/model", tmp_path / "byrun")
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "byrun" / "model" / "MLmodel").read_bytes() == FILES["MLmodel"]

"""The `mw` CLI: help/version, and experiments/runs commands both against a
running server (MW_URI) and directly on a stopped server's data dir."""

import json
import os
import subprocess

import pytest

from conftest import assert_ok, mw_bin, store_env, unique

COMMANDS = ["server", "version", "help", "experiments", "runs", "serve", "predict",
            "predictions", "auth"]


def cli(*args, env_extra=None, check=True, timeout=30):
    env = dict(os.environ)
    env.pop("MW_URI", None)
    if env_extra:
        env.update(env_extra)
    p = subprocess.run([mw_bin(), *args], capture_output=True, text=True, timeout=timeout,
                       env=env, stdin=subprocess.DEVNULL)
    if check:
        assert p.returncode == 0, (args, p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return p


def test_help_and_version():
    for args in (["help"], ["--help"]):
        p = cli(*args)
        out = p.stdout + p.stderr
        for c in COMMANDS:
            assert c in out, (args, c)
    p = cli("version")
    assert p.stdout.strip(), "mw version printed nothing"
    assert any(ch.isdigit() for ch in p.stdout)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_help(command):
    p = cli(command, "--help")
    assert (p.stdout + p.stderr).strip()


@pytest.mark.parametrize("sub", [["experiments", "list"], ["experiments", "create"],
                                 ["experiments", "delete"], ["runs", "list"], ["runs", "show"],
                                 ["runs", "search"], ["predictions", "read"],
                                 ["predictions", "tail"], ["auth", "init"],
                                 ["auth", "token"]])
def test_subcommands_answer_help(sub):
    p = cli(*sub, "--help")
    assert (p.stdout + p.stderr).strip()


def test_unknown_command():
    p = cli("definitely-not-a-command", check=False)
    assert p.returncode != 0
    assert p.stderr.strip()
    p = cli("experiments", "frobnicate", check=False)
    assert p.returncode != 0
    assert p.stderr.strip()


def _find_named(obj, name):
    """Depth-first search of parsed JSON for a dict whose 'name' is name."""
    if isinstance(obj, dict):
        if obj.get("name") == name:
            return obj
        obj = list(obj.values())
    if isinstance(obj, list):
        for x in obj:
            hit = _find_named(x, name)
            if hit is not None:
                return hit
    return None


def _check_table(text, name):
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) >= 2, text
    header = lines[0]
    assert "NAME" in header.upper() and "ID" in header.upper(), header
    col = header.upper().index("NAME")
    rows = [ln for ln in lines[1:] if name in ln]
    assert rows, f"{name} not listed:\n{text}"
    assert rows[0].index(name) == col, f"name column not aligned with header:\n{text}"


@pytest.fixture(params=["uri", "data-dir"])
def mode(request, mw_factory, tmp_path):
    """Yields a helper object: .run(*args) runs the CLI in the mode; .server()
    gives a live server on the same store for checking (started on demand)."""
    data = tmp_path / "cli-data"
    srv = mw_factory(data_dir=data)

    class Mode:
        kind = request.param

        def __init__(self):
            self.srv = srv

        def seed(self):
            """Create an experiment with two runs through the API."""
            s = self.server()
            self.exp_name = unique("cli")
            self.exp_id = s.create_experiment(self.exp_name)
            self.run_hi = s.create_run(self.exp_id, run_name="hi")["info"]["run_id"]
            self.run_lo = s.create_run(self.exp_id, run_name="lo")["info"]["run_id"]
            assert_ok(s.post("runs/log-batch", {
                "run_id": self.run_hi,
                "metrics": [{"key": "x", "value": 5.0, "timestamp": 1, "step": 0}],
                "params": [{"key": "alpha", "value": "0.75"}]}))
            assert_ok(s.post("runs/log-batch", {
                "run_id": self.run_lo,
                "metrics": [{"key": "x", "value": 0.5, "timestamp": 1, "step": 0}]}))
            if self.kind == "data-dir":
                self.srv.stop()

        def server(self):
            if self.srv.proc is None or self.srv.proc.poll() is not None:
                self.srv.start()
            return self.srv

        def run(self, *args, check=True):
            if self.kind == "uri":
                return cli(*args, env_extra={"MW_URI": self.srv.url}, check=check)
            if self.srv.proc is not None and self.srv.proc.poll() is None:
                self.srv.stop()
            return cli(*args, "--data-dir", str(data), check=check,
                       env_extra=store_env(data))

    return Mode()


def test_experiments_commands(mode):
    mode.seed()
    name = unique("clicreate")
    mode.run("experiments", "create", name)
    p = mode.run("experiments", "list")
    _check_table(p.stdout, name)
    _check_table(p.stdout, mode.exp_name)
    p = mode.run("experiments", "list", "--json")
    parsed = json.loads(p.stdout)
    hit = _find_named(parsed, name)
    assert hit is not None, p.stdout[:2000]
    exp_id = str(hit.get("experiment_id", hit.get("id")))
    s = mode.server()
    got = assert_ok(s.get("experiments/get-by-name", {"experiment_name": name}))["experiment"]
    assert got["experiment_id"] == exp_id
    mode.run("experiments", "delete", exp_id)
    s = mode.server()
    assert s.get_experiment(exp_id)["lifecycle_stage"] == "deleted"
    p = mode.run("experiments", "list")
    assert name not in p.stdout


def test_runs_commands(mode):
    mode.seed()
    p = mode.run("runs", "list", "--experiment-id", mode.exp_id)
    assert mode.run_hi in p.stdout and mode.run_lo in p.stdout, p.stdout
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    assert "ID" in lines[0].upper(), p.stdout  # header row
    p = mode.run("runs", "list", "--experiment-id", mode.exp_id, "--json")
    parsed = json.dumps(json.loads(p.stdout))
    assert mode.run_hi in parsed and mode.run_lo in parsed

    p = mode.run("runs", "show", mode.run_hi)
    for s in (mode.run_hi, "alpha", "0.75", "x"):
        assert s in p.stdout, (s, p.stdout)
    p = mode.run("runs", "show", mode.run_hi, "--json")
    shown = json.loads(p.stdout)
    assert mode.run_hi in json.dumps(shown)

    p = mode.run("runs", "search", "--filter", "metrics.x > 1")
    assert mode.run_hi in p.stdout and mode.run_lo not in p.stdout, p.stdout
    p = mode.run("runs", "search", "--filter", "metrics.x > 1", "--json")
    found = json.dumps(json.loads(p.stdout))
    assert mode.run_hi in found and mode.run_lo not in found

    p = mode.run("runs", "show", "0" * 32, check=False)
    assert p.returncode != 0 and p.stderr.strip()
    p = mode.run("runs", "search", "--filter", "metrics.x >>> 1", check=False)
    assert p.returncode != 0 and p.stderr.strip()


def test_cli_unreachable_server():
    p = cli("experiments", "list", env_extra={"MW_URI": "http://127.0.0.1:1"}, check=False,
            timeout=60)
    assert p.returncode != 0 and p.stderr.strip()


def _table_commands():
    """The commands `mw help` lists (the dispatch table in src/main.c)."""
    out = cli("help").stdout
    lines = out.split("commands:", 1)[1].split("\n\n", 1)[0].splitlines()
    names = [ln.split()[0] for ln in lines if ln.strip()]
    assert names, out
    return names


def test_every_table_command_has_help_and_a_doc_page():
    """Walk the dispatch table: every command answers --help with its usage, and
    docs/cli/<name>.md exists and shows that same usage line."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for name in _table_commands():
        p = cli(name, "--help")
        text = p.stdout + p.stderr
        assert text.strip(), name
        doc = os.path.join(root, "docs", "cli", name + ".md")
        assert os.path.exists(doc), f"docs/cli/{name}.md is missing"
        usage = next((ln for ln in text.splitlines() if ln.startswith("usage:")), None)
        if usage:
            with open(doc, encoding="utf-8") as f:
                assert usage in f.read(), f"docs/cli/{name}.md does not show: {usage}"


def test_cli_docs_show_the_help_the_binary_prints():
    """Every help block in docs/cli/*.md is exactly what `mw ... --help` prints
    (scripts/cli_docs.py rewrites them; run it after changing an option)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = subprocess.run(["/usr/bin/python3", os.path.join(root, "scripts", "cli_docs.py"),
                        "--check", "--mw", mw_bin()], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, "run scripts/cli_docs.py:\n" + p.stdout + p.stderr


@pytest.mark.parametrize("args,code,status", [
    (["runs", "show", "0123456789abcdef0123456789abcdef"], "RESOURCE_DOES_NOT_EXIST", 1),
    (["experiments", "list", "--bogus"], "INVALID_PARAMETER_VALUE", 2),
    (["models", "show", "no-such-model"], "RESOURCE_DOES_NOT_EXIST", 1),
    (["artifacts", "download", "models:/no-such-model/1", "/nonexistent-dir"],
     "RESOURCE_DOES_NOT_EXIST", 1),
    (["runs", "search", "--filter", "metrics.x >>> 1"], "INVALID_PARAMETER_VALUE", 1),
])
def test_json_errors_are_json(mw, args, code, status):
    """With --json a failure prints the API's error object on stdout (for scripts)
    and the message on stderr (for people); the exit status is unchanged."""
    env = {"MW_URI": mw.url}
    p = cli(*args, "--json", check=False, env_extra=env)
    assert p.returncode == status, (p.stdout, p.stderr)
    body = json.loads(p.stdout)
    assert body["error_code"] == code, body
    assert body["message"] and body["message"] in p.stderr
    # without --json: no JSON, the message on stderr only
    p = cli(*args, check=False, env_extra=env)
    assert p.returncode == status and not p.stdout.strip().startswith("{")
    assert p.stderr.startswith("mw: ")


@pytest.mark.parametrize("cmd,sub,others", [
    ("runs", "show", ["mw runs list", "mw runs search"]),
    ("runs", "search", ["mw runs show"]),
    ("experiments", "create", ["mw experiments list", "mw experiments delete"]),
    ("artifacts", "download", ["mw artifacts upload", "mw artifacts ls"]),
    ("models", "alias", ["mw models list"]),
])
def test_each_subcommand_help_shows_its_own_usage(cmd, sub, others):
    out = cli(cmd, sub, "--help").stdout
    assert out.startswith(f"usage: mw {cmd} {sub}"), out
    usage = out.split("\n\n", 1)[0]
    for o in others:
        assert o not in usage, (o, usage)
    # the group's help still shows every form
    group = cli(cmd, "--help").stdout
    assert f"mw {cmd} {sub}" in group

"""Fixtures for the API tests: start the real `mw` binary and talk to it.

The binary comes from $MW_BIN (CTest sets it), else <repo>/build/mw.  Each
server listens on a free 127.0.0.1 port with its own temporary data
directory; its stderr goes to a file that is attached to the report of any
test that fails while the server is alive.

Fixtures:
  mw          session-scoped server shared by most tests.
  mw_factory  function-scoped factory: mw_factory() starts a fresh server,
              mw_factory(data_dir=d) starts one on an existing data dir
              (restart).  Servers still running at the end are stopped with
              SIGTERM and must exit 0 within 10 s.

Environment:
  MW_BIN              the binary (above).
  MW_TEST_STORE_URI   when set, every server starts with --store-uri <it>, with
                      "{tmp}" replaced by a directory that belongs to the
                      server's data directory (<data_dir>-store, the same across
                      restarts on that data directory, different between
                      servers), e.g. "sqlite:///{tmp}/other.db" (four slashes
                      once {tmp} is an absolute path).  Unset: no --store-uri,
                      the store is <data_dir>/mw.db as always.  CLI processes
                      that work directly on a server's data directory get the
                      same URI in MW_STORE_URI (store_env(data_dir)).
  MW_NO_SKIP=1        (set by `make test`, so CI): a skipped test, or a test
                      module skipped at import (pytest.importorskip), is a
                      failure naming the reason, unless the test is marked
                      @pytest.mark.may_skip("why skipping is fine").  xfail is
                      not a skip and is left alone.

Helpers (module level, imported by the tests):
  unique(prefix)          unique name
  rss_bound_mb(mb)        a bound on the server's RSS (larger under ASan)
  now_ms()                wall clock in ms
  strict_json(resp)       parse a body, rejecting bare NaN/Infinity
  assert_ok(resp)         200 and a JSON object body; returns it
  assert_error(resp, status, codes)
                          status, JSON object, error_code in codes, non-empty
                          message; returns the body
"""

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
API = "/api/2.0/mlflow/"
AJAX = "/ajax-api/2.0/mlflow/"
HEX32 = re.compile(r"^[0-9a-f]{32}$")
MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
REQ_TIMEOUT = 30.0


def mw_bin():
    b = os.environ.get("MW_BIN")
    if b:
        return str(Path(b).resolve())
    return str(REPO / "build" / "mw")


_sanitized = None


def rss_bound_mb(mb):
    """A bound on the server's resident memory, in MB, for tests that check
    what a hostile request costs: as given, or 2.5 times it when the binary is
    built with AddressSanitizer (make asan), whose shadow memory and
    quarantine of freed blocks make every figure larger (a quadratic or
    tree-sized regression is still far above it)."""
    global _sanitized
    if _sanitized is None:
        with open(mw_bin(), "rb") as f:
            _sanitized = b"__asan_init" in f.read()
    return mb * 2.5 if _sanitized else mb


def unique(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def now_ms():
    return int(time.time() * 1000)


def _reject_constant(name):
    raise ValueError(f"bare {name} in JSON response (must be a string)")


def strict_json(resp):
    return json.loads(resp.content.decode("utf-8"), parse_constant=_reject_constant)


def _describe(resp):
    body = resp.content[:2000]
    return f"{resp.request.method} {resp.request.url} -> {resp.status_code}: {body!r}"


def assert_ok(resp):
    assert resp.status_code == 200, _describe(resp)
    body = strict_json(resp)
    assert isinstance(body, dict), _describe(resp)
    return body


def assert_error(resp, status, codes):
    if isinstance(codes, str):
        codes = (codes,)
    assert resp.status_code == status, _describe(resp)
    try:
        body = strict_json(resp)
    except ValueError:
        pytest.fail(f"error body is not JSON: {_describe(resp)}")
    assert isinstance(body, dict), _describe(resp)
    assert body.get("error_code") in codes, _describe(resp)
    msg = body.get("message")
    assert isinstance(msg, str) and msg.strip(), _describe(resp)
    return body


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def store_uri_for(data_dir):
    """--store-uri for a server on data_dir: $MW_TEST_STORE_URI with {tmp}
    replaced, or None (the default store in the data directory)."""
    uri = os.environ.get("MW_TEST_STORE_URI")
    if not uri:
        return None
    if "{tmp}" in uri:
        d = Path(str(data_dir) + "-store")
        d.mkdir(parents=True, exist_ok=True)
        uri = uri.replace("{tmp}", str(d))
    return uri


def store_env(data_dir):
    """Environment for a CLI process working directly on data_dir (--data-dir):
    MW_STORE_URI when the servers of the suite use another store."""
    uri = store_uri_for(data_dir)
    return {"MW_STORE_URI": uri} if uri else {}


_UNSET = object()

_live_servers = []
_live_lock = threading.Lock()


class MwServer:
    """One `mw server` process on 127.0.0.1."""

    def __init__(self, data_dir, log_dir=None, extra_args=(), env=None, store_uri=_UNSET):
        self.data_dir = str(data_dir)
        self.log_dir = Path(log_dir or data_dir)
        self.extra_args = list(extra_args)
        self.env = env
        self.proc = None
        self.port = None
        self.url = None
        self.stderr_path = None
        self.session = None
        self._starts = 0
        # --store-uri: MW_TEST_STORE_URI's by default; None starts without one
        self.store_uri = store_uri_for(self.data_dir) if store_uri is _UNSET else store_uri

    # ---- lifecycle -------------------------------------------------------

    def start(self):
        Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        last_err = None
        for _attempt in range(3):  # a port grabbed between bind and exec: retry
            self._starts += 1
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self.stderr_path = self.log_dir / f"mw-stderr-{self.port}-{self._starts}.log"
            errf = open(self.stderr_path, "wb")
            cmd = [mw_bin(), "server", "--host", "127.0.0.1", "--port", str(self.port),
                   "--data-dir", self.data_dir, "--log-level", "warn"]
            if self.store_uri:
                cmd += ["--store-uri", self.store_uri]
            cmd += self.extra_args
            env = dict(os.environ)
            env.pop("MW_URI", None)
            if self.env:
                env.update(self.env)
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=errf, stderr=errf, env=env)
            errf.close()
            with _live_lock:
                _live_servers.append(self)
            if self.session is not None:
                self.session.close()
            self.session = requests.Session()
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    r = requests.get(self.url + "/health", timeout=1)
                    if r.status_code == 200:
                        return self
                except requests.RequestException:
                    pass
                time.sleep(0.02)
            last_err = (f"mw did not become healthy within {START_TIMEOUT}s "
                        f"(rc={self.proc.poll()}); stderr:\n{self.stderr_text()}")
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
            self._forget()
        raise RuntimeError(last_err)

    def stop(self, check=True):
        """SIGTERM; must exit 0 within 10 s.  Returns the exit code."""
        if self.proc is None:
            return None
        if self.session is not None:
            self.session.close()
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                self._forget()
                if check:
                    pytest.fail(f"mw did not exit within {STOP_TIMEOUT}s of SIGTERM; "
                                f"stderr:\n{self.stderr_text()}")
                return None
        self._forget()
        if check:
            assert rc == 0, f"mw exited {rc} after SIGTERM; stderr:\n{self.stderr_text()}"
        return rc

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        if self.session is not None:
            self.session.close()
        self._forget()

    def restart(self):
        self.stop()
        return self.start()

    def _forget(self):
        with _live_lock:
            if self in _live_servers:
                _live_servers.remove(self)

    def stderr_text(self, tail=200):
        try:
            lines = Path(self.stderr_path).read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-tail:])

    # ---- HTTP ------------------------------------------------------------

    def _url(self, path, prefix):
        if path.startswith("/"):
            return self.url + path
        return self.url + prefix + path

    def request(self, method, path, json_body=None, params=None, data=None,
                headers=None, prefix=API, timeout=REQ_TIMEOUT):
        h = dict(headers or {})
        if json_body is not None:
            data = json.dumps(json_body, allow_nan=False).encode()
            h.setdefault("Content-Type", "application/json")
        return self.session.request(method, self._url(path, prefix), params=params,
                                    data=data, headers=h, timeout=timeout)

    def post(self, path, json=None, **kw):
        return self.request("POST", path, json_body=json, **kw)

    def get(self, path, params=None, **kw):
        return self.request("GET", path, params=params, **kw)

    def patch(self, path, json=None, **kw):
        return self.request("PATCH", path, json_body=json, **kw)

    def delete(self, path, json=None, **kw):
        return self.request("DELETE", path, json_body=json, **kw)

    def health(self):
        r = requests.get(self.url + "/health", timeout=5)
        return r.status_code

    # ---- convenience -----------------------------------------------------

    def create_experiment(self, name=None, **extra):
        body = {"name": name or unique("exp")}
        body.update(extra)
        out = assert_ok(self.post("experiments/create", body))
        assert isinstance(out["experiment_id"], str)
        return out["experiment_id"]

    def get_experiment(self, exp_id):
        return assert_ok(self.get("experiments/get", {"experiment_id": exp_id}))["experiment"]

    def create_run(self, exp_id, **extra):
        body = {"experiment_id": exp_id, "start_time": now_ms()}
        body.update(extra)
        return assert_ok(self.post("runs/create", body))["run"]

    def get_run(self, run_id):
        return assert_ok(self.get("runs/get", {"run_id": run_id}))["run"]

    def history(self, run_id, key, **params):
        p = {"run_id": run_id, "metric_key": key}
        p.update(params)
        return assert_ok(self.get("metrics/get-history", p)).get("metrics", [])

    def search_runs(self, exp_ids, **body):
        b = {"experiment_ids": list(exp_ids)}
        b.update(body)
        return self.post("runs/search", b)

    def search_all_runs(self, exp_ids, **body):
        """Follow page tokens; returns the list of runs."""
        runs, token = [], None
        for _ in range(1000):
            b = dict(body)
            if token:
                b["page_token"] = token
            out = assert_ok(self.search_runs(exp_ids, **b))
            runs.extend(out.get("runs", []))
            token = out.get("next_page_token")
            if not token:
                return runs
        pytest.fail("runs/search pagination did not terminate")


def kv(items):
    """[{key,value}] -> dict"""
    return {i["key"]: i["value"] for i in (items or [])}


@pytest.fixture(scope="session")
def mw(tmp_path_factory):
    d = tmp_path_factory.mktemp("mw-session")
    srv = MwServer(d / "data", log_dir=d)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def mw_factory(tmp_path):
    started = []
    counter = [0]

    def make(data_dir=None, **kw):
        counter[0] += 1
        if data_dir is None:
            data_dir = tmp_path / f"data{counter[0]}"
        srv = MwServer(data_dir, log_dir=tmp_path / "logs", **kw)
        srv.start()
        started.append(srv)
        return srv

    yield make
    failures = []
    for srv in started:
        if srv.proc is not None and srv.proc.poll() is None:
            rc = srv.stop(check=False)
            if rc != 0:
                failures.append(f"mw on port {srv.port} exited {rc} after SIGTERM:\n"
                                f"{srv.stderr_text()}")
    assert not failures, "\n".join(failures)


# ---- skips are failures in CI -------------------------------------------

def no_skip():
    return os.environ.get("MW_NO_SKIP", "") not in ("", "0")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "may_skip(reason): this test may be skipped even with MW_NO_SKIP=1")


def _skip_reason(longrepr):
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    rep = outcome.get_result()
    if no_skip() and rep.skipped:
        rep.outcome = "failed"
        rep.longrepr = (f"{collector.nodeid} was skipped at import and MW_NO_SKIP=1 forbids it: "
                        f"{_skip_reason(rep.longrepr)}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if (no_skip() and rep.skipped and not hasattr(rep, "wasxfail")
            and item.get_closest_marker("may_skip") is None):
        rep.outcome = "failed"
        rep.longrepr = (f"{item.nodeid} was skipped and MW_NO_SKIP=1 forbids it (mark it "
                        f"@pytest.mark.may_skip if that is fine): {_skip_reason(rep.longrepr)}")
    if rep.failed:
        with _live_lock:
            servers = list(_live_servers)
        for srv in servers:
            txt = srv.stderr_text()
            if txt:
                rep.sections.append((f"mw stderr (port {srv.port})", txt))

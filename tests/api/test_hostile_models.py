"""Hostile models (issue 9): a model's files stay in its directory, the proxy
runtime reaches only the upstreams the admin allows, what a runtime reports
is capped before anything is sized by it, request bodies cost memory in
proportion to what they hold, and model processes die with the server.

Registered models are uploaded through the artifact proxy as in
test_serving.py; models that need symlinks (the artifact store has none) are
local directories given to `mw predict`, which loads them with the same
loader and runtimes as the server.
"""

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import MwServer, free_port, mw_bin, rss_bound_mb, unique
from test_serving import (MLMODEL_SKLEARN, assert_close, inv_post, inv_predictions,
                          register, rows_for, sklearn_files, train_logreg, train_reg,
                          v2_body, v2_infer, write_dir, xgb, xgb_files)

np = pytest.importorskip("numpy", reason="numpy is not installed (Debian python3-numpy)")

MLMODEL_XGB_DATA = """\
artifact_path: model
flavors:
  xgboost:
    code: null
    data: {data}
    model_class: xgboost.core.Booster
    model_format: json
mlmodel_version: 2.9.2
"""

MLMODEL_SK_PICKLE = """\
artifact_path: model
flavors:
  sklearn:
    code: {code}
    pickled_model: {data}
    serialization_format: cloudpickle
"""

MLMODEL_PYFUNC = """\
artifact_path: model
flavors:
  python_function:
    loader_module: {loader}
    data: {data}
"""

SECRET = "root:x:0:0"  # what /etc/passwd starts with


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    # --check-models false: registration lets hostile models through, so that
    # what is tested here is the second line, confinement at load time
    s = MwServer(d / "data", log_dir=d,
                 extra_args=["--python-workers", "1", "--check-models", "false"])
    s.start()
    yield s
    s.stop()


@pytest.mark.parametrize("data", ["../../../../../../../../etc/passwd", "/etc/passwd",
                                  "a/../../model.json", "..", "./../x.json"])
def test_escaping_paths_are_refused_at_registration_first(mw, data):
    """The first line: by default such a version is never registered."""
    run = mw.create_run("0")["info"]
    files = {"MLmodel": MLMODEL_XGB_DATA.format(data=data).encode(), "model.json": b"{}"}
    for p, b in files.items():
        r = mw.session.put(f"{mw.url}/api/2.0/mlflow-artifacts/artifacts/0/{run['run_id']}"
                           f"/artifacts/model/{p}", data=b, timeout=30)
        assert r.status_code == 200, r.text
    name = unique("hostile-reg")
    assert mw.post("registered-models/create", {"name": name}).status_code == 200
    r = mw.post("model-versions/create", {"name": name,
                                          "source": f"runs:/{run['run_id']}/model"})
    assert r.status_code == 400 and "relative paths inside its directory" in r.text, r.text
    assert SECRET not in r.text


def assert_refused(resp, srv, *needles):
    """A load refused with a client or unavailable error whose text leaks no
    file content and no absolute path of the server's."""
    assert resp.status_code in (400, 404, 500, 503), (resp.status_code, resp.text[:500])
    text = resp.text
    assert SECRET not in text and "root:" not in text, text
    assert srv.data_dir not in text and os.path.realpath(srv.data_dir) not in text, text
    for n in needles:
        assert n in text, (n, text)
    return text


def reg_model(srv, files):
    name = unique("hostile")
    register(srv, name, files)
    return name


@pytest.mark.parametrize("data", ["../../../../../../../../etc/passwd", "/etc/passwd",
                                  "a/../../model.json", "..", "./../x.json"])
def test_xgboost_data_path_outside_is_refused(srv, data):
    name = reg_model(srv, {"MLmodel": MLMODEL_XGB_DATA.format(data=data).encode(),
                           "model.json": b"{}"})
    r = v2_infer(srv, name, v2_body(np.zeros((1, 6), dtype=np.float32)))
    text = assert_refused(r, srv, "leaves the model directory")
    assert "data path" in text


@pytest.mark.parametrize("field", ["data", "code"])
def test_sklearn_paths_outside_are_refused(srv, field):
    ml = MLMODEL_SK_PICKLE.format(
        data="../../../../../../../etc/passwd" if field == "data" else "model.pkl",
        code="../../../../../../../usr/lib/python3" if field == "code" else "null")
    files = sklearn_files(train_logreg())
    files["MLmodel"] = ml.encode()
    name = reg_model(srv, files)
    r = inv_post(srv, f"/models/{name}/invocations", body={"instances": [[0.0] * 4]})
    assert_refused(r, srv, "leaves the model directory")


def test_pyfunc_loader_and_data_outside_are_refused(srv):
    files = {"MLmodel": MLMODEL_PYFUNC.format(loader="os", data="/etc").encode()}
    name = reg_model(srv, files)
    r = v2_infer(srv, name, v2_body(np.zeros((1, 2), dtype=np.float32)))
    assert_refused(r, srv, "leaves the model directory")


def test_missing_model_file_says_so_without_oserror(srv):
    name = reg_model(srv, {"MLmodel": MLMODEL_XGB_DATA.format(data="nothere.json").encode()})
    r = v2_infer(srv, name, v2_body(np.zeros((1, 6), dtype=np.float32)))
    text = assert_refused(r, srv, "cannot read the model file 'nothere.json'")
    assert "No such file" not in text, text


def test_sklearn_normal_layout_still_serves(srv):
    est = train_logreg()
    name = reg_model(srv, sklearn_files(est))
    X = rows_for(est.n_features_in_, 5, seed=7)
    r = v2_infer(srv, name, v2_body(X))
    assert r.status_code == 200, r.text[:500]
    out = r.json()["outputs"][0]
    got = np.asarray(out["data"], dtype=np.float64).reshape(out["shape"])
    assert_close(got, est.predict(X.astype(np.float64)).astype(np.float64),
                 "sklearn after confinement")


# ------------------------------------------------------------ symlinks (mw predict)

def predict_dir(d, tmp_path, nfeat=6):
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps([[0.0] * nfeat]))
    p = subprocess.run([mw_bin(), "predict", str(d), "--input", str(rows)],
                       capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def assert_predict_refused(rc, out, err, d, needle="leaves the model directory"):
    assert rc != 0, (out, err)
    assert "root:" not in err and "root:" not in out, err
    err = err.replace(f"cannot serve {d}:", "")  # the CLI names the directory it was given
    assert "/etc/passwd" not in err and str(d) not in err and \
        os.path.realpath(str(d)) not in err, err
    assert needle in err, err


def test_symlinked_model_file_to_etc_passwd(tmp_path):
    d = tmp_path / "m1"
    write_dir(d, {"MLmodel": MLMODEL_XGB_DATA.format(data="model.json").encode()})
    os.symlink("/etc/passwd", d / "model.json")
    assert_predict_refused(*predict_dir(d, tmp_path), d)


def test_symlinked_dir_out(tmp_path):
    d = tmp_path / "m2"
    write_dir(d, {"MLmodel": MLMODEL_XGB_DATA.format(data="sub/passwd").encode()})
    os.symlink("/etc", d / "sub")
    assert_predict_refused(*predict_dir(d, tmp_path), d)


def test_symlinked_pickle_out(tmp_path):
    d = tmp_path / "m3"
    files = sklearn_files(train_logreg())
    (tmp_path / "outside.pkl").write_bytes(files.pop("model.pkl"))
    write_dir(d, files)
    os.symlink(tmp_path / "outside.pkl", d / "model.pkl")
    rc, out, err = predict_dir(d, tmp_path, nfeat=4)
    assert_predict_refused(rc, out, err, d)
    assert "outside.pkl" not in err


def test_symlinked_mlmodel_and_plain_file(tmp_path):
    d = tmp_path / "m4"
    d.mkdir()
    os.symlink("/etc/passwd", d / "MLmodel")
    assert_predict_refused(*predict_dir(d, tmp_path), d)
    e = tmp_path / "m5"
    e.mkdir()
    os.symlink("/etc/passwd", e / "model.json")
    assert_predict_refused(*predict_dir(e, tmp_path), e)


def test_symlink_inside_the_directory_is_fine(tmp_path):
    booster = train_reg(seed=11, trees=3)
    d = tmp_path / "m6"
    files = xgb_files(booster)
    files["real.json"] = files.pop("model.json")
    write_dir(d, files)
    os.symlink("real.json", d / "model.json")
    rc, out, err = predict_dir(d, tmp_path)
    assert rc == 0, err


# ------------------------------------------------------------ the proxy runtime

class Stub:
    """A tiny Open Inference Protocol upstream on 127.0.0.1: row sums of
    `features` inputs; `hits` counts requests; /redirect/... answers 302."""

    def __init__(self, features=3):
        self.features = features
        self.hits = 0
        stub = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self, code, body, headers=()):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                stub.hits += 1
                if self.path.startswith("/redirect/"):
                    return self.answer(302, {}, [("Location", "http://127.0.0.1:1/x")])
                self.answer(200, {"name": "m", "inputs": [{"name": "x", "datatype": "FP32",
                                                           "shape": [-1, stub.features]}],
                                  "outputs": [{"name": "y", "datatype": "FP32",
                                               "shape": [-1, 1]}]})

            def do_POST(self):
                stub.hits += 1
                n = int(self.headers.get("Content-Length", "0"))
                req = json.loads(self.rfile.read(n))
                inp = req["inputs"][0]
                rows, cols = inp["shape"]
                d = inp["data"]
                sums = [sum(d[r * cols:(r + 1) * cols]) for r in range(rows)]
                self.answer(200, {"outputs": [{"name": "y", "datatype": "FP32",
                                               "shape": [rows, 1], "data": sums}]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.th = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.th.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """A server whose allow-list names the stub (under /ok and at its root
    with another case) and three unreachable upstreams."""
    stub = Stub()
    huge = Stub(features=10 ** 12)
    closed = free_port()
    import socket
    silent = socket.socket()  # listens, never accepts: a connect that hangs
    silent.bind(("127.0.0.1", 0))
    silent.listen(0)
    d = tmp_path_factory.mktemp("proxied")
    allow = ",".join([f"HTTP://127.0.0.1:{stub.port}/ok/", f"http://localhost:{stub.port}/",
                      f"http://127.0.0.1:{huge.port}", f"http://127.0.0.1:{closed}",
                      f"http://no-such-host.invalid:{closed}",
                      f"http://127.0.0.1:{silent.getsockname()[1]}",
                      f"http://127.0.0.1:{stub.port}/redirect"])
    s = MwServer(d / "data", log_dir=d, extra_args=["--proxy-upstreams", allow])
    s.start()
    s.stub, s.huge, s.closed, s.silent = stub, huge, closed, silent.getsockname()[1]
    yield s
    s.stop()
    stub.close()
    huge.close()
    silent.close()


def proxy_model(srv, url, timeout_ms=None):
    cfg = {"url": url, "model": "m"}
    if timeout_ms:
        cfg["timeout_ms"] = timeout_ms
    return reg_model(srv, {"proxy.json": json.dumps(cfg).encode()})


def proxy_infer(srv, name, nfeat=3):
    X = np.arange(2 * nfeat, dtype=np.float32).reshape(2, nfeat)
    return v2_infer(srv, name, v2_body(X)), X


def test_proxy_refused_without_allow_list(srv):
    name = proxy_model(srv, "http://127.0.0.1:9/")
    r, _ = proxy_infer(srv, name)
    assert_refused(r, srv, "--proxy-upstreams")


def test_proxy_allowed_upstream_works(proxied):
    for url in (f"http://127.0.0.1:{proxied.stub.port}/ok/v1",
                f"hTTp://LOCALHOST:{proxied.stub.port}",
                f"http://127.0.0.1:{proxied.stub.port}/ok"):
        name = proxy_model(proxied, url)
        r, X = proxy_infer(proxied, name)
        assert r.status_code == 200, (url, r.text[:500])
        got = np.asarray(r.json()["outputs"][0]["data"], dtype=np.float64).ravel()
        assert_close(got, X.sum(axis=1).astype(np.float64), url)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{other}/",             # a loopback port not in the list
    "http://127.0.0.1:{port}/okay",           # /ok is a segment prefix, not a string prefix
    "http://127.0.0.1:{port}/ok/../admin",    # dot segments are resolved first
    "http://127.0.0.1:{port}/",               # the root of an entry limited to /ok
    "https://127.0.0.1:{port}/ok",            # another scheme
    "http://user:pw@127.0.0.1:{port}/ok",     # user info
    "http://127.0.0.1:{port}/ok?x=1",         # a query
    "ftp://127.0.0.1:{port}/ok",              # not http(s)
    "file:///etc/passwd",
    "gopher://127.0.0.1:{port}/ok",
    "127.0.0.1:{port}/ok",                    # no scheme
])
def test_proxy_upstream_not_allowed(proxied, url):
    u = url.format(port=proxied.stub.port, other=free_port())
    hits = proxied.stub.hits
    name = proxy_model(proxied, u)
    r, _ = proxy_infer(proxied, name)
    assert_refused(r, proxied)
    assert "root:" not in r.text
    assert proxied.stub.hits == hits, "a refused upstream was contacted"


def test_proxy_unreachable_upstreams_all_say_the_same(proxied):
    texts = {}
    for what, url in (("refused", f"http://127.0.0.1:{proxied.closed}"),
                      ("bad host", f"http://no-such-host.invalid:{proxied.closed}"),
                      ("silent", f"http://127.0.0.1:{proxied.silent}")):
        name = proxy_model(proxied, url, timeout_ms=300)
        r, _ = proxy_infer(proxied, name)
        assert r.status_code == 503, (what, r.status_code, r.text[:300])
        msg = r.json()["error"]
        assert "upstream unreachable" in msg, (what, msg)
        # curl's kind of failure must not show: the same words for each
        texts[what] = msg.replace(url, "URL").replace(url.lower(), "URL")
    assert len(set(texts.values())) == 1, texts


def test_proxy_redirect_not_followed(proxied):
    name = proxy_model(proxied, f"http://127.0.0.1:{proxied.stub.port}/redirect")
    r, _ = proxy_infer(proxied, name)
    assert r.status_code in (400, 503), r.text[:300]
    assert "302" in r.text, r.text[:300]


def test_proxy_upstream_claiming_huge_shapes_is_refused(proxied):
    name = proxy_model(proxied, f"http://127.0.0.1:{proxied.huge.port}")
    r, _ = proxy_infer(proxied, name)
    assert r.status_code in (400, 503), r.text[:300]
    assert "at most" in r.text, r.text[:300]
    assert proxied.health() == 200


# ------------------------------------------------------------ bodies sized by input

def peak_rss_mb(srv):
    with open(f"/proc/{srv.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


BODY = 32 * 1024 * 1024 - 4096  # under the default --max-body of 32 MiB


@pytest.fixture(scope="module")
def sized(tmp_path_factory):
    d = tmp_path_factory.mktemp("sized")
    s = MwServer(d / "data", log_dir=d)
    s.start()
    s.model = unique("sized")
    register(s, s.model, xgb_files(train_reg(seed=21, trees=3)))
    X = rows_for(6, 2, seed=3)
    assert v2_infer(s, s.model, v2_body(X)).status_code == 200  # loaded
    yield s
    s.stop()


def post_csv(srv, body):
    return srv.session.post(srv.url + f"/models/{srv.model}/invocations", data=body,
                            headers={"Content-Type": "text/csv"}, timeout=120)


@pytest.mark.parametrize("shape", ["one line", "header then wide lines", "quoted"])
def test_csv_of_commas_costs_memory_in_proportion(sized, shape):
    if shape == "one line":
        body = b"," * BODY
    elif shape == "header then wide lines":
        head = b"age,income,score,tenure,visits,ratio\n"
        body = head + (b"," * 4094 + b"\n") * ((BODY - len(head)) // 4095)
    else:
        body = b'"",' * (BODY // 3)
    r = post_csv(sized, body)
    assert r.status_code in (400, 413), r.text[:300]
    assert "fields" in r.text, r.text[:300]
    peak = peak_rss_mb(sized)
    assert peak < rss_bound_mb(300), f"peak RSS {peak:.0f} MB after a {shape} CSV body"
    assert sized.health() == 200


def test_json_with_huge_ignored_arrays_is_bounded(sized):
    n = (BODY - 200) // 2
    filler = b"0," * (n - 1) + b"0"
    row = b"[1,2,3,4,5,6]"
    bodies = [
        (f"/models/{sized.model}/invocations",
         b'{"instances": [' + row + b'], "junk": [' + filler + b"]}"),
        (f"/v2/models/{sized.model}/infer",
         b'{"inputs": [{"name": "input-0", "datatype": "FP32", "shape": [1, 6], "data": '
         + row + b'}], "parameters": {"junk": [' + filler + b"]}}"),
    ]
    for path, body in bodies:
        r = sized.session.post(sized.url + path, data=body,
                               headers={"Content-Type": "application/json"}, timeout=120)
        assert r.status_code in (200, 400, 413), (path, r.status_code, r.text[:300])
        peak = peak_rss_mb(sized)
        assert peak < rss_bound_mb(300), f"peak RSS {peak:.0f} MB after {path}"


# ------------------------------------------------------------ model processes

FORKING_MODEL = '''\
import os
import time

import numpy as np

FEATURES = 2
PIDDIR = {piddir!r}


def _note(kind):
    with open(os.path.join(PIDDIR, "%s-%d" % (kind, os.getpid())), "w") as f:
        f.write(str(os.getpid()))


_note("worker")
_pid = os.fork()
if _pid == 0:  # a daemon: its own session, double-forked, sleeping
    os.setsid()
    if os.fork() == 0:
        _note("daemon")
        time.sleep(600)
    os._exit(0)
os.waitpid(_pid, 0)


def predict(batch):
    return np.asarray(batch, dtype=np.float64).sum(axis=1)
'''


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def noted(piddir, kind=None):
    return [int(p.name.split("-")[1]) for p in piddir.iterdir()
            if kind is None or p.name.startswith(kind + "-")]


def wait_gone(pids, timeout=4.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    left = [p for p in pids if alive(p)]
    for p in left:  # do not leave them behind for the next test
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    return left


def shared_dir(tmp_path, tag):
    """A directory the model may write to: python workers of a root server run
    as an unprivileged user (test_worker_sandbox.py), which cannot reach
    pytest's private temporary directories."""
    d = Path(tempfile.mkdtemp(prefix=f"mw-pids-{tag}-", dir="/tmp"))
    d.chmod(0o1777)
    return d


def forking_server(tmp_path, tag):
    piddir = shared_dir(tmp_path, tag)
    s = MwServer(tmp_path / f"data-{tag}", log_dir=tmp_path,
                 extra_args=["--python-workers", "1", "--alias-poll-ms", "100"])
    s.start()
    name = unique("forking")
    register(s, name, {"model.py": FORKING_MODEL.format(piddir=str(piddir)).encode()})
    r, _ = proxy_infer(s, name, nfeat=2)
    assert r.status_code == 200, r.text[:300]
    deadline = time.monotonic() + 5
    while len(noted(piddir, "daemon")) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    pids = noted(piddir)
    assert len(noted(piddir, "daemon")) == 1 and all(alive(p) for p in pids), pids
    return s, name, piddir, pids


@pytest.mark.parametrize("how", ["kill -9", "SIGTERM"])
def test_model_processes_die_with_the_server(tmp_path, how):
    s, _name, _piddir, pids = forking_server(tmp_path, how.replace(" ", ""))
    if how == "kill -9":
        s.kill9()
    else:
        s.stop()
    left = wait_gone(pids)
    assert not left, f"processes of the model outlived the server ({how}): {left}"


def test_version_swap_kills_the_old_versions_processes(tmp_path):
    s, name, piddir, pids = forking_server(tmp_path, "swap")
    piddir2 = shared_dir(tmp_path, "swap-2")
    try:
        v2 = register(s, name, {"model.py": FORKING_MODEL.format(piddir=str(piddir2)).encode()},
                      create=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r, _ = proxy_infer(s, name, nfeat=2)
            if r.headers.get("x-mw-model-version", r.headers.get("X-Model-Version")) == v2 or \
                    noted(piddir2, "worker"):
                break
            time.sleep(0.05)
        left = wait_gone(pids, timeout=6.0)
        assert not left, f"version 1's processes outlived its unload: {left}"
        assert all(alive(p) for p in noted(piddir2)), "version 2's processes died"
    finally:
        s.stop()
        wait_gone(noted(piddir2))

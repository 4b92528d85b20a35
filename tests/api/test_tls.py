"""TLS (issue 11, item 5): `--tls-cert FILE --tls-key FILE` on `mw server`
and `mw serve`.  A self-signed certificate is made here with the openssl
command; clients verify it as their CA.  Plain HTTP to a TLS port gets no
answer; a missing, unreadable or mismatched pair stops the start with a
clear message that never shows the key; the `mw` CLI talks https with
--ca-cert, MLFLOW_TRACKING_SERVER_CERT_PATH or MLFLOW_TRACKING_INSECURE_TLS."""

import os
import shutil
import signal
import subprocess
import time

import pytest
import requests

from conftest import free_port, mw_bin

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None,
                                reason="the openssl command is not installed")


def make_cert(d, name="cert", cn="127.0.0.1"):
    cert, key = d / f"{name}.pem", d / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={cn}", "-addext", f"subjectAltName=IP:{cn},DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class Proc:
    """mw server / mw serve with TLS, on a free loopback port."""

    def __init__(self, args, tmp, env=None):
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.log = tmp / f"mw-{self.port}.log"
        e = {k: v for k, v in os.environ.items() if k != "MW_URI"}
        e.update(env or {})
        with open(self.log, "wb") as f:
            self.proc = subprocess.Popen(
                [mw_bin(), *args, "--host", "127.0.0.1", "--port", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=f, stderr=f, env=e)

    def wait_ready(self, verify, path="/health"):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if requests.get(self.url + path, verify=verify, timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError(f"not ready (rc={self.proc.poll()}):\n{self.text()}")

    def text(self):
        return self.log.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise
        return self.proc.returncode


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    cert, key = make_cert(d)
    other_cert, other_key = make_cert(d, "other")
    return {"cert": cert, "key": key, "other_cert": other_cert, "other_key": other_key,
            "dir": d}


@pytest.fixture
def tls_server(certs, tmp_path):
    p = Proc(["server", "--data-dir", str(tmp_path / "data"), "--tls-cert", str(certs["cert"]),
              "--tls-key", str(certs["key"])], tmp_path)
    try:
        yield p.wait_ready(str(certs["cert"]))
    finally:
        assert p.stop() == 0, p.text()


def test_https_with_the_certificate_as_ca(tls_server, certs):
    r = requests.get(tls_server.url + "/health", verify=str(certs["cert"]), timeout=10)
    assert r.status_code == 200
    r = requests.post(tls_server.url + "/api/2.0/mlflow/experiments/create",
                      json={"name": "over-tls"}, verify=str(certs["cert"]), timeout=10)
    assert r.status_code == 200, r.text
    # a client that does not trust the certificate refuses it
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_server.url + "/health", timeout=10)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_server.url + "/health", verify=str(certs["other_cert"]), timeout=10)
    assert f"https://127.0.0.1:{tls_server.port}" in tls_server.text()


def test_plain_http_to_the_tls_port_fails(tls_server):
    with pytest.raises(requests.RequestException):
        r = requests.get(f"http://127.0.0.1:{tls_server.port}/health", timeout=5)
        # should it answer at all, it must not be a plain 200
        assert r.status_code != 200
        raise requests.RequestException("answered plain HTTP with a status")


def test_key_path_is_secret_in_the_config_view(tls_server, certs):
    r = requests.get(tls_server.url + "/api/mw/config", verify=str(certs["cert"]), timeout=10)
    assert r.status_code == 200, r.text
    assert str(certs["key"]) not in r.text
    assert "BEGIN" not in r.text


def cli(args, env_extra, cwd):
    env = {k: v for k, v in os.environ.items()
           if k not in ("MW_URI", "MLFLOW_TRACKING_SERVER_CERT_PATH",
                        "MLFLOW_TRACKING_INSECURE_TLS")}
    env.update(env_extra)
    return subprocess.run([mw_bin(), *args], capture_output=True, text=True, timeout=60,
                          env=env, cwd=cwd, stdin=subprocess.DEVNULL)


def test_cli_talks_https_with_the_ca(tls_server, certs, tmp_path):
    base = ["experiments", "list", "--uri", tls_server.url]
    p = cli(base, {}, tmp_path)
    assert p.returncode != 0, "the CLI trusted a self-signed certificate without a CA"
    p = cli(base + ["--ca-cert", str(certs["cert"])], {}, tmp_path)
    assert p.returncode == 0 and "Default" in p.stdout, (p.stdout, p.stderr)
    p = cli(base, {"MLFLOW_TRACKING_SERVER_CERT_PATH": str(certs["cert"])}, tmp_path)
    assert p.returncode == 0 and "Default" in p.stdout, (p.stdout, p.stderr)
    p = cli(base, {"MLFLOW_TRACKING_INSECURE_TLS": "true"}, tmp_path)
    assert p.returncode == 0 and "Default" in p.stdout, (p.stdout, p.stderr)
    p = cli(base + ["--ca-cert", str(certs["other_cert"])], {}, tmp_path)
    assert p.returncode != 0


def start_fails(args, tmp_path):
    p = Proc(args, tmp_path)
    try:
        rc = p.proc.wait(20)
    except subprocess.TimeoutExpired:
        p.stop()
        raise AssertionError("started anyway:\n" + p.text())
    assert rc != 0
    return p.text()


@pytest.mark.parametrize("case", ["cert only", "key only", "missing key", "mismatched",
                                  "not pem"])
def test_bad_tls_settings_stop_the_start(case, certs, tmp_path):
    c, k = str(certs["cert"]), str(certs["key"])
    junk = tmp_path / "junk.pem"
    junk.write_text("hello\n")
    args = {"cert only": ["--tls-cert", c],
            "key only": ["--tls-key", k],
            "missing key": ["--tls-cert", c, "--tls-key", str(tmp_path / "nope.key")],
            "mismatched": ["--tls-cert", c, "--tls-key", str(certs["other_key"])],
            "not pem": ["--tls-cert", c, "--tls-key", str(junk)]}[case]
    text = start_fails(["server", "--data-dir", str(tmp_path / "data"), *args], tmp_path)
    assert "tls" in text.lower(), text
    assert "PRIVATE KEY" not in text and "BEGIN" not in text, text
    if case == "mismatched":
        assert "not the certificate's" in text, text


MODULE = b"""\
import numpy as np

FEATURES = 2


def predict(batch):
    return np.asarray(batch, dtype=np.float64).sum(axis=1)
"""


def test_mw_serve_with_tls(certs, tmp_path):
    pytest.importorskip("numpy")
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.py").write_bytes(MODULE)
    p = Proc(["serve", str(model), "--name", "m", "--data-dir", str(tmp_path / "data"),
              "--tls-cert", str(certs["cert"]), "--tls-key", str(certs["key"])], tmp_path)
    try:
        p.wait_ready(str(certs["cert"]), "/ping")
        r = requests.post(p.url + "/v2/models/m/infer", verify=str(certs["cert"]), timeout=30,
                          json={"inputs": [{"name": "input-0", "shape": [1, 2],
                                            "datatype": "FP32", "data": [1, 2]}]})
        assert r.status_code == 200, r.text
        assert r.json()["outputs"][0]["data"] == [3.0]
    finally:
        assert p.stop() == 0, p.text()

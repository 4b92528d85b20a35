"""Authentication (issue 11, item 1): `mw server --auth true` with an admin
password.  Anonymous, wrong-token and wrong-password requests are refused
(401) on every route class in that route's error format; open routes stay
open; Basic and Bearer are accepted; X-MW-User is ignored; a revoked token
is refused on the next request; repeated failures answer 429; the CLI sends
MLFLOW_TRACKING_TOKEN; secrets appear neither in /api/mw/config nor in the
log.  Auth is off by default (the rest of the suite runs without it)."""

import base64
import os
import subprocess

import pytest
import requests

from conftest import assert_ok, mw_bin, unique

ADMIN_PW = "adm1n-Pa55word-for-tests"
MLFLOW = "/api/2.0/mlflow/"


@pytest.fixture
def srv(mw_factory):
    s = mw_factory(extra_args=["--auth", "true", "--log-level", "info"],
                   env={"MW_ADMIN_PASSWORD": ADMIN_PW})
    return s


def basic(user, pw):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


def call(srv, method, path, headers=None, **kw):
    return requests.request(method, srv.url + path, headers=headers or {}, timeout=30, **kw)


def new_token(srv, name="t", headers=None, **extra):
    r = call(srv, "POST", "/api/mw/tokens", headers or basic("admin", ADMIN_PW),
             json={"name": name, **extra})
    body = assert_ok(r)["token"]
    assert body["token"].startswith("mw_") and body["name"] == name
    return body


# one route of each class (MLflow, artifacts, registry native, V2, scoring, admin)
ROUTES = [
    ("GET", MLFLOW + "experiments/search?max_results=1", None, "mlflow"),
    ("POST", MLFLOW + "experiments/create", {"name": "x"}, "mlflow"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts?path=0", None, "mlflow"),
    ("GET", "/api/mw/models/m/history", None, "mlflow"),
    ("POST", "/v2/models/m/infer", {"inputs": []}, "v2"),
    ("GET", "/v2/models/m/ready", None, "v2"),
    ("GET", "/api/mw/config", None, "mlflow"),
    ("GET", "/api/mw/tokens", None, "mlflow"),
]


def check_401(r, fmt):
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.headers.get("WWW-Authenticate") == 'Basic realm="mw"'
    body = r.json()
    if fmt == "mlflow":
        assert body["error_code"] == "UNAUTHENTICATED", body
        assert body["message"]
    else:
        assert set(body) == {"error"} and body["error"], body


def test_refused_without_valid_credentials_on_every_route_class(srv):
    tok = new_token(srv)["token"]
    wrong_tok = tok[:-4] + ("AAAA" if not tok.endswith("AAAA") else "BBBB")
    wrong = [bearer(wrong_tok), bearer("not-a-token"), basic("admin", "wrong-pw"),
             basic("nobody", ADMIN_PW), {"Authorization": "Digest abc"}]
    # (wrong credentials count towards the limiter: one per route keeps under 10)
    for i, (method, path, body, fmt) in enumerate(ROUTES):
        for h in ({}, {"X-MW-User": "admin"}, wrong[i % len(wrong)]):
            r = call(srv, method, path, h, json=body)
            check_401(r, fmt)
        # the same route with credentials gets past authentication
        for h in (basic("admin", ADMIN_PW), bearer(tok)):
            r = call(srv, method, path, h, json=body)
            assert r.status_code not in (401, 403, 429), (path, r.status_code, r.text)


def test_open_routes_stay_open(srv):
    for path in ("/health", "/version", "/metrics", "/v2/health/live", "/v2/health/ready",
                 "/v2"):
        r = call(srv, "GET", path)
        assert r.status_code == 200, (path, r.status_code, r.text)


def test_basic_and_bearer_and_verified_identity(srv):
    tok = new_token(srv)["token"]
    name = unique("rm")
    # X-MW-User must not set the identity under auth: the verified user does
    r = call(srv, "POST", MLFLOW + "registered-models/create",
             {**basic("admin", ADMIN_PW), "X-MW-User": "mallory"}, json={"name": name})
    assert assert_ok(r)["registered_model"]["user_id"] == "admin"
    r = call(srv, "POST", MLFLOW + "registered-models/create",
             {**bearer(tok), "X-MW-User": "mallory"}, json={"name": name + "b"})
    assert assert_ok(r)["registered_model"]["user_id"] == "admin"
    # a lowercase scheme is accepted too
    r = call(srv, "GET", MLFLOW + "experiments/search?max_results=1",
             {"Authorization": "bearer " + tok})
    assert_ok(r)


def test_token_revocation_is_effective_at_once(srv):
    t = new_token(srv, "ci")
    h = bearer(t["token"])
    assert_ok(call(srv, "GET", MLFLOW + "experiments/search?max_results=1", h))
    listed = assert_ok(call(srv, "GET", "/api/mw/tokens", h))["tokens"]
    mine = [x for x in listed if x["id"] == t["id"]]
    assert mine and "token" not in mine[0] and "hash" not in mine[0]
    assert mine[0]["name"] == "ci" and mine[0]["user"] == "admin"
    assert_ok(call(srv, "DELETE", f"/api/mw/tokens/{t['id']}", h))
    check_401(call(srv, "GET", MLFLOW + "experiments/search?max_results=1", h), "mlflow")
    listed = assert_ok(call(srv, "GET", "/api/mw/tokens", basic("admin", ADMIN_PW)))["tokens"]
    assert [x for x in listed if x["id"] == t["id"]][0]["revoked_at"] > 0


def test_users_endpoints_and_admin_routes(srv):
    adm = basic("admin", ADMIN_PW)
    r = call(srv, "POST", MLFLOW + "users/create", adm,
             json={"username": "bob", "password": "bob-password-1"})
    u = assert_ok(r)["user"]
    assert u["username"] == "bob" and u["is_admin"] is False
    bob = basic("bob", "bob-password-1")
    assert_ok(call(srv, "GET", MLFLOW + "experiments/search?max_results=1", bob))
    # not an admin: 403 on admin routes, in the route's format
    for method, path, body in (("GET", "/api/mw/config", None),
                               ("POST", MLFLOW + "users/create",
                                {"username": "eve", "password": "eve-password-1"}),
                               ("PATCH", MLFLOW + "users/update-admin",
                                {"username": "bob", "is_admin": True})):
        r = call(srv, method, path, bob, json=body)
        assert r.status_code == 403, (path, r.status_code, r.text)
        assert r.json()["error_code"] == "PERMISSION_DENIED"
    # self may read itself, not others
    assert assert_ok(call(srv, "GET", MLFLOW + "users/get?username=bob", bob))["user"][
        "username"] == "bob"
    assert call(srv, "GET", MLFLOW + "users/get?username=admin", bob).status_code == 403
    # a user's own token
    t = new_token(srv, "bobs", headers=bob)
    assert_ok(call(srv, "GET", MLFLOW + "experiments/search?max_results=1", bearer(t["token"])))
    # password change: the old one stops working at once
    assert_ok(call(srv, "PATCH", MLFLOW + "users/update-password", bob,
                   json={"username": "bob", "password": "bob-password-2"}))
    check_401(call(srv, "GET", MLFLOW + "experiments/search?max_results=1", bob), "mlflow")
    bob = basic("bob", "bob-password-2")
    assert_ok(call(srv, "GET", MLFLOW + "experiments/search?max_results=1", bob))
    # promoted to admin
    assert_ok(call(srv, "PATCH", MLFLOW + "users/update-admin", adm,
                   json={"username": "bob", "is_admin": True}))
    assert_ok(call(srv, "GET", "/api/mw/config", bob))
    # deleted: the password and the token are refused
    assert_ok(call(srv, "DELETE", MLFLOW + "users/delete", adm, json={"username": "bob"}))
    check_401(call(srv, "GET", MLFLOW + "experiments/search?max_results=1", bob), "mlflow")
    check_401(call(srv, "GET", MLFLOW + "experiments/search?max_results=1",
                   bearer(t["token"])), "mlflow")


def test_repeated_failures_answer_429(srv):
    path = MLFLOW + "experiments/search?max_results=1"
    for i in range(10):
        check_401(call(srv, "GET", path, basic("admin", f"wrong-{i}")), "mlflow")
    r = call(srv, "GET", path, basic("admin", "wrong-10"))
    check_401(r, "mlflow")  # the 11th failure is still answered, and counted
    for h, fmt_path, fmt in ((basic("admin", ADMIN_PW), path, "mlflow"),
                             ({}, "/v2/models/m/infer", "v2")):
        r = call(srv, "GET" if fmt == "mlflow" else "POST", fmt_path, h, json={"inputs": []})
        assert r.status_code == 429, (r.status_code, r.text)
        assert 0 < int(r.headers["Retry-After"]) <= 60
        body = r.json()
        if fmt == "mlflow":
            assert body["error_code"] == "REQUEST_LIMIT_EXCEEDED"
        else:
            assert set(body) == {"error"}
    # open routes are not limited
    assert call(srv, "GET", "/health").status_code == 200


def test_cli_with_tracking_token(srv, tmp_path):
    tok = new_token(srv, "cli")["token"]
    env = dict(os.environ)
    env.pop("MW_URI", None)
    env.pop("MLFLOW_TRACKING_USERNAME", None)
    env.pop("MLFLOW_TRACKING_PASSWORD", None)
    env.pop("MLFLOW_TRACKING_TOKEN", None)

    def cli(*args, **extra):
        return subprocess.run([mw_bin(), *args, "--uri", srv.url], capture_output=True,
                              text=True, timeout=30, env={**env, **extra},
                              stdin=subprocess.DEVNULL)

    p = cli("experiments", "list")
    assert p.returncode != 0 and "UNAUTHENTICATED" in p.stderr, (p.stdout, p.stderr)
    p = cli("experiments", "list", MLFLOW_TRACKING_TOKEN=tok)
    assert p.returncode == 0 and "Default" in p.stdout, (p.stdout, p.stderr)
    p = cli("experiments", "list", MLFLOW_TRACKING_USERNAME="admin",
            MLFLOW_TRACKING_PASSWORD=ADMIN_PW)
    assert p.returncode == 0 and "Default" in p.stdout, (p.stdout, p.stderr)
    # tokens through the CLI, for the caller
    p = cli("auth", "token", "create", "from-cli", "--json", MLFLOW_TRACKING_TOKEN=tok)
    assert p.returncode == 0, p.stderr
    import json
    made = json.loads(p.stdout)["token"]
    p = cli("experiments", "list", MLFLOW_TRACKING_TOKEN=made["token"])
    assert p.returncode == 0, p.stderr
    p = cli("auth", "token", "revoke", str(made["id"]), MLFLOW_TRACKING_TOKEN=tok)
    assert p.returncode == 0, p.stderr
    p = cli("experiments", "list", MLFLOW_TRACKING_TOKEN=made["token"])
    assert p.returncode != 0 and "UNAUTHENTICATED" in p.stderr
    p = cli("auth", "token", "list", MLFLOW_TRACKING_TOKEN=tok)
    assert p.returncode == 0 and "from-cli" in p.stdout and "revoked" in p.stdout


def test_secrets_not_in_config_nor_log(srv):
    tok = new_token(srv, "secret")["token"]
    call(srv, "GET", MLFLOW + "experiments/search", bearer(tok))
    call(srv, "GET", MLFLOW + "experiments/search", basic("admin", "a-wrong-password"))
    cfg = assert_ok(call(srv, "GET", "/api/mw/config", basic("admin", ADMIN_PW)))
    row = [s for s in cfg["settings"] if s["name"] == "admin-password"][0]
    assert row["secret"] is True
    assert ADMIN_PW not in str(cfg)
    auth = [s for s in cfg["settings"] if s["name"] == "auth"][0]
    assert auth["value"] == "true"
    srv.stop()
    log = open(srv.stderr_path, encoding="utf-8", errors="replace").read()
    assert "failed login" in log  # the log is there, and says what happened
    for secret in (ADMIN_PW, tok, tok[3:], "a-wrong-password"):
        assert secret not in log


def test_auth_is_off_by_default(mw_factory):
    s = mw_factory()
    r = call(s, "GET", MLFLOW + "experiments/search?max_results=1")
    assert r.status_code == 200
    r = call(s, "POST", MLFLOW + "users/create", json={"username": "u", "password": "p" * 8})
    assert r.status_code == 404
    # the claimed identity is still taken, unverified, as before
    name = unique("rm")
    r = call(s, "POST", MLFLOW + "registered-models/create", {"X-MW-User": "alice"},
             json={"name": name})
    assert assert_ok(r)["registered_model"]["user_id"] == "alice"


def test_admin_password_too_short_stops_the_start(tmp_path):
    from conftest import MwServer
    s = MwServer(tmp_path / "d", extra_args=["--auth", "true"],
                 env={"MW_ADMIN_PASSWORD": "short"})
    with pytest.raises(RuntimeError) as e:
        s.start()
    assert "admin-password" in str(e.value) and "short" not in str(e.value).split("stderr:")[1]


def test_health_closed_when_asked(tmp_path):
    """--auth-open-health false: the health routes need a user too (the server is
    started by hand: MwServer waits for an open /health)."""
    import time
    from conftest import free_port
    port = free_port()
    env = dict(os.environ, MW_ADMIN_PASSWORD=ADMIN_PW)
    env.pop("MW_URI", None)
    log = open(tmp_path / "mw.log", "wb")
    proc = subprocess.Popen([mw_bin(), "server", "--host", "127.0.0.1", "--port", str(port),
                             "--data-dir", str(tmp_path / "d"), "--auth", "true",
                             "--auth-open-health", "false"],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        r = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                r = requests.get(url + "/health", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.05)
        assert r is not None, "mw did not answer"
        for path in ("/health", "/metrics", "/version", "/v2/health/ready"):
            r = requests.get(url + path, timeout=10)
            assert r.status_code == 401, (path, r.status_code, r.text)
            r = requests.get(url + path, headers=basic("admin", ADMIN_PW), timeout=30)
            assert r.status_code == 200, (path, r.status_code, r.text)
    finally:
        proc.terminate()
        assert proc.wait(15) == 0
        log.close()


# ------------------------------------------------------------ inference tokens

def test_inference_token_calls_serving_routes_only(srv):
    inf = new_token(srv, "app", scope="inference")
    assert inf["scope"] == "inference"
    assert new_token(srv, "full")["scope"] == "full"
    h = bearer(inf["token"])
    # serving routes (and open ones) get past auth: 404/400 for the unknown model
    for method, path, body, _fmt in ROUTES:
        r = call(srv, method, path, h, json=body)
        if path.startswith("/v2/models/"):
            assert r.status_code not in (401, 403), (path, r.status_code, r.text)
        else:
            assert r.status_code == 403, (path, r.status_code, r.text)
            assert "inference token" in r.text
    for path in ("/invocations", "/v2/models/m/infer"):
        r = call(srv, "POST", path, h, json={"inputs": []})
        assert r.status_code not in (401, 403), (path, r.status_code, r.text)
    assert call(srv, "GET", "/health", h).status_code == 200
    # it cannot mint itself a full token, nor change anything
    r = call(srv, "POST", "/api/mw/tokens", h, json={"name": "escalate"})
    assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED", r.text
    r = call(srv, "POST", MLFLOW + "registered-models/create", h, json={"name": unique("x")})
    assert r.status_code == 403, r.text
    listed = assert_ok(call(srv, "GET", "/api/mw/tokens", basic("admin", ADMIN_PW)))["tokens"]
    assert [x for x in listed if x["id"] == inf["id"]][0]["scope"] == "inference"


def test_token_scope_is_checked(srv):
    r = call(srv, "POST", "/api/mw/tokens", basic("admin", ADMIN_PW),
             json={"name": "x", "scope": "everything"})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", r.text


def test_cli_creates_inference_tokens(srv, tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("MW_URI", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME",
                        "MLFLOW_TRACKING_PASSWORD")}
    env.update(MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD=ADMIN_PW)
    p = subprocess.run([mw_bin(), "auth", "token", "create", "cli-app", "--scope", "inference",
                        "--json", "--uri", srv.url], capture_output=True, text=True,
                       timeout=30, env=env, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    import json
    made = json.loads(p.stdout)["token"]
    assert made["scope"] == "inference"
    r = call(srv, "GET", MLFLOW + "experiments/search?max_results=1", bearer(made["token"]))
    assert r.status_code == 403, r.text
    # on the data directory too
    p = subprocess.run([mw_bin(), "auth", "token", "create", "local-app", "--scope",
                        "inference", "--json", "--data-dir", srv.data_dir],
                       capture_output=True, text=True, timeout=30,
                       env={k: v for k, v in env.items() if not k.startswith("MLFLOW_")},
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    tok = json.loads(p.stdout)["token"]["token"]
    r = call(srv, "GET", MLFLOW + "experiments/search?max_results=1", bearer(tok))
    assert r.status_code == 403, r.text
    assert call(srv, "POST", "/v2/models/m/infer", bearer(tok),
                json={"inputs": []}).status_code not in (401, 403)


# ------------------------------------------------------------ mw serve --auth

SERVE_MODULE = b"""\
import numpy as np

FEATURES = 2


def predict(batch):
    return np.asarray(batch, dtype=np.float64).sum(axis=1)
"""


def _local(args, data):
    env = {k: v for k, v in os.environ.items()
           if k not in ("MW_URI",) and not k.startswith("MLFLOW_")}
    p = subprocess.run([mw_bin(), *args, "--data-dir", str(data)], capture_output=True,
                       text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    return p.stdout


def _serve(tmp_path, data, *extra):
    import time
    from conftest import free_port
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    (model / "model.py").write_bytes(SERVE_MODULE)
    port = free_port()
    log = open(tmp_path / f"serve-{port}.log", "wb")
    env = {k: v for k, v in os.environ.items() if k != "MW_URI"}
    proc = subprocess.Popen([mw_bin(), "serve", str(model), "--name", "m", "--host",
                             "127.0.0.1", "--port", str(port), "--data-dir", str(data),
                             "--auth", "true", *extra], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log, env=env)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            requests.get(url + "/ping", timeout=1)
            return proc, url
        except requests.RequestException:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError((tmp_path / f"serve-{port}.log").read_text())


def _stop(proc):
    proc.terminate()
    assert proc.wait(15) == 0


def test_mw_serve_checks_tokens_of_its_data_directory(tmp_path):
    pytest.importorskip("numpy")
    import json
    data = tmp_path / "data"
    _local(["auth", "init", "--password", ADMIN_PW], data)
    full = json.loads(_local(["auth", "token", "create", "ops", "--json"], data))["token"]
    inf = json.loads(_local(["auth", "token", "create", "app", "--scope", "inference",
                             "--json"], data))["token"]
    proc, url = _serve(tmp_path, data)
    try:
        body = {"inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP32",
                            "data": [1, 2]}]}
        infer = url + "/v2/models/m/infer"
        assert requests.get(url + "/ping", timeout=10).status_code == 200
        for h in ({}, bearer(full["token"][:-3] + "xyz"), basic("admin", "nope-nope")):
            r = requests.post(infer, json=body, headers=h, timeout=30)
            assert r.status_code == 401, (h, r.status_code, r.text)
        for h in (bearer(full["token"]), bearer(inf["token"]), basic("admin", ADMIN_PW)):
            r = requests.post(infer, json=body, headers=h, timeout=30)
            assert r.status_code == 200, (r.status_code, r.text)
            assert r.json()["outputs"][0]["data"] == [3.0]
        r = requests.post(url + "/invocations", json={"inputs": [[1, 2]]},
                          headers=bearer(inf["token"]), timeout=30)
        assert r.status_code == 200, r.text
        # the operator routes need a full token of an admin
        r = requests.get(url + "/api/mw/config", headers=bearer(inf["token"]), timeout=10)
        assert r.status_code == 403, r.text
        r = requests.get(url + "/api/mw/config", headers=bearer(full["token"]), timeout=10)
        assert r.status_code == 200, r.text
        # no users or tokens API on a serving replica
        r = requests.get(url + "/api/mw/tokens", headers=bearer(full["token"]), timeout=10)
        assert r.status_code == 404, r.text
    finally:
        _stop(proc)


def test_mw_serve_health_closed_when_asked(tmp_path):
    data = tmp_path / "data"
    _local(["auth", "init", "--password", ADMIN_PW], data)
    proc, url = _serve(tmp_path, data, "--auth-open-health", "false")
    try:
        assert requests.get(url + "/ping", timeout=10).status_code == 401
        r = requests.get(url + "/ping", headers=basic("admin", ADMIN_PW), timeout=10)
        assert r.status_code == 200, r.text
    finally:
        _stop(proc)

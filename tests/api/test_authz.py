"""Authorisation (issue 11, item 2 and the role part of item 4): roles
(admin, editor, viewer), MLflow's per-experiment and per-registered-model
permissions (READ, EDIT, MANAGE, NO_PERMISSIONS) and its permission
endpoints with their exact wire shapes, under /api/2.0/mlflow/ and
/ajax-api/2.0/mlflow/.  READ reads and cannot write, EDIT writes and cannot
manage permissions, MANAGE grants, NO_PERMISSIONS hides (search too); the
creator gets MANAGE; a denied call answers 403 PERMISSION_DENIED and
changes nothing; a Python or pickle model needs the editor role; `mw auth
role` sets a role through the server."""

import base64
import os
import subprocess

import pytest
import requests

from conftest import assert_ok, mw_bin, now_ms, unique

ADMIN_PW = "adm1n-Pa55word-for-tests"
API = "/api/2.0/mlflow/"
AJAX = "/ajax-api/2.0/mlflow/"

PY_MODEL = {"MLmodel": b"flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n"
                       b"    model_path: model.pkl\n  sklearn:\n    pickled_model: model.pkl\n",
            "model.pkl": b"\x80\x04pickle"}
XGB_MODEL = {"MLmodel": b"flavors:\n  xgboost:\n    data: model.json\n    model_format: json\n"
                        b"  python_function:\n    loader_module: mlflow.xgboost\n"
                        b"    data: model.json\n",
             "model.json": b"{}"}


def basic(user, pw):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}


ADMIN = basic("admin", ADMIN_PW)


class Client:
    def __init__(self, srv, headers):
        self.srv, self.h = srv, headers

    def req(self, method, path, body=None, params=None, prefix=API):
        return requests.request(method, self.srv.url + (prefix + path if prefix else path),
                                headers=self.h, json=body, params=params, timeout=30)

    def ok(self, method, path, body=None, params=None, prefix=API):
        return assert_ok(self.req(method, path, body, params, prefix))

    def denied(self, method, path, body=None, params=None, prefix=API):
        r = self.req(method, path, body, params, prefix)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        assert r.json()["error_code"] == "PERMISSION_DENIED", r.text
        return r


@pytest.fixture
def srv(mw_factory):
    return mw_factory(extra_args=["--auth", "true"], env={"MW_ADMIN_PASSWORD": ADMIN_PW})


def user(srv, name, role=None):
    pw = name + "-password-1"
    assert_ok(requests.post(srv.url + API + "users/create", headers=ADMIN, timeout=30,
                            json={"username": name, "password": pw}))
    if role:
        assert_ok(requests.patch(srv.url + "/api/mw/users/role", headers=ADMIN, timeout=30,
                                 json={"username": name, "role": role}))
    return Client(srv, basic(name, pw))


def put_art(c, path, data):
    return requests.put(c.srv.url + "/api/2.0/mlflow-artifacts/artifacts/" + path,
                        headers=c.h, data=data, timeout=30)


def new_run(c, exp):
    return c.ok("POST", "runs/create", {"experiment_id": exp, "start_time": now_ms()})["run"][
        "info"]["run_id"]


def exp_ids(c):
    return {e["experiment_id"] for e in
            c.ok("POST", "experiments/search", {"max_results": 1000})["experiments"]}


def test_experiment_permissions(srv):
    alice, bob, carol = user(srv, "alice"), user(srv, "bob"), user(srv, "carol")
    exp = alice.ok("POST", "experiments/create", {"name": unique("e")})["experiment_id"]
    run = new_run(alice, exp)
    # the creator got MANAGE, as MLflow's after-request hook does
    got = alice.ok("GET", "experiments/permissions/get",
                   params={"experiment_id": exp, "username": "alice"})
    assert got["experiment_permission"]["permission"] == "MANAGE"
    assert got["experiment_permission"]["experiment_id"] == exp
    assert isinstance(got["experiment_permission"]["user_id"], int)

    # bob is a viewer: READ by default, reads but does not write
    bob.ok("GET", "experiments/get", params={"experiment_id": exp})
    bob.ok("GET", "runs/get", params={"run_id": run})
    bob.denied("POST", "runs/create", {"experiment_id": exp, "start_time": now_ms()})
    bob.denied("POST", "runs/log-metric", {"run_id": run, "key": "m", "value": 1,
                                           "timestamp": now_ms()})
    bob.denied("POST", "experiments/update", {"experiment_id": exp, "new_name": "renamed"})
    # ... and the denied calls changed nothing
    e = alice.ok("GET", "experiments/get", params={"experiment_id": exp})["experiment"]
    assert e["name"] != "renamed"
    assert "metrics" not in alice.ok("GET", "runs/get", params={"run_id": run})["run"]["data"]
    bob.denied("POST", "experiments/permissions/create",
               {"experiment_id": exp, "username": "bob", "permission": "MANAGE"})

    # EDIT (granted on the ajax prefix): writes, but does not manage permissions or delete
    r = alice.ok("POST", "experiments/permissions/create",
                 {"experiment_id": exp, "username": "bob", "permission": "EDIT"}, prefix=AJAX)
    assert set(r) == {"experiment_permission"}
    assert set(r["experiment_permission"]) == {"experiment_id", "user_id", "permission"}
    assert r["experiment_permission"]["permission"] == "EDIT"
    bob.ok("POST", "runs/log-metric", {"run_id": run, "key": "m", "value": 1,
                                       "timestamp": now_ms()})
    bob_run = new_run(bob, exp)
    bob.denied("POST", "experiments/permissions/create",
               {"experiment_id": exp, "username": "carol", "permission": "READ"})
    bob.denied("GET", "experiments/permissions/get",
               params={"experiment_id": exp, "username": "bob"})
    bob.denied("POST", "runs/delete", {"run_id": bob_run})
    bob.denied("POST", "experiments/delete", {"experiment_id": exp})
    assert alice.ok("GET", "experiments/get",
                    params={"experiment_id": exp})["experiment"]["lifecycle_stage"] == "active"

    # a second create is refused; update and delete of a missing row are 404
    r = alice.req("POST", "experiments/permissions/create",
                  {"experiment_id": exp, "username": "bob", "permission": "READ"})
    assert r.status_code == 400 and r.json()["error_code"] == "RESOURCE_ALREADY_EXISTS", r.text
    r = alice.req("PATCH", "experiments/permissions/update",
                  {"experiment_id": exp, "username": "carol", "permission": "READ"})
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST", r.text
    r = alice.req("POST", "experiments/permissions/create",
                  {"experiment_id": exp, "username": "carol", "permission": "OWNER"})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"

    # NO_PERMISSIONS hides it: get, runs, metrics, artifacts and search
    assert alice.ok("PATCH", "experiments/permissions/update",
                    {"experiment_id": exp, "username": "bob",
                     "permission": "NO_PERMISSIONS"}) == {}
    assert exp not in exp_ids(bob)
    assert exp in exp_ids(carol)
    bob.denied("GET", "experiments/get", params={"experiment_id": exp})
    bob.denied("GET", "runs/get", params={"run_id": run})
    bob.denied("GET", "metrics/get-history", params={"run_id": run, "metric_key": "m"})
    bob.denied("POST", "runs/search", {"experiment_ids": [exp]})
    bob.denied("GET", "experiments/get-by-name", params={"experiment_name": e["name"]})
    assert put_art(alice, f"{exp}/{run}/artifacts/a.txt", b"hello").status_code == 200
    r = requests.get(srv.url + f"/api/2.0/mlflow-artifacts/artifacts/{exp}/{run}/artifacts/a.txt",
                     headers=bob.h, timeout=30)
    assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED"
    r = requests.get(srv.url + f"/api/2.0/mlflow-artifacts/artifacts/{exp}/{run}/artifacts/a.txt",
                     headers=carol.h, timeout=30)
    assert r.status_code == 200 and r.content == b"hello"
    # READ (carol, the default) reads artifacts but does not upload them
    assert put_art(carol, f"{exp}/{run}/artifacts/b.txt", b"x").status_code == 403
    got = alice.ok("GET", "experiments/permissions/get",
                   params={"experiment_id": exp, "username": "bob"}, prefix=AJAX)
    assert got["experiment_permission"]["permission"] == "NO_PERMISSIONS"

    # deleting the row brings the role's default back; MANAGE may grant
    assert alice.ok("DELETE", "experiments/permissions/delete",
                    {"experiment_id": exp, "username": "bob"}) == {}
    bob.ok("GET", "experiments/get", params={"experiment_id": exp})
    alice.ok("POST", "experiments/permissions/create",
             {"experiment_id": exp, "username": "bob", "permission": "MANAGE"})
    bob.ok("POST", "experiments/permissions/create",
           {"experiment_id": exp, "username": "carol", "permission": "EDIT"})
    new_run(carol, exp)
    # users/get lists the rows, MLflow's way, with mw's role
    u = assert_ok(requests.get(srv.url + API + "users/get", headers=ADMIN, timeout=30,
                               params={"username": "bob"}))["user"]
    assert u["role"] == "viewer" and u["is_admin"] is False
    assert {"experiment_id": exp, "user_id": u["id"], "permission": "MANAGE"} in \
        u["experiment_permissions"]


def mv_count(c, name):
    return len(c.ok("GET", "model-versions/search", params={"filter": f"name='{name}'"}).get(
        "model_versions", []))


def test_registered_model_permissions(srv):
    alice, bob = user(srv, "alice"), user(srv, "bob")
    name = unique("M")
    alice.ok("POST", "registered-models/create", {"name": name})
    got = alice.ok("GET", "registered-models/permissions/get",
                   params={"name": name, "username": "alice"})
    assert got == {"registered_model_permission": {
        "name": name, "user_id": got["registered_model_permission"]["user_id"],
        "permission": "MANAGE"}}
    # viewer: reads, cannot write
    bob.ok("GET", "registered-models/get", params={"name": name})
    bob.denied("POST", "registered-models/set-tag", {"name": name, "key": "k", "value": "v"})
    bob.denied("POST", "registered-models/rename", {"name": name, "new_name": name + "x"})
    bob.denied("POST", "/api/mw/models/" + name + "/aliases", {"alias": "a", "version": "1"},
               prefix=None)
    m = alice.ok("GET", "registered-models/get", params={"name": name})["registered_model"]
    assert not m.get("tags")
    # EDIT: writes, cannot delete or grant
    r = alice.ok("POST", "registered-models/permissions/create",
                 {"name": name, "username": "bob", "permission": "EDIT"}, prefix=AJAX)
    assert r["registered_model_permission"]["permission"] == "EDIT"
    bob.ok("POST", "registered-models/set-tag", {"name": name, "key": "k", "value": "v"})
    bob.denied("DELETE", "registered-models/delete", {"name": name})
    bob.denied("PATCH", "registered-models/permissions/update",
               {"name": name, "username": "bob", "permission": "MANAGE"})
    # a rename carries the permissions with it
    alice.ok("POST", "registered-models/rename", {"name": name, "new_name": name + "2"})
    name += "2"
    bob.ok("POST", "registered-models/set-tag", {"name": name, "key": "k2", "value": "v"})
    # NO_PERMISSIONS hides the model from get and searches
    alice.ok("PATCH", "registered-models/permissions/update",
             {"name": name, "username": "bob", "permission": "NO_PERMISSIONS"})
    bob.denied("GET", "registered-models/get", params={"name": name})
    names = {m["name"] for m in bob.ok("GET", "registered-models/search",
                                       params={"max_results": 1000})["registered_models"]}
    assert name not in names
    assert name in {m["name"] for m in alice.ok("GET", "registered-models/search", params={
        "max_results": 1000})["registered_models"]}
    bob.denied("GET", "/api/mw/models/" + name + "/history", prefix=None)
    alice.ok("DELETE", "registered-models/permissions/delete", {"name": name, "username": "bob"})
    bob.ok("GET", "registered-models/get", params={"name": name})


def test_roles(srv):
    alice = user(srv, "alice")
    ed = user(srv, "ed", role="editor")
    exp = alice.ok("POST", "experiments/create", {"name": unique("e")})["experiment_id"]
    # an editor has EDIT where it has no row: writes, but does not manage
    new_run(ed, exp)
    ed.denied("POST", "experiments/delete", {"experiment_id": exp})
    # an explicit row overrides the role both ways
    alice.ok("POST", "experiments/permissions/create",
             {"experiment_id": exp, "username": "ed", "permission": "READ"})
    ed.denied("POST", "runs/create", {"experiment_id": exp, "start_time": now_ms()})
    # only an admin sets roles; roles are checked
    ed.denied("PATCH", "/api/mw/users/role", {"username": "ed", "role": "admin"}, prefix=None)
    r = requests.patch(srv.url + "/api/mw/users/role", headers=ADMIN, timeout=30,
                       json={"username": "ed", "role": "owner"})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    # MLflow's update-admin keeps working: an admin manages everything...
    assert_ok(requests.patch(srv.url + API + "users/update-admin", headers=ADMIN, timeout=30,
                             json={"username": "alice", "is_admin": True}))
    adm = Client(srv, alice.h)
    u = adm.ok("GET", "users/get", params={"username": "ed"})["user"]
    assert u["role"] == "editor"
    # ... and stops being one (back to the default role, viewer)
    assert_ok(requests.patch(srv.url + API + "users/update-admin", headers=ADMIN, timeout=30,
                             json={"username": "alice", "is_admin": False}))
    u = assert_ok(requests.get(srv.url + API + "users/get", headers=ADMIN, timeout=30,
                               params={"username": "alice"}))["user"]
    assert u["role"] == "viewer" and u["is_admin"] is False
    # the ajax prefix serves the users routes too
    assert_ok(requests.get(srv.url + AJAX + "users/get", headers=ADMIN, timeout=30,
                           params={"username": "ed"}))


def test_default_role_setting(mw_factory):
    srv = mw_factory(extra_args=["--auth", "true", "--auth-default-role", "editor"],
                     env={"MW_ADMIN_PASSWORD": ADMIN_PW})
    alice, bob = user(srv, "alice"), user(srv, "bob")
    exp = alice.ok("POST", "experiments/create", {"name": unique("e")})["experiment_id"]
    new_run(bob, exp)  # an editor by default: EDIT on alice's experiment


def register(c, name, exp, files):
    run = new_run(c, exp)
    for p, data in files.items():
        assert put_art(c, f"{exp}/{run}/artifacts/model/{p}", data).status_code == 200
    return c.req("POST", "model-versions/create", {"name": name, "source": f"runs:/{run}/model"})


def test_python_model_needs_the_editor_role(srv):
    alice = user(srv, "alice")
    ed = user(srv, "ed", role="editor")
    exp = alice.ok("POST", "experiments/create", {"name": unique("e")})["experiment_id"]
    name = unique("M")
    alice.ok("POST", "registered-models/create", {"name": name})
    # alice has MANAGE on the model, but is a viewer: no Python or pickle models
    r = register(alice, name, exp, PY_MODEL)
    assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED", r.text
    assert "editor role" in r.json()["message"]
    assert mv_count(alice, name) == 0
    # a native xgboost model is fine
    v1 = assert_ok(register(alice, name, exp, XGB_MODEL))["model_version"]["version"]
    alice.ok("POST", "registered-models/alias", {"name": name, "alias": "champion",
                                                 "version": v1})
    # an editor (EDIT on the model too) registers the Python one
    alice.ok("POST", "registered-models/permissions/create",
             {"name": name, "username": "ed", "permission": "EDIT"})
    alice.ok("POST", "experiments/permissions/create",
             {"experiment_id": exp, "username": "ed", "permission": "EDIT"})
    v2 = assert_ok(register(ed, name, exp, PY_MODEL))["model_version"]["version"]
    # alice may not point an alias or a stage at it, an editor may
    alice.denied("POST", "registered-models/alias",
                 {"name": name, "alias": "champion", "version": v2, "force": True})
    alice.denied("POST", "model-versions/transition-stage",
                 {"name": name, "version": v2, "stage": "Production",
                  "archive_existing_versions": False})
    got = alice.ok("GET", "registered-models/alias", params={"name": name, "alias": "champion"})
    assert got["model_version"]["version"] == v1
    ed.ok("POST", "registered-models/alias", {"name": name, "alias": "champion", "version": v2,
                                              "force": True})


def test_authentication_comes_before_405(srv):
    # a known path with the wrong method: 401 without credentials, 405 with them
    r = requests.get(srv.url + API + "experiments/create", timeout=30)
    assert r.status_code == 401, r.text
    r = requests.get(srv.url + API + "experiments/create", headers=ADMIN, timeout=30)
    assert r.status_code == 405, r.text
    # no credentials on a permission route: 401, not 403
    r = requests.get(srv.url + AJAX + "experiments/permissions/get", timeout=30,
                     params={"experiment_id": "0", "username": "admin"})
    assert r.status_code == 401 and r.json()["error_code"] == "UNAUTHENTICATED"


def test_cli_sets_a_role(srv):
    user(srv, "vic")
    env = dict(os.environ, MW_URI=srv.url, MLFLOW_TRACKING_USERNAME="admin",
               MLFLOW_TRACKING_PASSWORD=ADMIN_PW)
    r = subprocess.run([mw_bin(), "auth", "role", "vic", "editor"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "vic is now an editor" in r.stdout, r.stderr
    u = assert_ok(requests.get(srv.url + API + "users/get", headers=ADMIN, timeout=30,
                               params={"username": "vic"}))["user"]
    assert u["role"] == "editor"
    env.update(MLFLOW_TRACKING_USERNAME="vic", MLFLOW_TRACKING_PASSWORD="vic-password-1")
    r = subprocess.run([mw_bin(), "auth", "role", "vic", "admin"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "PERMISSION_DENIED" in r.stderr + r.stdout, r.stderr


ART = "/api/2.0/mlflow-artifacts/artifacts"


def art_get(c, path):
    return requests.get(c.srv.url + ART + "/" + path, headers=c.h, timeout=30)


def art_ls(c, path=""):
    r = requests.get(c.srv.url + ART, headers=c.h, params={"path": path}, timeout=30)
    return r


def ls_names(c, path=""):
    return {f["path"] for f in assert_ok(art_ls(c, path)).get("files", [])}


def test_artifact_proxy_guards_pins_and_staging(srv):
    alice, bob, carol = user(srv, "alice"), user(srv, "bob"), user(srv, "carol")
    adm = Client(srv, ADMIN)
    exp = alice.ok("POST", "experiments/create", {"name": unique("e")})["experiment_id"]
    name = unique("M")
    alice.ok("POST", "registered-models/create", {"name": name})
    mv = assert_ok(register(alice, name, exp, XGB_MODEL))["model_version"]
    pin = mv["storage_location"].split("mlflow-artifacts:/", 1)[1]
    assert pin.startswith("_registry/")
    model_id = pin.split("/")[1]
    # a second model bob may read, and a staging file only an admin sees
    other = unique("M")
    alice.ok("POST", "registered-models/create", {"name": other})
    other_pin = assert_ok(register(alice, other, exp, XGB_MODEL))["model_version"][
        "storage_location"].split("mlflow-artifacts:/", 1)[1]
    other_id = other_pin.split("/")[1]

    # READ (bob's default as a viewer) reads the pinned files and lists them
    r = art_get(bob, pin + "/MLmodel")
    assert r.status_code == 200 and r.content == XGB_MODEL["MLmodel"], r.text
    assert model_id in ls_names(bob, "_registry")

    # NO_PERMISSIONS on the model: no pinned file, no listing of its pins,
    # and its id is gone from the listing of _registry
    alice.ok("POST", "registered-models/permissions/create",
             {"name": name, "username": "bob", "permission": "NO_PERMISSIONS"})
    for path in (pin + "/MLmodel", pin + "/model.json"):
        r = art_get(bob, path)
        assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED", r.text
    for d in (pin, "_registry/" + model_id):
        r = art_ls(bob, d)
        assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED", r.text
    assert model_id not in ls_names(bob, "_registry")
    assert other_id in ls_names(bob, "_registry")
    assert art_get(bob, other_pin + "/MLmodel").status_code == 200
    # carol (no row) and the admin still read it
    assert art_get(carol, pin + "/MLmodel").status_code == 200
    assert model_id in ls_names(carol, "_registry")
    assert art_get(adm, pin + "/MLmodel").status_code == 200
    assert {model_id, other_id} <= ls_names(adm, "_registry")

    # a rename keeps the model's id: the permission follows at once
    alice.ok("POST", "registered-models/rename", {"name": name, "new_name": name + "r"})
    assert art_get(bob, pin + "/MLmodel").status_code == 403
    alice.ok("DELETE", "registered-models/permissions/delete",
             {"name": name + "r", "username": "bob"})
    assert art_get(bob, pin + "/MLmodel").status_code == 200

    # an id that names no model, and anything else under _registry: an admin's
    r = art_get(bob, "_registry/999999/1/MLmodel")
    assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED"
    assert art_get(adm, "_registry/999999/1/MLmodel").status_code == 404

    # _sources (staging) is an admin's only
    for path in ("_sources", "_sources/abc/MLmodel"):
        r = art_get(bob, path)
        assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED", r.text
    r = art_ls(bob, "_sources")
    assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED"
    assert art_ls(adm, "_sources").status_code == 200

    # the root lists the experiments the caller may read, and _sources to admins only
    hidden = alice.ok("POST", "experiments/create", {"name": unique("e")})["experiment_id"]
    run = new_run(alice, hidden)
    assert put_art(alice, f"{hidden}/{run}/artifacts/a.txt", b"x").status_code == 200
    alice.ok("POST", "experiments/permissions/create",
             {"experiment_id": hidden, "username": "bob", "permission": "NO_PERMISSIONS"})
    root_bob, root_adm = ls_names(bob), ls_names(adm)
    assert exp in root_bob and "_registry" in root_bob
    assert hidden not in root_bob and hidden in root_adm
    assert "_sources" not in root_bob
    assert {exp, hidden, "_registry"} <= root_adm


def test_artifact_proxy_custom_location_follows_its_experiment(srv):
    alice, bob, carol, dave = (user(srv, n) for n in ("alice", "bob", "carol", "dave"))
    adm = Client(srv, ADMIN)
    exp = alice.ok("POST", "experiments/create",
                   {"name": unique("e"), "artifact_location": "mlflow-artifacts:/team-a/proj"}
                   )["experiment_id"]
    run = alice.ok("POST", "runs/create", {"experiment_id": exp, "start_time": now_ms()})["run"]
    d = f"team-a/proj/{run['info']['run_id']}/artifacts"
    assert run["info"]["artifact_uri"] == "mlflow-artifacts:/" + d
    # the run's owner (MANAGE on the experiment) uploads under its root
    r = put_art(alice, d + "/a.txt", b"alpha")
    assert r.status_code == 200, r.text
    for name, perm in (("bob", "NO_PERMISSIONS"), ("carol", "READ"), ("dave", "EDIT")):
        alice.ok("POST", "experiments/permissions/create",
                 {"experiment_id": exp, "username": name, "permission": perm})

    def denied(r):
        assert r.status_code == 403 and r.json()["error_code"] == "PERMISSION_DENIED", r.text

    # NO_PERMISSIONS: neither the file nor its listing
    denied(art_get(bob, d + "/a.txt"))
    denied(art_ls(bob, d))
    denied(art_ls(bob, "team-a/proj"))
    # READ reads and lists but does not write; EDIT uploads
    r = art_get(carol, d + "/a.txt")
    assert r.status_code == 200 and r.content == b"alpha", r.text
    assert "a.txt" in {p.rsplit("/", 1)[-1] for p in ls_names(carol, d)}
    denied(put_art(carol, d + "/b.txt", b"beta"))
    assert put_art(dave, d + "/b.txt", b"beta").status_code == 200
    assert art_get(carol, d + "/b.txt").content == b"beta"

    # a sibling whose name only starts with the root is not the experiment's:
    # nobody owns it, so only an admin reads or writes it
    assert put_art(adm, "team-a/proj2/x.txt", b"x").status_code == 200
    denied(art_get(carol, "team-a/proj2/x.txt"))
    denied(put_art(dave, "team-a/proj2/y.txt", b"y"))
    denied(art_get(carol, "team-a"))
    assert art_get(adm, "team-a/proj2/x.txt").content == b"x"

    # a nested root: the longest wins
    inner = alice.ok("POST", "experiments/create",
                     {"name": unique("e"), "artifact_location": "mlflow-artifacts:/team-a/proj/sub/"}
                     )["experiment_id"]
    alice.ok("POST", "experiments/permissions/create",
             {"experiment_id": inner, "username": "bob", "permission": "READ"})
    alice.ok("POST", "experiments/permissions/create",
             {"experiment_id": inner, "username": "carol", "permission": "NO_PERMISSIONS"})
    irun = new_run(alice, inner)
    assert put_art(alice, f"team-a/proj/sub/{irun}/artifacts/i.txt", b"in").status_code == 200
    assert art_get(bob, f"team-a/proj/sub/{irun}/artifacts/i.txt").content == b"in"
    denied(art_get(carol, f"team-a/proj/sub/{irun}/artifacts/i.txt"))
    denied(art_get(bob, d + "/a.txt"))

    # no new experiment takes another's default root or a reserved one
    for loc in (f"mlflow-artifacts:/{exp}/x", "mlflow-artifacts:/0", "mlflow-artifacts:/_sources/s"):
        r = alice.req("POST", "experiments/create", {"name": unique("e"), "artifact_location": loc})
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", r.text

"""The audit log (docs/api/audit.md): every state-changing route leaves one
record in the same transaction as its change; the table is append-only and
hash-chained; GET /api/mw/audit (admin) and `mw audit` read it.

test_every_state_changing_route_is_audited enumerates the state-changing
routes from the route tables in src/api/ and fails when one appears that this
file neither drives nor lists as exempt (with the reason).
"""

import json
import os
import re
import sqlite3
import subprocess
import uuid
from pathlib import Path

import requests

from conftest import API, REPO, assert_error, assert_ok, mw_bin, now_ms, unique

ADMIN_PW = "audit-admin-pw-1"
ART = "/api/2.0/mlflow-artifacts/artifacts"

# Non-GET routes that change no stored state, and why.
EXEMPT = {
    ("fn", "mpu_unsupported"): "always refuses (multipart upload is not offered)",
    ("fn", "fsck"): "reads and reports; repairs nothing",
    ("fn", "repo_index"): "a listing",
    ("fn", "repo_load"): "loads a model into memory; no stored state changes",
    ("fn", "repo_unload"): "unloads from memory; no stored state changes",
    ("fn", "inv_default"): "inference",
    ("fn", "inv_named"): "inference",
    ("fn", "v2_infer"): "inference",
}


def state_changing_routes():
    """(table, method, path-or-handler) of every non-GET route in src/api/."""
    api = REPO / "src" / "api"
    found = set()
    mlflow = (api / "mlflow.c").read_text() + (api / "registry_endpoints.h").read_text()
    for m, p in re.findall(r'\{W, "(\w+)", "([^"]+)"', mlflow):
        found.add(("mlflow", m, p))
    reg = (api / "mw_registry.c").read_text()
    for op, m in re.findall(r'\{OP_(\w+), "(POST|PUT|PATCH|DELETE)"', reg):
        found.add(("native", m, op))
    auth = (api / "auth.c").read_text()
    for m, p in re.findall(r'R\("(POST|PUT|PATCH|DELETE)", "([^"]+)"', auth):
        found.add(("auth", m, p))
    authz = (api / "authz.c").read_text()
    for m, p in re.findall(r'P\("(POST|PUT|PATCH|DELETE)", (?:pfx|"[^"]*"), "([^"]+)"', authz):
        found.add(("authz", m, p))
    for f in ("artifacts.c", "serving.c", "ops.c"):
        text = (api / f).read_text()
        for m, fn in re.findall(r'\.method = "(POST|PUT|PATCH|DELETE)"(?:(?!\.method).)*?'
                                r'\.(?:fn|stream) = &?(\w+)', text, re.S):
            found.add(("fn", fn))
    assert len(found) > 40, found  # the parse found the tables
    return found


def audit_db(srv):
    return Path(srv.data_dir) / "mw.db"


def entries(srv, auth=("admin", ADMIN_PW), **params):
    r = requests.get(srv.url + "/api/mw/audit", params=params, auth=auth, timeout=30)
    return assert_ok(r)["entries"]


def last(srv, n=1):
    out = []
    tok = None
    while True:
        p = {"max_results": 1000}
        if tok:
            p["page_token"] = tok
        r = assert_ok(requests.get(srv.url + "/api/mw/audit", params=p,
                                   auth=("admin", ADMIN_PW), timeout=30))
        out += r["entries"]
        tok = r.get("next_page_token")
        if not tok:
            return out[-n:] if n else out


def auth_server(mw_factory):
    s = mw_factory(extra_args=["--auth", "true"], env={"MW_ADMIN_PASSWORD": ADMIN_PW})
    s.session.auth = ("admin", ADMIN_PW)
    return s


def test_every_state_changing_route_is_audited(mw_factory):
    srv = auth_server(mw_factory)
    covered = {}

    def check(key, resp, action, resource=None, after=None, before=None):
        assert resp.status_code == 200, (key, resp.status_code, resp.text)
        # the request's records (a create also grants its creator MANAGE: a
        # second record of the same request)
        mine = [e for e in last(srv, 5) if e["request_id"] == resp.headers["X-Request-Id"]]
        assert mine, (key, "no audit record for the request", last(srv, 5))
        e = next((e for e in mine if e["action"] == action), mine[-1])
        assert e["action"] == action, (key, mine)
        assert e["user"] == "admin" and e["verified"] is True, e
        if resource is not None:
            assert e["resource"] == resource, e
        for k, v in (after or {}).items():
            assert e["after"][k] == v, e
        for k, v in (before or {}).items():
            assert e["before"][k] == v, e
        covered[key] = e
        return e

    def ml(method, path, body):
        return check_ml(method, path, body)

    def check_ml(method, path, body):
        return srv.request(method, path, json_body=body)

    # tracking
    name = unique("exp")
    r = ml("POST", "experiments/create", {"name": name})
    exp = r.json()["experiment_id"]
    check(("mlflow", "POST", "experiments/create"), r, "experiment.create", exp, {"name": name})
    check(("mlflow", "POST", "experiments/update"),
          ml("POST", "experiments/update", {"experiment_id": exp, "new_name": name + "2"}),
          "experiment.rename", exp, {"name": name + "2"})
    check(("mlflow", "POST", "experiments/set-experiment-tag"),
          ml("POST", "experiments/set-experiment-tag", {"experiment_id": exp, "key": "k",
                                                        "value": "v"}),
          "experiment.set_tag", exp, {"tags": {"k": "v"}})
    check(("mlflow", "POST", "experiments/delete-experiment-tag"),
          ml("POST", "experiments/delete-experiment-tag", {"experiment_id": exp, "key": "k"}),
          "experiment.delete_tag", exp)
    r = ml("POST", "runs/create", {"experiment_id": exp, "start_time": now_ms()})
    run = r.json()["run"]["info"]["run_id"]
    check(("mlflow", "POST", "runs/create"), r, "run.create", run)
    check(("mlflow", "POST", "runs/update"),
          ml("POST", "runs/update", {"run_id": run, "status": "RUNNING"}),
          "run.update", run, {"status": "RUNNING"})
    check(("mlflow", "POST", "runs/log-metric"),
          ml("POST", "runs/log-metric", {"run_id": run, "key": "loss", "value": 1.5,
                                         "timestamp": now_ms(), "step": 1}),
          "run.log_metric", run, {"metrics": 1})
    check(("mlflow", "POST", "runs/log-parameter"),
          ml("POST", "runs/log-parameter", {"run_id": run, "key": "lr", "value": "0.1"}),
          "run.log_param", run, {"params": {"lr": "0.1"}})
    check(("mlflow", "POST", "runs/set-tag"),
          ml("POST", "runs/set-tag", {"run_id": run, "key": "t", "value": "1"}),
          "run.set_tag", run, {"tags": {"t": "1"}})
    check(("mlflow", "POST", "runs/delete-tag"),
          ml("POST", "runs/delete-tag", {"run_id": run, "key": "t"}), "run.delete_tag", run)
    metrics = [{"key": "m", "value": float(i), "timestamp": now_ms(), "step": i}
               for i in range(50)]
    check(("mlflow", "POST", "runs/log-batch"),
          ml("POST", "runs/log-batch", {"run_id": run, "metrics": metrics,
                                        "params": [{"key": "p", "value": "1"}]}),
          "run.log_batch", run, {"metrics": 50, "params": 1, "tags": 0})
    check(("mlflow", "POST", "runs/log-model"),
          ml("POST", "runs/log-model", {"run_id": run, "model_json": json.dumps(
              {"artifact_path": "model", "flavors": {}, "run_id": run,
               "utc_time_created": "2024-01-01 00:00:00.000000"})}),
          "run.log_model", run)
    check(("mlflow", "POST", "runs/log-inputs"),
          ml("POST", "runs/log-inputs", {"run_id": run, "datasets": [{"dataset": {
              "name": "d", "digest": "abc", "source_type": "local", "source": "{}"}}]}),
          "run.log_inputs", run, {"datasets": 1})
    r = ml("POST", "logged-models", {"experiment_id": exp, "name": "lm"})
    lm = r.json()["model"]["info"]["model_id"]
    check(("mlflow", "POST", "logged-models"), r, "logged_model.create", lm)
    check(("mlflow", "POST", "runs/outputs"),
          ml("POST", "runs/outputs", {"run_id": run, "models": [{"model_id": lm, "step": 0}]}),
          "run.log_outputs", run)
    check(("mlflow", "PATCH", "logged-models/{model_id}/tags"),
          ml("PATCH", f"logged-models/{lm}/tags", {"tags": [{"key": "a", "value": "b"}]}),
          "logged_model.set_tags", lm)
    check(("mlflow", "DELETE", "logged-models/{model_id}/tags/*"),
          ml("DELETE", f"logged-models/{lm}/tags/a", None), "logged_model.delete_tag", lm)
    check(("mlflow", "POST", "logged-models/{model_id}/params"),
          ml("POST", f"logged-models/{lm}/params", {"params": [{"key": "x", "value": "1"}]}),
          "logged_model.log_params", lm)
    check(("mlflow", "PATCH", "logged-models/{model_id}"),
          ml("PATCH", f"logged-models/{lm}", {"status": "LOGGED_MODEL_READY"}),
          "logged_model.finalize", lm, {"status": "LOGGED_MODEL_READY"})
    check(("mlflow", "DELETE", "logged-models/{model_id}"),
          ml("DELETE", f"logged-models/{lm}", None), "logged_model.delete", lm)

    # artifacts
    path = f"{exp}/{run}/artifacts/model/model.bin"
    r = srv.session.put(srv.url + f"{ART}/{path}", data=b"weights", timeout=30)
    check(("fn", "upload_stream"), r, "artifact.upload", path, {"size": 7})
    r = srv.session.put(srv.url + f"{ART}/{exp}/{run}/artifacts/junk", data=b"x", timeout=30)
    assert r.status_code == 200
    r = srv.session.delete(srv.url + f"{ART}/{exp}/{run}/artifacts/junk", timeout=30)
    check(("fn", "art_delete"), r, "artifact.delete", f"{exp}/{run}/artifacts/junk")
    r = srv.session.post(srv.url + "/api/mw/gc", json={"grace_seconds": 0}, timeout=60)
    check(("fn", "gc"), r, "ops.gc", None)

    # registry (MLflow)
    model = unique("rm")
    check(("mlflow", "POST", "registered-models/create"),
          ml("POST", "registered-models/create", {"name": model}), "model.create", model)
    check(("mlflow", "PATCH", "registered-models/update"),
          ml("PATCH", "registered-models/update", {"name": model, "description": "d"}),
          "model.update", model, {"description": "d"})
    check(("mlflow", "POST", "registered-models/set-tag"),
          ml("POST", "registered-models/set-tag", {"name": model, "key": "k", "value": "v"}),
          "model.set_tag", model)
    check(("mlflow", "DELETE", "registered-models/delete-tag"),
          ml("DELETE", "registered-models/delete-tag", {"name": model, "key": "k"}),
          "model.delete_tag", model)
    src = f"runs:/{run}/model"
    for _ in range(2):
        r = ml("POST", "model-versions/create", {"name": model, "source": src})
        v = r.json()["model_version"]["version"]
        check(("mlflow", "POST", "model-versions/create"), r, "version.create",
              f"{model}/{v}")
    check(("mlflow", "PATCH", "model-versions/update"),
          ml("PATCH", "model-versions/update", {"name": model, "version": "1",
                                                "description": "x"}),
          "version.update", f"{model}/1")
    check(("mlflow", "POST", "model-versions/set-tag"),
          ml("POST", "model-versions/set-tag", {"name": model, "version": "1", "key": "k",
                                                "value": "v"}),
          "version.set_tag", f"{model}/1")
    check(("mlflow", "DELETE", "model-versions/delete-tag"),
          ml("DELETE", "model-versions/delete-tag", {"name": model, "version": "1",
                                                     "key": "k"}),
          "version.delete_tag", f"{model}/1")
    check(("mlflow", "POST", "model-versions/transition-stage"),
          ml("POST", "model-versions/transition-stage", {
              "name": model, "version": "1", "stage": "Staging",
              "archive_existing_versions": False}),
          "version.stage", f"{model}/1", {"stage": "Staging"}, {"stage": "None"})
    check(("mlflow", "POST", "registered-models/alias"),
          ml("POST", "registered-models/alias", {"name": model, "alias": "champ",
                                                 "version": "1"}),
          "alias.set", model, {"alias": "champ", "version": 1})
    # the native routes: moves keep before -> after
    nat = f"/api/mw/models/{model}"
    r = srv.session.post(srv.url + nat + "/aliases", json={"alias": "champ", "version": "2",
                                                            "reason": "better"}, timeout=30)
    check(("native", "POST", "ALIASES"), r, "alias.set", model, {"version": 2},
          {"version": 1})
    r = srv.session.post(srv.url + nat + "/rollback", json={"alias": "champ"}, timeout=30)
    check(("native", "POST", "ROLLBACK"), r, "alias.rollback", model, {"version": 1},
          {"version": 2})
    r = srv.session.post(srv.url + nat + "/versions/2/stage", json={"stage": "Production"},
                         timeout=30)
    check(("native", "POST", "STAGE"), r, "version.stage", f"{model}/2",
          {"stage": "Production"}, {"stage": "None"})
    r = srv.session.put(srv.url + nat + "/versions/2/card", json={"intended_use": "tests"},
                        timeout=30)
    check(("native", "PUT", "CARD"), r, "version.set_card", f"{model}/2")
    r = srv.session.delete(srv.url + nat + "/aliases/champ", json={}, timeout=30)
    check(("native", "DELETE", "ALIAS_ONE"), r, "alias.delete", model, None, {"version": 1})
    # the promotion history's who is the verified user
    hist = assert_ok(srv.session.get(srv.url + nat + "/history", timeout=30))
    evs = hist.get("events") or hist.get("history")
    assert evs and all(e["who"] == "admin" and e["who_verified"] is True for e in evs), hist
    check(("mlflow", "DELETE", "registered-models/alias"),
          ml("DELETE", "registered-models/alias", {"name": model, "alias": "none-such"}),
          "alias.delete", model)
    check(("mlflow", "DELETE", "model-versions/delete"),
          ml("DELETE", "model-versions/delete", {"name": model, "version": "2"}),
          "version.delete", f"{model}/2")
    check(("mlflow", "POST", "registered-models/rename"),
          ml("POST", "registered-models/rename", {"name": model, "new_name": model + "x"}),
          "model.rename", model, {"name": model + "x"}, {"name": model})
    check(("mlflow", "DELETE", "registered-models/delete"),
          ml("DELETE", "registered-models/delete", {"name": model + "x"}), "model.delete",
          model + "x")
    check(("mlflow", "POST", "runs/delete"), ml("POST", "runs/delete", {"run_id": run}),
          "run.delete", run, {"lifecycle_stage": "deleted"})
    check(("mlflow", "POST", "runs/restore"), ml("POST", "runs/restore", {"run_id": run}),
          "run.restore", run)
    check(("mlflow", "POST", "experiments/delete"),
          ml("POST", "experiments/delete", {"experiment_id": exp}), "experiment.delete", exp)
    check(("mlflow", "POST", "experiments/restore"),
          ml("POST", "experiments/restore", {"experiment_id": exp}), "experiment.restore", exp)

    # auth: users and tokens (never the secret)
    bob = unique("bob")
    r = srv.request("POST", "/api/2.0/mlflow/users/create", json_body={
        "username": bob, "password": "bob-password-1"})
    check(("auth", "POST", "/api/2.0/mlflow/users/create"), r, "user.create", bob,
          {"role": "viewer"})
    r = srv.request("PATCH", "/api/2.0/mlflow/users/update-password", json_body={
        "username": bob, "password": "bob-password-2"})
    e = check(("auth", "PATCH", "/api/2.0/mlflow/users/update-password"), r,
              "user.set_password", bob)
    assert "bob-password" not in json.dumps(e)
    r = srv.request("PATCH", "/api/2.0/mlflow/users/update-admin", json_body={
        "username": bob, "is_admin": True})
    check(("auth", "PATCH", "/api/2.0/mlflow/users/update-admin"), r, "user.set_admin", bob,
          {"role": "admin"})
    r = srv.request("PATCH", "/api/mw/users/role", json_body={"username": bob, "role": "editor"})
    check(("authz", "PATCH", "role"), r, "user.set_role", bob, {"role": "editor"})
    # permissions: MLflow's endpoints (and the /ajax-api/ twins, the same handlers)
    for kind, key, res in (("experiments", "experiment_id", f"experiment/{exp}/{bob}"),
                           ("registered-models", "name", f"model/{model}/{bob}")):
        target = exp if kind == "experiments" else model
        base = f"/api/2.0/mlflow/{kind}/permissions/"
        r = srv.request("POST", base + "create", json_body={
            key: target, "username": bob, "permission": "READ"})
        check(("authz", "POST", f"{kind}/permissions/create"), r, "permission.set", res,
              {"permission": "READ"})
        r = srv.request("PATCH", base + "update", json_body={
            key: target, "username": bob, "permission": "EDIT"})
        check(("authz", "PATCH", f"{kind}/permissions/update"), r, "permission.set", res,
              {"permission": "EDIT"})
        r = srv.request("DELETE", base + "delete", json_body={key: target, "username": bob})
        check(("authz", "DELETE", f"{kind}/permissions/delete"), r, "permission.delete", res)
    r = srv.request("POST", "/api/mw/tokens", json_body={"name": "ci"})
    tok = r.json()["token"]
    tid = str(tok["id"])
    e = check(("auth", "POST", "/api/mw/tokens"), r, "token.create", tid, {"name": "ci"})
    assert tok["token"].startswith("mw_")
    assert tok["token"] not in json.dumps(last(srv, 0))
    r = srv.request("DELETE", f"/api/mw/tokens/{tid}")
    check(("auth", "DELETE", "/api/mw/tokens/{id}"), r, "token.revoke", tid)
    r = srv.request("DELETE", "/api/2.0/mlflow/users/delete", json_body={"username": bob})
    check(("auth", "DELETE", "/api/2.0/mlflow/users/delete"), r, "user.delete", bob)

    missing = state_changing_routes() - set(covered) - set(EXEMPT)
    assert not missing, f"state-changing routes without an audit check: {sorted(missing)}"
    # and the whole chain verifies
    v = assert_ok(requests.get(srv.url + "/api/mw/audit/verify", auth=("admin", ADMIN_PW),
                               timeout=30))
    assert v["ok"] is True and v["rows"] >= len(covered), v


def test_audit_endpoint_is_admin_only_filters_and_pages(mw_factory):
    srv = auth_server(mw_factory)
    r = srv.request("POST", "/api/2.0/mlflow/users/create",
                    json_body={"username": "carol", "password": "carol-password-1"})
    assert_ok(r)
    assert_error(requests.get(srv.url + "/api/mw/audit", auth=("carol", "carol-password-1"),
                              timeout=30), 403, "PERMISSION_DENIED")
    assert_error(requests.get(srv.url + "/api/mw/audit", timeout=30), 401, "UNAUTHENTICATED")
    t0 = now_ms()
    for i in range(5):
        srv.create_experiment(name=unique(f"pg{i}"))
    got = entries(srv, action="experiment.create", since=t0)
    assert len(got) == 5
    assert entries(srv, action="experiment.*", since=t0) == got
    assert entries(srv, user="carol") == []
    assert len(entries(srv, resource=f"experiment/{got[0]['resource']}")) == 1
    # pages: no entry skipped or repeated
    seen, tok = [], None
    while True:
        p = {"max_results": 2, "since": t0}
        if tok:
            p["page_token"] = tok
        r = assert_ok(requests.get(srv.url + "/api/mw/audit", params=p,
                                   auth=("admin", ADMIN_PW), timeout=30))
        seen += [e["seq"] for e in r["entries"]]
        tok = r.get("next_page_token")
        if not tok:
            break
    # every record since t0: the 5 creates and the MANAGE grant of each to its creator
    everything = entries(srv, since=t0)
    assert len(everything) == 10
    assert seen == sorted(set(seen)) == [e["seq"] for e in everything]
    assert_error(requests.get(srv.url + "/api/mw/audit", params={"since": "yesterday"},
                              auth=("admin", ADMIN_PW), timeout=30), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_error(requests.get(srv.url + "/api/mw/audit", params={"max_results": 5000},
                              auth=("admin", ADMIN_PW), timeout=30), 400,
                 "INVALID_PARAMETER_VALUE")


def test_claimed_identity_is_marked_unverified(mw_factory):
    srv = mw_factory()
    exp = assert_ok(srv.post("experiments/create", {"name": unique("e")},
                             headers={"X-MW-User": "mallory"}))["experiment_id"]
    e = entries(srv, auth=None, resource=exp)[-1]
    assert e["user"] == "mallory" and e["verified"] is False, e
    model = unique("rm")
    assert_ok(srv.post("registered-models/create", {"name": model}))
    run = srv.create_run(exp)["info"]["run_id"]
    assert_ok(srv.post("model-versions/create", {"name": model, "source": f"runs:/{run}/m"}))
    assert_ok(srv.post("registered-models/alias", {"name": model, "alias": "a", "version": "1"},
                       headers={"X-MW-User": "mallory"}))
    hist = assert_ok(srv.get(f"/api/mw/models/{model}/history"))
    evs = hist.get("events") or hist.get("history")
    assert evs[-1]["who"] == "mallory" and evs[-1]["who_verified"] is False, hist


def test_failed_write_leaves_no_record(mw_factory):
    srv = mw_factory()
    name = unique("dup")
    srv.create_experiment(name=name)
    n = len(entries(srv, auth=None, max_results=1000))
    assert_error(srv.post("experiments/create", {"name": name}), 400, "RESOURCE_ALREADY_EXISTS")
    assert_error(srv.post("runs/log-metric", {"run_id": "f" * 32, "key": "k", "value": 1,
                                              "timestamp": now_ms()}),
                 404, "RESOURCE_DOES_NOT_EXIST")
    assert len(entries(srv, auth=None, max_results=1000)) == n


def test_table_is_append_only_and_chain_detects_edits(mw_factory):
    srv = mw_factory()
    for _ in range(3):
        srv.create_experiment()
    srv.stop()
    db = sqlite3.connect(audit_db(srv))
    for sql in ("UPDATE audit_log SET user_name = 'x' WHERE seq = 2",
                "DELETE FROM audit_log WHERE seq = 2", "DELETE FROM audit_log"):
        try:
            db.execute(sql)
            db.commit()
            raise AssertionError(f"{sql} was allowed")
        except sqlite3.DatabaseError as e:
            assert "append-only" in str(e)
    env = dict(os.environ, MW_DATA_DIR=srv.data_dir)
    env.pop("MW_URI", None)
    ok = subprocess.run([mw_bin(), "audit", "verify", "--json"], capture_output=True,
                        text=True, env=env, timeout=60)
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True, ok
    # around the trigger: the chain still tells
    db.execute("DROP TRIGGER audit_log_no_update")
    db.execute("UPDATE audit_log SET after = '{\"name\":\"forged\"}' WHERE seq = 2")
    db.commit()
    db.close()
    bad = subprocess.run([mw_bin(), "audit", "verify", "--json"], capture_output=True,
                         text=True, env=env, timeout=60)
    assert bad.returncode == 1, bad
    out = json.loads(bad.stdout)
    assert out["ok"] is False and out["first_bad_seq"] == 2, out


def test_change_and_record_commit_together(mw_factory, tmp_path):
    # the record cannot be written: the change is refused with it
    d = tmp_path / "data"
    srv = mw_factory(data_dir=d)
    srv.create_experiment()
    srv.stop()
    db = sqlite3.connect(d / "mw.db")
    db.execute("CREATE TRIGGER audit_fail BEFORE INSERT ON audit_log"
               " WHEN NEW.action = 'experiment.create'"
               " BEGIN SELECT RAISE(ABORT, 'audit write failed'); END")
    db.commit()
    db.close()
    srv = mw_factory(data_dir=d)
    name = unique("lost")
    r = srv.post("experiments/create", {"name": name})
    assert r.status_code >= 500, r.text
    assert_error(srv.get("experiments/get-by-name", {"experiment_name": name}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    # the change cannot be written (disk full): no record either
    srv.stop()
    flag = tmp_path / "disk-full"
    srv = mw_factory(data_dir=d, env={"MW_TEST_FAULT": f"enospc:write#1+,under={tmp_path},"
                                                       f"while={flag}"})
    before = entries(srv, auth=None, max_results=1000)
    run_exp = assert_ok(srv.post("runs/create", {"experiment_id": "0",
                                                 "start_time": now_ms()}))
    assert run_exp
    n = len(entries(srv, auth=None, max_results=1000))
    assert n == len(before) + 1
    flag.touch()
    assert_error(srv.post("runs/create", {"experiment_id": "0", "start_time": now_ms()}),
                 500, "INTERNAL_ERROR")
    flag.unlink()
    after = entries(srv, auth=None, max_results=1000)
    assert len(after) == n
    assert assert_ok(srv.get("/api/mw/audit/verify"))["ok"] is True


def test_cli_reads_data_dir_and_server(mw_factory):
    srv = mw_factory()
    exp = srv.create_experiment()
    env = dict(os.environ)
    env.pop("MW_URI", None)
    out = subprocess.run([mw_bin(), "audit", "--uri", srv.url, "--json", "--action",
                          "experiment.create"], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.returncode == 0, out
    got = json.loads(out.stdout)["entries"]
    assert got[-1]["resource"] == exp
    table = subprocess.run([mw_bin(), "audit", "--uri", srv.url], capture_output=True,
                           text=True, env=env, timeout=60)
    assert "experiment.create" in table.stdout and "(unverified)" in table.stdout
    srv.stop()
    lines = subprocess.run([mw_bin(), "audit", "export", "--data-dir", srv.data_dir],
                           capture_output=True, text=True, env=env, timeout=60)
    assert lines.returncode == 0, lines
    rows = [json.loads(x) for x in lines.stdout.splitlines()]
    assert rows and rows[-1]["resource"] == exp and [r["seq"] for r in rows] == list(
        range(1, len(rows) + 1))
    bad = subprocess.run([mw_bin(), "audit", "--data-dir", srv.data_dir, "--limit", "0"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and "--limit" in bad.stderr


def test_head_anchors_the_chain_against_dropped_rows(mw_factory):
    srv = auth_server(mw_factory)
    for _ in range(3):
        srv.create_experiment()
    env = dict(os.environ)
    env.pop("MW_URI", None)
    env.update(MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD=ADMIN_PW)
    # the head, from the endpoint (admin only) and the CLI, agree with the newest row
    head = assert_ok(srv.get("/api/mw/audit/head"))
    newest = last(srv)[0]
    assert head == {"seq": newest["seq"], "hash": newest["hash"]}
    assert_error(requests.get(srv.url + "/api/mw/audit/head", timeout=30), 401,
                 "UNAUTHENTICATED")
    cli = subprocess.run([mw_bin(), "audit", "head", "--uri", srv.url], capture_output=True,
                         text=True, env=env, timeout=60)
    assert cli.returncode == 0 and cli.stdout.strip() == f"{head['seq']}:{head['hash']}", cli
    anchor = cli.stdout.strip()
    # more changes after the anchor was saved
    for _ in range(2):
        srv.create_experiment()
    ok = assert_ok(srv.get("/api/mw/audit/verify", {"expect": anchor}))
    assert ok["ok"] is True and ok["expect"]["ok"] is True, ok
    assert_error(srv.get("/api/mw/audit/verify", {"expect": "3:zz"}), 400,
                 "INVALID_PARAMETER_VALUE")
    srv.stop()

    # someone with the file drops the triggers and the newest rows (the
    # anchored one among them): the chain alone still verifies
    db = sqlite3.connect(audit_db(srv))
    db.execute("DROP TRIGGER audit_log_no_delete")
    db.execute("DELETE FROM audit_log WHERE seq >= ?", (head["seq"],))
    db.commit()
    db.close()
    denv = dict(env, MW_DATA_DIR=srv.data_dir)
    alone = subprocess.run([mw_bin(), "audit", "verify", "--json"], capture_output=True,
                           text=True, env=denv, timeout=60)
    assert alone.returncode == 0 and json.loads(alone.stdout)["ok"] is True, alone
    # ... the saved head does not
    bad = subprocess.run([mw_bin(), "audit", "verify", "--expect", anchor], capture_output=True,
                         text=True, env=denv, timeout=60)
    assert bad.returncode == 1, bad
    assert f"row {head['seq']} is missing" in bad.stdout, bad.stdout
    assert f"ends at seq {head['seq'] - 1}" in bad.stdout, bad.stdout
    js = subprocess.run([mw_bin(), "audit", "verify", "--json", "--expect", anchor],
                        capture_output=True, text=True, env=denv, timeout=60)
    out = json.loads(js.stdout)
    assert js.returncode == 1 and out["ok"] is False and out["first_bad_seq"] is None, out
    assert out["expect"]["ok"] is False and "missing" in out["expect"]["message"], out

    # rows appended again reuse the seq with another hash: still caught, by the server too
    srv2 = mw_factory(data_dir=srv.data_dir, extra_args=["--auth", "true"],
                      env={"MW_ADMIN_PASSWORD": ADMIN_PW})
    srv2.session.auth = ("admin", ADMIN_PW)
    srv2.create_experiment()
    srv2.create_experiment()
    v = assert_ok(srv2.get("/api/mw/audit/verify", {"expect": anchor}))
    assert v["ok"] is False and v["first_bad_seq"] is None, v
    assert "the anchor says" in v["expect"]["message"], v
    # a malformed anchor on the CLI: a usage error, not a verdict
    mal = subprocess.run([mw_bin(), "audit", "verify", "--uri", srv2.url, "--expect", "x"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert mal.returncode not in (0, 1) and "SEQ:HASH" in mal.stderr, mal

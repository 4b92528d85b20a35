"""The model registry (spec mlflow.md §4, §6 registry search, §7 limits, §8 wire
trace steps 5.7-5.9, 7 and 8; issue 3 items 3-6): MLflow's registry endpoints
with their methods, shapes and errors, version sources and pinning, and the
native routes under /api/mw/models/ (aliases with reason and evidence,
rollback, stages, history, lineage, model cards).

Every test uses unique model names on the shared server; tests that need an
empty store or a restart start their own (mw_factory).
"""

import base64
import hashlib
import json
import threading
import time
import urllib.parse

import pytest
import requests

from conftest import AJAX, API, MODEL_ID, assert_error, assert_ok, kv, now_ms, unique

ART = "/api/2.0/mlflow-artifacts/artifacts"
NATIVE = "/api/mw/models/"

INVALID = "INVALID_PARAMETER_VALUE"
MISSING = "RESOURCE_DOES_NOT_EXIST"
EXISTS = "RESOURCE_ALREADY_EXISTS"


# ------------------------------------------------------------------ helpers

def sha(b):
    return hashlib.sha256(b).hexdigest()


def rm_create(mw, name=None, **kw):
    body = {"name": name or unique("rm")}
    body.update(kw)
    return assert_ok(mw.post("registered-models/create", body))["registered_model"]


def rm_get(mw, name):
    return assert_ok(mw.get("registered-models/get", {"name": name}))["registered_model"]


def mv_create(mw, name, source, **kw):
    body = {"name": name, "source": source}
    body.update(kw)
    return assert_ok(mw.post("model-versions/create", body))["model_version"]


def mv_get(mw, name, version):
    return assert_ok(mw.get("model-versions/get",
                            {"name": name, "version": str(version)}))["model_version"]


def put_art(mw, path, data):
    r = mw.session.put(mw.url + ART + "/" + path, data=data, timeout=60)
    assert assert_ok(r) == {}


def get_art(mw, path):
    r = mw.session.get(mw.url + ART + "/" + path, timeout=60)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return r.content


def list_art(mw, path):
    return assert_ok(mw.session.get(mw.url + ART, params={"path": path}, timeout=30))


def download_tree(mw, uri):
    """What pyfunc.load_model does (§8 step 8): list recursively, GET each file."""
    assert uri.startswith("mlflow-artifacts:/"), uri
    root = uri[len("mlflow-artifacts:/"):]
    out = {}

    def walk(rel):
        path = root + ("/" + rel if rel else "")
        for f in list_art(mw, path).get("files", []):
            sub = (rel + "/" if rel else "") + f["path"]
            if f["is_dir"]:
                walk(sub)
            else:
                out[sub] = get_art(mw, root + "/" + sub)
    walk("")
    return out


def manifest_digest(files):
    """SHA-256 over "path\\tdigest\\n" lines in path order."""
    h = hashlib.sha256()
    for p in sorted(files):
        h.update(f"{p}\t{sha(files[p])}\n".encode())
    return h.hexdigest()


def native(mw, method, name, rest, body=None, params=None, headers=None):
    path = NATIVE + urllib.parse.quote(name, safe="") + "/" + rest
    return mw.request(method, path, json_body=body, params=params, headers=headers)


def run_with_files(mw, files, sub="model", exp="0", **run_kw):
    run = mw.create_run(exp, **run_kw)["info"]
    for p, data in files.items():
        put_art(mw, f"{exp}/{run['run_id']}/artifacts/{sub}/{p}", data)
    return run


@pytest.fixture
def model(mw):
    return rm_create(mw)["name"]


FILES = {"MLmodel": b"flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n    model_path: model.pkl\n", "model.pkl": bytes(range(256)) * 4,
         "sub/conda.yaml": b"name: env\n"}


# ------------------------------------------------------------------ registered models

def test_rm_create_shape(mw):
    name = unique("rm")
    t0 = now_ms()
    r = mw.post("registered-models/create",
                {"name": name, "description": "fraud scorer",
                 "tags": [{"key": "team", "value": "risk"}, {"key": "k.with space", "value": ""}]},
                headers={"X-MW-User": "alice"})
    rm = assert_ok(r)["registered_model"]
    assert rm["name"] == name
    assert rm["description"] == "fraud scorer"
    assert rm["user_id"] == "alice"
    for f in ("creation_timestamp", "last_updated_timestamp"):
        assert isinstance(rm[f], int) and t0 - 5000 <= rm[f] <= now_ms() + 5000
    assert kv(rm["tags"]) == {"team": "risk", "k.with space": ""}
    assert "latest_versions" not in rm and "aliases" not in rm
    assert rm_get(mw, name) == rm
    # the ajax-api prefix (the UI) serves the same handlers
    assert assert_ok(mw.get("registered-models/get", {"name": name},
                            prefix=AJAX))["registered_model"] == rm


def test_rm_create_duplicate_and_replay(mw):
    name = unique("rm")
    rm_create(mw, name)
    for _ in range(3):  # a retrying client replays the create
        body = assert_error(mw.post("registered-models/create", {"name": name}), 400, EXISTS)
        assert name in body["message"]
    assert rm_get(mw, name)["name"] == name


@pytest.mark.parametrize("body", [
    {},
    {"name": ""},
    {"name": 5},
    {"name": "x" * 257},
    {"name": "ok-name", "tags": [{"key": "bad/", "value": "v"}]},
    {"name": "ok-name", "tags": [{"key": "a" * 251, "value": "v"}]},
    {"name": "ok-name", "tags": [{"key": "k", "value": "v" * 5001}]},
    {"name": "ok-name", "tags": [{"key": "bad*char", "value": "v"}]},
    {"name": "ok-name", "tags": [{"value": "v"}]},
    {"name": "ok-name", "tags": "notalist"},
])
def test_rm_create_validation(mw, body):
    if body.get("name") == "ok-name":
        body = dict(body, name=unique("bad"))
    assert_error(mw.post("registered-models/create", body), 400, INVALID)
    if isinstance(body.get("name"), str) and 0 < len(body["name"]) <= 256:
        assert_error(mw.get("registered-models/get", {"name": body["name"]}), 404, MISSING)


def test_rm_tag_limits_accepted_at_the_edge(mw):
    name = unique("rm")
    rm = rm_create(mw, name, tags=[{"key": "k" * 250, "value": "v" * 5000}])
    assert kv(rm["tags"]) == {"k" * 250: "v" * 5000}


def test_rm_get_missing(mw):
    body = assert_error(mw.get("registered-models/get", {"name": unique("nope")}), 404, MISSING)
    assert "not found" in body["message"]
    assert_error(mw.get("registered-models/get"), 400, INVALID)


def test_rm_rename(mw):
    a, b = unique("a"), unique("b")
    rm_create(mw, a)
    run = run_with_files(mw, {"f": b"1"})
    mv_create(mw, a, f"runs:/{run['run_id']}/model")
    rm = assert_ok(mw.post("registered-models/rename", {"name": a, "new_name": b}))
    assert rm["registered_model"]["name"] == b
    assert_error(mw.get("registered-models/get", {"name": a}), 404, MISSING)
    assert mv_get(mw, b, 1)["name"] == b
    c = rm_create(mw)["name"]
    assert_error(mw.post("registered-models/rename", {"name": b, "new_name": c}), 400, EXISTS)
    assert_error(mw.post("registered-models/rename", {"name": unique("x"), "new_name": unique("y")}),
                 404, MISSING)
    assert_error(mw.post("registered-models/rename", {"name": b}), 400, INVALID)
    # renaming to itself is a no-op
    assert assert_ok(mw.post("registered-models/rename",
                             {"name": b, "new_name": b}))["registered_model"]["name"] == b


def test_rm_update_is_patch(mw, model):
    rm = assert_ok(mw.patch("registered-models/update", {"name": model, "description": "new"}))
    assert rm["registered_model"]["description"] == "new"
    assert rm_get(mw, model)["description"] == "new"
    # without a description nothing changes
    rm = assert_ok(mw.patch("registered-models/update", {"name": model}))
    assert rm["registered_model"]["description"] == "new"
    assert mw.post("registered-models/update", {"name": model}).status_code == 405
    assert_error(mw.patch("registered-models/update", {"name": unique("no")}), 404, MISSING)


def test_rm_delete_with_json_body(mw):
    name = unique("rm")
    rm_create(mw, name, tags=[{"key": "a", "value": "b"}])
    run = run_with_files(mw, FILES)
    mv = mv_create(mw, name, f"runs:/{run['run_id']}/model")
    assert_ok(mw.post("registered-models/alias", {"name": name, "alias": "prod", "version": "1"}))
    pinned = mv["storage_location"][len("mlflow-artifacts:/"):]
    assert list_art(mw, pinned).get("files")
    assert assert_ok(mw.delete("registered-models/delete", {"name": name})) == {}
    assert_error(mw.get("registered-models/get", {"name": name}), 404, MISSING)
    assert_error(mw.get("model-versions/get", {"name": name, "version": "1"}), 404, MISSING)
    assert "files" not in list_art(mw, pinned)  # the pinned manifest went with it
    assert_error(mw.delete("registered-models/delete", {"name": name}), 404, MISSING)
    assert mw.post("registered-models/delete", {"name": name}).status_code == 405
    # the name can be registered again and starts over at version 1
    rm_create(mw, name)
    mv2 = mv_create(mw, name, f"runs:/{run['run_id']}/model")
    assert mv2["version"] == "1"
    assert mv2["storage_location"] != mv["storage_location"]
    assert "aliases" not in rm_get(mw, name)


def test_rm_tags(mw, model):
    assert assert_ok(mw.post("registered-models/set-tag",
                             {"name": model, "key": "team", "value": "risk"})) == {}
    assert_ok(mw.post("registered-models/set-tag", {"name": model, "key": "team", "value": "ml"}))
    assert_ok(mw.post("registered-models/set-tag", {"name": model, "key": "empty"}))
    assert kv(rm_get(mw, model)["tags"]) == {"team": "ml", "empty": ""}
    assert assert_ok(mw.delete("registered-models/delete-tag", {"name": model, "key": "team"})) == {}
    assert kv(rm_get(mw, model)["tags"]) == {"empty": ""}
    # deleting a tag that is not there is harmless (a replayed request)
    assert_ok(mw.delete("registered-models/delete-tag", {"name": model, "key": "team"}))
    assert_error(mw.post("registered-models/set-tag", {"name": model, "key": "x" * 251,
                                                       "value": "v"}), 400, INVALID)
    assert_error(mw.post("registered-models/set-tag", {"name": model, "key": "k",
                                                       "value": "v" * 5001}), 400, INVALID)
    assert_error(mw.post("registered-models/set-tag", {"name": model, "value": "v"}), 400, INVALID)
    assert_error(mw.post("registered-models/set-tag", {"name": unique("no"), "key": "k",
                                                       "value": "v"}), 404, MISSING)
    assert_error(mw.delete("registered-models/delete-tag", {"name": unique("no"), "key": "k"}),
                 404, MISSING)


# ------------------------------------------------------------------ search

@pytest.fixture(scope="module")
def search_models(mw):
    pfx = unique("srch")
    names = [f"{pfx}-{c}" for c in "cabde"]
    for i, n in enumerate(names):
        time.sleep(0.003)  # distinct creation timestamps for the order tests
        rm_create(mw, n, tags=[{"key": "team", "value": "risk" if i % 2 == 0 else "growth"},
                               {"key": "idx", "value": str(i)}])
    prompt = f"{pfx}-prompt"
    rm_create(mw, prompt, tags=[{"key": "mlflow.prompt.is_prompt", "value": "true"}])
    return pfx, names, prompt


def search(mw, **params):
    return assert_ok(mw.get("registered-models/search", params))


def names_of(body, key="registered_models"):
    return [m["name"] for m in body.get(key, [])]


def test_rm_search_filters(mw, search_models):
    pfx, names, prompt = search_models
    got = names_of(search(mw, filter=f"name LIKE '{pfx}-%'"))
    assert got == sorted(names)  # default order: name ASC; the prompt is hidden
    assert names_of(search(mw, filter=f"name = '{names[0]}'")) == [names[0]]
    assert names_of(search(mw, filter=f"name ILIKE '{pfx.upper()}-C'")) == [names[0]]
    got = names_of(search(mw, filter=f"name LIKE '{pfx}-%' AND name != '{names[0]}'"))
    assert names[0] not in got and len(got) == 4
    got = names_of(search(mw, filter=f"name LIKE '{pfx}-%' AND tags.team = 'risk'"))
    assert got == sorted(names[0::2])
    got = names_of(search(mw, filter=f"name LIKE '{pfx}%' AND tags.`team` LIKE 'gr%'"))
    assert got == sorted(names[1::2])


def test_rm_search_hides_prompts_unless_asked(mw, search_models):
    pfx, names, prompt = search_models
    assert prompt not in names_of(search(mw, filter=f"name LIKE '{pfx}%'"))
    assert prompt not in names_of(search(mw, max_results=1000))
    got = names_of(search(mw, filter=f"name LIKE '{pfx}%' AND "
                                     "tags.`mlflow.prompt.is_prompt` = 'true'"))
    assert got == [prompt]
    got = names_of(search(mw, filter=f"name LIKE '{pfx}%' AND "
                                     "tags.`mlflow.prompt.is_prompt` != 'false'"))
    assert got == [prompt]
    # asking for non-prompts returns the models (which do not have the tag at all)
    got = names_of(search(mw, filter=f"name LIKE '{pfx}%' AND "
                                     "tags.`mlflow.prompt.is_prompt` = 'false'"))
    assert got == sorted(names)
    # the model itself is reachable by name
    assert rm_get(mw, prompt)["name"] == prompt


def test_rm_search_order_and_paging(mw, search_models):
    pfx, names, _ = search_models
    f = f"name LIKE '{pfx}-%'"
    assert names_of(search(mw, filter=f, order_by="name DESC")) == sorted(names, reverse=True)
    got = names_of(search(mw, filter=f, order_by="creation_timestamp ASC"))
    assert got == names
    got = names_of(search(mw, filter=f, order_by="timestamp DESC"))
    assert got == names[::-1]
    assert names_of(search(mw, filter=f, order_by="last_updated_timestamp DESC")) == names[::-1]
    seen, token, pages = [], None, 0
    while True:
        p = {"filter": f, "max_results": 2}
        if token:
            p["page_token"] = token
        body = search(mw, **p)
        seen += names_of(body)
        pages += 1
        token = body.get("next_page_token")
        if not token:
            break
    assert seen == sorted(names) and pages == 3
    # repeated order_by keys in the query string
    r = mw.session.get(mw.url + API + "registered-models/search",
                       params=[("filter", f), ("order_by", "name DESC"), ("order_by", "timestamp")])
    assert names_of(assert_ok(r)) == sorted(names, reverse=True)


@pytest.mark.parametrize("params", [
    {"max_results": 1001}, {"max_results": 0}, {"max_results": "x"},
    {"filter": "name = 'a' OR name = 'b'"}, {"filter": "run_id = 'x'"},
    {"filter": "name > 'a'"}, {"order_by": "run_id"}, {"order_by": "name SIDEWAYS"},
    {"page_token": "!!notatoken"}, {"order_by": ["name ASC", "name DESC"]},
])
def test_rm_search_errors(mw, params):
    assert_error(mw.get("registered-models/search", params), 400, INVALID)


def test_rm_search_default_and_max_page(mw_factory):
    srv = mw_factory()
    for i in range(105):
        rm_create(srv, f"m{i:03d}")
    body = search(srv)
    assert len(body["registered_models"]) == 100 and body.get("next_page_token")
    body = search(srv, page_token=body["next_page_token"])
    assert len(body["registered_models"]) == 5 and "next_page_token" not in body
    assert len(search(srv, max_results=1000)["registered_models"]) == 105
    # legacy MLflow 1.x listing
    body = assert_ok(srv.get("registered-models/list", {"max_results": 10}))
    assert names_of(body) == [f"m{i:03d}" for i in range(10)]
    assert body.get("next_page_token")
    body = assert_ok(srv.get("registered-models/list",
                             {"max_results": 100, "page_token": body["next_page_token"]}))
    assert names_of(body)[0] == "m010"


# ------------------------------------------------------------------ versions: create and sources

def test_mv_create_from_run(mw, model):
    run = run_with_files(mw, FILES)
    t0 = now_ms()
    mv = mv_create(mw, model, f"runs:/{run['run_id']}/model",
                   description="first", run_link="http://ci/1",
                   tags=[{"key": "validated", "value": "yes"}])
    assert mv["name"] == model and mv["version"] == "1"
    assert isinstance(mv["version"], str)
    assert mv["status"] == "READY" and mv["current_stage"] == "None"
    assert mv["run_id"] == run["run_id"]  # defaults to the source's run
    assert mv["source"] == f"runs:/{run['run_id']}/model"  # stored verbatim
    assert mv["description"] == "first" and mv["run_link"] == "http://ci/1"
    assert kv(mv["tags"]) == {"validated": "yes"}
    assert t0 - 5000 <= mv["creation_timestamp"] <= now_ms() + 5000
    assert "status_message" not in mv
    rm = rm_get(mw, model)
    assert mv["storage_location"].startswith("mlflow-artifacts:/_registry/")
    assert mv["manifest_digest"] == manifest_digest(FILES)
    assert mv_get(mw, model, 1) == mv
    assert [v["version"] for v in rm["latest_versions"]] == ["1"]
    uri = assert_ok(mw.get("model-versions/get-download-uri",
                           {"name": model, "version": "1"}))["artifact_uri"]
    assert uri == mv["storage_location"]
    assert download_tree(mw, uri) == FILES
    mv2 = mv_create(mw, model, f"runs:/{run['run_id']}/model")
    assert mv2["version"] == "2"


def test_version_is_pinned(mw, model):
    """models:/<name>/<version> means the same bytes forever (issue 3 item 3)."""
    run = run_with_files(mw, FILES)
    mv = mv_create(mw, model, f"runs:/{run['run_id']}/model")
    base = f"0/{run['run_id']}/artifacts/model"
    put_art(mw, base + "/model.pkl", b"retrained, different bytes")
    put_art(mw, base + "/extra.txt", b"new file")
    mw.session.delete(mw.url + ART + "/" + base + "/MLmodel", timeout=30)
    assert download_tree(mw, mv["storage_location"]) == FILES
    again = mv_get(mw, model, 1)
    assert again["manifest_digest"] == mv["manifest_digest"] == manifest_digest(FILES)
    # the pinned copy is read-only through the artifact proxy
    pinned = mv["storage_location"][len("mlflow-artifacts:/"):]
    r = mw.session.put(mw.url + ART + "/" + pinned + "/model.pkl", data=b"x", timeout=30)
    assert r.status_code in (400, 403), r.text
    assert download_tree(mw, mv["storage_location"]) == FILES
    # a new version from the changed run pins the new bytes
    mv2 = mv_create(mw, model, f"runs:/{run['run_id']}/model")
    files2 = {"model.pkl": b"retrained, different bytes", "extra.txt": b"new file",
              "sub/conda.yaml": FILES["sub/conda.yaml"]}
    assert download_tree(mw, mv2["storage_location"]) == files2
    assert mv2["manifest_digest"] == manifest_digest(files2) != mv["manifest_digest"]


def test_mv_sources(mw, model):
    run = run_with_files(mw, FILES)
    rid = run["run_id"]
    base = f"0/{rid}/artifacts/model"
    cases = [
        f"mlflow-artifacts:/{base}",
        f"mlflow-artifacts://somehost:5000/{base}",
        f"{mw.url}/api/2.0/mlflow-artifacts/artifacts/{base}",
        f"runs:/{rid}/model/",
    ]
    for src in cases:
        mv = mv_create(mw, model, src, run_id=rid)
        assert mv["manifest_digest"] == manifest_digest(FILES), src
        assert download_tree(mw, mv["storage_location"]) == FILES, src
    # a whole run (runs:/<id>) pins everything under artifacts/
    mv = mv_create(mw, model, f"runs:/{rid}")
    assert set(download_tree(mw, mv["storage_location"])) == {"model/" + p for p in FILES}
    # one file
    mv = mv_create(mw, model, f"runs:/{rid}/model/model.pkl")
    assert download_tree(mw, mv["storage_location"]) == {"model.pkl": FILES["model.pkl"]}
    # models:/<name>/<version>, @alias and /<stage> copy an existing version's pin
    assert_ok(mw.post("registered-models/alias", {"name": model, "alias": "champ", "version": "1"}))
    assert_ok(mw.post("model-versions/transition-stage",
                      {"name": model, "version": "2", "stage": "Staging",
                       "archive_existing_versions": False}))
    other = rm_create(mw)["name"]
    for src in (f"models:/{model}/1", f"models:/{model}@champ", f"models:/{model}/staging"):
        mv = mv_create(mw, other, src)
        assert mv["run_id"] == rid, src
        assert download_tree(mw, mv["storage_location"]) == FILES, src
    # other schemes are recorded, not pinned
    mv = mv_create(mw, model, "s3://bucket/models/fraud")
    assert mv["status"] == "READY" and "storage_location" not in mv
    assert "status_message" not in mv  # MLflow never sets it; mw's note is native
    assert "not pinned" in lineage_note(mw, model, mv["version"])
    assert assert_ok(mw.get("model-versions/get-download-uri",
                            {"name": model, "version": mv["version"]}))["artifact_uri"] == \
        "s3://bucket/models/fraud"


def lineage_note(mw, model, version):
    """mw's note on how a version was registered (native API only)."""
    return assert_ok(mw.get(f"/api/mw/models/{model}/versions/{version}/lineage")).get(
        "registration_note")


def test_mv_source_without_files(mw, model):
    run = mw.create_run("0")["info"]
    mv = mv_create(mw, model, f"runs:/{run['run_id']}/model")
    assert mv["status"] == "READY"
    assert "status_message" not in mv
    assert lineage_note(mw, model, mv["version"]) == \
        "no artifacts were found at the source when the version was created"
    assert mv["manifest_digest"] == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize("source", [
    "runs:/", "runs:/bad id/model", "runs:/-abc/model", "runs:/{rid}/../other",
    "runs:/{rid}/a/./b", "runs:/{rid}/a%2e%2e/b", "runs:/{rid}/a%2fb", "runs:/{rid}/a\\b",
    "mlflow-artifacts:/", "mlflow-artifacts:/0/../etc", "mlflow-artifacts:/a/%2E%2E/b",
    "mlflow-artifacts:/a//b", "http://h/api/2.0/mlflow-artifacts/artifacts/../x",
    "http://h/api/2.0/mlflow-artifacts/artifacts", "models:/", "models:/justaname",
    "models:/name@", "models:/name@latest", "models:/name/notastage",
])
def test_mv_source_malformed(mw, model, source):
    run = mw.create_run("0")["info"]
    source = source.replace("{rid}", run["run_id"])
    assert_error(mw.post("model-versions/create", {"name": model, "source": source}), 400, INVALID)
    # nothing was created
    assert "latest_versions" not in rm_get(mw, model)


def test_mv_local_sources_are_refused_by_the_server(mw, model, tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "MLmodel").write_text("x")
    for src in (str(d), f"file://{d}", "relative/dir", "/etc"):
        body = assert_error(mw.post("model-versions/create", {"name": model, "source": src}),
                            400, INVALID)
        assert "local" in body["message"]


def test_mv_create_errors(mw, model):
    run = run_with_files(mw, FILES)
    src = f"runs:/{run['run_id']}/model"
    assert_error(mw.post("model-versions/create", {"name": unique("no"), "source": src}),
                 404, MISSING)
    assert_error(mw.post("model-versions/create", {"name": model, "source": "runs:/" + "a" * 32
                                                   + "/model"}), 404, MISSING)
    assert_error(mw.post("model-versions/create", {"name": model, "source": "models:/m-"
                                                   + "0" * 32}), 404, MISSING)
    assert_error(mw.post("model-versions/create", {"name": model, "source": src,
                                                   "model_id": "m-" + "1" * 32}), 404, MISSING)
    assert_error(mw.post("model-versions/create", {"name": model, "source": f"models:/{model}/9"}),
                 404, MISSING)
    # (no source, or an empty one, is MLflow 1.x's version without files: test_mlflow1x)
    assert_error(mw.post("model-versions/create", {"source": src}), 400, INVALID)
    assert_error(mw.post("model-versions/create", {"name": model, "source": src,
                                                   "run_id": "b" * 32}), 400, INVALID)
    assert_error(mw.post("model-versions/create", {"name": model, "source": src,
                                                   "tags": [{"key": "k", "value": "v" * 5001}]}),
                 400, INVALID)
    assert_error(mw.post("model-versions/create", {"name": model, "source": 7}), 400, INVALID)
    assert "latest_versions" not in rm_get(mw, model)


def test_mv_create_is_not_idempotent(mw, model):
    """As in MLflow: a replayed create makes another version (documented)."""
    run = run_with_files(mw, FILES)
    src = f"runs:/{run['run_id']}/model"
    assert [mv_create(mw, model, src)["version"] for _ in range(3)] == ["1", "2", "3"]


def test_concurrent_version_creates_get_distinct_numbers(mw, model):
    run = run_with_files(mw, {"f": b"x"})
    src = f"runs:/{run['run_id']}/model"
    got, errors = [], []

    def worker():
        s = requests.Session()
        try:
            for _ in range(5):
                r = s.post(mw.url + API + "model-versions/create",
                           json={"name": model, "source": src}, timeout=60)
                if r.status_code == 200:
                    got.append(int(r.json()["model_version"]["version"]))
                else:
                    errors.append(r.text)
        finally:
            s.close()
    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(got) == list(range(1, 31))


# ------------------------------------------------------------------ versions: get, update, delete, tags

def test_mv_get_errors(mw, model):
    assert_error(mw.get("model-versions/get", {"name": model, "version": "1"}), 404, MISSING)
    assert_error(mw.get("model-versions/get", {"name": model, "version": "one"}), 400, INVALID)
    assert_error(mw.get("model-versions/get", {"name": model}), 400, INVALID)
    assert_error(mw.get("model-versions/get", {"name": unique("no"), "version": "1"}), 404, MISSING)
    assert_error(mw.get("model-versions/get-download-uri", {"name": model, "version": "7"}),
                 404, MISSING)


def test_mv_update_and_delete(mw, model):
    run = run_with_files(mw, FILES)
    src = f"runs:/{run['run_id']}/model"
    mv_create(mw, model, src)
    mv2 = mv_create(mw, model, src)
    body = assert_ok(mw.patch("model-versions/update",
                              {"name": model, "version": "2", "description": "better"}))
    assert body["model_version"]["description"] == "better"
    assert mv_get(mw, model, 2)["last_updated_timestamp"] >= mv2["last_updated_timestamp"]
    assert mw.post("model-versions/update", {"name": model, "version": "2"}).status_code == 405
    assert_error(mw.patch("model-versions/update", {"name": model, "version": "9",
                                                    "description": "x"}), 404, MISSING)
    assert_ok(mw.post("registered-models/alias", {"name": model, "alias": "prod", "version": "2"}))
    pinned = mv2["storage_location"][len("mlflow-artifacts:/"):]
    assert assert_ok(mw.delete("model-versions/delete", {"name": model, "version": "2"})) == {}
    assert_error(mw.get("model-versions/get", {"name": model, "version": "2"}), 404, MISSING)
    assert_error(mw.delete("model-versions/delete", {"name": model, "version": "2"}), 404, MISSING)
    assert "files" not in list_art(mw, pinned)
    # its aliases went with it, and numbers are never reused
    assert_error(mw.get("registered-models/alias", {"name": model, "alias": "prod"}), 404, MISSING)
    assert mv_create(mw, model, src)["version"] == "3"
    assert [v["version"] for v in rm_get(mw, model)["latest_versions"]] == ["3"]
    assert_error(mw.post("model-versions/set-tag", {"name": model, "version": "2", "key": "k",
                                                    "value": "v"}), 404, MISSING)


def test_mv_tags(mw, model):
    run = run_with_files(mw, FILES)
    mv_create(mw, model, f"runs:/{run['run_id']}/model")
    assert assert_ok(mw.post("model-versions/set-tag",
                             {"name": model, "version": "1", "key": "qa", "value": "passed"})) == {}
    assert_ok(mw.post("model-versions/set-tag",
                      {"name": model, "version": 1, "key": "other", "value": "x"}))
    assert kv(mv_get(mw, model, 1)["tags"]) == {"qa": "passed", "other": "x"}
    assert assert_ok(mw.delete("model-versions/delete-tag",
                               {"name": model, "version": "1", "key": "qa"})) == {}
    assert kv(mv_get(mw, model, 1)["tags"]) == {"other": "x"}
    assert_error(mw.post("model-versions/set-tag", {"name": model, "version": "1",
                                                    "key": "../x", "value": "v"}), 400, INVALID)
    assert_error(mw.post("model-versions/set-tag", {"name": model, "version": "1",
                                                    "key": "k", "value": "v" * 5001}), 400, INVALID)
    assert_error(mw.post("model-versions/set-tag", {"name": model, "version": "x",
                                                    "key": "k", "value": "v"}), 400, INVALID)
    assert_error(mw.delete("model-versions/delete-tag", {"name": model, "version": "5",
                                                         "key": "k"}), 404, MISSING)


# ------------------------------------------------------------------ stages

def stage(mw, name, version, st, archive=False, **extra):
    body = {"name": name, "version": str(version), "stage": st,
            "archive_existing_versions": archive}
    body.update(extra)
    return mw.post("model-versions/transition-stage", body)


def test_transition_stage(mw, model):
    run = run_with_files(mw, FILES)
    for _ in range(3):
        mv_create(mw, model, f"runs:/{run['run_id']}/model")
    mv = assert_ok(stage(mw, model, 1, "production"))["model_version"]
    assert mv["current_stage"] == "Production"
    assert assert_ok(stage(mw, model, 2, "PRODUCTION"))["model_version"]["current_stage"] == \
        "Production"
    # both in Production until one archives the others
    assert [v["current_stage"] for v in (mv_get(mw, model, 1), mv_get(mw, model, 2))] == \
        ["Production", "Production"]
    assert_ok(stage(mw, model, 3, "Production", archive=True))
    assert [mv_get(mw, model, v)["current_stage"] for v in (1, 2, 3)] == \
        ["Archived", "Archived", "Production"]
    # archive_existing_versions is string-tolerant and only valid for active stages
    assert_ok(stage(mw, model, 1, "Staging", archive="true"))
    assert_error(stage(mw, model, 2, "None", archive=True), 400, INVALID)
    assert_error(stage(mw, model, 2, "Archived", archive=True), 400, INVALID)
    assert_error(stage(mw, model, 2, "Deleted_Internal"), 400, INVALID)
    assert_error(stage(mw, model, 2, "Prod"), 400, INVALID)
    assert_error(stage(mw, model, 9, "Staging"), 404, MISSING)
    r = mw.post("model-versions/transition-stage", {"name": model, "version": "2",
                                                    "stage": "Staging"})
    assert_error(r, 400, INVALID)  # archive_existing_versions is required
    # latest versions per stage
    latest = {v["current_stage"]: v["version"] for v in rm_get(mw, model)["latest_versions"]}
    assert latest == {"Staging": "1", "Archived": "2", "Production": "3"}


def test_get_latest_versions_post_and_get(mw, model):
    run = run_with_files(mw, FILES)
    for _ in range(4):
        mv_create(mw, model, f"runs:/{run['run_id']}/model")
    assert_ok(stage(mw, model, 1, "Production"))
    assert_ok(stage(mw, model, 2, "Staging"))
    body = assert_ok(mw.post("registered-models/get-latest-versions", {"name": model}))
    assert sorted((v["current_stage"], v["version"]) for v in body["model_versions"]) == \
        [("None", "4"), ("Production", "1"), ("Staging", "2")]
    body = assert_ok(mw.post("registered-models/get-latest-versions",
                             {"name": model, "stages": ["production", "None"]}))
    assert sorted(v["version"] for v in body["model_versions"]) == ["1", "4"]
    body = assert_ok(mw.get("registered-models/get-latest-versions",
                            {"name": model, "stages": "Staging"}))
    assert [v["version"] for v in body["model_versions"]] == ["2"]
    body = assert_ok(mw.get("registered-models/get-latest-versions",
                            {"name": model, "stages": "Archived"}))
    assert "model_versions" not in body
    assert_error(mw.post("registered-models/get-latest-versions",
                         {"name": model, "stages": ["Prod"]}), 400, INVALID)
    assert_error(mw.post("registered-models/get-latest-versions", {"name": unique("no")}),
                 404, MISSING)


# ------------------------------------------------------------------ aliases

def test_aliases(mw, model):
    run = run_with_files(mw, FILES)
    for _ in range(2):
        mv_create(mw, model, f"runs:/{run['run_id']}/model")
    assert assert_ok(mw.post("registered-models/alias",
                             {"name": model, "alias": "champion", "version": "1"})) == {}
    assert_ok(mw.post("registered-models/alias", {"name": model, "alias": "challenger",
                                                  "version": 2}))
    mv = assert_ok(mw.get("registered-models/alias", {"name": model, "alias": "champion"}))
    assert mv["model_version"]["version"] == "1"
    assert mv["model_version"]["aliases"] == ["champion"]
    rm = rm_get(mw, model)
    assert rm["aliases"] == [{"alias": "challenger", "version": "2"},
                             {"alias": "champion", "version": "1"}]
    # re-pointing moves it
    assert_ok(mw.post("registered-models/alias", {"name": model, "alias": "champion", "version": "2"}))
    assert mv_get(mw, model, 2)["aliases"] == ["challenger", "champion"]
    assert "aliases" not in mv_get(mw, model, 1)
    assert assert_ok(mw.delete("registered-models/alias", {"name": model, "alias": "champion"})) == {}
    assert_error(mw.get("registered-models/alias", {"name": model, "alias": "champion"}),
                 404, MISSING)
    # deleting again is harmless
    assert_ok(mw.delete("registered-models/alias", {"name": model, "alias": "champion"}))
    assert_error(mw.delete("registered-models/alias", {"name": unique("no"), "alias": "a"}),
                 404, MISSING)
    assert_error(mw.post("registered-models/alias", {"name": model, "alias": "a", "version": "9"}),
                 404, MISSING)
    assert_error(mw.post("registered-models/alias", {"name": unique("no"), "alias": "a",
                                                     "version": "1"}), 404, MISSING)
    assert_error(mw.get("registered-models/alias", {"name": unique("no"), "alias": "a"}),
                 404, MISSING)


def test_alias_on_deleted_version(mw, model):
    run = run_with_files(mw, FILES)
    mv_create(mw, model, f"runs:/{run['run_id']}/model")
    mv_create(mw, model, f"runs:/{run['run_id']}/model")
    assert_ok(mw.delete("model-versions/delete", {"name": model, "version": "1"}))
    assert_error(mw.post("registered-models/alias", {"name": model, "alias": "a", "version": "1"}),
                 404, MISSING)


@pytest.mark.parametrize("alias", ["latest", "LATEST", "Latest", "v1", "V12", "v0", "has space",
                                   "dot.ted", "slash/y", "a" * 256, ""])
def test_alias_validation(mw, model, alias):
    run = run_with_files(mw, FILES)
    mv_create(mw, model, f"runs:/{run['run_id']}/model")
    assert_error(mw.post("registered-models/alias", {"name": model, "alias": alias,
                                                     "version": "1"}), 400, INVALID)
    assert_error(mw.get("registered-models/alias", {"name": model, "alias": alias}), 400, INVALID)


@pytest.mark.parametrize("alias", ["v", "vx1", "a" * 255, "with-dash_and_9", "ünïcode"])
def test_alias_edge_cases_accepted(mw, model, alias):
    run = run_with_files(mw, FILES)
    mv_create(mw, model, f"runs:/{run['run_id']}/model")
    assert_ok(mw.post("registered-models/alias", {"name": model, "alias": alias, "version": "1"}))
    got = assert_ok(mw.get("registered-models/alias", {"name": model, "alias": alias}))
    assert got["model_version"]["version"] == "1"


# ------------------------------------------------------------------ model-versions/search

@pytest.fixture(scope="module")
def mv_search_data(mw):
    pfx = unique("mvs")
    a, b = f"{pfx}-a", f"{pfx}-b"
    rm_create(mw, a)
    rm_create(mw, b)
    r1 = run_with_files(mw, {"f": b"1"})
    r2 = run_with_files(mw, {"f": b"2"})
    for name in (a, b):  # distinct timestamps for the default order
        time.sleep(0.003)
        mv_create(mw, name, f"runs:/{r1['run_id']}/model", tags=[{"key": "t", "value": "one"}])
        time.sleep(0.003)
        mv_create(mw, name, f"runs:/{r2['run_id']}/model", tags=[{"key": "t", "value": "two"}])
        time.sleep(0.003)
        mv_create(mw, name, f"mlflow-artifacts:/0/{r2['run_id']}/artifacts/model")
    return pfx, a, b, r1["run_id"], r2["run_id"]


def mvs(mw, **params):
    body = assert_ok(mw.get("model-versions/search", params))
    return [(v["name"], v["version"]) for v in body.get("model_versions", [])], body


def test_mv_search_filters(mw, mv_search_data):
    pfx, a, b, r1, r2 = mv_search_data
    got, _ = mvs(mw, filter=f"name = '{a}'")
    assert sorted(got) == [(a, "1"), (a, "2"), (a, "3")]
    got, _ = mvs(mw, filter=f"name LIKE '{pfx}%' AND run_id = '{r1}'")
    assert sorted(got) == [(a, "1"), (b, "1")]
    got, _ = mvs(mw, filter=f"name LIKE '{pfx}%' AND run_id IN ('{r1}', '{r2}')")
    assert sorted(got) == [(a, "1"), (a, "2"), (b, "1"), (b, "2")]  # v3 has no run
    got, _ = mvs(mw, filter=f"name = '{b}' AND version_number >= 2")
    assert sorted(got) == [(b, "2"), (b, "3")]
    got, _ = mvs(mw, filter=f"name = '{b}' AND source_path LIKE 'mlflow-artifacts:%'")
    assert got == [(b, "3")]
    got, _ = mvs(mw, filter=f"name ILIKE '{pfx.upper()}%' AND tags.t = 'two'")
    assert sorted(got) == [(a, "2"), (b, "2")]
    # a version without a run has no run_id to compare: the clause is false, as in MLflow
    got, _ = mvs(mw, filter=f"name = '{a}' AND run_id != '{r1}'")
    assert sorted(got) == [(a, "2")]


def test_mv_search_order_and_paging(mw, mv_search_data):
    pfx, a, b, _, _ = mv_search_data
    f = f"name LIKE '{pfx}%'"
    got, _ = mvs(mw, filter=f, order_by="version_number ASC")
    assert [v for _, v in got] == ["1", "1", "2", "2", "3", "3"]
    assert [n for n, _ in got][:2] == [a, b]  # tie-break name ASC
    # without order_by: the latest change first
    got, _ = mvs(mw, filter=f)
    assert got[:3] == [(b, "3"), (b, "2"), (b, "1")]
    time.sleep(0.003)
    assert_ok(mw.patch("model-versions/update", {"name": a, "version": "1", "description": "x"}))
    got, _ = mvs(mw, filter=f)
    assert got[0] == (a, "1")
    got, _ = mvs(mw, filter=f, order_by=["name DESC", "version_number DESC"])
    assert got == [(b, "3"), (b, "2"), (b, "1"), (a, "3"), (a, "2"), (a, "1")]
    seen, token = [], None
    while True:
        p = {"filter": f, "max_results": 4, "order_by": "name ASC"}
        if token:
            p["page_token"] = token
        page, body = mvs(mw, **p)
        seen += page
        token = body.get("next_page_token")
        if not token:
            break
    assert seen == [(a, "3"), (a, "2"), (a, "1"), (b, "3"), (b, "2"), (b, "1")]


@pytest.mark.parametrize("params", [
    {"filter": "version_number = 'x'"}, {"filter": "source_path IN ('a')"},
    {"filter": "name = 'a' OR name = 'b'"}, {"filter": "metrics.x > 1"},
    {"max_results": 200001}, {"max_results": 0}, {"order_by": "run_id"},
    {"order_by": ["name", "name DESC"]},
])
def test_mv_search_errors(mw, params):
    assert_error(mw.get("model-versions/search", params), 400, INVALID)


# ------------------------------------------------------------------ MLflow 3 wire trace

def test_mlflow3_wire_trace(mw):
    """§8: log_model(registered_model_name=M) then set alias and load models:/M@champion."""
    name = unique("M")
    run = assert_ok(mw.post("runs/create", {"experiment_id": "0", "start_time": now_ms(),
                                            "tags": [{"key": "mlflow.user", "value": "u"}]}))["run"]
    rid = run["info"]["run_id"]
    assert_ok(mw.post("runs/log-parameter", {"run_id": rid, "key": "alpha", "value": "0.5"}))
    # 5.2 logged model, 5.3 outputs
    lm = assert_ok(mw.post("logged-models", {"experiment_id": "0", "name": "model",
                                              "source_run_id": rid}))["model"]["info"]
    mid = lm["model_id"]
    assert MODEL_ID.match(mid)
    assert_ok(mw.post("runs/outputs", {"run_id": rid, "models": [{"model_id": mid, "step": 0}]}))
    # 5.5 upload the model files
    files = {"MLmodel": b"artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.sklearn\n    model_path: model.pkl\n", "model.pkl": b"\x80\x04pickle",
             "conda.yaml": b"deps: []\n", "python_env.yaml": b"python: 3\n",
             "requirements.txt": b"scikit-learn\n"}
    art = lm["artifact_uri"][len("mlflow-artifacts:/"):]
    for p, data in files.items():
        put_art(mw, f"{art}/{p}", data)
    # 5.6 finalize
    assert_ok(mw.patch(f"logged-models/{mid}", {"model_id": mid, "status": "LOGGED_MODEL_READY"}))
    # 5.7 create the registered model; a replay is tolerated by the client
    assert_ok(mw.post("registered-models/create", {"name": name}))
    assert_error(mw.post("registered-models/create", {"name": name}), 400, EXISTS)
    # 5.8 the version, READY at once (no polling)
    mv = assert_ok(mw.post("model-versions/create",
                           {"name": name, "source": f"models:/{mid}", "model_id": mid}))
    mv = mv["model_version"]
    assert mv["version"] == "1" and mv["status"] == "READY"
    assert mv["model_id"] == mid and mv["run_id"] == rid and mv["source"] == f"models:/{mid}"
    # 5.9 the client tags the logged model with its versions
    assert_ok(mw.get(f"logged-models/{mid}"))
    tag = json.dumps([{"name": name, "version": "1"}])
    assert_ok(mw.patch(f"logged-models/{mid}/tags",
                       {"tags": [{"key": "mlflow.modelVersions", "value": tag}]}))
    assert_ok(mw.post("runs/update", {"run_id": rid, "status": "FINISHED", "end_time": now_ms()}))
    # 7 alias
    assert_ok(mw.post("registered-models/alias", {"name": name, "alias": "champion",
                                                  "version": "1"}))
    # 8 resolve models:/M@champion and download every file
    got = assert_ok(mw.get("registered-models/alias", {"name": name, "alias": "champion"}))
    version = got["model_version"]["version"]
    assert version == "1"
    uri = assert_ok(mw.get("model-versions/get-download-uri",
                           {"name": name, "version": version}))["artifact_uri"]
    assert download_tree(mw, uri) == files
    # the logged model's files change later; the version does not
    put_art(mw, f"{art}/model.pkl", b"overwritten")
    assert download_tree(mw, uri) == files
    # lineage names the logged model and the run
    lin = assert_ok(native(mw, "GET", name, "versions/1/lineage"))
    assert lin["logged_model"]["info"]["model_id"] == mid
    assert lin["run"]["info"]["run_id"] == rid
    assert kv(lin["run"]["params"]) == {"alpha": "0.5"}


def test_mlflow2_style_registration(mw):
    """2.x: runs/log-model, then source=mlflow-artifacts:/0/R/artifacts/model with run_id."""
    name = unique("M2")
    run = run_with_files(mw, FILES)
    rm_create(mw, name)
    src = f"mlflow-artifacts:/0/{run['run_id']}/artifacts/model"
    mv = mv_create(mw, name, src, run_id=run["run_id"])
    assert mv["run_id"] == run["run_id"] and mv["source"] == src
    assert download_tree(mw, mv["storage_location"]) == FILES


# ------------------------------------------------------------------ native: promotion and history

def test_native_alias_rollback_and_history(mw, model):
    run = run_with_files(mw, FILES)
    for _ in range(4):
        mv_create(mw, model, f"runs:/{run['run_id']}/model")
    ev = {"eval_run": run["run_id"], "auc": 0.91}
    r = native(mw, "POST", model, "aliases",
               {"alias": "champion", "version": "1", "reason": "first release", "evidence": ev},
               headers={"X-MW-User": "alice"})
    assert assert_ok(r)["model_version"]["version"] == "1"
    assert_ok(native(mw, "POST", model, "aliases", {"alias": "champion", "version": 2,
                                                    "reason": "better auc"},
                     headers={"X-MW-User": "bob"}))
    assert_ok(mw.post("registered-models/alias", {"name": model, "alias": "champion",
                                                  "version": "3"}))
    # replaying the same move changes nothing
    assert_ok(mw.post("registered-models/alias", {"name": model, "alias": "champion",
                                                  "version": "3"}))
    r = assert_ok(native(mw, "POST", model, "rollback", {"alias": "champion",
                                                        "reason": "latency regression"},
                         headers={"X-MW-User": "carol"}))
    assert r["alias"] == "champion" and r["from_version"] == "3" and r["to_version"] == "2"
    assert r["model_version"]["version"] == "2"
    # rollback again goes one further back
    r = assert_ok(native(mw, "POST", model, "rollback", {"alias": "champion"}))
    assert (r["from_version"], r["to_version"]) == ("2", "1")
    body = assert_error(native(mw, "POST", model, "rollback", {"alias": "champion"}), 400, INVALID)
    assert "roll back" in body["message"]
    body = assert_error(native(mw, "POST", model, "rollback", {"alias": "never"}), 404, MISSING)
    assert "never set" in body["message"]
    assert_ok(stage(mw, model, 4, "Production"))
    h = assert_ok(native(mw, "GET", model, "history"))
    assert h["name"] == model
    events = h["events"]
    kinds = [(e["kind"], e["from_version"], e["to_version"]) for e in events]
    assert kinds == [("alias_set", None, "1"), ("alias_set", "1", "2"), ("alias_set", "2", "3"),
                     ("rollback", "3", "2"), ("rollback", "2", "1"),
                     ("stage_transition", "4", "4")]
    first = events[0]
    assert first["who"] == "alice" and first["reason"] == "first release"
    assert first["evidence"] == ev and first["target"] == "champion"
    assert isinstance(first["at"], int) and first["at"] <= now_ms()
    assert events[1]["who"] == "bob" and events[1]["evidence"] is None
    assert events[2]["reason"] is None  # MLflow's endpoint records no reason
    assert events[3]["who"] == "carol" and events[3]["reason"] == "latency regression"
    assert (events[5]["from_stage"], events[5]["to_stage"]) == ("None", "Production")
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)


def test_rollback_skips_deleted_versions(mw, model):
    run = run_with_files(mw, FILES)
    for _ in range(3):
        mv_create(mw, model, f"runs:/{run['run_id']}/model")
    for v in ("1", "2", "3"):
        assert_ok(native(mw, "POST", model, "aliases", {"alias": "prod", "version": v}))
    assert_ok(mw.delete("model-versions/delete", {"name": model, "version": "2"}))
    r = assert_ok(native(mw, "POST", model, "rollback", {"alias": "prod"}))
    assert r["to_version"] == "1"
    # the alias of a deleted version is gone, audited; rollback brings it back
    assert_ok(native(mw, "POST", model, "aliases", {"alias": "canary", "version": "3"}))
    assert_ok(native(mw, "POST", model, "aliases", {"alias": "canary", "version": "1"}))
    assert_ok(mw.delete("model-versions/delete", {"name": model, "version": "1"}))
    assert_error(mw.get("registered-models/alias", {"name": model, "alias": "canary"}), 404, MISSING)
    r = assert_ok(native(mw, "POST", model, "rollback", {"alias": "canary"}))
    assert r["from_version"] is None and r["to_version"] == "3"
    events = assert_ok(native(mw, "GET", model, "history"))["events"]
    deleted = [e for e in events if e["kind"] == "alias_deleted"]
    assert {e["target"] for e in deleted} == {"canary", "prod"}
    assert all("deleted" in e["reason"] for e in deleted)
    assert [e["target"] for e in events if e["kind"] == "version_deleted"] == ["2", "1"]


def test_native_alias_delete_and_stage(mw, model):
    run = run_with_files(mw, FILES)
    mv_create(mw, model, f"runs:/{run['run_id']}/model")
    mv_create(mw, model, f"runs:/{run['run_id']}/model")
    assert_ok(native(mw, "POST", model, "aliases", {"alias": "a", "version": "1"}))
    assert assert_ok(native(mw, "DELETE", model, "aliases/a", {"reason": "retired"})) == {}
    assert_error(mw.get("registered-models/alias", {"name": model, "alias": "a"}), 404, MISSING)
    r = assert_ok(native(mw, "POST", model, "versions/1/stage",
                         {"stage": "production", "reason": "approved", "evidence": ["ticket-1"]}))
    assert r["model_version"]["current_stage"] == "Production"
    r = assert_ok(native(mw, "POST", model, "versions/2/stage",
                         {"stage": "Production", "archive_existing_versions": True}))
    assert mv_get(mw, model, 1)["current_stage"] == "Archived"
    events = assert_ok(native(mw, "GET", model, "history"))["events"]
    assert events[1]["kind"] == "alias_deleted" and events[1]["reason"] == "retired"
    st = [e for e in events if e["kind"] == "stage_transition"]
    assert st[0]["reason"] == "approved" and st[0]["evidence"] == ["ticket-1"]
    archived = [e for e in st if e["to_stage"] == "Archived"]
    assert archived and archived[0]["target"] == "1"
    assert "archive_existing_versions" in archived[0]["reason"]


@pytest.mark.parametrize("body,status,code", [
    ({"version": "1"}, 400, INVALID),
    ({"alias": "latest", "version": "1"}, 400, INVALID),
    ({"alias": "a", "version": "x"}, 400, INVALID),
    ({"alias": "a", "version": "9"}, 404, MISSING),
    ({"alias": "a", "version": "1", "evidence": 5}, 400, INVALID),
    ({"alias": "a", "version": "1", "reason": "r" * 5001}, 400, INVALID),
    ({"alias": "a", "version": "1", "evidence": {"big": "x" * 70000}}, 400, INVALID),
])
def test_native_alias_errors(mw, model, body, status, code):
    run = run_with_files(mw, FILES)
    mv_create(mw, model, f"runs:/{run['run_id']}/model")
    assert_error(native(mw, "POST", model, "aliases", body), status, code)


def test_native_routes_errors(mw, model):
    assert_error(native(mw, "GET", unique("no"), "history"), 404, MISSING)
    assert_error(native(mw, "GET", model, "nonsense"), 404, "ENDPOINT_NOT_FOUND")
    assert_error(native(mw, "GET", model, "versions/1/nonsense"), 404, "ENDPOINT_NOT_FOUND")
    assert_error(native(mw, "DELETE", model, "history"), 405, "ENDPOINT_NOT_FOUND")
    assert_error(native(mw, "GET", model, "aliases"), 405, "ENDPOINT_NOT_FOUND")
    assert_error(native(mw, "POST", model, "versions/1/card", {}), 405, "ENDPOINT_NOT_FOUND")
    assert_error(native(mw, "GET", model, "versions/x/card"), 400, INVALID)
    assert_error(native(mw, "GET", model, "versions/1/lineage"), 404, MISSING)
    r = mw.request("GET", NATIVE + "history")
    assert r.status_code == 404
    r = mw.request("POST", NATIVE + urllib.parse.quote(model) + "/aliases", data=b"{not json",
                   headers={"Content-Type": "application/json"})
    assert_error(r, 400, ("BAD_REQUEST", INVALID))


def test_names_with_slashes_and_unicode(mw):
    for name in (unique("team/fraud"), unique("ünï côdé"), unique("a/history")):
        rm_create(mw, name)
        run = run_with_files(mw, FILES)
        mv_create(mw, name, f"runs:/{run['run_id']}/model")
        assert_ok(native(mw, "POST", name, "aliases", {"alias": "champion", "version": "1"}))
        h = assert_ok(native(mw, "GET", name, "history"))
        assert h["name"] == name and len(h["events"]) == 1
        assert assert_ok(native(mw, "GET", name, "versions/1/lineage"))["model_version"]["name"] \
            == name
        assert_ok(native(mw, "PUT", name, "versions/1/card", {"owner": "me"}))
        assert rm_get(mw, name)["name"] == name


# ------------------------------------------------------------------ model cards

CARD = {
    "intended_use": "score card transactions for fraud",
    "training_data": "2025 transactions, EU and US",
    "evaluation_data": "holdout Jan 2026",
    "slice_metrics": {"eu": {"auc": 0.93}, "us": {"auc": 0.91}},
    "failure_modes": "new merchant categories",
    "latency_profile": "p99 4 ms at batch 1",
    "cost_profile": "0.2 CPU-ms per request",
    "owner": "risk-ml@example.com",
    "markdown": "# Fraud v1\n\nDetails.",
}


def test_model_card(mw, model):
    run = run_with_files(mw, FILES)
    mv_create(mw, model, f"runs:/{run['run_id']}/model")
    body = assert_error(native(mw, "GET", model, "versions/1/card"), 404, MISSING)
    assert "no model card" in body["message"]
    t0 = now_ms()
    r = assert_ok(native(mw, "PUT", model, "versions/1/card", CARD, headers={"X-MW-User": "dana"}))
    assert r["card"] == CARD and r["updated_by"] == "dana"
    assert r["name"] == model and r["version"] == "1"
    assert t0 - 5000 <= r["updated"] <= now_ms() + 5000
    assert assert_ok(native(mw, "GET", model, "versions/1/card")) == r
    # PUT replaces the whole card; null fields are dropped; slice_metrics may be a list
    card2 = {"owner": "other", "slice_metrics": [{"slice": "eu", "auc": 0.9}], "markdown": None}
    r2 = assert_ok(native(mw, "PUT", model, "versions/1/card", card2))
    assert r2["card"] == {"owner": "other", "slice_metrics": [{"slice": "eu", "auc": 0.9}]}
    assert r2["updated_by"] == "anonymous"
    assert_ok(native(mw, "PUT", model, "versions/1/card", {}))


@pytest.mark.parametrize("card", [
    {"unknown_field": "x"}, {"owner": 5}, {"intended_use": ["a"]}, {"slice_metrics": "auc=0.9"},
    {"markdown": {"h": 1}}, {"markdown": "x" * (1 << 20)},
])
def test_model_card_validation(mw, model, card):
    run = run_with_files(mw, FILES)
    mv_create(mw, model, f"runs:/{run['run_id']}/model")
    assert_error(native(mw, "PUT", model, "versions/1/card", card), 400, INVALID)
    assert_error(native(mw, "GET", model, "versions/1/card"), 404, MISSING)


def test_model_card_body_must_be_an_object(mw, model):
    run = run_with_files(mw, FILES)
    mv_create(mw, model, f"runs:/{run['run_id']}/model")
    r = mw.request("PUT", NATIVE + urllib.parse.quote(model) + "/versions/1/card",
                   data=b"[1, 2]", headers={"Content-Type": "application/json"})
    assert_error(r, 400, ("BAD_REQUEST", INVALID))


def test_model_card_missing_version(mw, model):
    assert_error(native(mw, "PUT", model, "versions/3/card", CARD), 404, MISSING)
    assert_error(native(mw, "GET", model, "versions/3/card"), 404, MISSING)
    assert_error(native(mw, "PUT", unique("no"), "versions/1/card", CARD), 404, MISSING)


# ------------------------------------------------------------------ lineage

def test_lineage(mw, model):
    exp = mw.create_experiment(unique("lin"))
    tags = [{"key": "mlflow.source.git.commit", "value": "0123abcd"},
            {"key": "mlflow.source.name", "value": "train.py"},
            {"key": "mlflow.source.type", "value": "LOCAL"},
            {"key": "mlflow.source.git.repoURL", "value": "https://git.example/ml.git"},
            {"key": "mlflow.source.git.branch", "value": "main"}]
    run = run_with_files(mw, FILES, exp=exp, tags=tags)
    rid = run["run_id"]
    assert_ok(mw.post("runs/log-batch", {"run_id": rid,
                                         "params": [{"key": "depth", "value": "6"}],
                                         "metrics": [{"key": "auc", "value": 0.9, "timestamp": 1,
                                                      "step": 0},
                                                     {"key": "auc", "value": 0.93, "timestamp": 2,
                                                      "step": 1}]}))
    ds = {"name": "transactions", "digest": "d1g3st", "source_type": "local",
          "source": "{\"uri\": \"/data/tx.parquet\"}"}
    assert_ok(mw.post("runs/log-inputs", {"run_id": rid, "datasets": [
        {"dataset": ds, "tags": [{"key": "mlflow.data.context", "value": "training"}]}]}))
    mv = mv_create(mw, model, f"runs:/{rid}/model")
    lin = assert_ok(native(mw, "GET", model, "versions/1/lineage"))
    assert lin["model_version"] == mv
    assert lin["run"]["info"]["run_id"] == rid and lin["run"]["info"]["experiment_id"] == exp
    assert kv(lin["run"]["params"]) == {"depth": "6"}
    assert [(m["key"], m["value"], m["step"]) for m in lin["run"]["metrics"]] == [("auc", 0.93, 1)]
    assert kv(lin["run"]["tags"])["mlflow.source.git.commit"] == "0123abcd"
    assert lin["code"] == {"git_commit": "0123abcd", "source_name": "train.py",
                           "source_type": "LOCAL", "git_repo_url": "https://git.example/ml.git",
                           "git_branch": "main"}
    assert [d["dataset"]["name"] for d in lin["datasets"]] == ["transactions"]
    assert lin["datasets"][0]["dataset"]["digest"] == "d1g3st"
    assert lin["logged_model"] is None
    assert {a["path"]: (a["digest"], a["size"]) for a in lin["artifacts"]} == \
        {p: (sha(b), len(b)) for p, b in FILES.items()}
    assert lin["manifest_digest"] == mv["manifest_digest"] == manifest_digest(FILES)


def test_lineage_without_run(mw, model):
    mv_create(mw, model, "s3://bucket/m")
    lin = assert_ok(native(mw, "GET", model, "versions/1/lineage"))
    assert lin["run"] is None and lin["code"] is None and lin["datasets"] == []
    assert lin["artifacts"] == [] and lin["manifest_digest"] is None
    # a run id from elsewhere (another tracking server) is kept, and shown as absent
    mv_create(mw, model, "s3://bucket/m", run_id="f" * 32)
    lin = assert_ok(native(mw, "GET", model, "versions/2/lineage"))
    assert lin["model_version"]["run_id"] == "f" * 32 and lin["run"] is None


# ------------------------------------------------------------------ durability

def test_registry_survives_restart(mw_factory):
    srv = mw_factory()
    rm_create(srv, "fraud")
    run = run_with_files(srv, FILES)
    mv = mv_create(srv, "fraud", f"runs:/{run['run_id']}/model")
    assert_ok(native(srv, "POST", "fraud", "aliases", {"alias": "champion", "version": "1",
                                                       "reason": "r"}))
    assert_ok(native(srv, "PUT", "fraud", "versions/1/card", {"owner": "o"}))
    srv.restart()
    assert mv_get(srv, "fraud", 1) == dict(mv, aliases=["champion"])
    assert download_tree(srv, mv["storage_location"]) == FILES
    assert len(assert_ok(native(srv, "GET", "fraud", "history"))["events"]) == 1
    assert assert_ok(native(srv, "GET", "fraud", "versions/1/card"))["card"] == {"owner": "o"}
    assert mv_create(srv, "fraud", f"runs:/{run['run_id']}/model")["version"] == "2"


# ---- register what serves (issue 10 item 3) ---------------------------------

UNSERVABLE = [
    ({"MLmodel": b""}, "MLmodel is empty"),
    ({"MLmodel": b"   \n# nothing\n"}, "MLmodel is empty"),
    ({"MLmodel": b"local"}, "not a YAML mapping"),
    ({"MLmodel": b"flavors: [unclosed\n  : :"}, "not valid YAML"),
    ({"MLmodel": b"artifact_path: model\n"}, "no flavors"),
    ({"MLmodel": b"flavors:\n  pytorch:\n    model_data: data\n"}, "(pytorch) are none mw can serve"),
    ({"MLmodel": b"flavors:\n  xgboost:\n    data: model.json\n    model_format: json\n"},
     "'model.json', which is not among the model's files"),
    ({"MLmodel": b"flavors:\n  sklearn:\n    pickled_model: ../../../etc/passwd\n",
      "model.pkl": b"x"}, "no '..'"),
    ({"MLmodel": b"flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n"
                 b"    model_path: /etc/passwd\n"}, "no '/' at the start"),
]


@pytest.mark.parametrize("files,why", UNSERVABLE)
def test_a_version_that_could_never_serve_is_refused(mw, model, files, why):
    run = run_with_files(mw, files)
    body = assert_error(mw.post("model-versions/create", {
        "name": model, "source": f"runs:/{run['run_id']}/model"}), 400, INVALID)
    assert why in body["message"], body["message"]
    assert "Cannot register" in body["message"]
    # nothing was created, and the next good version is version 1
    assert "latest_versions" not in rm_get(mw, model)
    good = run_with_files(mw, FILES)
    assert mv_create(mw, model, f"runs:/{good['run_id']}/model")["version"] == "1"


def test_sources_without_an_mlmodel_are_not_checked(mw, model):
    """A plain model file, or a directory without MLmodel, registers as before
    (mw serves plain directories; MLflow checks nothing)."""
    run = run_with_files(mw, {"model.json": b"{}"})
    assert mv_create(mw, model, f"runs:/{run['run_id']}/model")["status"] == "READY"


def test_check_models_off_registers_anything(mw_factory, tmp_path):
    srv = mw_factory(data_dir=tmp_path / "d", extra_args=["--check-models", "false"])
    name = unique("unchecked")
    assert_ok(srv.post("registered-models/create", {"name": name}))
    run = run_with_files(srv, {"MLmodel": b"flavors:\n  pytorch: {}\n"})
    assert mv_create(srv, name, f"runs:/{run['run_id']}/model")["version"] == "1"


# ---- an alias move never changes the contract silently (issue 10 item 6) -----

def _sig_files(inputs, outputs):
    ml = ("flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n"
          "    model_path: model.pkl\nsignature:\n"
          f"  inputs: '{json.dumps(inputs)}'\n  outputs: '{json.dumps(outputs)}'\n")
    return {"MLmodel": ml.encode(), "model.pkl": b"\x80\x04pickle"}


def test_alias_move_to_another_signature_is_refused_unless_forced(mw, model):
    cols = [{"name": "a", "type": "double"}, {"name": "b", "type": "double"}]
    labels = [{"type": "long"}]
    probs = [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 2]}}]
    v = {}
    for k, files in (("one", _sig_files(cols, labels)), ("same", _sig_files(cols, labels)),
                     ("probs", _sig_files(cols, probs)), ("fewer", _sig_files(cols[:1], labels))):
        run = run_with_files(mw, files)
        v[k] = mv_create(mw, model, f"runs:/{run['run_id']}/model")["version"]
    assert_ok(mw.post("registered-models/alias", {"name": model, "alias": "champion",
                                                   "version": v["one"]}))
    # the same signature moves freely
    assert_ok(mw.post("registered-models/alias", {"name": model, "alias": "champion",
                                                   "version": v["same"]}))
    # [n] labels -> [n, 2] probabilities: refused, with the difference
    for path, body in (("registered-models/alias", {}),
                       (f"/api/mw/models/{model}/aliases", {"reason": "r"})):
        body.update({"name": model, "alias": "champion", "version": v["probs"]})
        err = assert_error(mw.post(path, body), 400, INVALID)
        assert "outputs[0]" in err["message"] and "[-1,2]" in err["message"], err
        assert "force" in err["message"]
    err = assert_error(mw.post("registered-models/alias", {
        "name": model, "alias": "champion", "version": v["fewer"]}), 400, INVALID)
    assert "inputs: 2 columns before, 1 after" in err["message"], err
    got = assert_ok(mw.get("registered-models/alias", {"name": model, "alias": "champion"}))
    assert got["model_version"]["version"] == v["same"]
    # forced: moved, audited as any move
    assert_ok(mw.post(f"/api/mw/models/{model}/aliases", {
        "alias": "champion", "version": v["probs"], "force": True, "reason": "new contract"}))
    got = assert_ok(mw.get("registered-models/alias", {"name": model, "alias": "champion"}))
    assert got["model_version"]["version"] == v["probs"]
    # a new alias, and a rollback, are not contract changes to refuse
    assert_ok(mw.post("registered-models/alias", {"name": model, "alias": "challenger",
                                                   "version": v["fewer"]}))
    assert_ok(mw.post(f"/api/mw/models/{model}/rollback", {"alias": "champion"}))

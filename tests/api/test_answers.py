"""Answers bounded in bytes (issue 9): every search and listing ends its page
early when its next entity would pass --max-response-bytes and answers a
next_page_token, which MLflow's clients follow (max_results is an upper
bound); an entity larger than the limit on its own is an explicit 413
RESOURCE_EXHAUSTED, never a truncated entity; a listing whose protocol has no
page token (the artifact proxy's) is a 413 too rather than a short list.

Each test starts a server with a 64 KiB limit and fills a few hundred KiB, so
every listing needs several pages; every page is checked against the limit
byte for byte, and the pages together against what was written."""

import pytest

from conftest import assert_error, assert_ok, now_ms, rss_bound_mb, unique

LIMIT = 65536
ART = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def srv(mw_factory):
    return mw_factory(extra_args=["--max-response-bytes", str(LIMIT)])


def pages(srv, method, path, field, body=None, token_field="page_token"):
    """Every page of a listing, following next_page_token; checks each answer
    against the limit.  Returns (items, number of pages)."""
    items, token = [], None
    for n in range(1, 200):
        b = dict(body or {})
        if token:
            b[token_field] = token
        if method == "GET":
            r = srv.get(path, b)
        else:
            r = srv.post(path, b)
        assert len(r.content) <= LIMIT, (path, len(r.content))
        out = assert_ok(r)
        items += out.get(field, [])
        token = out.get("next_page_token")
        if not token:
            return items, n
        assert out.get(field), "a page with a token must hold something"
    raise AssertionError("paging did not end")


def test_runs_search_pages_in_bytes(srv):
    exp = srv.create_experiment(unique("bytes"))
    t0 = now_ms()
    ids = []
    for i in range(60):
        run = srv.create_run(exp, start_time=t0 + i)
        rid = run["info"]["run_id"]
        assert_ok(srv.post("runs/log-batch", {"run_id": rid, "params": [
            {"key": "blob", "value": f"{i:04d}" + "v" * 3000}]}))
        ids.append(rid)
    # one request asks for 1000 runs; ~200 KB of them arrive in several pages
    runs, n = pages(srv, "POST", "runs/search", "runs",
                    {"experiment_ids": [exp], "max_results": 1000})
    assert n >= 3
    assert [r["info"]["run_id"] for r in runs] == ids[::-1]  # start_time DESC, none twice
    # every run arrives whole
    for r in runs:
        (p,) = r["data"]["params"]
        assert len(p["value"]) == 3004
    # a filter and an order page the same way
    runs, n = pages(srv, "POST", "runs/search", "runs",
                    {"experiment_ids": [exp], "max_results": 50000,
                     "order_by": ["attributes.start_time ASC"]})
    assert [r["info"]["run_id"] for r in runs] == ids


def test_entity_over_the_limit_is_an_error(srv):
    exp = srv.create_experiment(unique("huge"))
    run = srv.create_run(exp)
    rid = run["info"]["run_id"]
    params = [{"key": f"p{i}", "value": "v" * 5000} for i in range(20)]  # ~100 KB
    assert_ok(srv.post("runs/log-batch", {"run_id": rid, "params": params}))
    e = assert_error(srv.get("runs/get", {"run_id": rid}), 413, "RESOURCE_EXHAUSTED")
    assert "max-response-bytes" in e["message"]
    # in a search: alone in the way of its page
    e = assert_error(srv.search_runs([exp]), 413, "RESOURCE_EXHAUSTED")
    assert "run" in e["message"] and "max-response-bytes" in e["message"]
    # the limit is on answers, not on writes, and the server goes on
    assert_ok(srv.post("runs/log-batch", {"run_id": rid, "tags": [{"key": "t", "value": "1"}]}))
    small = srv.create_run(exp)
    assert srv.get_run(small["info"]["run_id"])["info"]["run_id"] == small["info"]["run_id"]


def test_experiments_and_logged_models_page_in_bytes(srv):
    prefix = unique("expbytes")
    names = []
    for i in range(30):
        name = f"{prefix}-{i:02d}"
        srv.create_experiment(name, tags=[{"key": "note", "value": "n" * 4000}])
        names.append(name)
    exps, n = pages(srv, "POST", "experiments/search", "experiments",
                    {"filter": f"name LIKE '{prefix}%'", "order_by": ["name ASC"],
                     "max_results": 1000})
    assert n >= 2
    assert [e["name"] for e in exps] == names

    exp = srv.create_experiment(unique("lm"))
    mids = []
    for i in range(30):
        m = assert_ok(srv.post("logged-models", {
            "experiment_id": exp, "name": f"m{i}",
            "params": [{"key": "cfg", "value": "c" * 4000}]}))["model"]
        mids.append(m["info"]["model_id"])
    models, n = pages(srv, "POST", "logged-models/search", "models",
                      {"experiment_ids": [exp], "max_results": 1000})
    assert n >= 2
    assert sorted(m["info"]["model_id"] for m in models) == sorted(mids)
    assert len({m["info"]["model_id"] for m in models}) == 30


def test_metric_history_pages_in_bytes(srv):
    run = srv.create_run(srv.create_experiment(unique("hist")))
    rid = run["info"]["run_id"]
    for b in range(3):
        metrics = [{"key": "loss", "value": 0.5 + s, "timestamp": 1_700_000_000_000 + s,
                    "step": s} for s in range(b * 1000, (b + 1) * 1000)]
        assert_ok(srv.post("runs/log-batch", {"run_id": rid, "metrics": metrics}))
    # no max_results: every point, in pages of at most LIMIT bytes
    points, n = pages(srv, "GET", "metrics/get-history", "metrics",
                      {"run_id": rid, "metric_key": "loss"})
    assert n >= 2
    assert [p["step"] for p in points] == list(range(3000))


def test_registry_searches_page_in_bytes(srv):
    prefix = unique("rmbytes")
    for i in range(30):
        assert_ok(srv.post("registered-models/create", {
            "name": f"{prefix}-{i:02d}", "tags": [{"key": "doc", "value": "d" * 4000}]}))
    models, n = pages(srv, "GET", "registered-models/search", "registered_models",
                      {"filter": f"name LIKE '{prefix}%'", "max_results": 1000})
    assert n >= 2
    assert [m["name"] for m in models] == [f"{prefix}-{i:02d}" for i in range(30)]

    name = f"{prefix}-00"
    for i in range(30):
        assert_ok(srv.post("model-versions/create", {
            "name": name, "source": "s3://bucket/model",
            "tags": [{"key": "doc", "value": "d" * 4000}]}))
    versions, n = pages(srv, "GET", "model-versions/search", "model_versions",
                        {"filter": f"name = '{name}'", "max_results": 1000})
    assert n >= 2
    assert sorted(int(v["version"]) for v in versions) == list(range(1, 31))


def test_artifact_listings_page_in_bytes(srv):
    exp = srv.create_experiment(unique("artbytes"))
    run = srv.create_run(exp)
    rid = run["info"]["run_id"]
    root = run["info"]["artifact_uri"].removeprefix("mlflow-artifacts:/")
    names = [f"f{i:03d}-" + "n" * 180 for i in range(400)]
    for name in names:
        r = srv.session.put(f"{srv.url}{ART}/{root}/dir/{name}", data=b"x", timeout=30)
        assert_ok(r)
    files, n = pages(srv, "GET", "artifacts/list", "files", {"run_id": rid, "path": "dir"})
    assert n >= 2
    assert [f["path"] for f in files] == [f"dir/{x}" for x in names]
    assert all(f["file_size"] == 1 and not f["is_dir"] for f in files)
    # the artifact proxy's listing has no page token in MLflow's protocol: the
    # whole listing or an explicit error, never a short one
    r = srv.session.get(f"{srv.url}{ART}", params={"path": f"{root}/dir"}, timeout=30)
    e = assert_error(r, 413, "RESOURCE_EXHAUSTED")
    assert "max-response-bytes" in e["message"]
    r = srv.session.get(f"{srv.url}{ART}", params={"path": root}, timeout=30)
    assert assert_ok(r)["files"] == [{"path": "dir", "is_dir": True}]


def test_default_limit_is_generous(mw):
    # a search of 1000 small runs fits one page under the default limit
    exp = mw.create_experiment(unique("deflimit"))
    for _ in range(30):
        mw.create_run(exp)
    out = assert_ok(mw.search_runs([exp], max_results=1000))
    assert len(out["runs"]) == 30 and "next_page_token" not in out

# ------------------------------------------------------------------ JSON held in fields

def peak_rss_mb(srv):
    with open(f"/proc/{srv.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_json_in_fields_is_counted_before_it_is_built(mw_factory):
    """A field that holds JSON text (runs/log-model's model_json, a double-encoded
    body, native evidence) is one string value to the body's count; its own
    values are counted the same way before jansson builds them."""
    srv = mw_factory()
    run = srv.create_run(srv.create_experiment(unique("lmjson")))
    rid = run["info"]["run_id"]
    n = 12_000_000  # 24 MB of "0,": a 12M-value tree would take ~600 MB
    text = "[" + "0," * (n - 1) + "0]"
    e = assert_error(srv.post("runs/log-model", {"run_id": rid, "model_json": text}),
                     413, "RESOURCE_EXHAUSTED")
    assert "max-json-values" in e["message"]
    # the whole body as a JSON string holding the document (old clients)
    import json as _json
    body = _json.dumps('{"run_id": "x", "metrics": ' + text + "}").encode()
    r = srv.session.post(srv.url + "/api/2.0/mlflow/runs/log-batch", data=body,
                         headers={"Content-Type": "application/json"}, timeout=120)
    assert_error(r, 413, "RESOURCE_EXHAUSTED")
    assert peak_rss_mb(srv) < rss_bound_mb(300)
    # a real model_json still works
    model = {"artifact_path": "model", "flavors": {"python_function": {}},
             "utc_time_created": "2024-01-01 00:00:00", "run_id": rid}
    assert_ok(srv.post("runs/log-model", {"run_id": rid, "model_json": _json.dumps(model)}))
    tags = {t["key"]: t["value"] for t in srv.get_run(rid)["data"]["tags"]}
    assert _json.loads(tags["mlflow.log-model.history"])[0]["artifact_path"] == "model"


def test_evidence_string_is_measured_before_it_is_parsed(mw_factory):
    """Native evidence sent as a string holding JSON is refused by its length
    (64 KiB) before it is parsed, so 24 MB of "0," costs no tree."""
    srv = mw_factory()
    name = unique("ev")
    assert_ok(srv.post("registered-models/create", {"name": name}))
    assert_ok(srv.post("model-versions/create", {"name": name, "source": "s3://b/m"}))
    text = "[" + "0," * 12_000_000 + "0]"
    r = srv.post(f"/api/mw/models/{name}/aliases",
                 {"alias": "champion", "version": "1", "evidence": text})
    e = assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert "Evidence" in e["message"]
    assert peak_rss_mb(srv) < rss_bound_mb(300)
    # evidence as a string of JSON still reads as the JSON it holds
    assert_ok(srv.post(f"/api/mw/models/{name}/aliases",
                       {"alias": "champion", "version": "1", "evidence": '{"auc": 0.9}'}))
    ev = assert_ok(srv.get(f"/api/mw/models/{name}/history"))["events"][-1]["evidence"]
    assert ev == {"auc": 0.9}

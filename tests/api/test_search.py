"""runs/search: filters, quoting, order_by, pagination, view types, limits
(spec mlflow.md §6)."""

import pytest

from conftest import assert_error, assert_ok, kv, unique

T0 = 1_600_000_000_000


class World:
    pass


@pytest.fixture(scope="module")
def w(mw):
    """Five runs A..E in one experiment (E deleted), one run X in a second one."""
    w = World()
    w.exp = mw.create_experiment(unique("search"))
    w.exp2 = mw.create_experiment(unique("search2"))
    w.commit_a = "a" * 40
    w.commit_b = "b" * 39 + "c"

    def mk(name, offset, **kw):
        return mw.create_run(w.exp, run_name=name, start_time=T0 + offset, **kw)["info"]["run_id"]

    w.A = mk("alpha", 1000, user_id="alice")
    w.B = mk("beta", 2000, user_id="bob")
    w.C = mk("gamma", 3000)
    w.D = mk("delta", 4000)
    w.E = mk("eps", 5000)
    w.X = mw.create_run(w.exp2, run_name="other", start_time=T0 + 6000)["info"]["run_id"]

    def batch(run, metrics=(), params=(), tags=()):
        assert_ok(mw.post("runs/log-batch", {
            "run_id": run,
            "metrics": [{"key": k, "value": v, "timestamp": T0 + s, "step": s}
                        for k, v, s in metrics],
            "params": [{"key": k, "value": v} for k, v in params],
            "tags": [{"key": k, "value": v} for k, v in tags]}))

    batch(w.A, metrics=[("acc", 0.1, 0), ("acc", 0.9, 1), ("loss", 0.3, 0), ("nanm", 1.0, 0),
                        ("my key", 1.0, 0)],
          params=[("lr", "0.1"), ("opt", "adam")],
          tags=[("team", "vision"), ("mlflow.source.git.commit", w.commit_a)])
    batch(w.B, metrics=[("acc", 0.5, 0), ("loss", 0.6, 0), ("nanm", 2.0, 0), ("my-key", 3.0, 0)],
          params=[("lr", "0.01"), ("opt", "sgd")],
          tags=[("team", "Vision2"), ("mlflow.source.git.commit", w.commit_b)])
    batch(w.C, metrics=[("acc", 0.2, 0), ("loss", 0.1, 0), ("nanm", "NaN", 0)],
          tags=[("team", "nlp")])
    batch(w.D, params=[("q", "it's")], tags=[("t", "; DROP TABLE runs; --")])
    batch(w.E, metrics=[("acc", 0.99, 0)], params=[("lr", "0.1")])
    batch(w.X, metrics=[("acc", 0.95, 0)])

    ds = lambda name, digest: {"name": name, "digest": digest, "source_type": "local",
                               "source": "{}"}
    assert_ok(mw.post("runs/log-inputs", {"run_id": w.A, "datasets": [
        {"dataset": ds("ds1", "d1"), "tags": [{"key": "mlflow.data.context",
                                               "value": "training"}]}]}))
    assert_ok(mw.post("runs/log-inputs", {"run_id": w.B, "datasets": [
        {"dataset": ds("ds2", "d2"), "tags": [{"key": "mlflow.data.context",
                                               "value": "eval"}]}]}))

    assert_ok(mw.post("runs/update", {"run_id": w.A, "status": "FINISHED",
                                      "end_time": T0 + 10000}))
    assert_ok(mw.post("runs/update", {"run_id": w.D, "status": "FINISHED",
                                      "end_time": T0 + 20000}))
    assert_ok(mw.post("runs/update", {"run_id": w.C, "status": "FAILED"}))
    assert_ok(mw.post("runs/delete", {"run_id": w.E}))
    w.name = {w.A: "A", w.B: "B", w.C: "C", w.D: "D", w.E: "E", w.X: "X"}
    return w


def names(w, runs):
    return [w.name[r["info"]["run_id"]] for r in runs]


def search(mw, w, flt="", **body):
    exps = body.pop("experiment_ids", [w.exp])
    if flt:
        body["filter"] = flt
    return names(w, assert_ok(mw.search_runs(exps, **body)).get("runs", []))


def sset(mw, w, flt, **body):
    return set(search(mw, w, flt, **body))


@pytest.mark.parametrize("flt,expected", [
    ("", "ABCD"),
    ("metrics.acc > 0.6", "A"),
    ("metric.acc > 0.6", "A"),
    ("metrics.acc >= 0.5", "AB"),
    ("metrics.acc = 0.5", "B"),
    ("metrics.acc != 0.5", "AC"),
    ("metrics.acc <= 0.1", ""),          # latest value only: A's first point 0.1 is not latest
    ("metrics.loss < 0.3", "C"),
    ("metrics.loss <= 0.3", "AC"),
    ("metrics.absent > 0", ""),
    ("metrics.acc > -1", "ABC"),
    ("metrics.acc > .55", "A"),
    ("metrics.acc >= 5e-1", "AB"),
    ("metrics.acc >= 5E-1 AND metrics.acc < 9.0e-1", "B"),
    ("params.lr != ''", "AB"),
    ("params.lr = ''", ""),
    ("metrics.\"my key\" > 0", "A"),
    ("metrics.`my key` = 1", "A"),
    ("metrics.`my-key` >= 3", "B"),
    ("params.lr = '0.1'", "A"),
    ("param.lr = \"0.01\"", "B"),
    ("parameters.lr = '0.01'", "B"),
    ("params.lr != '0.1'", "B"),
    ("params.opt LIKE 'ad%'", "A"),
    ("params.opt LIKE 'SG%'", ""),
    ("params.opt ILIKE 'SG%'", "B"),
    ("params.opt LIKE '_gd'", "B"),
    ("params.lr = '%'", ""),
    ("params.lr LIKE '%'", "AB"),
    ("params.q = \"it's\"", "D"),
    ("tags.team = 'vision'", "A"),
    ("tag.team != 'vision'", "BC"),
    ("tags.team LIKE 'Vision%'", "B"),
    ("tags.team ILIKE 'vision%'", "AB"),
    ("tags.t = '; DROP TABLE runs; --'", "D"),
    ("attributes.status = 'FINISHED'", "AD"),
    ("status != 'FINISHED'", "BC"),
    ("attribute.status = 'FAILED'", "C"),
    ("attributes.run_name = 'alpha'", "A"),
    ("run.run_name LIKE 'a%'", "A"),
    ("attributes.run_name ILIKE 'ALP%'", "A"),
    ("attr.user_id = 'bob'", "B"),
    ("attributes.start_time >= {t2}", "BCD"),
    ("attributes.start_time < {t2}", "A"),
    ("attributes.end_time = {tend}", "A"),
    ("metrics.acc > 0.1 AND params.opt = 'sgd'", "B"),
    ("metrics.acc > 0.1 and params.opt = 'sgd' and tags.team LIKE '%2'", "B"),
    ("datasets.name = 'ds1'", "A"),
    ("dataset.name LIKE 'ds%'", "AB"),
    ("datasets.digest IN ('d1', 'd2')", "AB"),
    ("datasets.digest NOT IN ('d1')", "B"),
    ("datasets.context = 'eval'", "B"),
])
def test_filters(mw, w, flt, expected):
    flt = flt.format(t2=T0 + 2000, tend=T0 + 10000)
    assert sset(mw, w, flt) == set(expected), flt


def test_run_id_in(mw, w):
    assert sset(mw, w, f"attributes.run_id IN ('{w.A}', '{w.B}')") == {"A", "B"}
    assert sset(mw, w, f"run_id IN ('{w.C}')") == {"C"}
    assert sset(mw, w, f"attributes.run_id NOT IN ('{w.A}')") == {"B", "C", "D"}
    assert sset(mw, w, f"attributes.run_id = '{w.D}'") == {"D"}
    assert sset(mw, w, f"attributes.artifact_uri LIKE '%{w.A}%'") == {"A"}


def test_lineage_commit_search(mw, w):
    assert sset(mw, w, f"tags.\"mlflow.source.git.commit\" = '{w.commit_a}'") == {"A"}
    assert sset(mw, w, f"tags.`mlflow.source.git.commit` = '{w.commit_b}'") == {"B"}
    assert sset(mw, w, "tags.\"mlflow.source.git.commit\" LIKE 'bbbb%'") == {"B"}


def test_search_result_shape_latest_metrics(mw, w):
    out = assert_ok(mw.search_runs([w.exp], filter=f"attributes.run_id = '{w.A}'"))
    (run,) = out["runs"]
    assert run["info"]["run_id"] == w.A and run["info"]["run_uuid"] == w.A
    assert run["info"]["status"] == "FINISHED"
    ms = {m["key"]: m for m in run["data"]["metrics"]}
    assert ms["acc"]["value"] == 0.9 and ms["acc"]["step"] == 1
    assert set(ms) == {"acc", "loss", "nanm", "my key"}
    assert kv(run["data"]["params"]) == {"lr": "0.1", "opt": "adam"}
    assert kv(run["data"]["tags"])["mlflow.source.git.commit"] == w.commit_a
    assert run["inputs"]["dataset_inputs"][0]["dataset"]["name"] == "ds1"
    out = assert_ok(mw.search_runs([w.exp], filter=f"attributes.run_id = '{w.C}'"))
    assert kv(out["runs"][0]["data"]["metrics"])["nanm"] == "NaN"


@pytest.mark.parametrize("order,expected", [
    (None, "DCBA"),                       # default start_time DESC
    (["attributes.start_time ASC"], "ABCD"),
    (["start_time DESC"], "DCBA"),
    (["metrics.acc DESC"], "ABCD"),       # D has no acc: last
    (["metrics.acc ASC"], "CBAD"),
    (["metrics.acc"], "CBAD"),            # ASC is the default
    (["metrics.nanm ASC"], "ABCD"),       # NaN after numbers, None last
    (["metrics.nanm DESC"], "BACD"),
    (["params.lr ASC"], "BADC"),          # '0.01' < '0.1'; None last, tie: start_time DESC
    (["params.lr DESC"], "ABDC"),
    (["attributes.run_name"], "ABDC"),    # alpha beta delta gamma
    (["tags.team ASC"], "BCAD"),          # 'Vision2' < 'nlp' < 'vision' (binary order)
    (["attributes.status ASC", "attributes.start_time DESC"], "CDAB"),
])
def test_order_by(mw, w, order, expected):
    body = {}
    if order:
        body["order_by"] = order
    assert "".join(search(mw, w, **body)) == expected


def test_default_order_tie_break_run_id(mw):
    exp = mw.create_experiment(unique("tie"))
    ids = [mw.create_run(exp, start_time=T0)["info"]["run_id"] for _ in range(5)]
    got = [r["info"]["run_id"] for r in mw.search_all_runs([exp])]
    assert got == sorted(ids)
    got = [r["info"]["run_id"] for r in mw.search_all_runs([exp], max_results=2)]
    assert got == sorted(ids)


def test_pagination(mw, w):
    for order in (None, ["metrics.acc DESC"], ["params.lr ASC"]):
        body = {"order_by": order} if order else {}
        full = [r["info"]["run_id"] for r in mw.search_all_runs([w.exp], **body)]
        paged, token, pages = [], None, 0
        for _ in range(10):
            b = dict(body, max_results=1)
            if token:
                b["page_token"] = token
            out = assert_ok(mw.search_runs([w.exp], **b))
            pages += 1
            assert len(out.get("runs", [])) <= 1
            paged += [r["info"]["run_id"] for r in out.get("runs", [])]
            token = out.get("next_page_token")
            if not token:
                break
        assert paged == full and len(full) == 4
        assert pages in (4, 5)


def test_run_view_type(mw, w):
    assert sset(mw, w, "", run_view_type="ACTIVE_ONLY") == set("ABCD")
    assert sset(mw, w, "", run_view_type="DELETED_ONLY") == {"E"}
    assert sset(mw, w, "", run_view_type="ALL") == set("ABCDE")
    assert sset(mw, w, "metrics.acc > 0.98", run_view_type="ALL") == {"E"}


def test_multiple_experiments(mw, w):
    assert sset(mw, w, "metrics.acc > 0.6", experiment_ids=[w.exp, w.exp2]) == {"A", "X"}
    assert search(mw, w, "", experiment_ids=[w.exp, w.exp2],
                  order_by=["metrics.acc DESC"]) == list("XABCD")


def test_max_results_limits(mw, w):
    assert_error(mw.search_runs([w.exp], max_results=50001), 400, "INVALID_PARAMETER_VALUE")
    assert_error(mw.search_runs([w.exp], max_results=10 ** 15), 400, "INVALID_PARAMETER_VALUE")
    assert len(assert_ok(mw.search_runs([w.exp], max_results=50000))["runs"]) == 4


@pytest.mark.parametrize("flt", [
    "metrics.acc > 0.1 OR metrics.acc < 0.1",
    "(metrics.acc > 0.1)",
    "NOT params.lr = '0.1'",
    "metrics.acc > 'abc'",
    "metrics.acc LIKE '0.%'",
    "params.lr > '0.01'",
    "tags.team >= 'a'",
    "attributes.status IN ('FINISHED')",
    "attributes.run_name IN ('alpha')",
    "attributes.nosuch = 'x'",
    "lr = '0.1'",
    "metrics.acc >",
    "metrics.acc 0.5",
    "params.lr = 0.1",
    "params.lr = '0.1",
    "params.lr = '0.1' AND",
    "AND params.lr = '0.1'",
    "params.lr = '0.1' params.opt = 'adam'",
    "nosuchprefix.lr = '1'",
    "metrics. > 1",
    "attributes.start_time > 'yesterday'",
    "run_id IN 'abc'",
    "datasets.nosuch = 'x'",
])
def test_invalid_filters(mw, w, flt):
    assert_error(mw.search_runs([w.exp], filter=flt), 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("order", [["metrics.acc SIDEWAYS"], ["nosuchattr ASC"],
                                   ["metrics.acc ASC DESC"], ["params."]])
def test_invalid_order_by(mw, w, order):
    assert_error(mw.search_runs([w.exp], order_by=order), 400, "INVALID_PARAMETER_VALUE")


def test_invalid_page_token(mw, w):
    assert_error(mw.search_runs([w.exp], page_token="not base64 !!"), 400,
                 "INVALID_PARAMETER_VALUE")


# Filters carrying quotes and SQL metacharacters: 400, or the correct result (never 500).
NASTY = [
    ("params.lr = '0.1'' OR ''1''=''1'", ""),
    ("params.lr = '0.1' OR 1=1 --", None),
    ("params.lr = '0.1'; DROP TABLE runs; --", None),
    ("params.lr = '0.1' -- comment", None),
    ("params.lr = \"0.1\\\"", ""),
    ("tags.team = 'vision\\' OR 1=1 --'", ""),
    ("params.`lr`` = '1'", ""),
    ("params.\"lr\"\" = '1'", ""),
    ("tags.`a`b` = 'x'", ""),
    ("params.lr = '\x00'", ""),
    ("params.lr = 'x' UNION SELECT * FROM runs", None),
    ("metrics.acc > 0 /*", None),
    ("params.lr LIKE '%' ESCAPE '\\'", None),
    ("params.lr = '" + "a" * 100000 + "'", ""),
    ("tags.`" + "k" * 300 + "` = 'v'", ""),
    ("metrics.acc > 1e999", ""),
    ("metrics.acc > NaN", ""),
    ("metrics.acc > 0x10", ""),
    ("params.lr = '🙂'", ""),
    ("params.lr IN ('0.1')", None),
    ("attributes.run_id IN ('" + "', '".join(["x"] * 2000) + "')", ""),
    ("params.lr = '%%' AND tags.team LIKE '%%%'", ""),
    ("tags.team = 'vision' " + "AND tags.team = 'vision' " * 300, "A"),
]


@pytest.mark.parametrize("flt,expected", NASTY, ids=[f"nasty{i}" for i in range(len(NASTY))])
def test_nasty_filters(mw, w, flt, expected):
    r = mw.search_runs([w.exp], filter=flt)
    if r.status_code == 200 and expected is not None:
        got = set(names(w, assert_ok(r).get("runs", [])))
        assert got == set(expected), (flt[:200], got)
    else:
        assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    assert mw.health() == 200
    assert sset(mw, w, "") == set("ABCD")


def test_created_alias(mw, w):
    assert sset(mw, w, f"attributes.created >= {T0 + 3000}") == {"C", "D"}
    assert "".join(search(mw, w, order_by=["attributes.created ASC"])) == "ABCD"
    assert "".join(search(mw, w, order_by=["Created DESC"])) == "DCBA"


def test_unknown_experiment_ids_give_empty(mw, w):
    out = assert_ok(mw.search_runs(["987654300"]))
    assert out.get("runs", []) == []


def test_default_max_results_is_1000(mw):
    exp = mw.create_experiment(unique("thousand"))
    ids = set()
    for i in range(1001):
        ids.add(mw.create_run(exp, start_time=T0 + i)["info"]["run_id"])
    out = assert_ok(mw.search_runs([exp]))
    assert len(out["runs"]) == 1000
    assert out.get("next_page_token")
    rest = assert_ok(mw.search_runs([exp], page_token=out["next_page_token"]))
    assert len(rest["runs"]) == 1
    assert not rest.get("next_page_token")
    assert {r["info"]["run_id"] for r in out["runs"] + rest["runs"]} == ids
    # the oldest run comes last in the default order
    assert rest["runs"][0]["info"]["start_time"] == T0

"""Experiments: create/get/get-by-name/search/update/delete/restore/tags and the
legacy experiments/list (spec mlflow.md §2, §6)."""

import time

from conftest import AJAX, assert_error, assert_ok, kv, now_ms, unique


def test_default_experiment_on_fresh_store(mw_factory):
    srv = mw_factory()
    exp = srv.get_experiment("0")
    assert exp["experiment_id"] == "0"
    assert exp["name"] == "Default"
    assert exp["lifecycle_stage"] == "active"
    assert exp["artifact_location"] == "mlflow-artifacts:/0"
    by_name = assert_ok(srv.get("experiments/get-by-name", {"experiment_name": "Default"}))
    assert by_name["experiment"]["experiment_id"] == "0"
    out = assert_ok(srv.post("experiments/search", {}))
    assert [e["experiment_id"] for e in out["experiments"]] == ["0"]
    assert "next_page_token" not in out
    # the first created experiment gets a string id different from "0"
    eid = srv.create_experiment("first")
    assert isinstance(eid, str) and eid != "0"


def test_create_and_get_shape(mw):
    name = unique("exp")
    t0 = now_ms()
    eid = mw.create_experiment(name, tags=[{"key": "team", "value": "vision"},
                                           {"key": "k2", "value": ""}])
    exp = mw.get_experiment(eid)
    assert exp["experiment_id"] == eid
    assert exp["name"] == name
    assert exp["lifecycle_stage"] == "active"
    assert exp["artifact_location"] == f"mlflow-artifacts:/{eid}"
    for f in ("creation_time", "last_update_time"):
        assert isinstance(exp[f], int) and not isinstance(exp[f], bool)
        assert t0 - 5000 <= exp[f] <= now_ms() + 5000
    assert kv(exp["tags"])["team"] == "vision"


def test_create_with_artifact_location(mw):
    name = unique("exp")
    eid = mw.create_experiment(name, artifact_location="mlflow-artifacts:/custom/place")
    exp = mw.get_experiment(eid)
    assert exp["artifact_location"] == "mlflow-artifacts:/custom/place"
    run = mw.create_run(eid)
    assert run["info"]["artifact_uri"] == (
        f"mlflow-artifacts:/custom/place/{run['info']['run_id']}/artifacts")


def test_get_by_name(mw):
    name = unique("byname")
    eid = mw.create_experiment(name)
    out = assert_ok(mw.get("experiments/get-by-name", {"experiment_name": name}))
    assert out["experiment"]["experiment_id"] == eid
    assert out["experiment"]["name"] == name


def test_get_by_name_missing(mw):
    r = mw.get("experiments/get-by-name", {"experiment_name": unique("nope")})
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")


def test_get_missing(mw):
    assert_error(mw.get("experiments/get", {"experiment_id": "987654321"}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    assert_error(mw.get("experiments/get"), 400, "INVALID_PARAMETER_VALUE")


def test_duplicate_name(mw):
    name = unique("dup")
    mw.create_experiment(name)
    assert_error(mw.post("experiments/create", {"name": name}), 400, "RESOURCE_ALREADY_EXISTS")


def test_duplicate_name_of_deleted_experiment(mw):
    name = unique("dupdel")
    eid = mw.create_experiment(name)
    assert_ok(mw.post("experiments/delete", {"experiment_id": eid}))
    assert_error(mw.post("experiments/create", {"name": name}), 400, "RESOURCE_ALREADY_EXISTS")


def test_create_invalid_names(mw):
    assert_error(mw.post("experiments/create", {}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(mw.post("experiments/create", {"name": ""}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(mw.post("experiments/create", {"name": "x" * 501}), 400,
                 "INVALID_PARAMETER_VALUE")
    # 500 is fine
    name = unique("n") + "x" * (500 - len(unique("n")))
    assert len(name) == 500
    mw.create_experiment(name)


def test_update_rename(mw):
    eid = mw.create_experiment(unique("old"))
    new = unique("new")
    out = assert_ok(mw.post("experiments/update", {"experiment_id": eid, "new_name": new}))
    assert out == {}
    assert mw.get_experiment(eid)["name"] == new
    assert assert_ok(mw.get("experiments/get-by-name",
                            {"experiment_name": new}))["experiment"]["experiment_id"] == eid
    # renaming onto an existing name fails cleanly
    other = unique("other")
    mw.create_experiment(other)
    r = mw.post("experiments/update", {"experiment_id": eid, "new_name": other})
    assert_error(r, 400, ("RESOURCE_ALREADY_EXISTS", "INVALID_PARAMETER_VALUE"))
    assert mw.get_experiment(eid)["name"] == new
    # missing fields
    assert_error(mw.post("experiments/update", {"experiment_id": eid}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_error(mw.post("experiments/update", {"new_name": unique("x")}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_error(mw.post("experiments/update", {"experiment_id": "98765432",
                                                "new_name": unique("x")}),
                 404, "RESOURCE_DOES_NOT_EXIST")


def test_delete_restore(mw):
    name = unique("del")
    eid = mw.create_experiment(name)
    assert assert_ok(mw.post("experiments/delete", {"experiment_id": eid})) == {}
    exp = mw.get_experiment(eid)  # get returns deleted experiments too
    assert exp["lifecycle_stage"] == "deleted"
    by_name = assert_ok(mw.get("experiments/get-by-name", {"experiment_name": name}))
    assert by_name["experiment"]["lifecycle_stage"] == "deleted"

    def ids(view_type=None):
        body = {"filter": f"name = '{name}'"}
        if view_type:
            body["view_type"] = view_type
        return [e["experiment_id"] for e in
                assert_ok(mw.post("experiments/search", body)).get("experiments", [])]

    assert ids() == []
    assert ids("ACTIVE_ONLY") == []
    assert ids("DELETED_ONLY") == [eid]
    assert ids("ALL") == [eid]
    assert assert_ok(mw.post("experiments/restore", {"experiment_id": eid})) == {}
    assert mw.get_experiment(eid)["lifecycle_stage"] == "active"
    assert ids() == [eid]
    assert ids("DELETED_ONLY") == []
    assert_error(mw.post("experiments/delete", {"experiment_id": "98765431"}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    assert_error(mw.post("experiments/restore", {"experiment_id": "98765431"}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    assert_error(mw.post("experiments/delete", {}), 400, "INVALID_PARAMETER_VALUE")


def test_experiment_tags(mw):
    eid = mw.create_experiment(unique("tags"))
    out = assert_ok(mw.post("experiments/set-experiment-tag",
                            {"experiment_id": eid, "key": "a", "value": "1"}))
    assert out == {}
    assert_ok(mw.post("experiments/set-experiment-tag",
                      {"experiment_id": eid, "key": "b", "value": "2"}))
    assert_ok(mw.post("experiments/set-experiment-tag",
                      {"experiment_id": eid, "key": "a", "value": "overwritten"}))
    tags = kv(mw.get_experiment(eid)["tags"])
    assert tags["a"] == "overwritten" and tags["b"] == "2"
    assert assert_ok(mw.post("experiments/delete-experiment-tag",
                             {"experiment_id": eid, "key": "a"})) == {}
    tags = kv(mw.get_experiment(eid).get("tags"))
    assert "a" not in tags and tags["b"] == "2"
    # errors
    assert_error(mw.post("experiments/set-experiment-tag",
                         {"experiment_id": "98765430", "key": "a", "value": "1"}),
                 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(mw.post("experiments/set-experiment-tag", {"experiment_id": eid, "value": "1"}),
                 400, "INVALID_PARAMETER_VALUE")
    assert_error(mw.post("experiments/set-experiment-tag",
                         {"experiment_id": eid, "key": "bad!key", "value": "1"}),
                 400, "INVALID_PARAMETER_VALUE")
    assert_error(mw.post("experiments/set-experiment-tag",
                         {"experiment_id": eid, "key": "k" * 251, "value": "1"}),
                 400, "INVALID_PARAMETER_VALUE")
    r = mw.post("experiments/delete-experiment-tag", {"experiment_id": eid, "key": "never-set"})
    if r.status_code != 200:
        assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")


def test_experiment_tag_value_limit(mw):
    eid = mw.create_experiment(unique("tagval"))
    assert_ok(mw.post("experiments/set-experiment-tag",
                      {"experiment_id": eid, "key": "ok", "value": "v" * 5000}))
    assert kv(mw.get_experiment(eid)["tags"])["ok"] == "v" * 5000
    r = mw.post("experiments/set-experiment-tag",
                {"experiment_id": eid, "key": "long", "value": "v" * 5001})
    if r.status_code == 200:
        assert kv(mw.get_experiment(eid)["tags"])["long"] == "v" * 5000
    else:
        assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_experiment_tag_value_is_one_rule(mw):
    """experiments/create and set-experiment-tag apply the same rule to a tag's
    value: over 5000 characters is refused (MLflow's _validate_experiment_tag),
    never truncated, and the experiment is not created."""
    name = unique("tagrule")
    r = mw.post("experiments/create",
                {"name": name, "tags": [{"key": "long", "value": "v" * 5001}]})
    created = assert_error(r, 400, "INVALID_PARAMETER_VALUE")["message"]
    assert_error(mw.get("experiments/get-by-name", {"experiment_name": name}), 404,
                 "RESOURCE_DOES_NOT_EXIST")
    eid = mw.create_experiment(name, tags=[{"key": "ok", "value": "v" * 5000}])
    assert kv(mw.get_experiment(eid)["tags"])["ok"] == "v" * 5000
    r = mw.post("experiments/set-experiment-tag",
                {"experiment_id": eid, "key": "long", "value": "v" * 5001})
    assert assert_error(r, 400, "INVALID_PARAMETER_VALUE")["message"] == created
    # characters, not bytes
    eid = mw.create_experiment(unique("tagrule"), tags=[{"key": "u", "value": "\u00e9" * 5000}])
    assert kv(mw.get_experiment(eid)["tags"])["u"] == "\u00e9" * 5000


def test_search_filters_and_order(mw):
    prefix = unique("srch")
    names = [f"{prefix}-b", f"{prefix}-a", f"{prefix}-C"]
    ids = {}
    for n in names:
        ids[n] = mw.create_experiment(n, tags=[{"key": "grp", "value": prefix},
                                               {"key": "kind", "value": n[-1]}])

    def search(**body):
        return assert_ok(mw.post("experiments/search", body)).get("experiments", [])

    got = search(filter=f"name LIKE '{prefix}-%'", order_by=["name ASC"])
    assert [e["name"] for e in got] == sorted(names)
    got = search(filter=f"name LIKE '{prefix}-%'", order_by=["name DESC"])
    assert [e["name"] for e in got] == sorted(names, reverse=True)
    got = search(filter=f"name = '{prefix}-a'")
    assert [e["experiment_id"] for e in got] == [ids[f"{prefix}-a"]]
    # LIKE is case-sensitive, ILIKE is not
    got = search(filter=f"name LIKE '{prefix}-c'")
    assert got == []
    got = search(filter=f"name ILIKE '{prefix}-c'")
    assert [e["name"] for e in got] == [f"{prefix}-C"]
    got = search(filter=f"tags.grp = '{prefix}' AND tags.kind != 'a'", order_by=["name"])
    assert [e["name"] for e in got] == sorted([f"{prefix}-b", f"{prefix}-C"])
    got = search(filter=f"tags.`grp` = \"{prefix}\"")
    assert len(got) == 3
    got = search(filter=f"tags.grp = '{prefix}' AND creation_time > 0")
    assert len(got) == 3
    got = search(filter=f"tags.grp = '{prefix}' AND creation_time < 0")
    assert got == []
    # default order: creation_time DESC (newest first) per MLflow; at least ids unique
    got = search(filter=f"tags.grp = '{prefix}'", order_by=["experiment_id ASC"])
    assert [e["experiment_id"] for e in got] == sorted(ids.values(), key=int)


def test_search_pagination(mw):
    prefix = unique("page")
    created = [mw.create_experiment(f"{prefix}-{i:02d}") for i in range(7)]
    seen, token = [], None
    pages = 0
    for _ in range(20):
        body = {"filter": f"name LIKE '{prefix}-%'", "max_results": 3, "order_by": ["name"]}
        if token:
            body["page_token"] = token
        out = assert_ok(mw.post("experiments/search", body))
        pages += 1
        assert len(out.get("experiments", [])) <= 3
        seen += [e["experiment_id"] for e in out.get("experiments", [])]
        token = out.get("next_page_token")
        if not token:
            break
    assert seen == created
    assert pages == 3


def test_search_get_method(mw):
    prefix = unique("getsearch")
    a = mw.create_experiment(f"{prefix}-a")
    b = mw.create_experiment(f"{prefix}-b")
    out = assert_ok(mw.get("experiments/search", {"filter": f"name LIKE '{prefix}%'",
                                                  "max_results": 10,
                                                  "order_by": "name DESC"}))
    assert [e["experiment_id"] for e in out["experiments"]] == [b, a]
    # repeated order_by keys read as a list
    out = assert_ok(mw.get("experiments/search", [("filter", f"name LIKE '{prefix}%'"),
                                                  ("order_by", "name ASC"),
                                                  ("order_by", "experiment_id ASC")]))
    assert [e["experiment_id"] for e in out["experiments"]] == [a, b]
    out = assert_ok(mw.get("experiments/search", {"filter": f"name LIKE '{prefix}%'",
                                                  "view_type": "ALL"}))
    assert len(out["experiments"]) == 2


def test_search_bad_requests(mw):
    assert_error(mw.post("experiments/search", {"max_results": 50001}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_ok(mw.post("experiments/search", {"max_results": 50000, "filter": "name = 'zz-none'"}))
    assert_error(mw.post("experiments/search", {"filter": "name = 'a' OR name = 'b'"}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_error(mw.post("experiments/search", {"filter": "nosuchattr = 'a'"}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_error(mw.post("experiments/search", {"order_by": ["nosuchfield ASC"]}), 400,
                 "INVALID_PARAMETER_VALUE")
    assert_error(mw.post("experiments/search", {"page_token": "!!not-a-token!!"}), 400,
                 "INVALID_PARAMETER_VALUE")


def test_legacy_list(mw):
    name = unique("legacy")
    eid = mw.create_experiment(name)
    out = assert_ok(mw.get("experiments/list"))
    assert isinstance(out["experiments"], list)
    assert eid in [e["experiment_id"] for e in out["experiments"]]
    assert "0" in [e["experiment_id"] for e in out["experiments"]]
    assert_ok(mw.post("experiments/delete", {"experiment_id": eid}))
    out = assert_ok(mw.get("experiments/list"))
    assert eid not in [e["experiment_id"] for e in out.get("experiments", [])]
    out = assert_ok(mw.get("experiments/list", {"view_type": "DELETED_ONLY"}))
    assert eid in [e["experiment_id"] for e in out.get("experiments", [])]
    assert all(e["lifecycle_stage"] == "deleted" for e in out["experiments"])
    out = assert_ok(mw.get("experiments/list", {"view_type": "ALL"}))
    got = [e["experiment_id"] for e in out.get("experiments", [])]
    assert eid in got and "0" in got


def test_ajax_prefix(mw):
    name = unique("ajax")
    r = mw.post("experiments/create", {"name": name}, prefix=AJAX)
    eid = assert_ok(r)["experiment_id"]
    out = assert_ok(mw.get("experiments/get", {"experiment_id": eid}, prefix=AJAX))
    assert out["experiment"]["name"] == name
    out = assert_ok(mw.post("experiments/search", {"filter": f"name = '{name}'"}, prefix=AJAX))
    assert [e["experiment_id"] for e in out["experiments"]] == [eid]
    assert_error(mw.get("experiments/get-by-name", {"experiment_name": unique("x")},
                        prefix=AJAX), 404, "RESOURCE_DOES_NOT_EXIST")


def test_last_update_time_changes_on_rename(mw):
    eid = mw.create_experiment(unique("lut"))
    before = mw.get_experiment(eid)["last_update_time"]
    time.sleep(0.01)
    assert_ok(mw.post("experiments/update", {"experiment_id": eid, "new_name": unique("lut2")}))
    after = mw.get_experiment(eid)["last_update_time"]
    assert after >= before

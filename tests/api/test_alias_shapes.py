"""An alias move never changes what a served alias answers silently, also for
models whose MLmodel declares no signature (issue 10 item 6: "MLmodel
signature, else the shapes seen at load").

mw server serves the registry's versions itself, so when the version an alias
points to is loaded, moving the alias compares the shapes it serves (V2
metadata: inputs and outputs with their shapes) with the new version's, which
is loaded for the purpose:

- another number of features, or another number of outputs per row, is
  refused (400 INVALID_PARAMETER_VALUE, the difference shown) unless forced;
- the same shapes move freely, and the new version is loaded afterwards;
- a new version whose files do not load is refused with the load error;
- when the current target is not loaded, nothing is loaded only to compare.

Models are real XGBoost boosters without signatures (test_serving's helpers).
"""

from conftest import assert_error, assert_ok
from test_serving import (register, rows_for, train_bin, train_multi, train_reg, v2_body,
                          v2_infer, v2_outputs, wait_for, xgb_files)

INVALID = ("INVALID_PARAMETER_VALUE",)


def move(srv, name, version, force=None):
    body = {"name": name, "alias": "champion", "version": str(version)}
    if force is not None:
        body["force"] = force
    return srv.post("registered-models/alias", body)


def champion(srv, name):
    got = assert_ok(srv.get("registered-models/alias", {"name": name, "alias": "champion"}))
    return got["model_version"]["version"]


def loaded_versions(srv, name):
    """Versions of name the server has loaded now (V2 repository index)."""
    r = srv.session.post(srv.url + "/v2/repository/index", json={}, timeout=30)
    assert r.status_code == 200, r.text
    return {m.get("version") for m in r.json() if m["name"] == name and m["state"] == "READY"}


def serve_champion(srv, name, nfeat):
    _, out = v2_outputs(v2_infer(srv, name, v2_body(rows_for(nfeat, 2, seed=3))))
    return out["model_version"]


def test_other_shapes_are_refused_unless_forced(mw_factory):
    srv = mw_factory(extra_args=["--alias-poll-ms", "0"])
    name = "shapes-contract"
    v1 = register(srv, name, xgb_files(train_reg(seed=61)))              # 6 features, 1 output
    same = register(srv, name, xgb_files(train_reg(seed=62)), alias=None, create=False)
    wider = register(srv, name, xgb_files(train_bin(seed=63, feats=8)), alias=None, create=False)
    multi = register(srv, name, xgb_files(train_multi(seed=64)), alias=None, create=False)
    broken = register(srv, name, {"MLmodel": xgb_files(train_reg(seed=65))["MLmodel"],
                                  "model.json": b'{"learner": "not a booster"}'},
                      alias=None, create=False)
    assert serve_champion(srv, name, 6) == v1

    # 6 -> 8 features: refused, with the shapes
    err = assert_error(move(srv, name, wider), 400, INVALID)
    assert "shapes it serves" in err["message"], err
    assert "[-1,6]" in err["message"] and "[-1,8]" in err["message"], err
    assert "force" in err["message"], err
    # 1 -> 3 outputs per row (and 6 -> 5 features): refused too
    err = assert_error(move(srv, name, multi), 400, INVALID)
    assert "before" in err["message"] and "after" in err["message"], err
    # a version that does not load: refused with the reason
    err = assert_error(move(srv, name, broken), 400, INVALID)
    assert f"version {broken} does not load" in err["message"], err
    assert champion(srv, name) == v1
    assert serve_champion(srv, name, 6) == v1

    # the same shapes move freely; the default follows (the version loaded to
    # compare, no second load)
    assert_ok(move(srv, name, same))
    assert champion(srv, name) == same
    wait_for(lambda: same in loaded_versions(srv, name), timeout=10,
             what="the default to follow the alias")
    assert serve_champion(srv, name, 6) == same

    # forced: moved, and the default serves the new shapes
    assert_ok(move(srv, name, wider, force=True))
    assert champion(srv, name) == wider
    wait_for(lambda: wider in loaded_versions(srv, name), timeout=10,
             what="the default to follow the forced move")
    assert serve_champion(srv, name, 8) == wider


def test_nothing_is_loaded_only_to_compare(mw_factory):
    """The current target is not loaded (nobody called it): the move is not
    compared, and it loads nothing."""
    srv = mw_factory(extra_args=["--alias-poll-ms", "0"])
    name = "shapes-cold"
    register(srv, name, xgb_files(train_reg(seed=71)))
    wider = register(srv, name, xgb_files(train_bin(seed=72, feats=8)), alias=None, create=False)
    assert_ok(move(srv, name, wider))
    assert champion(srv, name) == wider
    assert not loaded_versions(srv, name) - {None}

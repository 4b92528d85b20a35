"""Serving never answers with a version the registry no longer has (issue 9,
item 1): a loaded version is identified by its pinned content, and every
request after a registry write re-resolves what is loaded (the registry's
generation), so

- registered-models/delete: the very next request answers 404 (inference,
  V2 metadata and V2 ready alike);
- a name deleted and registered again with other files as version 1 serves
  the new files (a new manifest digest), not the old model;
- registered-models/rename: the old name answers 404, the new one serves;
- model-versions/delete of an explicitly requested version: 404 at once.

The alias poll is off (--alias-poll-ms 0), so nothing but the generation can
make these pass.  Models are small XGBoost boosters (test_serving's helpers).
"""

import pytest

from conftest import assert_ok
from test_serving import (assert_close, booster_predict, q, register, rows_for, train_reg,
                          v2_body, v2_error, v2_infer, v2_outputs, wait_for, xgb_files)

ARGS = ["--alias-poll-ms", "0"]


def predict(srv, name, X, version=None):
    got, out = v2_outputs(v2_infer(srv, name, v2_body(X), version=version))
    return got.reshape(-1), out


def meta(srv, name, version=None):
    path = f"/v2/models/{q(name)}" + (f"/versions/{version}" if version else "")
    return srv.session.get(srv.url + path, timeout=30)


def ready(srv, name, version=None):
    path = f"/v2/models/{q(name)}" + (f"/versions/{version}" if version else "") + "/ready"
    return srv.session.get(srv.url + path, timeout=30)


@pytest.fixture
def srv(mw_factory):
    return mw_factory(extra_args=ARGS)


def test_deleted_model_is_404_at_once(srv):
    b = train_reg(seed=11)
    register(srv, "stale-del", xgb_files(b))
    X = rows_for(6, 5, seed=1)
    got, _ = predict(srv, "stale-del", X)
    assert_close(got, booster_predict(b, X), "before the delete")
    assert_ok(meta(srv, "stale-del"))
    assert ready(srv, "stale-del").status_code == 200

    assert_ok(srv.delete("registered-models/delete", {"name": "stale-del"}))
    v2_error(v2_infer(srv, "stale-del", v2_body(X)), 404)
    v2_error(v2_infer(srv, "stale-del", v2_body(X), version="1"), 404)
    v2_error(meta(srv, "stale-del"), 404)
    assert ready(srv, "stale-del").status_code == 404
    names = [m["name"] for m in assert_ok(srv.get("/api/mw/serving/models"))["models"]]
    assert "stale-del" not in names


def test_reregistered_name_serves_the_new_files(srv):
    old, new = train_reg(seed=21), train_reg(seed=22, scale=-3.0)
    register(srv, "stale-rereg", xgb_files(old))
    X = rows_for(6, 8, seed=2)
    got, out = predict(srv, "stale-rereg", X)
    assert out["model_version"] == "1"
    assert_close(got, booster_predict(old, X), "the first registration")
    got1, _ = predict(srv, "stale-rereg", X, version="1")
    assert_close(got1, booster_predict(old, X), "version 1, asked for by number")

    assert_ok(srv.delete("registered-models/delete", {"name": "stale-rereg"}))
    assert register(srv, "stale-rereg", xgb_files(new)) == "1"
    got, out = predict(srv, "stale-rereg", X)
    assert out["model_version"] == "1"
    assert_close(got, booster_predict(new, X), "the default after re-registering")
    got1, _ = predict(srv, "stale-rereg", X, version="1")
    assert_close(got1, booster_predict(new, X), "version 1 after re-registering")


def test_renamed_model(srv):
    b = train_reg(seed=31)
    register(srv, "stale-old-name", xgb_files(b))
    X = rows_for(6, 4, seed=3)
    predict(srv, "stale-old-name", X)
    predict(srv, "stale-old-name", X, version="1")

    assert_ok(srv.post("registered-models/rename",
                       {"name": "stale-old-name", "new_name": "stale-new-name"}))
    v2_error(v2_infer(srv, "stale-old-name", v2_body(X)), 404)
    v2_error(v2_infer(srv, "stale-old-name", v2_body(X), version="1"), 404)
    v2_error(meta(srv, "stale-old-name"), 404)
    got, _ = predict(srv, "stale-new-name", X)
    assert_close(got, booster_predict(b, X), "under the new name")


def test_deleted_version_is_404_at_once(srv):
    b1, b2 = train_reg(seed=41), train_reg(seed=42, scale=2.0)
    register(srv, "stale-ver", xgb_files(b1))
    register(srv, "stale-ver", xgb_files(b2), alias=None, create=False)  # version 2
    X = rows_for(6, 4, seed=4)
    got2, _ = predict(srv, "stale-ver", X, version="2")
    assert_close(got2, booster_predict(b2, X), "version 2")
    got1, _ = predict(srv, "stale-ver", X)  # champion -> 1
    assert_close(got1, booster_predict(b1, X), "the default")

    assert_ok(srv.delete("model-versions/delete", {"name": "stale-ver", "version": "2"}))
    v2_error(v2_infer(srv, "stale-ver", v2_body(X), version="2"), 404)
    v2_error(meta(srv, "stale-ver", version="2"), 404)
    assert ready(srv, "stale-ver", version="2").status_code == 404
    got1, _ = predict(srv, "stale-ver", X)  # the default is untouched
    assert_close(got1, booster_predict(b1, X), "the default after the delete")

    # the default's own version deleted: the alias goes with it, and the
    # default is the latest version left, or nothing
    assert_ok(srv.delete("model-versions/delete", {"name": "stale-ver", "version": "1"}))
    v2_error(v2_infer(srv, "stale-ver", v2_body(X), version="1"), 404)
    v2_error(v2_infer(srv, "stale-ver", v2_body(X)), 404)


def test_alias_move_is_seen_without_the_poll(srv):
    """With the poll off, an alias move still reaches the default: the
    generation asks for the swap at once."""
    b1, b2 = train_reg(seed=51), train_reg(seed=52, scale=-1.0)
    register(srv, "stale-alias", xgb_files(b1))
    v2 = register(srv, "stale-alias", xgb_files(b2), alias=None, create=False)
    X = rows_for(6, 4, seed=5)
    got, out = predict(srv, "stale-alias", X)
    assert out["model_version"] == "1"
    assert_ok(srv.post("registered-models/alias",
                       {"name": "stale-alias", "alias": "champion", "version": v2}))
    wait_for(lambda: predict(srv, "stale-alias", X)[1]["model_version"] == v2, timeout=10,
             what="the default to follow the alias")
    got, _ = predict(srv, "stale-alias", X)
    assert_close(got, booster_predict(b2, X), "after the alias move")

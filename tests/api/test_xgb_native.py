"""Native XGBoost evaluator (src/xgb) against XGBoost's own predictions.

Every model here is trained by the installed python3-xgboost on data the test
generates (numpy RandomState), saved as .json and .ubj, then evaluated by
tests/tools/xgb_predict (env MW_XGB_PREDICT, default build/xgb_predict); the
outputs must match booster.predict(DMatrix(X)) within 1e-6 relative (1e-6
absolute near zero), for one row per call and for many.  A model rewritten
into the XGBoost 2.x JSON layout must predict the same.  Skipped only when
xgboost cannot be imported.
"""
import copy
import json
import os
import pathlib
import subprocess
import zlib

import pytest

np = pytest.importorskip("numpy", reason="numpy is not installed (Debian python3-numpy)")
xgb = pytest.importorskip("xgboost", reason="xgboost is not importable (Debian python3-xgboost)")

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOOL = pathlib.Path(os.environ.get("MW_XGB_PREDICT", "build/xgb_predict"))
if not TOOL.is_absolute():
    TOOL = ROOT / TOOL

RTOL = 1e-6


@pytest.fixture(scope="session", autouse=True)
def tool_exists():
    if not TOOL.exists():
        pytest.fail(f"{TOOL} not found: build it (cmake --build build) or set MW_XGB_PREDICT")


def run_tool(*args, check=True):
    p = subprocess.run([str(TOOL), *map(str, args)], capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"xgb_predict {' '.join(map(str, args))} failed ({p.returncode}): "
                             f"{p.stderr}")
    return p


def native(tmp_path, model_path, X, margin=False, batch=None, threads=None):
    X = np.ascontiguousarray(X, dtype=np.float32)
    rows = tmp_path / "rows.f32"
    X.astype("<f4").tofile(rows)
    args = ["--f32"]
    if margin:
        args.append("--margin")
    if batch:
        args += ["--batch", batch]
    if threads:
        args += ["--threads", threads]
    out = run_tool(*args, model_path, rows).stdout
    lines = [l for l in out.splitlines() if l]
    assert len(lines) == X.shape[0], out[:500]
    return np.array([[float(v) for v in l.split(",")] for l in lines], dtype=np.float64)


def assert_close(ref, got, what):
    ref = np.asarray(ref, dtype=np.float64).reshape(got.shape)
    err = np.abs(got - ref)
    tol = RTOL * np.maximum(1.0, np.abs(ref))
    bad = err > tol
    assert not bad.any(), (f"{what}: {bad.sum()} of {ref.size} outputs differ; worst at "
                           f"{np.unravel_index(np.argmax(err - tol), err.shape)}: "
                           f"xgboost {ref.flat[np.argmax(err - tol)]!r} "
                           f"native {got.flat[np.argmax(err - tol)]!r}")


def check_model(tmp_path, booster, X, formats=("json", "ubj"), batches=(1, None)):
    """Save booster in each format and compare outputs and margins."""
    d = xgb.DMatrix(X, missing=np.nan, feature_names=booster.feature_names,
                    feature_types=booster.feature_types,
                    enable_categorical=bool(booster.feature_types and "c" in booster.feature_types))
    ref = booster.predict(d)
    ref_margin = booster.predict(d, output_margin=True)
    for fmt in formats:
        path = tmp_path / f"model.{fmt}"
        booster.save_model(str(path))
        for batch in batches:
            got = native(tmp_path, path, X, batch=batch)
            assert_close(ref, got, f"{fmt} batch={batch or 'all'}")
        got = native(tmp_path, path, X, margin=True)
        assert_close(ref_margin, got, f"{fmt} margin")
    return ref


def make_data(rs, n, nfeat, missing=0.1):
    X = rs.randn(n, nfeat).astype(np.float32)
    X[:, 1] = np.round(X[:, 1] * 3)  # a few repeated values, so splits land on them
    if missing:
        X[rs.rand(n, nfeat) < missing] = np.nan
    return X


def labels(rs, objective, X, nclass):
    z = np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 2]) + 0.3 * rs.randn(X.shape[0])
    if objective.startswith("multi:"):
        return np.digitize(z, np.quantile(z, np.linspace(0, 1, nclass + 1)[1:-1]))
    if objective in ("binary:logistic", "binary:logitraw", "binary:hinge"):
        return (z > 0).astype(np.float32)
    if objective == "reg:logistic":
        return 1.0 / (1.0 + np.exp(-z))
    if objective in ("count:poisson", "reg:tweedie"):
        return rs.poisson(np.exp(0.5 * z)).astype(np.float32)
    if objective == "reg:gamma":
        return np.exp(0.5 * z).astype(np.float32) + 0.01
    if objective == "reg:squaredlogerror":
        return np.abs(z) * 3
    return z * 10 + 3


BASE_SCORES = {
    "reg:squarederror": 2.5, "reg:logistic": 0.3, "binary:logistic": 0.7,
    "binary:logitraw": 0.2, "multi:softprob": 0.1, "multi:softmax": 0.9,
    "count:poisson": 1.7,
}


@pytest.mark.parametrize("base", ["default", "set"])
@pytest.mark.parametrize("booster_kind", ["gbtree", "dart"])
@pytest.mark.parametrize("objective", list(BASE_SCORES))
def test_objectives(tmp_path, objective, booster_kind, base):
    rs = np.random.RandomState(zlib.crc32(f"{objective}{booster_kind}{base}".encode()))
    nclass = 4 if objective == "multi:softprob" else 3
    X = make_data(rs, 400, 6)
    y = labels(rs, objective, X, nclass)
    params = {"objective": objective, "max_depth": 4, "eta": 0.3, "seed": 7, "nthread": 1}
    if objective.startswith("multi:"):
        params["num_class"] = nclass
    if base == "set":
        params["base_score"] = BASE_SCORES[objective]
    if booster_kind == "dart":
        params.update(booster="dart", rate_drop=0.3, skip_drop=0.0, normalize_type="tree")
    names = [f"feat_{i}" for i in range(6)]
    types = ["float", "int", "q", "float", "i", "float"]
    b = xgb.train(params, xgb.DMatrix(X, label=y, feature_names=names, feature_types=types), 20)
    if booster_kind == "dart":
        w = json.loads(b.save_raw("json"))["learner"]["gradient_booster"]["weight_drop"]
        assert any(abs(x - 1.0) > 1e-6 for x in w), "dart dropped no tree: weights untested"
    Xt = make_data(rs, 150, 6)
    check_model(tmp_path, b, Xt)
    info = run_tool("--info", tmp_path / "model.json").stdout
    assert f"objective: {objective}\n" in info
    assert f"booster: {booster_kind}\n" in info
    assert "feature_names: feat_0 feat_1 feat_2 feat_3 feat_4 feat_5\n" in info
    assert "feature_types: float int q float i float\n" in info
    nout = nclass if objective == "multi:softprob" else 1
    assert f"num_outputs: {nout}\n" in info


@pytest.mark.parametrize("objective", ["reg:gamma", "reg:tweedie", "binary:hinge",
                                       "reg:pseudohubererror", "reg:absoluteerror",
                                       "reg:squaredlogerror"])
def test_more_objectives(tmp_path, objective):
    rs = np.random.RandomState(11)
    X = make_data(rs, 300, 5)
    y = labels(rs, objective, X, 0)
    b = xgb.train({"objective": objective, "max_depth": 3, "nthread": 1}, xgb.DMatrix(X, label=y), 15)
    check_model(tmp_path, b, make_data(rs, 100, 5))


def test_ranking(tmp_path):
    rs = np.random.RandomState(12)
    X = make_data(rs, 200, 4)
    d = xgb.DMatrix(X, label=rs.randint(0, 3, 200))
    d.set_group([20] * 10)
    b = xgb.train({"objective": "rank:pairwise", "max_depth": 3, "nthread": 1}, d, 10)
    check_model(tmp_path, b, make_data(rs, 50, 4))


def test_no_missing_values_and_big_batches(tmp_path):
    rs = np.random.RandomState(3)
    X = make_data(rs, 2000, 10, missing=0)
    y = labels(rs, "binary:logistic", X, 0)
    b = xgb.train({"objective": "binary:logistic", "max_depth": 6, "nthread": 1},
                  xgb.DMatrix(X, label=y), 50)
    Xt = make_data(rs, 3001, 10, missing=0)
    check_model(tmp_path, b, Xt, batches=(1, 7, 8, 63, 64, 65, 1000, None))


def test_missing_in_test_rows_only_and_all_missing(tmp_path):
    rs = np.random.RandomState(4)
    X = make_data(rs, 500, 5, missing=0.3)
    y = labels(rs, "reg:squarederror", X, 0)
    b = xgb.train({"objective": "reg:squarederror", "max_depth": 5, "nthread": 1},
                  xgb.DMatrix(X, label=y), 30)
    Xt = make_data(rs, 40, 5, missing=0.5)
    Xt[0, :] = np.nan
    Xt[1, :] = 0.0
    check_model(tmp_path, b, Xt)


def test_deep_trees_lossguide(tmp_path):
    rs = np.random.RandomState(5)
    X = make_data(rs, 3000, 8, missing=0.05)
    y = labels(rs, "reg:squarederror", X, 0) + 5 * np.sin(3 * np.nan_to_num(X[:, 3]))
    b = xgb.train({"objective": "reg:squarederror", "tree_method": "hist", "grow_policy": "lossguide",
                   "max_depth": 0, "max_leaves": 300, "min_child_weight": 0, "nthread": 1},
                  xgb.DMatrix(X, label=y), 8)
    check_model(tmp_path, b, make_data(rs, 300, 8, missing=0.05))


def test_random_forest_multiclass(tmp_path):
    rs = np.random.RandomState(6)
    X = make_data(rs, 500, 6)
    y = labels(rs, "multi:softprob", X, 5)
    b = xgb.train({"objective": "multi:softprob", "num_class": 5, "num_parallel_tree": 3,
                   "subsample": 0.8, "colsample_bynode": 0.7, "max_depth": 4, "nthread": 1},
                  xgb.DMatrix(X, label=y), 6)
    check_model(tmp_path, b, make_data(rs, 100, 6))


def test_multi_target_regression(tmp_path):
    rs = np.random.RandomState(7)
    X = make_data(rs, 400, 5)
    Y = np.stack([labels(rs, "reg:squarederror", X, 0), X[:, 3] * 2], axis=1)
    Y = np.nan_to_num(Y)
    b = xgb.train({"objective": "reg:squarederror", "tree_method": "hist", "max_depth": 3,
                   "nthread": 1}, xgb.DMatrix(X, label=Y), 10)
    ref = check_model(tmp_path, b, make_data(rs, 60, 5))
    assert ref.shape == (60, 2)


@pytest.mark.parametrize("onehot", [True, False])
def test_categorical(tmp_path, onehot):
    rs = np.random.RandomState(8)
    n = 2000
    X = make_data(rs, n, 4, missing=0.05)
    ncat = 12
    X[:, 0] = rs.randint(0, ncat, n)
    X[rs.rand(n) < 0.05, 0] = np.nan
    effect = rs.randn(ncat) * 3
    y = np.where(np.isnan(X[:, 0]), 0.0, effect[np.nan_to_num(X[:, 0]).astype(int)]) + \
        np.nan_to_num(X[:, 2])
    types = ["c", "q", "q", "q"]
    d = xgb.DMatrix(X, label=y, feature_types=types, enable_categorical=True)
    b = xgb.train({"objective": "reg:squarederror", "tree_method": "hist", "max_depth": 4,
                   "max_cat_to_onehot": 64 if onehot else 1, "nthread": 1}, d, 15)
    model = json.loads(b.save_raw("json"))
    trees = model["learner"]["gradient_booster"]["model"]["trees"]
    assert any(1 in t["split_type"] for t in trees), "no categorical split was learned"
    Xt = make_data(rs, 300, 4, missing=0.05)
    Xt[:, 0] = rs.randint(0, ncat + 40, 300)  # includes categories never seen
    Xt[:5, 0] = np.nan
    Xt[5, 0] = 3.7  # truncated to 3, as XGBoost does
    check_model(tmp_path, b, Xt)
    assert "categorical: yes" in run_tool("--info", tmp_path / "model.ubj").stdout


def to_2x(model, vector_base=True):
    """Rewrite a 1.7 JSON model into the XGBoost 2.x layout."""
    m = copy.deepcopy(model)
    m["version"] = [2, 0, 3]
    learner = m["learner"]
    lmp = learner["learner_model_param"]
    if vector_base:
        lmp["base_score"] = "[" + lmp["base_score"] + "]"
    lmp.setdefault("num_target", "1")
    gb = learner["gradient_booster"]
    inner = gb["gbtree"]["model"] if gb["name"] == "dart" else gb["model"]
    inner["gbtree_model_param"].pop("size_leaf_vector", None)
    n_groups = max(int(lmp["num_class"]), 1)
    per_iter = n_groups * int(inner["gbtree_model_param"]["num_parallel_tree"])
    inner["iteration_indptr"] = list(range(0, len(inner["trees"]) + 1, per_iter))
    for t in inner["trees"]:
        t["tree_param"]["size_leaf_vector"] = "1"
        t.setdefault("split_type", [0] * len(t["left_children"]))
        for k in ("categories", "categories_nodes", "categories_segments", "categories_sizes"):
            t.setdefault(k, [])
    return m


@pytest.mark.parametrize("objective", ["binary:logistic", "multi:softprob"])
@pytest.mark.parametrize("booster_kind", ["gbtree", "dart"])
def test_xgboost_2x_layout(tmp_path, objective, booster_kind):
    rs = np.random.RandomState(9)
    X = make_data(rs, 300, 4)
    y = labels(rs, objective, X, 3)
    params = {"objective": objective, "max_depth": 3, "base_score": 0.3, "nthread": 1,
              "booster": booster_kind}
    if objective.startswith("multi:"):
        params["num_class"] = 3
    if booster_kind == "dart":
        params.update(rate_drop=0.4, skip_drop=0.0)
    b = xgb.train(params, xgb.DMatrix(X, label=y), 10)
    Xt = make_data(rs, 80, 4)
    ref = b.predict(xgb.DMatrix(Xt))
    model = json.loads(b.save_raw("json"))
    for vector_base in (True, False):
        path = tmp_path / f"model2x_{vector_base}.json"
        path.write_text(json.dumps(to_2x(model, vector_base)))
        got = native(tmp_path, path, Xt)
        assert_close(ref, got, f"2.x layout (vector base_score {vector_base})")
    assert "version: 2.0.3" in run_tool("--info", path).stdout


def test_2x_per_group_base_score(tmp_path):
    """A per-class base_score vector (newer XGBoost) gives each group its own start."""
    rs = np.random.RandomState(10)
    X = make_data(rs, 200, 3)
    b = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 2, "nthread": 1},
                  xgb.DMatrix(X, label=labels(rs, "multi:softprob", X, 3)), 5)
    Xt = make_data(rs, 20, 3)
    margin = b.predict(xgb.DMatrix(Xt), output_margin=True)
    m = to_2x(json.loads(b.save_raw("json")))
    m["learner"]["learner_model_param"]["base_score"] = "[5E-1,1.5E0,-2.5E-1]"
    path = tmp_path / "pergroup.json"
    path.write_text(json.dumps(m))
    got = native(tmp_path, path, Xt, margin=True)
    assert_close(margin + np.array([0.0, 1.0, -0.75], dtype=np.float32), got, "per-group base")


def test_threads_and_csv(tmp_path):
    rs = np.random.RandomState(13)
    X = make_data(rs, 300, 4)
    b = xgb.train({"objective": "binary:logistic", "max_depth": 4, "nthread": 1},
                  xgb.DMatrix(X, label=labels(rs, "binary:logistic", X, 0)), 20)
    path = tmp_path / "m.ubj"
    b.save_model(str(path))
    Xt = make_data(rs, 500, 4)
    ref = b.predict(xgb.DMatrix(Xt))
    assert_close(ref, native(tmp_path, path, Xt, batch=3, threads=8), "8 threads")
    csv = tmp_path / "rows.csv"
    csv.write_text("\n".join(",".join("" if np.isnan(v) else repr(float(v)) for v in r)
                             for r in Xt) + "\n")
    out = run_tool(path, csv).stdout.split()
    assert_close(ref, np.array([float(v) for v in out]), "csv")


def pool_outputs(tmp_path, path, X, *args):
    rows = tmp_path / "pool_rows.f32"
    np.ascontiguousarray(X, dtype="<f4").tofile(rows)
    return run_tool("--f32", *args, path, rows).stdout


@pytest.mark.parametrize("objective", ["binary:logistic", "multi:softprob"])
def test_pool_splits_big_batches(tmp_path, objective):
    """mw_xgb_predict_pool (xgb_predict --pool N) splits a big batch across a
    pool of threads: the outputs must be the very bytes the one-thread
    evaluator gives (and so match XGBoost), for whole inputs, batches above
    and below the split threshold, and several callers sharing one pool."""
    rs = np.random.RandomState(15)
    nclass = 5
    X = make_data(rs, 3000, 30, missing=0.05)
    params = {"objective": objective, "max_depth": 6, "eta": 0.1, "nthread": 1}
    if objective.startswith("multi:"):
        params["num_class"] = nclass
    rounds = 20 if objective.startswith("multi:") else 100  # 100 trees either way
    b = xgb.train(params, xgb.DMatrix(X, label=labels(rs, objective, X, nclass)), rounds)
    path = tmp_path / "model.ubj"
    b.save_model(str(path))
    Xt = make_data(rs, 4100, 30, missing=0.05)
    single = pool_outputs(tmp_path, path, Xt)
    got = np.array([[float(v) for v in l.split(",")] for l in single.splitlines()])
    assert_close(b.predict(xgb.DMatrix(Xt)), got, "one thread")
    single_margin = pool_outputs(tmp_path, path, Xt, "--margin")
    cases = [("--pool", 2), ("--pool", 2, "--batch", 1024), ("--pool", 3, "--batch", 300),
             ("--pool", 2, "--batch", 1), ("--pool", 2, "--batch", 1000, "--threads", 3)]
    for args in cases:
        assert pool_outputs(tmp_path, path, Xt, *args) == single, args
    assert pool_outputs(tmp_path, path, Xt, "--margin", "--pool", 2) == single_margin


def test_errors(tmp_path):
    rs = np.random.RandomState(14)
    X = make_data(rs, 100, 4)
    b = xgb.train({"objective": "reg:squarederror", "max_depth": 2, "nthread": 1},
                  xgb.DMatrix(X, label=np.ones(100)), 3)
    good = tmp_path / "m.json"
    b.save_model(str(good))
    raw = good.read_bytes()
    ubj = tmp_path / "m.ubj"
    b.save_model(str(ubj))
    rows = tmp_path / "rows.csv"
    rows.write_text("1,2,3\n")
    p = run_tool(good, rows, check=False)
    assert p.returncode == 1 and "3 fields, expected 4" in p.stderr
    cases = {
        "truncated.json": raw[: len(raw) // 2],
        "truncated.ubj": ubj.read_bytes()[:-7],
        "garbage.bin": b"binf\x00\x01\x02",
        "empty.json": b"",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        p = run_tool("--info", tmp_path / name, check=False)
        assert p.returncode == 1 and "INVALID_PARAMETER_VALUE" in p.stderr, (name, p.stderr)
    model = json.loads(raw)
    model["learner"]["objective"]["name"] = "survival:cox"
    (tmp_path / "cox.json").write_text(json.dumps(model))
    p = run_tool("--info", tmp_path / "cox.json", check=False)
    assert p.returncode == 1 and "survival:cox" in p.stderr and "NOT_IMPLEMENTED" in p.stderr
    lin = xgb.train({"booster": "gblinear", "nthread": 1}, xgb.DMatrix(X, label=np.zeros(100)), 2)
    lin.save_model(str(tmp_path / "lin.json"))
    p = run_tool("--info", tmp_path / "lin.json", check=False)
    assert p.returncode == 1 and "gblinear" in p.stderr
    p = run_tool("--info", tmp_path / "missing.json", check=False)
    assert p.returncode == 1 and "RESOURCE_DOES_NOT_EXIST" in p.stderr

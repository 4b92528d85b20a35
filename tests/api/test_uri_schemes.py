"""URI schemes compare without case (RFC 3986, 3.1; issue 9): FILE:///etc is
a file URI and is refused by the server's local-source check exactly as
file:///etc is, instead of being recorded as "some other scheme"; RUNS:/,
Models:/ and MLFLOW-ARTIFACTS:/ name what their lower-case forms name."""

import hashlib
import urllib.parse

import pytest

from conftest import assert_error, assert_ok, unique

ART = "/api/2.0/mlflow-artifacts/artifacts"
FILES = {"MLmodel": b"flavors:\n  python_function: {loader_module: mlflow.sklearn}\n", "model.pkl": b"\x80\x04pickle"}


@pytest.fixture
def model(mw):
    name = unique("scheme")
    assert_ok(mw.post("registered-models/create", {"name": name}))
    return name


def run_with_files(mw):
    run = mw.create_run("0")["info"]
    for p, data in FILES.items():
        r = mw.session.put(f"{mw.url}{ART}/0/{run['run_id']}/artifacts/model/{p}", data=data,
                           timeout=30)
        assert_ok(r)
    return run


def digest(files):
    h = hashlib.sha256()
    for p in sorted(files):
        h.update(f"{p}\t{hashlib.sha256(files[p]).hexdigest()}\n".encode())
    return h.hexdigest()


@pytest.mark.parametrize("scheme", ["FILE", "File", "fILe"])
def test_file_uris_in_any_case_are_local_sources(mw, model, tmp_path, scheme):
    d = tmp_path / "m"
    d.mkdir()
    (d / "MLmodel").write_text("x")
    for src in (f"{scheme}://{d}", f"{scheme}:///etc", f"{scheme}://LOCALHOST/etc",
                f"{scheme}:{d}"):
        body = assert_error(mw.post("model-versions/create", {"name": model, "source": src}),
                            400, "INVALID_PARAMETER_VALUE")
        assert "local" in body["message"], (src, body)
    got = assert_ok(mw.get("registered-models/get", {"name": model}))["registered_model"]
    assert "latest_versions" not in got  # nothing was recorded


def test_registry_schemes_in_any_case_pin_the_same_files(mw, model):
    run = run_with_files(mw)
    rid = run["run_id"]
    want = digest(FILES)
    sources = [f"RUNS:/{rid}/model", f"Runs:/{rid}/model",
               f"MLFLOW-ARTIFACTS:/0/{rid}/artifacts/model",
               f"Mlflow-Artifacts://127.0.0.1:5000/0/{rid}/artifacts/model",
               f"HTTP://127.0.0.1:5000/api/2.0/mlflow-artifacts/artifacts/0/{rid}/artifacts/model",
               f"MODELS:/{model}/1"]
    for i, src in enumerate(sources):
        mv = assert_ok(mw.post("model-versions/create", {"name": model, "source": src}))
        mv = mv["model_version"]
        assert mv["version"] == str(i + 1)
        lineage = assert_ok(mw.get(f"/api/mw/models/{urllib.parse.quote(model, safe='')}"
                                   f"/versions/{mv['version']}/lineage"))
        assert lineage["manifest_digest"] == want, src
    # and other schemes are still recorded as they are, not pinned
    mv = assert_ok(mw.post("model-versions/create", {"name": model, "source": "S3://bucket/m"}))
    assert mv["model_version"]["source"] == "S3://bucket/m"


def test_artifact_uris_in_any_case(mw):
    exp = mw.create_experiment(unique("schemeexp"),
                               artifact_location="MLFLOW-ARTIFACTS:/upper-case-root")
    run = mw.create_run(exp)["info"]
    assert run["artifact_uri"].startswith("MLFLOW-ARTIFACTS:/upper-case-root/")
    r = mw.session.put(f"{mw.url}{ART}/upper-case-root/{run['run_id']}/artifacts/a.txt",
                       data=b"a", timeout=30)
    assert_ok(r)
    out = assert_ok(mw.get("artifacts/list", {"run_id": run["run_id"]}))
    assert out["files"] == [{"path": "a.txt", "is_dir": False, "file_size": 1}]

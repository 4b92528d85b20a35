"""Bad input of every kind: each gets MLflow's error JSON with the right status,
nothing crashes, nothing half-written is visible (issue 2, "Bad input")."""

import json
import select
import socket
import time

import pytest

from conftest import API, AJAX, assert_error, assert_ok, kv, now_ms, unique

MALFORMED = ("BAD_REQUEST", "INVALID_PARAMETER_VALUE")
BIG = 40 * 1024 * 1024


@pytest.fixture(autouse=True)
def server_survives(mw):
    yield
    assert mw.health() == 200, "server stopped answering /health after a bad request"


@pytest.fixture(scope="module")
def run(mw):
    exp = mw.create_experiment(unique("errors"))
    return mw.create_run(exp)["info"]["run_id"]


def raw(mw, path, body, ctype="application/json", method="POST"):
    return mw.request(method, path, data=body, headers={"Content-Type": ctype})


# ---------------------------------------------------------------- malformed bodies


@pytest.mark.parametrize("body", [
    b'{"name": ',
    b'{name: "x"}',
    b"{'name': 'x'}",
    b'{"name": "x",}',
    b'{"name": "x"} trailing',
    b'{"name": "x"}{"name": "y"}',
    b'\x00\x01\x02',
    b'{"name": "unterminated}',
    b'{"name": "bad escape \\q"}',
    b'{"name": "x" "y"}',
])
def test_malformed_json(mw, body):
    assert_error(raw(mw, "experiments/create", body), 400, MALFORMED)


@pytest.mark.parametrize("body", [b"[]", b'[{"name": "x"}]', b"42", b"true", b'"just a string"'])
def test_non_object_body(mw, body):
    assert_error(raw(mw, "experiments/create", body), 400, MALFORMED)


def test_double_encoded_json_string_is_decoded(mw):
    name = unique("double")
    body = json.dumps(json.dumps({"name": name})).encode()
    eid = assert_ok(raw(mw, "experiments/create", body))["experiment_id"]
    assert mw.get_experiment(eid)["name"] == name


def test_missing_body_means_empty_object(mw):
    r = mw.request("POST", "experiments/create", data=b"")
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    r = mw.request("POST", "runs/log-metric")
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_content_type_is_not_required(mw):
    name = unique("ctype")
    r = raw(mw, "experiments/create", json.dumps({"name": name}).encode(), ctype="text/plain")
    eid = assert_ok(r)["experiment_id"]
    assert mw.get_experiment(eid)["name"] == name


def test_unknown_fields_ignored(mw, run):
    name = unique("unknown")
    eid = assert_ok(mw.post("experiments/create", {"name": name, "zzz": {"nested": [1, 2]},
                                                   "another": None}))["experiment_id"]
    assert mw.get_experiment(eid)["name"] == name
    assert_ok(mw.post("runs/log-metric", {"run_id": run, "key": "u", "value": 1,
                                          "timestamp": 1, "future_field": "x"}))


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf"])
def test_bare_nan_literal_rejected(mw, run, literal):
    body = b'{"run_id": "%s", "key": "bare", "value": %s, "timestamp": 1}' % (
        run.encode(), literal)
    assert_error(raw(mw, "runs/log-metric", body), 400, MALFORMED)
    assert "bare" not in kv(mw.get_run(run)["data"].get("metrics"))


def test_invalid_utf8(mw):
    for body in (b'{"name": "\xff\xfe"}', b'{"name": "\xc0\xaf"}', b'{"name": "ok\xed\xa0\x80"}',
                 b'{"\xff": "x", "name": "y"}', b'{"name": "trunc\xe2\x82"}'):
        assert_error(raw(mw, "experiments/create", body), 400, MALFORMED)


def test_invalid_utf8_in_query_string(mw):
    r = mw.session.get(mw.url + API + "experiments/get-by-name?experiment_name=%FF%FE", timeout=10)
    assert r.status_code in (400, 404), r.text
    assert_error(r, r.status_code, MALFORMED + ("RESOURCE_DOES_NOT_EXIST",))


def test_escaped_unicode_round_trips(mw):
    name = unique("uni") + " é 漢字 🙂"
    eid = assert_ok(raw(mw, "experiments/create",
                        json.dumps({"name": name}, ensure_ascii=True).encode()))["experiment_id"]
    assert mw.get_experiment(eid)["name"] == name


def test_lone_surrogate_and_nul_never_500(mw):
    r = raw(mw, "experiments/create", b'{"name": "lone \\ud800 surrogate"}')
    if r.status_code != 200:
        assert_error(r, 400, MALFORMED)
    name = unique("nul")
    r = raw(mw, "experiments/create", json.dumps({"name": name + "\u0000x"}).encode())
    if r.status_code == 200:
        assert mw.get_experiment(r.json()["experiment_id"])["name"] == name + "\u0000x"
    else:
        assert_error(r, 400, MALFORMED)


# ---------------------------------------------------------------- nesting


@pytest.mark.parametrize("body", [
    b"[" * 10000 + b"]" * 10000,
    b'{"name": "x", "extra": ' + b"[" * 10000 + b"]" * 10000 + b"}",
    b'{"a":' * 10000 + b"1" + b"}" * 10000,
    b"[" * 100000,
])
def test_nesting_too_deep(mw, body):
    assert_error(raw(mw, "experiments/create", body), 400, MALFORMED)


def test_moderate_nesting_ok(mw):
    name = unique("nest")
    body = b'{"name": "%s", "extra": ' % name.encode() + b"[" * 16 + b"]" * 16 + b"}"
    assert_ok(raw(mw, "experiments/create", body))


# ---------------------------------------------------------------- body size cap


def _read_http_response(s, timeout):
    s.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            head = data[:head_end].decode("latin-1")
            body = data[head_end + 4:]
            hdrs = {}
            for line in head.split("\r\n")[1:]:
                k, _, v = line.partition(":")
                hdrs[k.strip().lower()] = v.strip()
            if "content-length" in hdrs and len(body) >= int(hdrs["content-length"]):
                status = int(head.split(" ")[1])
                return status, hdrs, body[:int(hdrs["content-length"])]
            if hdrs.get("transfer-encoding", "").lower() == "chunked" and body.endswith(b"0\r\n\r\n"):
                out, rest = b"", body
                while rest:
                    n_str, _, rest = rest.partition(b"\r\n")
                    n = int(n_str.split(b";")[0], 16)
                    if n == 0:
                        break
                    out, rest = out + rest[:n], rest[n + 2:]
                return int(head.split(" ")[1]), hdrs, out
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        pytest.fail(f"no complete HTTP response to the oversized body; got {data[:300]!r}")
    head = data[:head_end].decode("latin-1")
    return int(head.split(" ")[1]), {}, data[head_end + 4:]


def _send_big(mw, chunked):
    """Send a 40 MiB JSON body, stopping early if the server answers first."""
    s = socket.create_connection(("127.0.0.1", mw.port), timeout=10)
    try:
        head = (f"POST {API}experiments/create HTTP/1.1\r\nHost: 127.0.0.1:{mw.port}\r\n"
                "Content-Type: application/json\r\n")
        if chunked:
            head += "Transfer-Encoding: chunked\r\n\r\n"
        else:
            head += f"Content-Length: {BIG}\r\n\r\n"
        s.sendall(head.encode())
        piece = 1 << 16
        prefix = b'{"name": "'
        sent = 0
        while sent < BIG:
            r, _, _ = select.select([s], [], [], 0)
            if r:
                break  # the server has answered (or closed)
            n = min(piece, BIG - sent)
            payload = (prefix + b"a" * (n - len(prefix))) if sent == 0 else b"a" * n
            if chunked:
                payload = b"%x\r\n" % len(payload) + payload + b"\r\n"
            try:
                s.sendall(payload)
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                break
            sent += n
        else:
            try:
                s.sendall((b"0\r\n\r\n" if chunked else b""))
            except OSError:
                pass
        return _read_http_response(s, 20)
    finally:
        s.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_cap_is_413(mw, chunked):
    status, hdrs, body = _send_big(mw, chunked)
    assert status == 413, (status, body[:300])
    err = json.loads(body)
    assert isinstance(err, dict) and isinstance(err.get("error_code"), str), body[:300]
    assert isinstance(err.get("message"), str) and err["message"], body[:300]


# ---------------------------------------------------------------- wrong types


@pytest.mark.parametrize("override", [
    {"step": "abc"},
    {"step": 1.5},
    {"step": [1]},
    {"step": 2 ** 64},
    {"step": True},
    {"key": {"a": 1}},
    {"key": ["a"]},
    {"key": 5},
    {"value": "abc"},
    {"value": True},
    {"value": None},
    {"value": {"v": 1}},
    {"timestamp": "yesterday"},
    {"timestamp": -1},
    {"timestamp": 1e30},
    {"run_id": 12345},
    {"run_id": {"id": "x"}},
])
def test_log_metric_wrong_types(mw, run, override):
    body = {"run_id": run, "key": "typed", "value": 1.0, "timestamp": 1, "step": 0}
    body.update(override)
    r = mw.request("POST", "runs/log-metric", data=json.dumps(body).encode())
    assert_error(r, 400, MALFORMED)
    assert "typed" not in kv(mw.get_run(run)["data"].get("metrics"))


@pytest.mark.parametrize("path,body", [
    ("experiments/create", {"name": 5}),
    ("experiments/create", {"name": ["x"]}),
    ("experiments/create", {"name": "x-typed", "tags": {"key": "a", "value": "b"}}),
    ("experiments/create", {"name": "x-typed2", "tags": [{"key": 1, "value": "b"}]}),
    ("experiments/search", {"max_results": "lots"}),
    ("experiments/search", {"order_by": "name"}),
    ("experiments/search", {"view_type": ["ALL"]}),
    ("runs/search", {"experiment_ids": "0"}),
    ("runs/search", {"experiment_ids": ["0"], "filter": 7}),
    ("runs/search", {"experiment_ids": ["0"], "run_view_type": 9}),
    ("runs/log-batch", {"run_id": "RUN", "metrics": {"key": "a"}}),
    ("runs/log-batch", {"run_id": "RUN", "params": "p=1"}),
    ("runs/log-batch", {"run_id": "RUN", "tags": [["a", "b"]]}),
    ("runs/log-batch", {"run_id": "RUN", "params": [{"key": "a", "value": 1}]}),
    ("runs/log-parameter", {"run_id": "RUN", "key": "a", "value": {"x": 1}}),
    ("runs/set-tag", {"run_id": "RUN", "key": "a", "value": ["x"]}),
    ("runs/update", {"run_id": "RUN", "end_time": "later"}),
    ("runs/create", {"experiment_id": "0", "start_time": "now"}),
    ("runs/create", {"experiment_id": "0", "tags": "a=b"}),
])
def test_wrong_types(mw, run, path, body):
    body = json.loads(json.dumps(body).replace('"RUN"', json.dumps(run)))
    r = mw.request("POST", path, data=json.dumps(body).encode())
    assert_error(r, 400, MALFORMED)


# ---------------------------------------------------------------- missing / unknown


@pytest.mark.parametrize("path,body", [
    ("experiments/create", {}),
    ("experiments/update", {}),
    ("experiments/delete", {}),
    ("experiments/restore", {}),
    ("experiments/set-experiment-tag", {"experiment_id": "0"}),
    ("experiments/delete-experiment-tag", {"experiment_id": "0"}),
    ("runs/update", {}),
    ("runs/delete", {}),
    ("runs/restore", {}),
    ("runs/log-metric", {}),
    ("runs/log-parameter", {}),
    ("runs/set-tag", {}),
    ("runs/delete-tag", {}),
    ("runs/log-batch", {}),
    ("runs/log-model", {}),
    ("runs/log-inputs", {}),
    ("runs/outputs", {}),
    ("logged-models", {}),
])
def test_missing_required(mw, path, body):
    assert_error(mw.post(path, body), 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize("path,params", [
    ("experiments/get", {}),
    ("experiments/get-by-name", {}),
    ("experiments/get-by-name", {"experiment_name": ""}),
    ("runs/get", {}),
    ("runs/get", {"run_id": ""}),
    ("metrics/get-history", {}),
    ("metrics/get-history-bulk-interval", {}),
])
def test_missing_required_get(mw, path, params):
    assert_error(mw.get(path, params), 400, "INVALID_PARAMETER_VALUE")


UNKNOWN_RUN = "f" * 32


@pytest.mark.parametrize("method,path,body", [
    ("GET", "experiments/get", {"experiment_id": "424242424"}),
    ("POST", "experiments/delete", {"experiment_id": "424242424"}),
    ("POST", "experiments/restore", {"experiment_id": "424242424"}),
    ("POST", "experiments/update", {"experiment_id": "424242424", "new_name": "zz"}),
    ("POST", "experiments/set-experiment-tag", {"experiment_id": "424242424", "key": "a",
                                                "value": "b"}),
    ("POST", "runs/create", {"experiment_id": "424242424"}),
    ("GET", "runs/get", {"run_id": UNKNOWN_RUN}),
    ("POST", "runs/update", {"run_id": UNKNOWN_RUN, "status": "FINISHED"}),
    ("POST", "runs/delete", {"run_id": UNKNOWN_RUN}),
    ("POST", "runs/restore", {"run_id": UNKNOWN_RUN}),
    ("POST", "runs/log-metric", {"run_id": UNKNOWN_RUN, "key": "a", "value": 1, "timestamp": 1}),
    ("POST", "runs/log-parameter", {"run_id": UNKNOWN_RUN, "key": "a", "value": "1"}),
    ("POST", "runs/set-tag", {"run_id": UNKNOWN_RUN, "key": "a", "value": "1"}),
    ("POST", "runs/delete-tag", {"run_id": UNKNOWN_RUN, "key": "a"}),
    ("POST", "runs/log-batch", {"run_id": UNKNOWN_RUN, "params": [{"key": "a", "value": "1"}]}),
    ("POST", "runs/log-model", {"run_id": UNKNOWN_RUN, "model_json": json.dumps(
        {"artifact_path": "m", "flavors": {}, "utc_time_created": "x", "run_id": UNKNOWN_RUN})}),
    ("GET", "metrics/get-history", {"run_id": UNKNOWN_RUN, "metric_key": "a"}),
])
def test_unknown_ids_404(mw, method, path, body):
    if method == "GET":
        r = mw.get(path, body)
    else:
        r = mw.post(path, body)
    assert_error(r, 404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize("method,path", [
    ("GET", API + "nosuch"),
    ("POST", API + "runs/nosuch"),
    ("POST", API + "experiments/create/extra"),
    ("GET", AJAX + "nosuch"),
    ("POST", "/api/2.0/mlflow-nothing/runs/create"),
    ("GET", "/api/9.9/mlflow/runs/get"),
    ("DELETE", API + "experiments"),
])
def test_unknown_endpoint(mw, method, path):
    r = mw.request(method, path, json_body={} if method != "GET" else None)
    assert_error(r, 404, "ENDPOINT_NOT_FOUND")


def test_wrong_method(mw):
    r = mw.get("runs/create")
    assert r.status_code in (404, 405), r.text
    r = mw.request("PUT", "experiments/create", json_body={"name": unique("put")})
    assert r.status_code in (404, 405), r.text


def test_non_api_path_404(mw):
    r = mw.session.get(mw.url + "/definitely/not/here", timeout=10)
    assert r.status_code == 404


# ---------------------------------------------------------------- limits


@pytest.mark.parametrize("path,body", [
    ("runs/search", {"experiment_ids": ["0"], "max_results": 50001}),
    ("runs/search", {"experiment_ids": ["0"], "max_results": 10 ** 30}),
    ("runs/search", {"experiment_ids": ["0"], "max_results": 2 ** 63}),
    ("experiments/search", {"max_results": 50001}),
    ("experiments/search", {"max_results": 10 ** 30}),
])
def test_huge_max_results(mw, path, body):
    assert_error(mw.post(path, body), 400, MALFORMED)


def test_huge_max_results_get(mw):
    assert_error(mw.get("experiments/search", {"max_results": "99999999999999999999999"}), 400,
                 MALFORMED)
    assert_error(mw.get("experiments/search", {"max_results": "50001"}), 400, MALFORMED)


@pytest.mark.parametrize("key", ["bad!", "x" * 251, "..", "/lead", "a\\b", "",
                                 "white\tspace", "semi;colon"])
def test_bad_keys(mw, run, key):
    r = mw.post("runs/log-batch", {"run_id": run, "metrics": [
        {"key": "goodkey-" + unique("g"), "value": 1, "timestamp": 1}],
        "tags": [{"key": key, "value": "v"}]})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")


def test_rejected_batch_writes_nothing(mw):
    exp = mw.create_experiment(unique("atomic"))
    run = mw.create_run(exp)["info"]["run_id"]
    assert_ok(mw.post("runs/log-parameter", {"run_id": run, "key": "fixed", "value": "1"}))
    t = now_ms()
    r = mw.post("runs/log-batch", {
        "run_id": run,
        "metrics": [{"key": "half", "value": i, "timestamp": t, "step": i} for i in range(10)],
        "params": [{"key": "newp", "value": "x"}, {"key": "fixed", "value": "2"}],
        "tags": [{"key": "half-tag", "value": "x"}]})
    assert_error(r, 400, "INVALID_PARAMETER_VALUE")
    data = mw.get_run(run)["data"]
    assert "half" not in kv(data.get("metrics"))
    assert kv(data.get("params")) == {"fixed": "1"}
    assert "half-tag" not in kv(data.get("tags"))
    assert mw.history(run, "half") == []


def test_many_bad_requests_in_a_row(mw):
    """A burst of assorted garbage on one keep-alive connection."""
    bodies = [b"{", b"[" * 5000, b"\xff" * 100, b'{"name": NaN}', b"", b"null", b"{}" * 1000]
    for i in range(60):
        r = raw(mw, "experiments/create", bodies[i % len(bodies)])
        assert r.status_code == 400, r.text
    assert mw.health() == 200

"""Allocations sized by input are capped before they happen (issue 9): a body
of many small JSON values cannot make the server build a tree many times its
size.  The server's peak resident memory (VmHWM) is read from /proc after
each hostile request."""

from conftest import assert_error


def peak_rss_mb(srv):
    with open(f"/proc/{srv.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_json_values_are_capped_before_parsing(mw_factory):
    srv = mw_factory()
    n = 15_000_000  # 30 MB of "0," under the 32 MiB body cap
    body = b'{"run_id": "x", "metrics": [' + b"0," * (n - 1) + b"0]}"
    r = srv.session.post(srv.url + "/api/2.0/mlflow/runs/log-batch", data=body,
                         headers={"Content-Type": "application/json"}, timeout=120)
    e = assert_error(r, 413, "RESOURCE_EXHAUSTED")
    assert "max-json-values" in e["message"]
    # the same for MLflow's scoring protocol
    body = b'{"instances": [' + b"0," * (n - 1) + b"0]}"
    r = srv.session.post(srv.url + "/invocations", data=body,
                         headers={"Content-Type": "application/json"}, timeout=120)
    assert r.status_code in (404, 413), r.text  # no default model here: 404 is fine too
    # a jansson tree of 15M values would take ~700 MB; the body itself is 30 MB
    assert peak_rss_mb(srv) < 250
    # and the server still answers
    assert srv.session.get(srv.url + "/health", timeout=10).status_code == 200


def test_json_values_cap_is_a_setting(mw_factory):
    srv = mw_factory(extra_args=["--max-json-values", "1000"])
    tags = [{"key": f"k{i}", "value": "v"} for i in range(600)]
    r = srv.post("experiments/create", {"name": "x", "tags": tags})
    assert_error(r, 413, "RESOURCE_EXHAUSTED")
    r = srv.post("experiments/create", {"name": "x", "tags": tags[:100]})
    assert r.status_code == 200, r.text

"""kill -9 in the middle of an ingest from several clients, restart on the same
data dir: every write that was answered 200 must be there."""

import threading
import time

import requests

from conftest import assert_ok, kv, unique

N_CLIENTS = 6
MAX_ITERS = 5000          # bounded loops
KILL_AFTER = 1.5          # seconds of ingest before SIGKILL


class Client(threading.Thread):
    def __init__(self, url, run_id, idx):
        super().__init__(daemon=True)
        self.url = url + "/api/2.0/mlflow/"
        self.run_id = run_id
        self.idx = idx
        self.acked_metrics = []      # (key, value, timestamp, step)
        self.acked_params = {}
        self.acked_tags = {}
        self.last_counter = -1       # highest acked value of the overwritten tag
        self.errors = []
        self.stop = threading.Event()

    def post(self, s, path, body):
        return s.post(self.url + path, json=body, timeout=10)

    def run(self):
        s = requests.Session()
        r = self.run_id
        try:
            for i in range(MAX_ITERS):
                if self.stop.is_set():
                    break
                kind = i % 3
                if kind == 0:
                    m = ("single", float(i), 1_000_000 + i, i)
                    resp = self.post(s, "runs/log-metric", {
                        "run_id": r, "key": m[0], "value": m[1], "timestamp": m[2],
                        "step": m[3]})
                    if resp.status_code == 200:
                        self.acked_metrics.append(m)
                    else:
                        self.errors.append((i, resp.status_code, resp.text[:200]))
                elif kind == 1:
                    ms = [("batch", float(i * 10 + j), 2_000_000 + i, i * 10 + j)
                          for j in range(10)]
                    body = {"run_id": r,
                            "metrics": [{"key": k, "value": v, "timestamp": t, "step": st}
                                        for k, v, t, st in ms],
                            "params": [{"key": f"p{i}", "value": f"v{i}-{self.idx}"}],
                            "tags": [{"key": f"bt{i}", "value": str(i)}]}
                    resp = self.post(s, "runs/log-batch", body)
                    if resp.status_code == 200:
                        self.acked_metrics.extend(ms)
                        self.acked_params[f"p{i}"] = f"v{i}-{self.idx}"
                        self.acked_tags[f"bt{i}"] = str(i)
                    else:
                        self.errors.append((i, resp.status_code, resp.text[:200]))
                else:
                    resp = self.post(s, "runs/set-tag", {"run_id": r, "key": "counter",
                                                         "value": str(i)})
                    if resp.status_code == 200:
                        self.last_counter = i
                    else:
                        self.errors.append((i, resp.status_code, resp.text[:200]))
        except requests.RequestException:
            pass  # the server died under us: expected
        finally:
            s.close()


def test_kill9_keeps_every_acknowledged_write(mw_factory, tmp_path):
    data = tmp_path / "crash-data"
    srv = mw_factory(data_dir=data)
    exp = srv.create_experiment(unique("crash"))
    runs = [srv.create_run(exp)["info"]["run_id"] for _ in range(N_CLIENTS)]
    clients = [Client(srv.url, r, i) for i, r in enumerate(runs)]
    for c in clients:
        c.start()
    time.sleep(KILL_AFTER)
    srv.kill9()
    for c in clients:
        c.stop.set()
    for c in clients:
        c.join(30)
        assert not c.is_alive()
    for c in clients:
        assert not c.errors, f"client {c.idx} got non-200 answers before the kill: {c.errors[:5]}"
    total = sum(len(c.acked_metrics) for c in clients)
    assert total > 0, "no write was acknowledged before the kill"

    srv2 = mw_factory(data_dir=data)
    for c in clients:
        run = srv2.get_run(c.run_id)
        params = kv(run["data"].get("params"))
        tags = kv(run["data"].get("tags"))
        for k, v in c.acked_params.items():
            assert params.get(k) == v, (c.idx, k)
        for k, v in c.acked_tags.items():
            assert tags.get(k) == v, (c.idx, k)
        if c.last_counter >= 0:
            assert int(tags["counter"]) >= c.last_counter
        for key in ("single", "batch"):
            want = {(k, v, t, s) for k, v, t, s in c.acked_metrics if k == key}
            hist = srv2.history(c.run_id, key)
            have = {(m["key"], float(m["value"]), m["timestamp"], m["step"]) for m in hist}
            missing = want - have
            assert not missing, (f"client {c.idx}: {len(missing)} acknowledged '{key}' points "
                                 f"lost, e.g. {sorted(missing)[:3]}")
    # the restarted server keeps working on the same runs
    r0 = clients[0].run_id
    assert_ok(srv2.post("runs/log-metric", {"run_id": r0, "key": "after", "value": 1,
                                            "timestamp": 1, "step": 0}))
    assert srv2.history(r0, "after")[0]["value"] == 1

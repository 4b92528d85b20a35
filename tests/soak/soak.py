#!/usr/bin/python3
"""Soak: mixed load at a fraction of measured capacity, with flat memory and no leaks.

Starts `mw server` on a scratch data directory, registers a small XGBoost
model, measures capacity with a short closed-loop probe of the mixed load
(PROBE_SECONDS, CONNS connections), then sends the same mix open-loop at
SOAK_RATE (default 0.8) of that capacity for SOAK_SECONDS (default 600),
sampling the server's RSS (/proc/PID/status) and open descriptors
(/proc/PID/fd) once a second.  The mix: V2 inference on the champion (40%),
runs/log-batch (25%), runs/log-metric (15%), metric history reads (10%),
small artifact uploads (5%) and alias moves (5%).

It fails (exit 1) when any request failed, when the average RSS of the last
third, less what SQLite holds (mw_store_memory_bytes: its page caches, which
fill up to their configured size, 16 MB for the writer and 4 MB per reader, as
the database grows), exceeds that of the first third by more than
RSS_SLACK_PCT percent (default 10) plus RSS_SLACK_MB (default 4), when the descriptor count of the
last third exceeds the first third's maximum by more than FD_SLACK (default
2), or when the achieved rate fell below RATE_FLOOR (default 0.9) of the
target.  It prints
every figure either way, as key=value lines.

Usage: soak.py [--bin build/mw]; settings come from the environment:
SOAK_SECONDS, SOAK_RATE, PROBE_SECONDS, CONNS, RSS_SLACK_PCT, RSS_SLACK_MB,
FD_SLACK, RATE_FLOOR.  `make soak` runs it for 10 minutes; tests/api/test_soak.py runs a
short one in CI.
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
ART = "/api/2.0/mlflow-artifacts/artifacts"
API = "/api/2.0/mlflow/"
MODEL = "soak"


def env_num(name, default, kind=float):
    return kind(os.environ.get(name, default))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_files(seed):
    import numpy as np
    import xgboost as xgb
    rs = np.random.RandomState(seed)
    X = rs.randn(300, 6).astype(np.float32)
    y = 2 * X[:, 0] + X[:, 1] ** 2 + rs.randn(300) * 0.1
    b = xgb.train({"objective": "reg:squarederror", "max_depth": 4, "seed": seed},
                  xgb.DMatrix(X, label=y), 10)
    mlmodel = ("artifact_path: model\nflavors:\n  xgboost:\n    data: model.json\n"
               "    model_class: xgboost.core.Booster\n    model_format: json\n"
               f"    xgb_version: {xgb.__version__}\n")
    return {"MLmodel": mlmodel.encode(), "model.json": bytes(b.save_raw(raw_format="json"))}


class Server:
    def __init__(self, binary, data_dir):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(Path(data_dir).parent / "mw-stderr.log", "wb")
        env = {k: v for k, v in os.environ.items() if k not in ("MW_URI", "MW_TEST_FAULT")}
        self.proc = subprocess.Popen(
            [binary, "server", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir",
             str(data_dir), "--log-level", "warn"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, env=env)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.05)
        raise RuntimeError("mw did not start")

    def rss_kb(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def store_kb(self):
        """mw_store_memory_bytes from /metrics: what SQLite holds (its page
        caches fill up to their configured size as the database grows)."""
        try:
            text = requests.get(self.url + "/metrics", timeout=5).text
        except requests.RequestException:
            return 0
        for line in text.splitlines():
            if line.startswith("mw_store_memory_bytes "):
                return int(float(line.split()[1])) // 1024
        return 0

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            return None
        finally:
            self.log.close()


def setup(url):
    s = requests.Session()

    def ok(r):
        if r.status_code != 200:
            raise RuntimeError(f"setup: {r.status_code} {r.text[:300]}")
        return r.json()

    ok(s.post(url + API + "registered-models/create", json={"name": MODEL}))
    for seed in (1, 2):
        run = ok(s.post(url + API + "runs/create", json={"experiment_id": "0"}))["run"]
        rid = run["info"]["run_id"]
        for p, data in model_files(seed).items():
            ok(s.put(f"{url}{ART}/0/{rid}/artifacts/model/{p}", data=data))
        ok(s.post(url + API + "model-versions/create",
                  json={"name": MODEL, "source": f"runs:/{rid}/model"}))
    ok(s.post(url + API + "registered-models/alias",
              json={"name": MODEL, "alias": "champion", "version": "1"}))
    runs = [ok(s.post(url + API + "runs/create", json={"experiment_id": "0"}))["run"]["info"]
            ["run_id"] for _ in range(8)]
    s.close()
    return runs


class Mix:
    """The request mix; each call sends one request and returns True when it
    succeeded."""

    def __init__(self, url, runs):
        self.url = url
        self.runs = runs
        self.step = 0
        self.lock = threading.Lock()
        rows = [[random.gauss(0, 1) for _ in range(6)] for _ in range(4)]
        self.infer_body = json.dumps({"inputs": [{"name": "input-0", "shape": [4, 6],
                                                  "datatype": "FP32",
                                                  "data": sum(rows, [])}]})
        self.kinds = ([self.infer] * 8 + [self.log_batch] * 5 + [self.log_metric] * 3 +
                      [self.history] * 2 + [self.upload] + [self.alias])

    def next_step(self):
        with self.lock:
            self.step += 1
            return self.step

    def infer(self, s):
        return s.post(f"{self.url}/v2/models/{MODEL}/infer", data=self.infer_body,
                      headers={"Content-Type": "application/json"}, timeout=30)

    def log_batch(self, s):
        st = self.next_step()
        ms = [{"key": f"k{j}", "value": float(st), "timestamp": st, "step": st}
              for j in range(5)]
        return s.post(self.url + API + "runs/log-batch",
                      json={"run_id": random.choice(self.runs), "metrics": ms}, timeout=30)

    def log_metric(self, s):
        st = self.next_step()
        return s.post(self.url + API + "runs/log-metric",
                      json={"run_id": random.choice(self.runs), "key": "one", "value": 1.0,
                            "timestamp": st, "step": st}, timeout=30)

    def history(self, s):
        return s.get(self.url + API + "metrics/get-history",
                     params={"run_id": random.choice(self.runs), "metric_key": "one",
                             "max_results": 50}, timeout=30)

    def upload(self, s):
        st = self.next_step()
        data = hashlib.sha256(str(st).encode()).digest() * 64  # 2 KiB, new each time
        return s.put(f"{self.url}{ART}/0/{self.runs[0]}/artifacts/soak/{st}.bin", data=data,
                     timeout=30)

    def alias(self, s):
        v = str(1 + self.next_step() % 2)
        return s.post(self.url + API + "registered-models/alias",
                      json={"name": MODEL, "alias": "champion", "version": v}, timeout=30)

    def one(self, s, rng):
        fn = rng.choice(self.kinds)
        r = fn(s)
        return r.status_code == 200, f"{fn.__name__}: {r.status_code} {r.text[:200]}"


def probe(mix, conns, seconds):
    """Closed loop: conns connections as fast as they can; requests/s."""
    done = [0] * conns
    errors = []
    stop = time.monotonic() + seconds

    def loop(i):
        s = requests.Session()
        rng = random.Random(i)
        while time.monotonic() < stop:
            ok, what = mix.one(s, rng)
            done[i] += 1
            if not ok:
                errors.append(what)
        s.close()

    ts = [threading.Thread(target=loop, args=(i,)) for i in range(conns)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(done) / (time.monotonic() - t0), errors


def soak(srv, mix, conns, rate, seconds):
    """Open loop at rate requests/s (each connection sends on its own schedule),
    sampling RSS and descriptors every second."""
    per = rate / conns
    sent = [0] * conns
    errors = []
    samples = []  # (t, rss_kb, fds, store_kb)
    t0 = time.monotonic()
    end = t0 + seconds

    def loop(i):
        s = requests.Session()
        rng = random.Random(100 + i)
        nxt = t0 + rng.random() / per
        while True:
            now = time.monotonic()
            if nxt >= end:
                break
            if nxt > now:
                time.sleep(nxt - now)
            try:
                ok, what = mix.one(s, rng)
            except requests.RequestException as e:
                ok, what = False, f"exception: {e}"
            sent[i] += 1
            if not ok and len(errors) < 1000:
                errors.append(what)
            nxt += 1 / per
        s.close()

    ts = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(conns)]
    for t in ts:
        t.start()
    while time.monotonic() < end:
        samples.append((time.monotonic() - t0, srv.rss_kb(), srv.fds(), srv.store_kb()))
        time.sleep(1)
    for t in ts:
        t.join(60)
    return sum(sent) / (time.monotonic() - t0), errors, samples


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.environ.get("MW_BIN", str(REPO / "build" / "mw")))
    args = ap.parse_args()
    seconds = env_num("SOAK_SECONDS", 600)
    frac = env_num("SOAK_RATE", 0.8)
    probe_s = env_num("PROBE_SECONDS", 5)
    conns = env_num("CONNS", 8, int)
    slack_pct = env_num("RSS_SLACK_PCT", 10)
    slack_mb = env_num("RSS_SLACK_MB", 4)
    fd_slack = env_num("FD_SLACK", 2, int)
    rate_floor = env_num("RATE_FLOOR", 0.9)

    tmp = Path(tempfile.mkdtemp(prefix="mw-soak-"))
    srv = Server(str(Path(args.bin).resolve()), tmp / "data")
    fails = []
    try:
        mix = Mix(srv.url, setup(srv.url))
        cap, perr = probe(mix, conns, probe_s)
        if perr:
            fails.append(f"{len(perr)} errors during the probe, e.g. {perr[:3]}")
        target = cap * frac
        print(f"capacity_req_s={cap:.0f}\ntarget_req_s={target:.0f}\nseconds={seconds:.0f}",
              flush=True)
        got, errors, samples = soak(srv, mix, conns, target, seconds)
        n = len(samples)
        third = max(1, n // 3)
        first, last = samples[:third], samples[-third:]
        rss_first = sum(x[1] for x in first) / len(first) / 1024
        rss_last = sum(x[1] for x in last) / len(last) / 1024
        # the part of RSS that is not SQLite's caches (bounded by cache_size)
        own_first = sum(x[1] - x[3] for x in first) / len(first) / 1024
        own_last = sum(x[1] - x[3] for x in last) / len(last) / 1024
        store_first = sum(x[3] for x in first) / len(first) / 1024
        store_last = sum(x[3] for x in last) / len(last) / 1024
        fd_first = max(x[2] for x in first)
        fd_last = max(x[2] for x in last)
        print(f"achieved_req_s={got:.0f}\nerrors={len(errors)}\n"
              f"rss_mb_start={samples[0][1] / 1024:.1f}\nrss_mb_first_third={rss_first:.1f}\n"
              f"rss_mb_last_third={rss_last:.1f}\nrss_mb_end={samples[-1][1] / 1024:.1f}\n"
              f"rss_mb_max={max(x[1] for x in samples) / 1024:.1f}\n"
              f"store_mb_first_third={store_first:.1f}\nstore_mb_last_third={store_last:.1f}\n"
              f"rss_less_store_mb_first_third={own_first:.1f}\n"
              f"rss_less_store_mb_last_third={own_last:.1f}\n"
              f"fds_start={samples[0][2]}\nfds_first_third_max={fd_first}\n"
              f"fds_last_third_max={fd_last}\nfds_end={samples[-1][2]}", flush=True)
        if errors:
            fails.append(f"{len(errors)} failed requests, e.g. {errors[:3]}")
        if own_last > own_first * (1 + slack_pct / 100) + slack_mb:
            fails.append(f"RSS less SQLite's caches grew: {own_first:.1f} MB -> {own_last:.1f} MB"
                         f" (RSS {rss_first:.1f} -> {rss_last:.1f})")
        if fd_last > fd_first + fd_slack:
            fails.append(f"descriptors grew: {fd_first} -> {fd_last}")
        if got < rate_floor * target:
            fails.append(f"achieved {got:.0f} req/s of the {target:.0f} asked for")
    finally:
        rc = srv.stop()
        if rc != 0:
            fails.append(f"mw exited {rc} after SIGTERM")
    if fails:
        print("soak: FAILED\n" + "\n".join(fails), flush=True)
        print(f"(server log and data kept in {tmp})")
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    print("soak: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

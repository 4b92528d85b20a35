"""Model code is code (issue 11, item 4): python workers run with resource
limits, as an unprivileged user when the server runs as root, and with no
secret of the server's environment.

Each model here is a plain module (model.py with predict(batch)) registered
through the artifact proxy, as in test_hostile_models.py.  A limit a model
runs into gives that request a clear error and the server goes on serving.
"""

import os
import time

import pytest

from conftest import MwServer, unique
from test_serving import register, v2_body, v2_infer

np = pytest.importorskip("numpy", reason="numpy is not installed (Debian python3-numpy)")

ROOT = os.geteuid() == 0

SECRETS = {
    "MW_ADMIN_PASSWORD": "s3cret-admin-pw",
    "MLFLOW_TRACKING_TOKEN": "tok-abc",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "MY_SERVICE_API_KEY": "k",
    "DB_PASSWORD": "pw",
}
KEPT = {"OMP_NUM_THREADS": "1", "LANG": "C.UTF-8"}

ENV_MODEL = '''\
import os

import numpy as np

FEATURES = 2
OUTPUTS = 7
SECRETS = {secrets!r}
KEPT = {kept!r}
DATA_DIR = {data_dir!r}


def _can_write(path):
    try:
        with open(os.path.join(path, "mw-sandbox-probe"), "w") as f:
            f.write("x")
        os.unlink(os.path.join(path, "mw-sandbox-probe"))
        return 1.0
    except OSError:
        return 0.0


def _can_read(path):
    try:
        with open(path, "rb") as f:
            f.read(1)
        return 1.0
    except OSError:
        return 0.0


def predict(batch):
    seen = sum(1 for k in SECRETS if k in os.environ)
    seen += sum(1 for v in os.environ.values() if v in SECRETS.values())
    kept = sum(1 for k, v in KEPT.items() if os.environ.get(k) == v)
    row = [seen, kept, os.getuid(), _can_write(DATA_DIR), _can_write("/root"),
           _can_read(os.path.join(DATA_DIR, "mw.db")),
           1.0 if any(k.startswith("MW_") for k in os.environ) else 0.0]
    return np.tile(np.asarray(row, dtype=np.float64), (len(batch), 1))
'''

MEMORY_MODEL = '''\
import numpy as np

FEATURES = 2


def predict(batch):
    big = np.ones((10 << 30) // 8)  # 10 GiB
    return big[:len(batch)]
'''

SPIN_MODEL = '''\
import numpy as np

FEATURES = 2


def predict(batch):
    x = 0
    while True:  # bounded by the CPU limit, which is the point of the test
        x += 1
'''

FORK_MODEL = '''\
import os
import time

import numpy as np

FEATURES = 2


def predict(batch):
    made = 0
    kids = []
    for _ in range(300):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(2)
            os._exit(0)
        kids.append(pid)
        made += 1
    for p in kids:
        try:
            os.kill(p, 9)
            os.waitpid(p, 0)
        except OSError:
            pass
    return np.full((len(batch),), float(made))
'''

OK_MODEL = '''\
import numpy as np

FEATURES = 2


def predict(batch):
    return np.asarray(batch, dtype=np.float64).sum(axis=1)
'''

X = np.asarray([[1.0, 2.0]], dtype=np.float32)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("sandbox")
    env = dict(SECRETS)
    env.update(KEPT)
    s = MwServer(d / "data", log_dir=d, env=env,
                 extra_args=["--python-workers", "1", "--python-worker-memory", "2GiB",
                             "--python-worker-cpu-seconds", "2",
                             "--python-worker-max-procs", "48",
                             "--infer-timeout-ms", "60000"])
    s.start()
    yield s
    s.stop()


def serve(srv, source):
    name = unique("sandbox")
    register(srv, name, {"model.py": source.encode()})
    return name


def still_serves(srv):
    name = serve(srv, OK_MODEL)
    r = v2_infer(srv, name, v2_body(X))
    assert r.status_code == 200, r.text[:300]
    assert r.json()["outputs"][0]["data"] == [3.0]


def test_worker_environment_has_no_secrets_and_no_privileges(srv):
    name = serve(srv, ENV_MODEL.format(secrets=SECRETS, kept=KEPT, data_dir=srv.data_dir))
    r = v2_infer(srv, name, v2_body(X))
    assert r.status_code == 200, r.text[:300]
    seen, kept, uid, w_data, w_root, r_db, mw_vars = r.json()["outputs"][0]["data"]
    assert seen == 0, "a secret of the server's environment reached the model"
    assert mw_vars == 0, "an MW_* variable reached the model"
    assert kept == len(KEPT), "LANG / OMP_NUM_THREADS should pass through"
    if ROOT:
        assert uid != 0, "the worker runs as root"
        assert w_data == 0, "the worker can write into the data directory"
        assert w_root == 0, "the worker can write into /root"
        assert r_db == 0, "the worker can read mw.db"


def test_a_model_that_allocates_10_gib_fails_cleanly(srv):
    name = serve(srv, MEMORY_MODEL)
    for _ in range(2):  # the worker is replaced, and fails the same way again
        t0 = time.monotonic()
        r = v2_infer(srv, name, v2_body(X), timeout=120)
        assert r.status_code in (500, 503), r.text[:300]
        assert "ran out of memory" in r.text and "python-worker-memory" in r.text, r.text
        assert time.monotonic() - t0 < 60
    still_serves(srv)


def test_a_model_that_spins_is_killed_by_the_cpu_limit(srv):
    name = serve(srv, SPIN_MODEL)
    t0 = time.monotonic()
    r = v2_infer(srv, name, v2_body(X), timeout=120)
    took = time.monotonic() - t0
    assert r.status_code == 503, r.text[:300]
    assert "CPU time limit" in r.text, r.text
    assert took < 30, f"the spinning model ran {took:.1f} s (the infer timeout is 60 s)"
    still_serves(srv)


@pytest.mark.skipif(not ROOT, reason="RLIMIT_NPROC applies to the worker user (root only)")
def test_a_fork_bomb_is_limited(srv):
    name = serve(srv, FORK_MODEL)
    r = v2_infer(srv, name, v2_body(X), timeout=120)
    assert r.status_code == 200, r.text[:300]
    made = r.json()["outputs"][0]["data"][0]
    assert made < 48, f"the model forked {made} processes under a limit of 48"
    still_serves(srv)


@pytest.mark.skipif(not ROOT, reason="the worker user is looked up only by a root server")
def test_a_missing_worker_user_is_refused_at_start(tmp_path):
    s = MwServer(tmp_path / "data", log_dir=tmp_path,
                 extra_args=["--python-worker-user", "mw-no-such-user-xyz"])
    with pytest.raises(RuntimeError) as e:
        s.start()
    assert "mw-no-such-user-xyz" in str(e.value)

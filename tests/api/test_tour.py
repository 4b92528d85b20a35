"""The README's tour runs as written (issue 10, item 2): scripts/tour.sh takes
the lines between the tour markers in README.md and runs them in one bash with
set -e against a real server, training real XGBoost and scikit-learn models
with Debian's Python on the way."""

import os
import subprocess
from pathlib import Path

from conftest import mw_bin

REPO = Path(__file__).resolve().parents[2]


def test_readme_tour_runs_as_written(mw_factory):
    srv = mw_factory()
    env = dict(os.environ, MW_BIN=mw_bin(), MW_URI=srv.url)
    p = subprocess.run([str(REPO / "scripts" / "tour.sh")], capture_output=True, text=True,
                       env=env, timeout=600, stdin=subprocess.DEVNULL)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-4000:]
    for line in ("registered fraud version 1", "registered fraud version 2",
                 "fraud@champion -> version 1", "fraud@champion: version 2 -> 1",
                 "(SHA-256 verified)", '"model_version":"2"'):
        assert line in out, (line, out[-3000:])


def test_tour_has_no_placeholders():
    text = (REPO / "README.md").read_text()
    tour = text.split("<!-- tour:begin -->", 1)[1].split("<!-- tour:end -->", 1)[0]
    for bad in ("<RUN>", "<run>", "<ID>", "<VERSION>", "..."):
        assert bad not in tour, bad

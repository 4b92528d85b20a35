"""The short soak CI runs (issue 11, item 7): tests/soak/soak.py for about a
minute at half the measured capacity, with its checks loosened for a shared
machine: no failed request, RSS of the last third within 10% + 8 MB of the
first third (2.5 times that under ASan), at most 4 more descriptors, at least half the asked rate (a shared CI
machine: this is a leak check, not a speed check).
`make soak` runs the full 10 minutes at 80%.  MW_CI_SOAK_SECONDS overrides
the length."""

import os
import subprocess
import sys

from conftest import REPO, mw_bin, rss_bound_mb


def test_short_soak():
    seconds = os.environ.get("MW_CI_SOAK_SECONDS", "60")
    env = dict(os.environ, SOAK_SECONDS=seconds, SOAK_RATE="0.5", PROBE_SECONDS="3",
               RSS_SLACK_MB=str(rss_bound_mb(8)), FD_SLACK="4", RATE_FLOOR="0.5")
    p = subprocess.run([sys.executable, str(REPO / "tests" / "soak" / "soak.py"), "--bin",
                        mw_bin()], capture_output=True, text=True, env=env,
                       timeout=float(seconds) + 120, stdin=subprocess.DEVNULL)
    print(p.stdout)
    assert p.returncode == 0, f"soak failed:\n{p.stdout}\n{p.stderr[-3000:]}"
    assert "soak: ok" in p.stdout

"""Issue 13: the kill / concurrency torture script, at a small size, finds nothing wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_torture_small_run_loses_nothing(tmp_path):
    res = subprocess.run([sys.executable, "benchmarks/torture.py", "--kills", "2", "--concurrent", "3",
                          "--clips", "8", "--work", str(tmp_path)], cwd=REPO, capture_output=True,
                         text=True, timeout=1500)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    row = [x for x in res.stdout.splitlines() if x.startswith("| ") and x[2].isdigit()][-1]
    runs, *rest = [int(c) for c in row.strip("| ").split(" | ")]
    assert runs == 2 * 2 + 2 * 2 + 3 + 1 and rest == [0, 0, 0, 0, 0]

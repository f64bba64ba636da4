"""Per-call time of the ``<PAUSE>`` logits processor against an earlier revision, interleaved.

    python benchmarks/pause_ab.py --against c16b1e1          # batch 4, vocab 151.7k, one thread

Both processors see the same fresh (cache-cold) score tensors in alternating order, so a machine
whose speed drifts during the run slows both alike; prints median and 10th-percentile ms per call
and the ratio. The other revision's ``hyper_train/pause.py`` is read with ``git show``.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _load_revision(rev: str):
    text = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:hyper_train/pause.py"], check=True,
                          capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "pause_then.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("pause_then", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PauseLogitsProcessor


def main() -> None:
    """Run the interleaved comparison and print the figures."""
    import torch

    from hyper_train.pause import PauseLogitsProcessor

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--against", required=True, help="git revision of the earlier processor")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--vocab", type=int, default=151_700)
    p.add_argument("--calls", type=int, default=300)
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    scores = torch.randn(a.batch, a.vocab)
    seq = torch.zeros(a.batch, 8, dtype=torch.long)
    procs = {a.against: _load_revision(a.against)(5, warmup=16), "now": PauseLogitsProcessor(5, warmup=16)}
    for proc in procs.values():
        for _ in range(30):
            proc(seq, scores.clone())
    times: dict[str, list[float]] = {k: [] for k in procs}
    for i in range(a.calls):
        order = list(procs.items()) if i % 2 else list(procs.items())[::-1]
        for name, proc in order:
            x = scores.clone()
            start = time.perf_counter()
            proc(seq, x)
            times[name].append(time.perf_counter() - start)
    med = {}
    for name, t in times.items():
        t.sort()
        med[name] = t[len(t) // 2]
        print(f"{name}: median {med[name] * 1e3:.3f} ms, 10th percentile {t[len(t) // 10] * 1e3:.3f} ms per call "
              f"(batch {a.batch}, vocab {a.vocab}, 1 thread)")
    print(f"ratio now / {a.against} (medians): {med['now'] / med[a.against]:.3f}")


if __name__ == "__main__":
    main()

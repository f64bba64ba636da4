"""Kill and concurrency torture of ``paqa-build``: nothing lost, nothing duplicated, always loadable.

    python benchmarks/torture.py                      # 12 kill points + 2 publish kills + 10 concurrent
    python benchmarks/torture.py --kills 3 --concurrent 3 --clips 12   # a quick look (the test's size)

Builds a generated folder source (tones, a manifest with labels) with the ``labels_only`` recipe
and one or two clips per chunk, once uninterrupted (the reference), then:

* **kill -9 at chunk k** for ``--kills`` points spread over the run, then the same command again;
* **kill -9 inside the publish window** (``PAQA_CRASH_AT`` after the interim card and after the
  data swap) of a rerun over a finished folder; the folder is loaded while it is in that state;
* **``--concurrent`` reruns at once** into one folder (started 0-0.5 s apart): each must finish
  (exit 0) or stop with the one-line lock error (exit 2), and the folder must load afterwards.

Every result is compared with the reference: clip ids lost, clip ids duplicated, shards that differ,
folders ``datasets.load_dataset`` cannot load, and runs that ended any other way. All must be 0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_source(root: Path, clips: int) -> None:
    """``clips`` 3 s tones with a manifest giving each a label."""
    import numpy as np
    import soundfile as sf

    root.mkdir(parents=True, exist_ok=True)
    t = np.arange(48000) / 16000
    rows = []
    for i in range(clips):
        sf.write(root / f"t{i:03d}.wav", (0.3 * np.sin(2 * np.pi * (150 + 7 * i) * t)).astype(np.float32), 16000)
        rows.append({"path": f"t{i:03d}.wav", "labels": ["Music" if i % 2 else "Speech"]})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def command(src: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "paqa_builder.cli", "--source", str(src), "--out", str(out),
            "--recipe", "labels_only", "--no-progress", "--source-kind", "folder",
            "--set", "writer.clips_per_chunk=2"]


def run(src: Path, out: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command(src, out), cwd=REPO, capture_output=True, text=True, timeout=1800,
                          env={**os.environ, **(env or {})})


def inspect(out: Path) -> tuple[list[str] | None, dict[str, str]]:
    """(clip ids in the published clips config, or None when it does not load; shard digests)."""
    import datasets

    datasets.disable_progress_bars()
    try:
        clips = datasets.load_dataset(str(out), "clips", download_mode="force_redownload")
        datasets.load_dataset(str(out), "qa", download_mode="force_redownload")
    except Exception as exc:  # noqa: BLE001 - any failure to load counts as unloadable
        return None, {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"}
    ids = [c["clip_id"] for split in clips for c in clips[split]]
    shards = {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
              for p in sorted((out / "data").rglob("*.parquet"))}
    return ids, shards


class Tally:
    """Counts over every checked result."""

    def __init__(self, reference: list[str], shards: dict[str, str]) -> None:
        self.reference, self.shards = set(reference), shards
        self.runs = self.lost = self.duplicated = self.unloadable = self.different = self.bad_exits = 0

    def check(self, out: Path, what: str, final: bool = True) -> None:
        ids, shards = inspect(out)
        if ids is None:
            self.unloadable += 1
            print(f"  UNLOADABLE after {what}: {shards.get('error')}")
            return
        self.duplicated += len(ids) - len(set(ids))
        if final:
            self.lost += len(self.reference - set(ids))
            self.different += int(shards != self.shards)
        elif not set(ids) <= self.reference:
            self.lost += len(set(ids) - self.reference)

    def exit(self, result: subprocess.CompletedProcess, allowed: tuple[int, ...], what: str) -> None:
        self.runs += 1
        lines = [x for x in result.stderr.splitlines() if x.startswith("paqa-build:")]
        if result.returncode not in allowed or "Traceback" in result.stderr:
            self.bad_exits += 1
            print(f"  unexpected end of {what}: exit {result.returncode}; {lines[-1:] or result.stderr[-300:]}")
        elif result.returncode == 2 and not (len(lines) == 1 and "another build (pid" in lines[0]):
            self.bad_exits += 1
            print(f"  {what}: exit 2 without the lock message: {lines}")


def wait_for_chunks(out: Path, n: int, proc: subprocess.Popen, timeout: float = 900) -> None:
    parts = out / ".paqa_state" / "parts"
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and len(list(parts.glob("*.done.json"))) < n:
        time.sleep(0.02)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, default=24)
    p.add_argument("--kills", type=int, default=12)
    p.add_argument("--concurrent", type=int, default=10)
    p.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed after)")
    a = p.parse_args(argv)
    work = a.work or Path(tempfile.mkdtemp(prefix="paqa-torture-"))
    started = time.time()
    try:
        src = work / "src"
        make_source(src, a.clips)
        ref = work / "reference"
        first = run(src, ref)
        if first.returncode != 0:
            print(first.stderr[-2000:])
            return 1
        ids, shards = inspect(ref)
        tally = Tally(ids or [], shards)
        chunks = (a.clips + 1) // 2
        points = sorted({max(1, min(chunks - 1, round((k + 1) * chunks / (a.kills + 1)))) for k in range(a.kills)})
        points = (points * ((a.kills + len(points) - 1) // max(1, len(points))))[: a.kills]
        print(f"{a.clips} clips in {chunks} chunks; kill -9 after chunks {points}")
        for i, k in enumerate(points):
            out = work / f"kill_{i:02d}"
            proc = subprocess.Popen(command(src, out), cwd=REPO, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            wait_for_chunks(out, k, proc)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            tally.runs += 1
            tally.exit(run(src, out), (0,), f"the rerun after kill {i}")
            tally.check(out, f"kill {i} + rerun")
            shutil.rmtree(out, ignore_errors=True)
        for step in ("interim_card", "data_swap"):
            out = work / f"publish_{step}"
            shutil.copytree(ref, out)
            crashed = run(src, out, {"PAQA_CRASH_AT": step})
            tally.runs += 1
            if crashed.returncode != -signal.SIGKILL:
                tally.bad_exits += 1
            tally.check(out, f"a kill after {step}", final=False)  # loadable in the window itself
            tally.exit(run(src, out), (0,), f"the rerun after a kill after {step}")
            tally.check(out, f"kill after {step} + rerun")
        out = work / "concurrent"
        procs = []
        for i in range(a.concurrent):
            procs.append(subprocess.Popen(command(src, out), cwd=REPO, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
            time.sleep(0.05 * (i % 10))
        for i, proc in enumerate(procs):
            stdout, stderr = proc.communicate(timeout=1800)
            tally.exit(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), (0, 2),
                       f"concurrent run {i}")
        final = run(src, out)  # whoever was refused: one more run completes or confirms the build
        tally.exit(final, (0,), "the run after the concurrent ones")
        tally.check(out, "concurrent runs")
    finally:
        if a.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print("\n| runs | lost clips | duplicated ids | shards differing | unloadable results | unexpected exits |")
    print("|---|---|---|---|---|---|")
    print(f"| {tally.runs} | {tally.lost} | {tally.duplicated} | {tally.different} | {tally.unloadable} "
          f"| {tally.bad_exits} |")
    print(f"({time.time() - started:.0f} s)")
    bad = tally.lost + tally.duplicated + tally.different + tally.unloadable + tally.bad_exits
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

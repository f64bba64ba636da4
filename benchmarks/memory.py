"""Peak memory does not grow with the number of clips: build 10 and then 200 clips, compare peaks.

    python benchmarks/memory.py                       # labels_only recipe, 10 vs 200 clips
    python benchmarks/memory.py --recipe portable --counts 10 100

Generates an AudioSet-layout folder of 10-second synthetic background clips (``paqa_builder.mixer.synth``;
FLAC files and a ``balanced_train_segments.csv``), then runs each build in a fresh Python process
(so one run's peak cannot hide in the other's) and reads that process's peak resident set size
(``ru_maxrss``: the build process and all its threads; decoder subprocesses are not included).
Prints both peaks and their ratio (target <= 1.1). Both runs read the same folder, the smaller one
with ``--limit``, so they import the same libraries and load the same models.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

LABELS = {"white_noise": ("/m/0chx_", "White noise"), "pink_noise": ("/m/0cj0r", "Pink noise"),
          "hum": ("/m/07rcgpl", "Hum"), "rain": ("/m/06mb1", "Rain"), "engine": ("/m/02mk9", "Engine"),
          "wind": ("/m/03m9d0z", "Wind")}
"""Synthetic kinds used for the clips, with their AudioSet mid and name."""


def make_folder(root: Path, n: int, seconds: float = 10.0) -> Path:
    """Write ``n`` clips plus the segments CSV (and the sample's ontology, for label names)."""
    import soundfile as sf

    from paqa_builder.mixer.synth import background

    audio_dir = root / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    kinds = list(LABELS)
    for i in range(n):
        kind = kinds[i % len(kinds)]
        ytid = f"mem{i:08d}"  # 11 characters, like a YouTube id
        sf.write(audio_dir / f"Y{ytid}.flac", background(kind, seconds, seed=i), 16000, subtype="PCM_16")
        rows.append(f'{ytid}, 0.000, {seconds:.3f}, "{LABELS[kind][0]}"')
    header = ["# Segments csv created by benchmarks/memory.py", f"# num_ytids={n}, num_segs={n}",
              "# YTID, start_seconds, end_seconds, positive_labels"]
    (root / "balanced_train_segments.csv").write_text("\n".join(header + rows) + "\n")
    sample = REPO / "examples" / "audioset_sample"
    for name in ("ontology.json", "class_labels_indices.csv"):
        if (sample / name).exists():
            shutil.copy(sample / name, root / name)
    return root


def child(source: str, recipe_name: str, limit: int, out: str, overrides: list[str]) -> None:
    """Inside the fresh process: build, then print clips, wall time and peak RSS as JSON."""
    import resource

    from paqa_builder.build import build
    from paqa_builder.config import load_recipe

    began = time.perf_counter()
    summary = build(load_recipe(recipe_name, overrides), source, out, overwrite=True, limit=limit,
                    progress=False)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"clips": summary.clips_done + summary.clips_failed + summary.clips_skipped,
                      "wall_s": round(time.perf_counter() - began, 1), "peak_rss_mib": round(peak_kib / 1024, 1)}))


def measure(source: Path, recipe: str, count: int, out: Path, overrides: list[str]) -> dict:
    """Run one build of ``count`` clips in a new process and return its JSON line."""
    cmd = [sys.executable, __file__, "--child", "--source", str(source), "--recipe", recipe,
           "--limit", str(count), "--out", str(out)] + [f"--set={o}" for o in overrides]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "false"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"build of {count} clips failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipe", default="labels_only", help="recipe to build with (default labels_only)")
    p.add_argument("--counts", type=int, nargs=2, default=[10, 200], metavar=("SMALL", "LARGE"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--source", help=argparse.SUPPRESS)
    p.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.source, args.recipe, args.limit, args.out, args.overrides)
        return 0
    small, large = args.counts
    with tempfile.TemporaryDirectory() as tmp:
        source = make_folder(Path(tmp) / "source", large)
        results = {n: measure(source, args.recipe, n, Path(tmp) / f"out{n}", args.overrides) for n in (small, large)}
    ratio = results[large]["peak_rss_mib"] / results[small]["peak_rss_mib"]
    for n, r in results.items():
        print(f"{n:5d} clips: peak RSS {r['peak_rss_mib']:8.1f} MiB  (wall {r['wall_s']} s, clips {r['clips']})")
    print(f"ratio {large}/{small}: {ratio:.3f} (target <= 1.1) with recipe {args.recipe}")
    return 0 if ratio <= 1.1 else 1


if __name__ == "__main__":
    sys.exit(main())

"""How long does ``paqa-build view`` take on a 1,000-clip build, and how big are its pages?

    python benchmarks/view_speed.py                       # builds the shipped sample first (portable)
    python benchmarks/view_speed.py --from out/paqa       # start from an existing build
    python benchmarks/view_speed.py --clips 1000 --workers 2

The rendering cost depends on the clips' length and on what each page shows (turns, words,
questions), not on whether the labels are right, so a large build is made by copying a real
build's rows under new clip ids (``<id>_rNNNN``) into shards of 250 clips. Prints the wall time,
clips per second, the ratio to the one-minute target, and page sizes (median, 95th percentile,
largest) plus the whole site's size.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_S = 60.0


def replicate(src: Path, dst: Path, clips: int, per_shard: int = 250) -> int:
    """Write ``clips`` rows copied from ``src``'s clips (ids made unique) and their questions."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    clip_tab = pa.concat_tables([pq.read_table(p) for p in sorted((src / "data" / "clips").glob("*.parquet"))])
    qa_tab = pa.concat_tables([pq.read_table(p) for p in sorted((src / "data" / "qa").glob("*.parquet"))])
    n_src = clip_tab.num_rows
    shards = -(-clips // per_shard)
    for kind in ("clips", "qa"):
        (dst / "data" / kind).mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        rows = range(s * per_shard, min(clips, (s + 1) * per_shard))
        parts, qparts = [], []
        for i in rows:
            one = clip_tab.slice(i % n_src, 1)
            old = one.column("clip_id")[0].as_py()
            new = f"{old}_r{i:04d}"
            parts.append(one.set_column(one.schema.get_field_index("clip_id"), "clip_id", pa.array([new])))
            q = qa_tab.filter(pc.equal(qa_tab.column("clip_id"), old))
            if q.num_rows:
                q = q.set_column(q.schema.get_field_index("clip_id"), "clip_id", pa.array([new] * q.num_rows))
                ids = [x.replace(old + "/", new + "/", 1) for x in q.column("id").to_pylist()]
                qparts.append(q.set_column(q.schema.get_field_index("id"), "id", pa.array(ids)))
        name = f"train-{s:05d}-of-{shards:05d}.parquet"
        pq.write_table(pa.concat_tables(parts), dst / "data" / "clips" / name)
        if qparts:
            pq.write_table(pa.concat_tables(qparts), dst / "data" / "qa" / name)
    return n_src


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--from", dest="src", help="an existing build (default: build examples/audioset_sample)")
    p.add_argument("--clips", type=int, default=1000)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    from paqa_builder.view.site import render_site

    with tempfile.TemporaryDirectory(prefix="paqa-view-bench-") as tmp:
        src = Path(args.src) if args.src else Path(tmp) / "sample"
        if not args.src:
            print("building the shipped sample (portable recipe) ...", flush=True)
            subprocess.run([sys.executable, "-m", "paqa_builder.cli", "--source",
                            str(REPO / "examples" / "audioset_sample"), "--out", str(src), "--no-progress"],
                           check=True, stdout=subprocess.DEVNULL)
        big = Path(tmp) / "big"
        n_src = replicate(src, big, args.clips)
        t0 = time.perf_counter()
        summary = render_site(big, workers=args.workers, progress=False)
        wall = time.perf_counter() - t0
        sizes = sorted(summary.page_bytes)
        site_bytes = sum(f.stat().st_size for f in (big / "view").rglob("*") if f.is_file())
        spec = sorted(f.stat().st_size for f in (big / "view").rglob("*.spec.jpg"))
        print(f"clips: {summary.clips} (copies of {n_src} real clips), questions: {summary.questions}, "
              f"workers: {args.workers}")
        print(f"render wall: {wall:.1f} s = {summary.clips / wall:.1f} clips/s; "
              f"ratio to the {TARGET_S:.0f} s target: {wall / TARGET_S:.2f}")
        print(f"clip page (HTML, audio embedded): median {sizes[len(sizes) // 2] / 1024:.0f} KiB, "
              f"p95 {sizes[int(0.95 * (len(sizes) - 1))] / 1024:.0f} KiB, largest {sizes[-1] / 1024:.0f} KiB; "
              f"spectrogram median {spec[len(spec) // 2] / 1024:.0f} KiB")
        index = (big / "view" / "index.html").stat().st_size
        chunks = sorted(f.stat().st_size for f in (big / "view" / "index").glob("*.js"))
        print(f"index.html {index / 1024:.0f} KiB + {len(chunks)} table chunks of up to "
              f"{chunks[-1] / 1024:.0f} KiB; whole site {site_bytes / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

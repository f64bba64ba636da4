"""``paqa-build show``: what a build wrote, read back through ``datasets`` exactly as a user would."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path


def show(out: str | Path, rows: int = 2) -> None:
    """Print split sizes of both configs, per-task counts and ``rows`` QA examples."""
    import datasets

    out = Path(out)
    datasets.disable_progress_bars()
    qa = datasets.load_dataset(str(out))
    clips = datasets.load_dataset(str(out), "clips")
    print(f"{out}:")
    print("  qa:    " + ", ".join(f"{s}={len(qa[s])}" for s in qa))
    print("  clips: " + ", ".join(f"{s}={len(clips[s])}" for s in clips))
    tasks: dict[str, int] = {}
    for split in qa:
        for task in qa[split]["task"]:
            tasks[task] = tasks.get(task, 0) + 1
    print("  tasks: " + ", ".join(f"{t}={n}" for t, n in sorted(tasks.items())))
    failures = out / "failures.jsonl"
    if failures.exists():
        lines = [json.loads(x) for x in failures.read_text().splitlines() if x.strip()]
        print(f"  failures.jsonl: {len(lines)} clip(s)")
        for f in lines[:5]:
            print(f"    - {f['reason']}")
    split = "train" if len(qa["train"]) else next((s for s in qa if len(qa[s])), None)
    if split is None:
        print("  (no questions were written)")
        return
    for row in qa[split].select(range(min(rows, len(qa[split])))):
        audio = row["audio"]
        sr = getattr(audio, "metadata", None)
        print(f"\n--- {row['id']}  task={row['task']}  answer={row['answer']} ({row['answer_text']})")
        if sr is not None:
            print(f"    audio: {sr.sample_rate} Hz, {sr.duration_seconds_from_header or 0:.2f} s")
        print(f"    Q: {row['question']}")
        for letter, choice in zip("ABCDEFGHIJ", row["choices"]):
            print(f"       ({letter}) {choice}")
        print(textwrap.indent(row["chain"], "    | "))

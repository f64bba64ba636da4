"""Reading a finished build for the viewer: clip shards one at a time, questions, failures, eval.

Clip rows (with their audio bytes) are read one shard and one row group at a time, so memory stays
bounded by a row group however large the build; questions are small and are grouped by clip up
front. An evaluation (``paqa-build eval``'s ``eval.json``) is optional: with it, pages show truth
lanes and mark wrong answer keys.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..dataset.rows import plain


class ViewError(ValueError):
    """The folder is not a build the viewer can read (one line, naming the file)."""


def json_field(value: Any) -> Any:
    """A JSON-string column (``provenance``, ``evidence``, ``truth``, ...) decoded; None stays None."""
    if value is None or isinstance(value, (dict, list)):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


@dataclass
class Build:
    """What the viewer needs of one build folder."""

    root: Path
    clip_shards: list[Path]
    questions: dict[str, list[dict[str, Any]]]
    failures: list[dict[str, Any]]
    evaluation: dict[str, Any] | None = None
    truth: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def outcomes(self) -> dict[str, bool]:
        """Per question id: True when ``eval`` confirmed the key, False when it found it wrong
        (the evaluation's own mapping, not a copy: it is read once per clip page)."""
        return (self.evaluation or {}).get("question_outcomes") or {}

    def clip_rows(self, shard: Path, batch_rows: int = 64) -> Iterator[dict[str, Any]]:
        """The rows of one clips shard, audio bytes included, a few at a time."""
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(shard).iter_batches(batch_size=batch_rows):
            for row in batch.to_pylist():
                yield plain(row)

    def count_clips(self) -> int:
        """Clips in all shards, from the Parquet footers (no data read)."""
        import pyarrow.parquet as pq

        return sum(pq.ParquetFile(p).metadata.num_rows for p in self.clip_shards)


def read_build(out: str | Path, eval_json: str | Path | None = None) -> Build:
    """Open a build folder; ``eval_json`` defaults to ``out/eval/eval.json`` when it exists."""
    import pyarrow.parquet as pq

    root = Path(out)
    clips_dir, qa_dir = root / "data" / "clips", root / "data" / "qa"
    if not clips_dir.is_dir():
        raise ViewError(f"{clips_dir}: not found; give the folder a 'paqa-build' run wrote")
    shards = sorted(clips_dir.glob("*.parquet"))
    questions: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(qa_dir.glob("*.parquet")) if qa_dir.is_dir() else []:
        names = [n for n in pq.ParquetFile(path).schema_arrow.names if n != "audio"]
        for row in pq.read_table(path, columns=names).to_pylist():
            questions.setdefault(str(row["clip_id"]), []).append(plain(row))
    failures = []
    fail_path = root / "failures.jsonl"
    if fail_path.is_file():
        for n, line in enumerate(fail_path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    failures.append(json.loads(line))
                except ValueError as exc:
                    raise ViewError(f"{fail_path}:{n}: not JSON ({exc})") from None
    build = Build(root=root, clip_shards=shards, questions=questions, failures=failures)
    eval_path = Path(eval_json) if eval_json else root / "eval" / "eval.json"
    if eval_path.is_file():
        try:
            build.evaluation = json.loads(eval_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ViewError(f"{eval_path}: not JSON ({exc})") from None
        truth_dir = build.evaluation.get("truth_dir")
        if truth_dir and (Path(truth_dir) / "manifest.jsonl").is_file():
            from ..evaluation.evaluate import load_truth

            build.truth = {cid: line["truth"] for cid, line in load_truth(truth_dir).items()}
    elif eval_json:
        raise ViewError(f"{eval_path}: not found")
    return build

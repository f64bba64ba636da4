"""Encoding a processed chunk of records into committed parts (shared by both engines)."""

from __future__ import annotations

import io
from itertools import islice
from typing import Any, Iterable, Iterator

from ..record import ClipRecord
from ..rows import SPLITS, clip_row, failure_row, features, flac_bytes, group_id, qa_rows, split_of


def chunked(records: Iterable[ClipRecord], size: int) -> Iterator[list[ClipRecord]]:
    """Consecutive lists of ``size`` records (the last may be shorter)."""
    it = iter(records)
    while True:
        block = list(islice(it, size))
        if not block:
            return
        yield block


def _parquet_bytes(rows: list[dict[str, Any]], kind: str) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    clips, qa = features()
    schema = (clips if kind == "clips" else qa).arrow_schema
    table = pa.Table.from_pylist(rows, schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def encode_chunk(records: list[ClipRecord], ratios: dict[str, float]) -> tuple[bytes, bytes, list[dict], dict]:
    """``(clips_parquet, qa_parquet, failures, stats)`` for a chunk whose stages have run."""
    clip_rows: list[dict[str, Any]] = []
    question_rows: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    stats: dict[str, Any] = {"done": 0, "failed": 0, "skipped": 0, "audio_seconds": 0.0,
                             "rows": {"clips": {s: 0 for s in SPLITS}, "qa": {s: 0 for s in SPLITS}},
                             "tasks": {}}
    for record in records:
        if not record.live:
            failures.append(failure_row(record))
            stats["failed" if record.error else "skipped"] += 1
            continue
        split = split_of(group_id(record), ratios)
        audio = flac_bytes(record.audio, record.sample_rate)
        clip_rows.append(clip_row(record, split, audio))
        rows = qa_rows(record, split, audio)
        question_rows += rows
        stats["done"] += 1
        stats["audio_seconds"] += float(record.duration or 0.0)
        stats["rows"]["clips"][split] += 1
        stats["rows"]["qa"][split] += len(rows)
        for row in rows:
            stats["tasks"][row["task"]] = stats["tasks"].get(row["task"], 0) + 1
        record.audio = None  # the bytes are encoded; free the array
    return _parquet_bytes(clip_rows, "clips"), _parquet_bytes(question_rows, "qa"), failures, stats

"""Encoding processed records into committed chunk parts (shared by both engines).

Encoding is split in two so that the Ray engine can do the expensive half on its workers:

* ``encode_record``: one finished record -> its clip row, QA rows, failure line and counts
  (FLAC-encodes the audio; runs wherever the record is, and lets the big arrays go);
* ``assemble_chunk``: the encoded records of one chunk, in source order -> the two Parquet parts,
  the failures and the chunk stats (cheap; runs where parts are committed).

The local engine calls ``encode_chunk`` (both halves); the Ray engine calls ``encode_record`` in a
``map_batches`` task and ``assemble_chunk`` on the driver. Both therefore write the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from ..dataset.rows import SPLITS, clip_row, failure_row, features, flac_bytes, group_id, qa_rows, split_of
from ..record import ClipRecord


def chunked(records: Iterable[ClipRecord], size: int) -> Iterator[list[ClipRecord]]:
    """Consecutive lists of ``size`` records (the last may be shorter)."""
    it = iter(records)
    while True:
        block = list(islice(it, size))
        if not block:
            return
        yield block
        del block  # the consumer owns the chunk now; don't keep it alive while reading the next


def _parquet_bytes(rows: list[dict[str, Any]], kind: str) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    clips, qa = features()
    schema = (clips if kind == "clips" else qa).arrow_schema
    table = pa.Table.from_pylist(rows, schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def encode_record(record: ClipRecord, ratios: dict[str, float]) -> dict[str, Any]:
    """Rows of one record whose stages have run: ``{clip, qa, failure, audio_seconds}``.

    A failed or gated record gives only its ``failure`` line; a live one gives its ``clip`` row
    and its ``qa`` rows (the FLAC bytes are shared by all of them). The record's audio array is
    released once encoded, so a chunk holds bytes, not float arrays, while it waits to commit.
    """
    if not record.live:
        return {"clip": None, "qa": [], "failure": failure_row(record), "audio_seconds": 0.0,
                "failed": record.error is not None}
    split = split_of(group_id(record), ratios)
    audio = flac_bytes(record.audio, record.sample_rate)
    encoded = {"clip": clip_row(record, split, audio), "qa": qa_rows(record, split, audio),
               "failure": None, "audio_seconds": float(record.duration or 0.0), "failed": False}
    record.audio = None
    return encoded


def assemble_chunk(encoded: list[dict[str, Any]]) -> tuple[bytes, bytes, list[dict], dict]:
    """``(clips_parquet, qa_parquet, failures, stats)`` from a chunk's encoded records, in order."""
    clip_rows: list[dict[str, Any]] = []
    question_rows: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    stats: dict[str, Any] = {"done": 0, "failed": 0, "skipped": 0, "audio_seconds": 0.0,
                             "rows": {"clips": {s: 0 for s in SPLITS}, "qa": {s: 0 for s in SPLITS}},
                             "tasks": {}}
    for item in encoded:
        if item["clip"] is None:
            failures.append(item["failure"])
            stats["failed" if item["failed"] else "skipped"] += 1
            continue
        split = item["clip"]["split"]
        clip_rows.append(item["clip"])
        question_rows += item["qa"]
        stats["done"] += 1
        stats["audio_seconds"] += item["audio_seconds"]
        stats["rows"]["clips"][split] += 1
        stats["rows"]["qa"][split] += len(item["qa"])
        for row in item["qa"]:
            stats["tasks"][row["task"]] = stats["tasks"].get(row["task"], 0) + 1
    return _parquet_bytes(clip_rows, "clips"), _parquet_bytes(question_rows, "qa"), failures, stats


def encode_chunk(records: list[ClipRecord], ratios: dict[str, float]) -> tuple[bytes, bytes, list[dict], dict]:
    """``(clips_parquet, qa_parquet, failures, stats)`` for a chunk whose stages have run."""
    return assemble_chunk([encode_record(record, ratios) for record in records])

"""Turning committed chunk parts into the published dataset: shards, failures.jsonl, card.

Shards are written into ``.paqa_state/staging`` and published by ``publish.py`` (interim card,
atomic exchange of ``data/``, final card), so ``load_dataset(out)`` works at every instant. Rows are
streamed part by part, so memory does not grow with the dataset. Shard names follow the Hub convention
``{split}-{i:05d}-of-{n:05d}.parquet``. An empty split gets no shard (``datasets`` refuses a split
with no rows) and the card lists only the splits that have rows.
"""

from __future__ import annotations

import json
import math
import shutil
from typing import Any

from ..dataset.rows import SPLITS, features
from .publish import publish
from .state import BuildState, atomic_write_text


def _schema(kind: str):
    clips, qa = features()
    return (clips if kind == "clips" else qa).arrow_schema


def _read_part(path, schema, columns: list[str] | None = None):
    """A committed part (only ``columns`` when given, so the audio is not read); a damaged one is
    an error naming it (one line), not a pyarrow traceback."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .state import ResumeError

    try:
        return pq.read_table(path, schema=schema, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise ResumeError(f"{path}: a part committed by an earlier run cannot be read ({exc}); "
                          "rerun with --overwrite to rebuild") from None


BALANCED_COLUMNS = ("id", "choices", "answer", "chain", "messages", "evidence", "split")
"""QA columns ``PositionBalancer`` reads or rewrites."""


def _balanced(table: Any, balancer: Any) -> Any:
    """``table`` (QA rows) with each key moved by ``balancer`` (``dataset/balance.py``)."""
    import pyarrow as pa

    if table.num_rows == 0:
        return table
    columns = {name: table.column(name).to_pylist() for name in BALANCED_COLUMNS}
    rows = [balancer(dict(zip(BALANCED_COLUMNS, values))) for values in zip(*columns.values())]
    for name in ("choices", "answer", "chain", "messages", "evidence"):
        index = table.schema.get_field_index(name)
        table = table.set_column(index, table.schema.field(index),
                                 pa.array([r[name] for r in rows], type=table.schema.field(index).type))
    return table


def text_answerable_ids(state: BuildState, chunks: list[int], threshold: float) -> dict[str, str]:
    """Id -> split of the committed QA rows that the text-only answer prior gets right with a
    probability of at least ``threshold`` (``dataset/audit.text_answerable``; reads no audio)."""
    from ..dataset.audit import AUDIT_COLUMNS, text_answerable

    rows = []
    for index in chunks:
        rows += _read_part(state.part(index, "qa.parquet"), _schema("qa"), list(AUDIT_COLUMNS)).to_pylist()
    flagged = text_answerable(rows, threshold)
    return {str(r["id"]): r["split"] for r in rows if str(r["id"]) in flagged}


def finalize(state: BuildState, chunks: list[int], rows_per_shard: int,
             balance_positions: bool = True, drop: dict[str, str] | None = None) -> dict[str, dict[str, int]]:
    """Write ``data/{clips,qa}`` shards and ``failures.jsonl`` from ``chunks``; return row counts.

    ``balance_positions``: move QA keys so that every option count uses its letters evenly within
    each split (``dataset/balance.PositionBalancer``, in written order: deterministic).
    ``drop``: QA row id -> split of rows left out of the shards (``text_answerable_ids``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..dataset.balance import PositionBalancer

    counts: dict[str, dict[str, int]] = {kind: {s: 0 for s in SPLITS} for kind in ("clips", "qa")}
    balancer = PositionBalancer() if balance_positions else None  # one for all splits
    for index in chunks:
        stats = json.loads(state.part(index, "done.json").read_text())["stats"]
        for kind in counts:
            for split in SPLITS:
                counts[kind][split] += stats["rows"][kind].get(split, 0)
    pa_drop = pa.array(sorted(drop), type=pa.string()) if drop else None
    for split in (drop or {}).values():
        counts["qa"][split] -= 1

    staging = state.root / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    for kind in ("clips", "qa"):
        schema = _schema(kind)
        folder = staging / "data" / kind
        folder.mkdir(parents=True, exist_ok=True)
        for split in SPLITS:
            total = counts[kind][split]
            if total == 0:
                continue
            n_shards = max(1, math.ceil(total / rows_per_shard))
            writer: Any = None
            shard, in_shard = 0, 0

            def open_shard(i: int, folder: Any = folder, split: str = split, n_shards: int = n_shards,
                           schema: Any = schema) -> Any:
                path = folder / f"{split}-{i:05d}-of-{n_shards:05d}.parquet"
                return pq.ParquetWriter(path, schema, compression="zstd")

            writer = open_shard(0)
            for index in chunks:
                table = _read_part(state.part(index, f"{kind}.parquet"), schema)
                table = table.filter(pa.compute.equal(table["split"], split))
                if kind == "qa" and pa_drop is not None:
                    table = table.filter(pa.compute.invert(pa.compute.is_in(table["id"], value_set=pa_drop)))
                if kind == "qa" and balancer is not None:
                    table = _balanced(table, balancer)
                offset = 0
                while offset < table.num_rows:
                    if in_shard == rows_per_shard:
                        writer.close()
                        shard, in_shard = shard + 1, 0
                        writer = open_shard(shard)
                    take = min(rows_per_shard - in_shard, table.num_rows - offset)
                    writer.write_table(table.slice(offset, take))
                    offset += take
                    in_shard += take
            writer.close()

    failures = []
    for index in chunks:
        text = state.part(index, "failures.jsonl").read_text()
        failures += [json.loads(line) for line in text.splitlines() if line.strip()]
    failures.sort(key=lambda f: (f["clip_id"], f["reason"]))
    atomic_write_text(staging / "failures.jsonl",
                      "".join(json.dumps(f, sort_keys=True) + "\n" for f in failures))

    # interim card, atomic exchange of data/, then (by the caller) the final card: publish.py
    publish(state.out, staging, state.root / "old-data", counts)
    (staging / "failures.jsonl").replace(state.out / "failures.jsonl")
    shutil.rmtree(staging, ignore_errors=True)
    return counts

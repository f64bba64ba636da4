"""One build, start to finish: recipe -> source -> stages -> chunks -> shards -> card -> summary."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from .engine.executor import BuildSummary, state_for
from .engine.finalize import finalize, text_answerable_ids
from .engine.local import run_local
from .engine.lock import out_lock
from .engine.pipeline import build_pipeline, check_stage_keys
from .engine.state import BuildState, atomic_write_text
from .engine.threads import single_thread_blas

log = logging.getLogger("paqa_builder")


def check_out_apart(source: Path, out: Path) -> None:
    """Refuse an ``out`` that is ``source``, lies inside it, or contains it.

    Inside the source, the build would read its own outputs as audio on the next run, and
    ``--overwrite`` would clear folders that belong to the collection."""
    src, dst = source.resolve(), out.resolve()
    if dst == src or src in dst.parents or dst in src.parents:
        where = "is" if dst == src else ("lies inside" if src in dst.parents else "contains")
        raise ValueError(f"--out {out} {where} --source {source}; choose an output folder "
                         "outside the source")


def _count_in_background(src: Any, limit: int | None) -> Future | None:
    """The number of clips the build will see, counted from file headers in a background thread
    (the progress bar gets a total and an ETA when it is known); None when the source cannot tell."""
    if not hasattr(src, "count_clips"):
        return None
    done: Future = Future()

    def count() -> None:
        try:
            n = src.count_clips()
            done.set_result(None if n is None else (n if limit is None else min(n, int(limit))))
        except Exception as exc:  # noqa: BLE001 - the build itself reports unreadable files
            done.set_exception(exc)

    threading.Thread(target=count, name="paqa-count", daemon=True).start()
    return done


def build(recipe: dict[str, Any], source: str, out: str | Path, overwrite: bool = False,
          limit: int | None = None, progress: bool = True, engine: str | None = None,
          on_chunk: Callable[[int], None] | None = None, src: Any = None) -> BuildSummary:
    """Build a PAQA dataset from ``source`` into ``out`` with ``recipe``; resumable.

    ``limit`` caps the number of source records (useful for a quick look); ``engine`` overrides
    the recipe's engine kind (``local`` or ``ray``); ``on_chunk`` is called after each committed
    chunk (tests use it to interrupt a run at a chosen point); ``src`` is an already-made source
    object (any iterable of records), used instead of making one from ``source``.
    """
    out = Path(out)
    src_params = dict(recipe.get("source") or {})
    kind = src_params.pop("kind", None)
    root = Path(source)
    hub = str(source).startswith("hf://")
    if hub and kind in (None, "auto"):
        kind = "hf"  # hf://datasets/ORG/NAME[:config][@split]: streamed from the Hub
    if src is None:
        if not hub and not root.exists():
            raise FileNotFoundError(f"--source {source}: no such file or directory")
        if not hub:
            check_out_apart(root, out)
        from .sources import check_source_params, detect_kind, make_source

        if kind in (None, "auto"):
            kind = detect_kind(root)
        # every key of the recipe is checked before the source reads anything
        check_source_params(kind, src_params)
        check_stage_keys(recipe)
        src = make_source(kind, str(source), **src_params)
    recipe = {**recipe, "source": {"kind": kind, **src_params}}

    ontology, class_labels = src.label_files() if hasattr(src, "label_files") else (
        getattr(src, "ontology_path", None), getattr(src, "class_labels_path", None))
    context = {"seed": recipe.get("seed", 0), "ontology": ontology, "class_labels": class_labels}
    context = {k: (str(v) if isinstance(v, Path) else v) for k, v in context.items()}
    stages = build_pipeline(recipe, context, provided=set(getattr(src, "provides", ())))

    BuildState(out).check_owned(overwrite)  # before the lock file is made in a foreign folder
    # one writer per --out: taken before anything there is read, cleared or replaced
    with out_lock(out):
        state, resumed = state_for(out, recipe, str(Path(source).resolve()), overwrite)
        if resumed:
            log.info("resuming the build in %s", out)
        records = iter(src)
        if limit is not None:
            from itertools import islice
            records = islice(records, int(limit))
        total = _count_in_background(src, limit)

        engine_kind = engine or recipe.get("engine", {}).get("kind", "local")
        if engine_kind == "ray":
            from .engine.ray_engine import run_ray

            # each Ray worker pins its own BLAS threads (engine/threads.py)
            summary, seen = run_ray(recipe, stages, records, state, total=total, progress=progress,
                                    on_chunk=on_chunk)
        elif engine_kind == "local":
            with single_thread_blas():  # same numbers as a Ray worker: see engine/threads.py
                summary, seen = run_local(recipe, stages, records, state, total=total,
                                          progress=progress, on_chunk=on_chunk)
        else:
            raise ValueError(f"unknown engine {engine_kind!r} (local or ray)")

        if state.redone:
            log.warning("%d committed chunk(s) made again: their inputs changed since the earlier "
                        "run (chunks %s)", len(state.redone), state.redone[:10])
        summary.source_report = dict(getattr(src, "report", {}) or {})
        rows_per_shard = int(recipe["writer"].get("rows_per_shard", 2000))
        from .dataset.audit import TEXT_ONLY_THRESHOLD, run_audit

        audit = recipe.get("audit") or {}
        threshold = float(audit.get("text_only_threshold", TEXT_ONLY_THRESHOLD))
        drop = text_answerable_ids(state, seen, threshold) if audit.get("drop_text_answerable") else {}
        summary.rows = finalize(state, seen, rows_per_shard,
                                balance_positions=bool(audit.get("balance_positions", True)), drop=drop)
        summary.dropped_text_answerable = len(drop)
        atomic_write_text(out / "source_report.json", json.dumps(summary.source_report, indent=2,
                                                                  sort_keys=True, default=str))
        from .dataset.card import write_card

        # the shortcut audit of the published questions: audit.json, and a section of the card
        report = run_audit(out, threshold) if list((out / "data" / "qa").glob("*.parquet")) else None
        write_card(out, recipe, summary, audit_report=report)
        atomic_write_text(state.root / "summary.json", json.dumps(summary.__dict__, indent=2, default=str))
        return summary

"""The local engine: stream records from the source through the stages, chunk by chunk.

Every stage runs in its own thread, and chunks (``writer.clips_per_chunk`` clips) flow from one
stage to the next through one-slot queues, like an assembly line: while ``transcribe`` works on
chunk *k*, ``separate`` already works on chunk *k+1* and ``decode`` reads chunk *k+2*; the calling
thread encodes (FLAC, Parquet) and commits each finished chunk, in order. Model libraries release
the GIL, so the stages really run at the same time and both cores of a small machine stay busy;
every model still sees whole batches, and each stage object is used by one thread only, so the
records and the shards are the same as a one-stage-at-a-time run (``engine.stage_threads: false``,
kept for debugging). All models are loaded at start, concurrently, while the first chunk decodes.

Memory is bounded by ``engine.max_chunks_in_flight`` chunks (read but not yet committed; default
4) plus the models, whatever the number of clips and stages: the reader waits for a free slot
before it pulls the next chunk from the source. A rerun of the same command resumes: committed
chunks are skipped (see ``state.py``).

Engine options (recipe ``engine`` section): ``stage_threads`` (default true),
``max_chunks_in_flight`` (default 4; more rarely helps on a small machine: only as many stages as
there are cores can run at once) and ``torch_threads`` (intra-op threads for torch; default: the
library's choice).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..record import ClipRecord
from ..stage import Stage
from .chunks import chunked, encode_chunk
from .executor import BuildSummary, Progress, pending_chunks
from .state import BuildState

_END = object()
"""Queue marker: no more chunks."""


class _Failed:
    """Queue item carrying an exception raised in a stage thread to the calling thread."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _put(q: queue.Queue, item: Any, stop: threading.Event) -> bool:
    """Put unless the run is stopping; False when it is (the item is dropped)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue, stop: threading.Event) -> Any:
    while not stop.is_set():
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue
    return _END


def _run_segment(segment: list[Stage], records: list[ClipRecord]) -> None:
    for stage in segment:
        size = max(1, stage.batch_size)
        for i in range(0, len(records), size):
            stage(records[i:i + size])


def _feed(blocks: Iterator[tuple[int, list[ClipRecord]]], out: queue.Queue, stop: threading.Event,
          slots: threading.Semaphore) -> None:
    try:
        while True:
            # Take a slot before pulling the next chunk from the source, so a chunk waiting for a
            # slot holds no records yet; the calling thread frees the slot once it has committed.
            while not slots.acquire(timeout=0.1):
                if stop.is_set():
                    return
            item = next(blocks, None)
            if item is None:
                break
            if not _put(out, item, stop):
                return
            item = None
        _put(out, _END, stop)
    except BaseException as exc:  # noqa: BLE001 - handed to the calling thread, which re-raises
        _put(out, _Failed(exc), stop)


def _work(segment: list[Stage], inbox: queue.Queue, out: queue.Queue, stop: threading.Event,
          setup_seconds: dict[str, float]) -> None:
    try:
        for stage in segment:  # load models now, while upstream threads read the first chunk
            began = time.perf_counter()
            stage.ensure_setup()
            setup_seconds[stage.name] = round(time.perf_counter() - began, 3)
        while True:
            item = _get(inbox, stop)
            if item is _END or isinstance(item, _Failed):
                _put(out, item, stop)
                return
            _run_segment(segment, item[1])
            if not _put(out, item, stop):
                return
            item = None  # hold no committed chunk while waiting for the next one
    except BaseException as exc:  # noqa: BLE001 - handed to the calling thread, which re-raises
        _put(out, _Failed(exc), stop)


def _segments(stages: list[Stage], threaded: bool) -> list[list[Stage]]:
    """One segment per thread: every stage alone, or decode apart from all model stages."""
    if threaded:
        return [[stage] for stage in stages]
    if stages and stages[0].name == "decode":
        return [stages[:1], stages[1:]] if len(stages) > 1 else [stages]
    return [stages] if stages else []


def _set_torch_threads(n: Any) -> None:
    if n in (None, "auto"):
        return
    import torch

    torch.set_num_threads(int(n))


def _commit(item: tuple[int, list[ClipRecord]], state: BuildState, ratios: dict[str, float]) -> dict[str, Any]:
    """Encode and commit one finished chunk; return its stats."""
    index, chunk = item
    for record in chunk:  # stems and embeddings never reach the shards
        record.speech_audio = record.background_audio = record.speaker_embeddings = None
    clips_pq, qa_pq, failures, stats = encode_chunk(chunk, ratios)
    state.commit(index, [r.clip_id for r in chunk], clips_pq, qa_pq, failures, stats)
    return stats


def run_local(recipe: dict[str, Any], stages: list[Stage], records: Iterable[ClipRecord],
              state: BuildState, total: int | None = None, progress: bool = True,
              on_chunk: Callable[[int], None] | None = None) -> tuple[BuildSummary, list[int]]:
    """Process every chunk not yet committed; return the summary and the chunk indices seen.

    Chunks are committed in order by the calling thread, and ``on_chunk(index)`` is called right
    after chunk ``index`` is committed, so an exception it raises (an interrupt) leaves exactly
    the chunks up to ``index`` committed; the stage threads stop after their current batch.
    """
    engine = dict(recipe.get("engine") or {})
    _set_torch_threads(engine.get("torch_threads"))
    ratios = recipe["split"]
    size = int(recipe["writer"].get("clips_per_chunk", 16))
    summary = BuildSummary()
    seen: list[int] = []
    started = time.perf_counter()
    bar = Progress(total, progress)  # resumed chunks are counted by the feeding thread

    def resumed(stats: dict[str, Any], n: int) -> None:
        with bar.lock:
            summary.add(stats, resumed=True)
        bar.advance(n)

    segments = _segments(stages, bool(engine.get("stage_threads", True)))
    queues: list[queue.Queue] = [queue.Queue(maxsize=1) for _ in range(len(segments) + 1)]
    stop = threading.Event()
    blocks = pending_chunks(chunked(records, size), state, resumed, seen)
    slots = threading.Semaphore(max(1, int(engine.get("max_chunks_in_flight", 4))))
    threads = [threading.Thread(target=_feed, args=(blocks, queues[0], stop, slots), name="paqa-read",
                                daemon=True)]
    threads += [threading.Thread(target=_work, args=(seg, queues[i], queues[i + 1], stop, summary.setup_seconds),
                                 name=f"paqa-{seg[0].name}", daemon=True) for i, seg in enumerate(segments)]
    for thread in threads:
        thread.start()
    try:
        while True:
            item = _get(queues[-1], stop)
            if item is _END:
                break
            if isinstance(item, _Failed):
                raise item.exc
            index, n = item[0], len(item[1])
            stats = _commit(item, state, ratios)
            del item  # the records die here, before the slot is handed back
            slots.release()
            with bar.lock:
                summary.add(stats, resumed=False)
            bar.advance(n, summary)
            if on_chunk:
                on_chunk(index)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        bar.close()
    summary.wall_seconds = time.perf_counter() - started
    for stage in stages:
        summary.stage_seconds[stage.name] = round(summary.stage_seconds.get(stage.name, 0.0)
                                                  + stage.model_seconds, 3)
    return summary, seen

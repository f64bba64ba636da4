"""The Ray engine: the recipe's stages as Ray Data actor pools, committing the same chunk parts.

Records travel through Ray Data as rows of three columns: ``chunk`` and ``pos`` (where the record
sits in the source order) and ``record`` (the pickled ``ClipRecord``; arrays and nested dataclasses
survive pickling unchanged, which a columnar layout would not). Each stage is one
``map_batches`` over a callable class whose ``__init__`` unpickles the driver's (not yet set up)
stage object and calls ``setup()`` once, so every actor loads its model once. A last, stateless
map turns each finished record into its rows (``chunks.encode_record``, FLAC included) on the
workers; the driver only gathers the rows of each chunk, writes its two small Parquet parts and
commits them through ``BuildState``, as the local engine does. Finalize, card and resume are
therefore shared, and both engines write byte-identical shards for deterministic stages (checked
with the labels_only recipe). Model libraries may round differently with another thread layout
(Ray actors run with ``OMP_NUM_THREADS`` set to their CPU share): with the portable profile,
low-confidence Whisper words and word scores can differ between engines (in our runs speech
ratio, SNR, speaker turn times and background tags did not).

On a multi-node cluster every node needs this package installed and the source's audio files at
the same path (decoding runs on the workers); the driver only reads the source's index.

The source is read on the driver (it yields light identity records) and fed to Ray in groups of
chunks not yet committed (``engine.group_clips``); decoding, the expensive part of reading, is the
first stage and runs in parallel on the cluster. Chunks are committed as soon as all their rows are
back, in any order, so a kill loses at most the chunks in flight; a rerun skips committed chunks.
A new group starts new actor pools, so models load once per group (of thousands of clips).

Recipe options::

    engine: {kind: ray, address: auto, num_cpus: 8, group_clips: 4096, object_store_memory: ...}
    stages:
      transcribe: {backend: whisperx, ray: {num_gpus: 1, concurrency: 4, batch_size: 16}}

Per stage ``ray`` keys: ``num_cpus`` (per actor, fractions allowed; default: the cluster's CPUs
divided by the number of stages, at most 1), ``num_gpus`` (per actor; default for a stage that
declares ``uses_gpu``: the cluster's GPUs divided by the number of such stages, at most 1; else
0), ``concurrency`` (actors in the pool, or ``[min, max]`` to autoscale; default 1),
``batch_size`` (records per actor call; default the stage's own ``batch_size``).
"""

from __future__ import annotations

import logging
import pickle
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

import numpy as np

from ..record import ClipRecord
from ..stage import Stage
from .chunks import assemble_chunk, chunked, encode_record
from .executor import BuildSummary, Progress, pending_chunks
from .state import BuildState

log = logging.getLogger("paqa_builder")

RAY_KEYS = frozenset({"num_cpus", "num_gpus", "concurrency", "batch_size"})
"""Keys allowed in a stage's ``ray`` section."""

ENGINE_KEYS = frozenset({"kind", "address", "num_cpus", "num_gpus", "group_clips", "object_store_memory",
                         "stage_threads", "torch_threads", "max_chunks_in_flight"})
"""Keys allowed in the recipe's ``engine`` section (the last three are local-engine options)."""

_PICKLE = pickle.HIGHEST_PROTOCOL


def stage_options(recipe: dict[str, Any], stages: list[Stage], cluster: dict[str, float]) -> list[dict[str, Any]]:
    """Resolved ``ray`` options of every stage (see the module docstring for the defaults).

    Raises ``ValueError`` naming the stage and the key for an unknown key or a bad value, before
    anything runs.
    """
    slots = list(recipe["stages"])
    if len(slots) != len(stages):
        raise ValueError(f"recipe has {len(slots)} stages but {len(stages)} were built")
    cpus = float(cluster.get("CPU", 1.0))
    gpus = float(cluster.get("GPU", 0.0))
    # A fair share keeps every pool schedulable at once on a small machine (5+ one-CPU actors on
    # 2 CPUs would wait forever); big clusters set num_cpus per stage in the recipe.
    share = max(0.05, min(1.0, int(100 * cpus / max(1, len(stages))) / 100))
    # GPU stages share the GPUs the same way: four one-GPU pools on a one-GPU machine would deadlock.
    gpu_stages = sum(1 for stage in stages if stage.uses_gpu)
    gpu_share = min(1.0, int(100 * gpus / max(1, gpu_stages)) / 100) if gpus >= 0.01 else 0.0
    resolved = []
    for slot, stage in zip(slots, stages):
        given = dict((recipe["stages"][slot] or {}).get("ray") or {})
        unknown = set(given) - RAY_KEYS
        if unknown:
            raise ValueError(f"stages.{slot}.ray: unknown option(s) {sorted(unknown)} "
                             f"(known: {', '.join(sorted(RAY_KEYS))})")
        concurrency = given.get("concurrency", 1)
        if isinstance(concurrency, (list, tuple)):
            if len(concurrency) != 2 or not all(int(c) >= 1 for c in concurrency):
                raise ValueError(f"stages.{slot}.ray.concurrency: expected an int or [min, max], got {concurrency!r}")
            concurrency = (int(concurrency[0]), int(concurrency[1]))
        elif int(concurrency) < 1:
            raise ValueError(f"stages.{slot}.ray.concurrency must be >= 1, got {concurrency!r}")
        else:
            concurrency = int(concurrency)
        num_gpus = float(given.get("num_gpus", gpu_share if stage.uses_gpu else 0.0))
        num_cpus = float(given.get("num_cpus", share))
        batch_size = int(given.get("batch_size", stage.batch_size))
        if num_cpus < 0 or num_gpus < 0 or batch_size < 1:
            raise ValueError(f"stages.{slot}.ray: num_cpus/num_gpus must be >= 0 and batch_size >= 1, got {given}")
        resolved.append({"slot": slot, "num_cpus": num_cpus, "num_gpus": num_gpus,
                         "concurrency": concurrency, "batch_size": batch_size})
    return resolved


class StageWorker:
    """Ray Data callable class: one actor of a stage's pool (model loaded once, in ``__init__``)."""

    def __init__(self, blob: bytes, column: str) -> None:
        import cloudpickle

        from .threads import single_thread_blas

        self._blas_limit = single_thread_blas()  # held for the actor's life: see engine/threads.py
        self.stage: Stage = cloudpickle.loads(blob)
        self.stage.ensure_setup()
        self.column = column

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the stage over the batch's records, in the stage's own batch size."""
        records = [pickle.loads(blob) for blob in batch["record"]]
        before = self.stage.model_seconds
        size = max(1, self.stage.batch_size)
        for i in range(0, len(records), size):
            self.stage(records[i:i + size])
        # Model time rides along with the rows (spread evenly) so the driver can sum it per stage.
        spent = (self.stage.model_seconds - before) / max(1, len(records))
        out = dict(batch)
        out["record"] = np.array([pickle.dumps(r, protocol=_PICKLE) for r in records], dtype=object)
        out[self.column] = np.full(len(records), spent, dtype=np.float64)
        return out


def encode_batch(batch: dict[str, np.ndarray], ratios: dict[str, float]) -> dict[str, np.ndarray]:
    """Last map: finished records -> pickled ``encode_record`` output (arrays dropped on the way)."""
    out = {k: v for k, v in batch.items() if k != "record"}
    encoded = []
    for blob in batch["record"]:
        record: ClipRecord = pickle.loads(blob)
        record.speech_audio = record.background_audio = record.speaker_embeddings = None
        encoded.append(pickle.dumps(encode_record(record, ratios), protocol=_PICKLE))
    out["encoded"] = np.array(encoded, dtype=object)
    return out


def _init_ray(engine: dict[str, Any]) -> bool:
    """Connect to ``engine.address`` or start a local instance; True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    address = engine.get("address") or None
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "logging_level": logging.WARNING}
    if address in (None, "local"):
        address = None
        for key in ("num_cpus", "num_gpus", "object_store_memory"):
            if engine.get(key) is not None:
                kwargs[key] = int(engine[key]) if key == "object_store_memory" else engine[key]
    ray.init(address=address, **kwargs)
    return True


def run_ray(recipe: dict[str, Any], stages: list[Stage], records: Iterable[ClipRecord], state: BuildState,
            total: int | None = None, progress: bool = True,
            on_chunk: Callable[[int], None] | None = None) -> tuple[BuildSummary, list[int]]:
    """Process every chunk not yet committed on Ray; return the summary and the chunk indices seen.

    Same contract as ``local.run_local``: chunks are committed through ``state`` as they finish
    and ``on_chunk(index)`` is called after each commit.
    """
    engine = dict(recipe.get("engine") or {})
    unknown = set(engine) - ENGINE_KEYS
    if unknown:
        raise ValueError(f"engine: unknown option(s) {sorted(unknown)} (known: {', '.join(sorted(ENGINE_KEYS))})")
    import ray

    started_here = _init_ray(engine)
    # Ray Data logs every execution start/finish at INFO; our progress bar already reports progress.
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
        options = stage_options(recipe, stages, ray.cluster_resources())
        size = int(recipe["writer"].get("clips_per_chunk", 16))
        group = max(1, int(engine.get("group_clips", 4096)) // size)
        summary, seen = BuildSummary(), []
        started = time.perf_counter()
        bar = Progress(total, progress, desc="paqa-build[ray]")

        def resumed(stats: dict[str, Any], n: int) -> None:
            summary.add(stats, resumed=True)
            bar.advance(n)

        todo = pending_chunks(chunked(records, size), state, resumed, seen)
        while True:
            batch_of_chunks = list(islice(todo, group))
            if not batch_of_chunks:
                break
            _run_group(batch_of_chunks, stages, options, recipe["split"], state, summary, bar, on_chunk)
        bar.close()
        summary.wall_seconds = time.perf_counter() - started
        summary.stage_seconds = {k: round(v, 3) for k, v in summary.stage_seconds.items()}
        return summary, seen
    finally:
        if started_here:
            ray.shutdown()


def _dataset(chunks: list[tuple[int, list[ClipRecord]]], stages: list[Stage], options: list[dict[str, Any]],
             ratios: dict[str, float]):
    import cloudpickle
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # our own bar counts clips; Ray's would interleave with it
    items = [{"chunk": index, "pos": pos, "record": pickle.dumps(record, protocol=_PICKLE)}
             for index, block in chunks for pos, record in enumerate(block)]
    first = options[0]["batch_size"] if options else 1
    ds = ray.data.from_items(items, override_num_blocks=max(1, -(-len(items) // first)))
    for position, (stage, opt) in enumerate(zip(stages, options)):
        concurrency = opt["concurrency"]
        pool = (ray.data.ActorPoolStrategy(size=concurrency) if isinstance(concurrency, int)
                else ray.data.ActorPoolStrategy(min_size=concurrency[0], max_size=concurrency[1]))
        ds = ds.map_batches(StageWorker, fn_constructor_kwargs={
                                "blob": cloudpickle.dumps(stage), "column": f"seconds:{position}:{stage.name}"},
                            batch_size=opt["batch_size"], batch_format="numpy", compute=pool,
                            num_cpus=opt["num_cpus"], num_gpus=opt["num_gpus"] or None)
    return ds.map_batches(encode_batch, fn_kwargs={"ratios": ratios}, batch_format="numpy",
                          batch_size=None, num_cpus=min(1.0, options[-1]["num_cpus"]) if options else 1.0)


def _run_group(chunks: list[tuple[int, list[ClipRecord]]], stages: list[Stage], options: list[dict[str, Any]],
               ratios: dict[str, float], state: BuildState, summary: BuildSummary, bar,
               on_chunk: Callable[[int], None] | None) -> None:
    """Run one group of chunks through the cluster, committing each chunk when it is complete."""
    expected = {index: [r.clip_id for r in block] for index, block in chunks}
    ds = _dataset(chunks, stages, options, ratios)
    del chunks  # the driver keeps only the ids; the records now live in the object store
    waiting: dict[int, dict[int, dict[str, Any]]] = defaultdict(dict)
    for batch in _iter_rows(ds):
        index, pos = int(batch["chunk"]), int(batch["pos"])
        for key, value in batch.items():
            if key.startswith("seconds:"):
                name = key.split(":", 2)[2]  # summed by stage name, as the local engine does
                summary.stage_seconds[name] = summary.stage_seconds.get(name, 0.0) + float(value)
        waiting[index][pos] = pickle.loads(batch["encoded"])
        if len(waiting[index]) == len(expected[index]):
            parts = waiting.pop(index)
            encoded = [parts[p] for p in range(len(parts))]
            clips_pq, qa_pq, failures, stats = assemble_chunk(encoded)
            state.commit(index, expected.pop(index), clips_pq, qa_pq, failures, stats)
            summary.add(stats, resumed=False)
            bar.advance(len(encoded), summary)
            if on_chunk:
                on_chunk(index)
    if expected:  # a row never came back: better to stop than to publish a hole
        raise RuntimeError(f"Ray returned incomplete chunks {sorted(expected)}; rerun to resume")


def _iter_rows(ds) -> Iterator[dict[str, Any]]:
    """Rows of ``ds`` as plain dicts, block by block (streaming; nothing is materialised)."""
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        n = len(batch["chunk"])
        for i in range(n):
            yield {k: v[i] for k, v in batch.items()}

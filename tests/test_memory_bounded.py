"""Local engine: memory bounded by the chunks in flight, stages overlapped, same output either way.

``benchmarks/memory.py`` measures peak RSS on real audio; here the bound is checked exactly by
counting the records alive at once, which does not depend on the allocator or the machine.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest
from fake_source import NoiseSource  # noqa: E402

from paqa_builder.build import build
from paqa_builder.record import ClipRecord
from paqa_builder.stage import Stage


class Alive:
    """Counts the records that exist at the same time (a weakref finaliser per record)."""

    lock = threading.Lock()
    now = 0
    peak = 0

    @classmethod
    def track(cls, record: ClipRecord) -> ClipRecord:
        with cls.lock:
            cls.now += 1
            cls.peak = max(cls.peak, cls.now)
        weakref.finalize(record, cls._gone)
        return record

    @classmethod
    def _gone(cls) -> None:
        with cls.lock:
            cls.now -= 1

    @classmethod
    def reset(cls) -> None:
        with cls.lock:
            cls.now = cls.peak = 0


def Source(n: int) -> NoiseSource:
    """A streaming source of ``n`` half-second clips, each counted by ``Alive`` while alive."""
    return NoiseSource(n, seconds=0.5, amplitude=0.05, wrap=Alive.track)


class Slow(Stage):
    """A model stand-in that holds no GIL while it 'computes' (sleep), like native model code."""

    name, backend = "slow", "fake"
    reads = frozenset({"audio"})
    writes = frozenset({"acoustics"})

    def __init__(self, delay: float = 0.0, **params):
        super().__init__(**params)
        self.delay = float(delay)

    def process_batch(self, batch):
        time.sleep(self.delay)
        for r in batch:
            r.acoustics = {"rms_db": float(20 * np.log10(np.sqrt(np.mean(r.audio ** 2)))),
                           **(r.acoustics or {})}


class Slow2(Slow):
    name = "slow2"
    reads = frozenset({"acoustics"})
    writes = frozenset({"speech_ratio"})

    def process_batch(self, batch):
        time.sleep(self.delay)
        for r in batch:
            r.speech_ratio = 0.0 if r.acoustics["rms_db"] < -30 else 1.0


def _recipe(delay: float = 0.0, threaded: bool = True, chunk: int = 4) -> dict:
    return {
        "name": "mem", "seed": 0, "source": {"kind": "fake"},
        "stages": {"slow": {"backend": f"{__name__}:Slow", "delay": delay, "batch_size": chunk},
                   "slow2": {"backend": f"{__name__}:Slow2", "delay": delay, "batch_size": chunk}},
        "split": {"train": 0.8, "validation": 0.1, "test": 0.1},
        "writer": {"rows_per_shard": 1000, "clips_per_chunk": chunk},
        "card": {"license": "other", "pretty_name": "mem"},
        "engine": {"kind": "local", "stage_threads": threaded},
    }


def _digest(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and ".paqa_state" not in p.parts
            and p.name != "README.md"}


@pytest.mark.parametrize("threaded", [True, False])
def test_records_in_flight_do_not_grow_with_the_clip_count(tmp_path, threaded):
    peaks = {}
    for n in (8, 160):
        Alive.reset()
        summary = build(_recipe(threaded=threaded), "fake", tmp_path / f"{threaded}{n}", src=Source(n),
                        progress=False)
        assert summary.clips_done == n
        peaks[n] = Alive.peak
    # engine.max_chunks_in_flight (default 4) chunks of 4 clips, read but not yet committed
    assert peaks[160] <= 4 * 4 and peaks[8] <= 8
    assert peaks[160] >= 2 * 4  # both stages had a chunk at once (the test would notice a serial run)


def test_chunks_in_flight_follow_the_engine_option(tmp_path):
    Alive.reset()
    recipe = _recipe(delay=0.01)
    recipe["engine"]["max_chunks_in_flight"] = 2
    build(recipe, "fake", tmp_path / "two", src=Source(40), progress=False)
    assert 4 < Alive.peak <= 2 * 4


def test_stages_overlap_and_give_the_same_shards(tmp_path):
    delay, chunks = 0.15, 6
    seq = build(_recipe(delay, threaded=False), "fake", tmp_path / "seq", src=Source(4 * chunks), progress=False)
    par = build(_recipe(delay, threaded=True), "fake", tmp_path / "par", src=Source(4 * chunks), progress=False)
    # the engine's own wall time (finalize and the card's plots come after it and are not overlapped)
    seq_wall, par_wall = seq.wall_seconds, par.wall_seconds
    model = 2 * delay * chunks
    assert seq.stage_seconds["slow"] >= delay * chunks and par.stage_seconds["slow2"] >= delay * chunks
    assert seq_wall >= model  # one stage at a time: at least the sum of the stage times
    # Stage threads: the two stages work on neighbouring chunks at once, so the run takes about
    # half the summed stage time plus one chunk of pipeline fill.
    assert par_wall < 0.8 * model, (par_wall, model)
    assert _digest(tmp_path / "par") == _digest(tmp_path / "seq")


class Broken(Slow):
    """A stage whose model cannot load: the build must stop with that error, not hang."""

    def setup(self) -> None:
        raise RuntimeError("weights missing: model.bin")


def test_a_stage_thread_error_stops_the_build(tmp_path):
    recipe = _recipe()
    recipe["stages"]["slow"]["backend"] = f"{__name__}:Broken"
    began = time.perf_counter()
    with pytest.raises(RuntimeError, match="weights missing: model.bin"):
        build(recipe, "fake", tmp_path / "x", src=Source(12), progress=False)
    assert time.perf_counter() - began < 30
    assert not (tmp_path / "x" / "data").exists()

"""The Ray engine on a local 2-CPU Ray instance: same shards as the local engine, resume, actor pools.

One Ray instance serves the whole module (starting one takes seconds). Its workers import this
module to unpickle the fake stages, so the tests folder is put on their PYTHONPATH.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from fake_source import NoiseSource  # noqa: E402

from paqa_builder import chain
from paqa_builder.build import build
from paqa_builder.stage import Stage

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "audioset_sample"


def Source(n: int, bad: frozenset[int] = frozenset()) -> NoiseSource:
    """Half-second noise clips (``bad`` ones all NaN)."""
    return NoiseSource(n, bad, seconds=0.5)


class Loudness(Stage):
    """Fake model stage: fails NaN clips; with ``stamp`` it records which actor ran it."""

    name, backend = "check", "fake"
    reads = frozenset({"audio"})
    writes = frozenset({"acoustics"})
    setups = 0

    def __init__(self, stamp: bool = False, **params):
        super().__init__(**params)
        self.stamp = stamp

    def setup(self) -> None:
        type(self).setups += 1  # per process: one actor is one process

    def process_batch(self, batch):
        time.sleep(0.002)  # something measurable for the stage-seconds summary
        for r in batch:
            if np.isnan(r.audio).any():
                raise ValueError("NaN samples")
            r.acoustics = {"rms_db": float(20 * np.log10(np.sqrt(np.mean(r.audio ** 2))))}
            if self.stamp:
                r.warnings.append(f"pid={os.getpid()} setups={type(self).setups}")


class Compose(Stage):
    """Fake composer: one env_present question per clip whose answer depends on the stage before."""

    name, backend = "compose", "fake"
    reads = frozenset({"labels", "acoustics"})
    writes = frozenset({"qa"})

    def process_batch(self, batch):
        for r in batch:
            loud = r.acoustics["rms_db"] > -20.0
            answer = "A" if loud else "B"
            text = chain.render(chain.Chain(planning="listen", reasoning=["level"], summary="noise",
                                            answer=answer, env=chain.env_line("White noise", 0, 0.5)))
            r.qa = [{"id": f"{r.clip_id}/acoustic/0", "task": "acoustic", "question": "Loud?",
                     "choices": ["loud", "quiet"], "answer": answer,
                     "answer_text": "loud" if loud else "quiet", "chain": text, "evidence": {"loud": loud},
                     "messages": [{"role": "assistant", "content": [{"type": "text", "text": text}]}]}]


def _recipe(engine: dict | None = None, ray_check: dict | None = None, stamp: bool = False) -> dict:
    return {
        "name": "fake", "seed": 0, "source": {"kind": "fake"},
        "stages": {"check": {"backend": f"{__name__}:Loudness", "stamp": stamp, "batch_size": 2,
                             **({"ray": ray_check} if ray_check else {})},
                   "compose": {"backend": f"{__name__}:Compose"}},
        "split": {"train": 0.6, "validation": 0.2, "test": 0.2},
        "writer": {"rows_per_shard": 4, "clips_per_chunk": 3},
        "card": {"license": "other", "pretty_name": "fake"},
        "engine": {"kind": "local", **(engine or {})},
    }


def _digest(out: Path) -> dict[str, str]:
    files = sorted(p for p in out.rglob("*") if p.is_file() and ".paqa_state" not in p.parts
                   and p.name != "README.md")  # the card states the engine's wall time
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    old = os.environ.get("PYTHONPATH")
    # Workers inherit the environment of the instance: they must import this module and the repo.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(__file__).parent), str(REPO), old) if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=256 * 2**20)
    yield ray
    ray.shutdown()
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


def test_ray_writes_the_same_shards_as_local(tmp_path, ray_local):
    local = build(_recipe(), "fake", tmp_path / "local", src=Source(14, bad=frozenset({4})), progress=False)
    recipe = _recipe({"group_clips": 9}, ray_check={"concurrency": 2, "num_cpus": 0.5, "batch_size": 4})
    remote = build(recipe, "fake", tmp_path / "ray", src=Source(14, bad=frozenset({4})), progress=False,
                   engine="ray")
    assert (remote.clips_done, remote.clips_failed, remote.qa_rows) == (13, 1, 13)
    assert (remote.rows, remote.tasks) == (local.rows, local.tasks)
    assert set(remote.stage_seconds) == {"check", "compose"} and remote.stage_seconds["check"] > 0.005
    assert _digest(tmp_path / "ray") == _digest(tmp_path / "local")
    failure = json.loads((tmp_path / "ray" / "failures.jsonl").read_text())
    assert failure["clip_id"] == "clip004" and "NaN samples" in failure["reason"]


def test_ray_resume_after_interrupt_matches_uninterrupted(tmp_path, ray_local):
    build(_recipe(), "fake", tmp_path / "ref", src=Source(15), progress=False)
    out = tmp_path / "ray"
    committed: list[int] = []

    def stop_after_two(index: int) -> None:
        committed.append(index)
        if len(committed) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build(_recipe(), "fake", out, src=Source(15), progress=False, engine="ray", on_chunk=stop_after_two)
    assert not (out / "data").exists()
    assert len(list((out / ".paqa_state" / "parts").glob("*.done.json"))) == 2
    summary = build(_recipe(), "fake", out, src=Source(15), progress=False, engine="ray")
    assert summary.clips_resumed == 6 and summary.clips_done == 15
    assert _digest(out) == _digest(tmp_path / "ref")


def test_each_actor_sets_up_once(tmp_path, ray_local):
    import pyarrow.parquet as pq

    recipe = _recipe(ray_check={"concurrency": 2, "num_cpus": 0.5, "batch_size": 2}, stamp=True)
    build(recipe, "fake", tmp_path / "ray", src=Source(12), progress=False, engine="ray")
    stamps = [w for f in (tmp_path / "ray" / "data" / "clips").glob("*.parquet")
              for ws in pq.read_table(f, columns=["warnings"]).column("warnings").to_pylist() for w in ws]
    assert len(stamps) == 12
    pids = {s.split()[0] for s in stamps}
    assert len(pids) <= 2  # concurrency 2: at most two actors did the work
    assert os.getpid() not in {int(p[4:]) for p in pids}  # and none of it ran in the driver
    assert {s.split()[1] for s in stamps} == {"setups=1"}  # six batches, yet one model load per actor


def test_bad_ray_options_fail_before_any_work(tmp_path, ray_local):
    with pytest.raises(ValueError, match=r"stages\.check\.ray: unknown option\(s\) \['num_gpu'\]"):
        build(_recipe(ray_check={"num_gpu": 1}), "fake", tmp_path / "a", src=Source(3), progress=False,
              engine="ray")
    with pytest.raises(ValueError, match=r"engine: unknown option\(s\) \['adress'\]"):
        build(_recipe({"adress": "auto"}), "fake", tmp_path / "b", src=Source(3), progress=False, engine="ray")
    assert not list((tmp_path / "a" / ".paqa_state" / "parts").glob("*.done.json"))


@pytest.mark.parametrize("recipe_name", ["labels_only", "portable"])
def test_shipped_sample_same_records_with_both_engines(tmp_path, ray_local, recipe_name):
    """examples/audioset_sample with real models. labels_only: decode, tagger, acoustics, gate and
    composer. portable: every packaged model, Whisper included, whose words used to differ between
    engines when Ray workers ran numpy's BLAS on one thread and the local build on several."""
    import pyarrow.parquet as pq

    from paqa_builder import packaged_models as packaged
    from paqa_builder.config import load_recipe

    if recipe_name == "portable" and not packaged.whisper_base_available():
        # a partial install (no [portable] extra); under .ci/run (PAQA_NO_SKIPS=1) a skip fails
        pytest.skip("packaged whisper base not installed")
    recipe = load_recipe(recipe_name)
    local = build(recipe, str(SAMPLE), tmp_path / "local", progress=False)
    remote = build(recipe, str(SAMPLE), tmp_path / "ray", progress=False, engine="ray")
    assert local.clips_done > 0 and local.qa_rows > 0
    assert (remote.clips_done, remote.clips_failed, remote.qa_rows) == (local.clips_done, local.clips_failed,
                                                                         local.qa_rows)

    def rows(out: Path, kind: str) -> list[dict]:
        found = [r for f in sorted((out / "data" / kind).glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
        return sorted(found, key=lambda r: r.get("id") or r["clip_id"])

    for kind in ("clips", "qa"):
        assert rows(tmp_path / "ray", kind) == rows(tmp_path / "local", kind)
    assert _digest(tmp_path / "ray") == _digest(tmp_path / "local")


class GpuStage(Loudness):
    uses_gpu = True


def test_default_ray_options_share_the_cluster():
    from paqa_builder.engine.ray_engine import stage_options

    recipe = {"stages": {"a": {}, "b": {}, "c": {"ray": {"concurrency": [1, 3], "num_gpus": 0.5}},
                         "d": {"ray": {"batch_size": 16}}}}
    stages = [Loudness(batch_size=4), GpuStage(), GpuStage(), Compose(batch_size=2)]
    small = stage_options(recipe, stages, {"CPU": 2.0, "GPU": 1.0})
    assert [o["num_cpus"] for o in small] == [0.5] * 4  # four pools fit on two CPUs at once
    assert [o["num_gpus"] for o in small] == [0.0, 0.5, 0.5, 0.0]
    assert [o["concurrency"] for o in small] == [1, 1, (1, 3), 1]
    assert [o["batch_size"] for o in small] == [4, 8, 8, 16]
    big = stage_options(recipe, stages, {"CPU": 64.0, "GPU": 8.0})
    assert [o["num_cpus"] for o in big] == [1.0] * 4 and big[1]["num_gpus"] == 1.0
    assert stage_options(recipe, stages, {"CPU": 64.0})[1]["num_gpus"] == 0.0
    with pytest.raises(ValueError, match=r"stages\.c\.ray\.concurrency"):
        stage_options({"stages": {**recipe["stages"], "c": {"ray": {"concurrency": [0, 2]}}}}, stages, {"CPU": 2})

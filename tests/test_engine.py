"""Engine, writer and card orchestration with fake stages (the real stages have their own tests).

Covers: shards load with `datasets` (both configs, streaming too), counts match, splits disjoint by
clip, resume after an interruption equals an uninterrupted run, determinism, failures recorded
without stopping the run, recipe checks before any audio is read.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from fake_source import NoiseSource as FakeSource  # noqa: E402

from paqa_builder import chain
from paqa_builder.build import build
from paqa_builder.config import RecipeError, apply_override, load_recipe
from paqa_builder.engine.pipeline import PipelineError, build_pipeline
from paqa_builder.stage import Stage


class FakeCheck(Stage):
    name, backend = "check", "fake"
    reads = frozenset({"audio"})
    writes = frozenset({"acoustics"})

    def process_batch(self, batch):
        for r in batch:
            if np.isnan(r.audio).any():
                raise ValueError("NaN samples")
            r.acoustics = {"rms_db": float(20 * np.log10(np.sqrt(np.mean(r.audio ** 2))))}


class FakeCompose(Stage):
    name, backend = "compose", "fake"
    reads = frozenset({"labels", "acoustics"})
    writes = frozenset({"qa"})

    def __init__(self, seed: int = 0, **params):
        super().__init__(**params)
        self.seed = seed

    def process_batch(self, batch):
        for r in batch:
            choices = ["White noise", "Dog", "Rain", "Music"]
            text = chain.render(chain.Chain(planning="listen", reasoning=["noise heard"],
                                            summary="white noise", answer="A",
                                            env=chain.env_line("White noise", 0, 1)))
            r.qa = [{"id": f"{r.clip_id}/env_present/0", "task": "env_present",
                     "question": "Which sound is present?", "choices": choices, "answer": "A",
                     "answer_text": "White noise", "chain": text, "evidence": {"env_labels": ["White noise"]},
                     "messages": [{"role": "user", "content": [{"type": "audio", "text": None},
                                                               {"type": "text", "text": "Which?"}]},
                                  {"role": "assistant", "content": [{"type": "text", "text": text}]}]}]


def _recipe(**writer) -> dict:
    recipe = {
        "name": "fake", "seed": 0, "source": {"kind": "fake"},
        "stages": {"check": {"backend": f"{__name__}:FakeCheck"},
                   "compose": {"backend": f"{__name__}:FakeCompose"}},
        "split": {"train": 0.6, "validation": 0.2, "test": 0.2},
        "writer": {"rows_per_shard": 4, "clips_per_chunk": 3, **writer},
        "card": {"license": "other", "pretty_name": "fake"}, "engine": {"kind": "local"},
    }
    return recipe


def _digest(out: Path) -> dict[str, str]:
    files = sorted(p for p in out.rglob("*") if p.is_file() and ".paqa_state" not in p.parts)
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_build_loads_with_datasets_and_splits_are_disjoint(tmp_path):
    import datasets

    out = tmp_path / "paqa"
    summary = build(_recipe(), "fake", out, src=FakeSource(20, bad={5}), progress=False)
    assert (summary.clips_done, summary.clips_failed, summary.qa_rows) == (19, 1, 19)
    qa = datasets.load_dataset(str(out))
    clips = datasets.load_dataset(str(out), "clips")
    assert set(qa) == {"train", "validation", "test"}
    assert sum(len(qa[s]) for s in qa) == 19
    assert sum(len(clips[s]) for s in clips) == 19
    by_split = {s: set(qa[s]["clip_id"]) for s in qa}
    assert not (by_split["train"] & by_split["validation"]) and not (by_split["train"] & by_split["test"])
    row = qa["train"][0]
    # the writer balances key letters (dataset/balance.py): the key may have moved from A
    assert row["answer"] in "ABCD" and row["choices"]["ABCD".index(row["answer"])] == row["answer_text"]
    assert chain.extract_answer(row["chain"]) == row["answer"]
    assert chain.validate(row["chain"]) == []
    samples = row["audio"].get_all_samples()
    assert samples.sample_rate == 16000 and samples.data.shape[-1] == 16000
    failures = (out / "failures.jsonl").read_text().splitlines()
    assert len(failures) == 1 and "clip005" in failures[0] and "NaN samples" in failures[0]
    card = (out / "README.md").read_text()
    assert "config_name: qa" in card and "config_name: clips" in card and "plots/tasks.png" in card
    streamed = datasets.load_dataset(str(out), split="train", streaming=True)
    assert sum(1 for _ in streamed) == len(qa["train"])


def test_shards_respect_rows_per_shard(tmp_path):
    out = tmp_path / "paqa"
    build(_recipe(rows_per_shard=2), "fake", out, src=FakeSource(12), progress=False)
    shards = sorted(p.name for p in (out / "data" / "qa").glob("train-*.parquet"))
    n = len(shards)
    assert n >= 2 and all(name.endswith(f"-of-{n:05d}.parquet") for name in shards)


def test_interrupted_build_resumes_to_identical_output(tmp_path):
    reference = tmp_path / "ref"
    build(_recipe(), "fake", reference, src=FakeSource(14, bad={2}), progress=False)

    out = tmp_path / "resumed"

    def boom(index: int) -> None:
        if index == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build(_recipe(), "fake", out, src=FakeSource(14, bad={2}), progress=False, on_chunk=boom)
    assert not (out / "data").exists()  # nothing published before the run finishes
    summary = build(_recipe(), "fake", out, src=FakeSource(14, bad={2}), progress=False)
    assert summary.clips_resumed == 9  # chunks 0..2 of 3 clips were committed before the stop
    assert _digest(out) == _digest(reference)


def test_same_seed_gives_identical_files_and_overwrite_restarts(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    build(_recipe(), "fake", a, src=FakeSource(8), progress=False)
    build(_recipe(), "fake", b, src=FakeSource(8), progress=False)
    assert _digest(a) == _digest(b)
    other = _recipe()
    other["seed"] = 1
    with pytest.raises(Exception, match="--overwrite"):
        build(other, "fake", a, src=FakeSource(8), progress=False)
    build(other, "fake", a, src=FakeSource(8), progress=False, overwrite=True)


def test_missing_producer_fails_before_audio_is_read():
    recipe = _recipe()
    recipe["stages"] = {"compose": {"backend": f"{__name__}:FakeCompose"}}
    with pytest.raises(PipelineError, match=r"reads \['acoustics'\] but no earlier stage writes it"):
        build_pipeline(recipe)


def test_recipe_overrides_and_errors(tmp_path):
    recipe = load_recipe("labels_only", ["stages.compose.reflect_share=0.5", "writer.clips_per_chunk=7",
                                         "seed=3"])
    assert recipe["stages"]["compose"]["reflect_share"] == 0.5
    assert recipe["writer"]["clips_per_chunk"] == 7 and recipe["seed"] == 3
    with pytest.raises(RecipeError, match="expected key.path=value"):
        apply_override(recipe, "novalue")
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages: {a: 1}\n")
    with pytest.raises(RecipeError, match="must be a mapping"):
        load_recipe(str(bad))
    evil = tmp_path / "evil.yaml"
    evil.write_text("stages: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(str(evil))
    with pytest.raises(RecipeError, match="split ratios"):
        load_recipe("labels_only", ["split.train=0.9"])


def test_ray_placement_options_are_not_stage_params_nor_part_of_the_fingerprint():
    from paqa_builder.config import fingerprint

    recipe = _recipe()
    base = fingerprint(recipe)
    recipe["stages"]["compose"]["ray"] = {"concurrency": 2, "num_cpus": 1}
    stages = build_pipeline(recipe, provided={"audio"})
    assert [s.name for s in stages] == ["check", "compose"]
    assert fingerprint(recipe) == base


def test_run_wide_seed_and_ontology_reach_the_real_composer(tmp_path):
    """The recipe seed and the source's ontology.json are passed to every stage that accepts them."""
    from paqa_builder.sources import make_source

    sample = Path(__file__).resolve().parent.parent / "examples" / "audioset_sample"
    src = make_source("audioset", sample)
    ontology, _ = src.label_files()
    recipe = load_recipe("labels_only", ["seed=7"])
    stages = build_pipeline(recipe, {"seed": 7, "ontology": str(ontology)})
    compose = stages[-1]
    assert compose.cfg.seed == 7 and compose.cfg.ontology == str(ontology)
    tagger = next(s for s in stages if s.name == "tag")
    assert tagger.ontology_path == str(ontology)

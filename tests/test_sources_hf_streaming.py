"""``hf`` source in streaming mode (``source.streaming=true`` and ``hf://datasets/ORG/NAME``),
offline over local Parquet shards: the same dataset as the non-streaming read, ids and bytes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from paqa_builder.cli import main
from paqa_builder.sources.hf import parse_hub_uri


@pytest.fixture(scope="module")
def parquet_dataset(tmp_path_factory):
    import datasets

    root = tmp_path_factory.mktemp("hub") / "org_name"
    (root / "data").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for i, seconds in enumerate((3, 5, 36, 4, 2, 6, 3)):  # the 36 s row is cut into 4 windows
        buf = io.BytesIO()
        t = np.arange(16000 * seconds) / 16000
        wave = 0.2 * np.sin(2 * np.pi * (200 + 50 * i) * t) + 0.01 * rng.standard_normal(t.size)
        sf.write(buf, wave.astype(np.float32), 16000, format="WAV")
        rows.append({"audio": {"bytes": buf.getvalue(), "path": f"r{i}.wav"}, "label": ["Sine wave", "Hum"][i % 2]})
    features = datasets.Features({"audio": datasets.Audio(sampling_rate=16000), "label": datasets.Value("string")})
    ds = datasets.Dataset.from_list(rows, features=features)
    for k in range(2):  # two shards, as the Hub stores them
        ds.shard(2, k, contiguous=True).to_parquet(str(root / "data" / f"train-0000{k}-of-00002.parquet"))
    return root


def _table(out: Path, kind: str, columns: list[str]) -> list[dict]:
    return [r for p in sorted((out / "data" / kind).glob("*.parquet"))
            for r in pq.read_table(p, columns=columns).to_pylist()]


def _build(args: list[str]) -> None:
    assert main([*args, "--recipe", "labels_only", "--no-progress", "--set", "source.label_column=label",
                 "--set", "split.train=1.0", "--set", "split.validation=0.0", "--set", "split.test=0.0"]) == 0


def test_streaming_equals_the_non_streaming_read(parquet_dataset, tmp_path, monkeypatch, capsys):
    plain, streamed = tmp_path / "plain", tmp_path / "streamed"
    _build(["--source", str(parquet_dataset), "--out", str(plain), "--source-kind", "hf"])
    _build(["--source", str(parquet_dataset), "--out", str(streamed), "--source-kind", "hf",
            "--set", "source.streaming=true"])
    a = _table(plain, "clips", ["clip_id", "audio", "labels"])
    b = _table(streamed, "clips", ["clip_id", "audio", "labels"])
    assert [r["clip_id"] for r in a] == [r["clip_id"] for r in b]
    assert len(a) == 6 + 4 and "train_000002_w003" in {r["clip_id"] for r in a}
    assert [r["audio"]["bytes"] for r in a] == [r["audio"]["bytes"] for r in b]
    assert [r["labels"] for r in a] == [r["labels"] for r in b]
    assert _table(plain, "qa", ["id", "answer"]) == _table(streamed, "qa", ["id", "answer"])

    # the same command again resumes every committed chunk by id and changes nothing
    before = {p.name: p.read_bytes() for p in (streamed / "data" / "clips").glob("*.parquet")}
    capsys.readouterr()
    _build(["--source", str(parquet_dataset), "--out", str(streamed), "--source-kind", "hf",
            "--set", "source.streaming=true"])
    assert "(10 from an earlier run)" in capsys.readouterr().out
    assert before == {p.name: p.read_bytes() for p in (streamed / "data" / "clips").glob("*.parquet")}

    # hf://datasets/ORG/NAME@split: datasets.load_dataset streams the repo (redirected to the local copy)
    import datasets

    calls = []
    real = datasets.load_dataset

    def fake(path, name=None, split=None, streaming=False, **kw):
        calls.append((path, name, split, streaming))
        return real(str(parquet_dataset), name, split=split, streaming=streaming, **kw)

    monkeypatch.setattr(datasets, "load_dataset", fake)
    hub = tmp_path / "hub"
    _build(["--source", "hf://datasets/org/name@train", "--out", str(hub)])
    assert calls == [("org/name", None, "train", True)]
    c = _table(hub, "clips", ["clip_id", "audio"])
    assert [(r["clip_id"], r["audio"]["bytes"]) for r in c] == [(r["clip_id"], r["audio"]["bytes"]) for r in b]


def test_hub_uri_parsing():
    assert parse_hub_uri("hf://datasets/org/name") == ("org/name", None, None)
    assert parse_hub_uri("hf://datasets/org/name:clean@validation") == ("org/name", "clean", "validation")
    with pytest.raises(ValueError, match="ORG/NAME"):
        parse_hub_uri("hf://datasets/justname")

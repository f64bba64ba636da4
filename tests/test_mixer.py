"""Scene mixer: ground truth matches the audio, determinism, levels, corpus readers, CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from paqa_builder.mixer import MixRecipe, mix_corpus, read_background_corpus, read_speech_corpus
from paqa_builder.mixer.cli import main
from paqa_builder.mixer.generate import KIND_LABELS, generate_background_corpus, generate_speech_corpus
from paqa_builder.mixer.synth import VOICES, espeak_available, rms_db

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng binary not installed")
SR = 16_000


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpora")
    speech = generate_speech_corpus(root / "speech", per_speaker=3, voices=VOICES[:3])
    bgs = generate_background_corpus(root / "bg", per_kind=1, seconds=6.0,
                                     kinds=("engine", "rain", "beeps"))
    return read_speech_corpus(speech), read_background_corpus(bgs)


def _mix(corpora, out, scenes=6, seed=3, **params):
    recipe = MixRecipe.from_dict({"min_seconds": 6.0, "max_seconds": 12.0, **params})
    return recipe, mix_corpus(*corpora, out, recipe, scenes=scenes, seed=seed)


@pytest.fixture(scope="module")
def mixed(corpora, tmp_path_factory):
    out = tmp_path_factory.mktemp("mixed")
    recipe, lines = _mix(corpora, out, scenes=8, backgrounds={1: 0.6, 2: 0.4}, partial_prob=0.5)
    return out, recipe, lines


def _load(out: Path, rel: str) -> np.ndarray:
    audio, sr = sf.read(out / rel, dtype="float64")
    assert sr == SR
    return audio


def _turn_mask(truth, n, pad=0.0):
    mask = np.zeros(n, dtype=bool)
    for t in truth["turns"]:
        mask[max(0, round((t["start"] - pad) * SR)): round((t["end"] + pad) * SR)] = True
    return mask


def test_corpus_generation(corpora):
    utts, clips = corpora
    assert len(utts) == 9 and {u.speaker for u in utts} == {v.name for v in VOICES[:3]}
    assert len({u.text for u in utts}) == 9  # no sentence shared between voices
    assert {(c.label, c.mid) for c in clips} == {KIND_LABELS[k] for k in ("engine", "rain", "beeps")}


def test_manifest_schema_and_files(mixed):
    out, recipe, lines = mixed
    on_disk = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    with (out / "class_labels_indices.csv").open() as fh:
        classes = {r["display_name"]: r["mid"] for r in csv.DictReader(fh)}
    assert classes == {"Speech": "/m/09x0r", **{n: m for n, m in (KIND_LABELS[k] for k in ("engine", "rain", "beeps"))}}
    assert on_disk == lines and [x["clip_id"] for x in lines] == [f"scene_{i:04d}" for i in range(1, 9)]
    for line in lines:
        truth = line["truth"]
        audio = _load(out, line["path"])
        assert len(audio) / SR == pytest.approx(truth["duration"], abs=1e-3)
        assert recipe.min_seconds <= truth["duration"] <= recipe.max_seconds
        assert line["labels"] == [b["label"] for b in truth["backgrounds"]] + ["Speech"]
        # speakers listed in order of first appearance, each with a turn, texts unique in the scene
        first = list(dict.fromkeys(t["speaker"] for t in sorted(truth["turns"], key=lambda t: t["start"])))
        assert truth["speakers"] == first and 1 <= len(first) <= 3
        assert len({t["text"] for t in truth["turns"]}) == len(truth["turns"])
        for b in truth["backgrounds"]:
            assert 0.0 <= b["start"] < b["end"] <= truth["duration"] + 1e-6
            assert b["mid"] and b["mid"].startswith("/m/")
        for kind in ("speech", "background"):
            assert len(_load(out, truth["stems"][kind])) == len(audio)


def test_energy_inside_turns_and_silence_in_gaps(mixed):
    out, _, lines = mixed
    for line in lines:
        truth = line["truth"]
        speech = _load(out, truth["stems"]["speech"])
        for t in truth["turns"]:
            seg = speech[int(t["start"] * SR): int(t["end"] * SR)]
            assert rms_db(seg) > -45.0, t
            # tight boundaries: the voice starts within 0.15 s of the turn start
            assert np.max(np.abs(speech[int(t["start"] * SR): int((t["start"] + 0.15) * SR)])) > 0.01
        gaps = ~_turn_mask(truth, len(speech), pad=0.005)
        assert gaps.any()
        assert np.max(np.abs(speech[gaps])) < 1e-4  # exactly silent up to 16-bit rounding


def test_mixture_silent_in_gaps_without_background(corpora, tmp_path):
    _, lines = _mix(corpora, tmp_path, scenes=3, backgrounds={0: 1.0})
    for line in lines:
        assert line["truth"]["backgrounds"] == [] and line["truth"]["snr_db"] is None
        audio = _load(tmp_path, line["path"])
        gaps = ~_turn_mask(line["truth"], len(audio), pad=0.005)
        assert rms_db(audio[gaps]) < -80 and rms_db(audio[~gaps]) > -40


def test_levels_snr_loudness_and_no_clipping(mixed):
    import pyloudnorm

    out, recipe, lines = mixed
    meter = pyloudnorm.Meter(SR)
    for line in lines:
        truth = line["truth"]
        audio = _load(out, line["path"])
        speech = _load(out, truth["stems"]["speech"])
        background = _load(out, truth["stems"]["background"])
        assert np.max(np.abs(audio)) <= recipe.peak + 1e-3
        assert np.max(np.abs(audio - speech - background)) < 1e-3  # stems add up to the mixture
        loud = meter.integrated_loudness(audio)
        # loudness on target unless the peak limit had to win
        assert loud == pytest.approx(recipe.loudness_lufs, abs=0.3) or truth["peak"] >= recipe.peak - 1e-3
        active = _turn_mask(truth, len(audio))
        snr = 10 * np.log10(np.mean(speech[active] ** 2) / np.mean(background[active] ** 2))
        assert snr == pytest.approx(truth["snr_db"], abs=0.2)
        covered = np.zeros(len(audio), dtype=bool)
        for b in truth["backgrounds"]:
            covered[round(b["start"] * SR): round(b["end"] * SR)] = True
            assert recipe.snr_db[0] <= b["snr_db"] <= recipe.snr_db[1]
        assert np.max(np.abs(background[~covered]), initial=0.0) < 1e-4  # nothing outside the spans
        if len(truth["backgrounds"]) == 1:
            b = truth["backgrounds"][0]
            seg = background[round(b["start"] * SR): round(b["end"] * SR)]
            assert rms_db(seg) == pytest.approx(b["level_db"], abs=0.2)
    assert any(len(x["truth"]["backgrounds"]) == 1 for x in lines)
    assert any(b["end"] - b["start"] < x["truth"]["duration"] for x in lines
               for b in x["truth"]["backgrounds"])  # partial spans occur


def test_deterministic_under_seed(corpora, mixed, tmp_path):
    out, _, lines = mixed
    _, again = _mix(corpora, tmp_path / "again", scenes=8, backgrounds={1: 0.6, 2: 0.4}, partial_prob=0.5)
    assert again == lines
    for line in lines:
        assert np.array_equal(_load(out, line["path"]), _load(tmp_path / "again", line["path"]))
    # scene i does not depend on how many scenes are asked for
    _, fewer = _mix(corpora, tmp_path / "fewer", scenes=2, backgrounds={1: 0.6, 2: 0.4}, partial_prob=0.5)
    assert fewer == lines[:2]
    _, other = _mix(corpora, tmp_path / "other", scenes=8, seed=4, backgrounds={1: 0.6, 2: 0.4},
                    partial_prob=0.5)
    assert [x["truth"] for x in other] != [x["truth"] for x in lines]


def test_overlaps_keep_at_most_two_voices(corpora, tmp_path):
    _, lines = _mix(corpora, tmp_path, scenes=5, speakers={3: 1.0}, turns=[3, 4], overlap_prob=1.0,
                    overlap_s=[0.3, 0.5], max_seconds=15.0)
    overlapped = 0
    for line in lines:
        turns = sorted(line["truth"]["turns"], key=lambda t: t["start"])
        for a, b in zip(turns, turns[1:]):
            assert a["speaker"] != b["speaker"]
            if b["start"] < a["end"]:
                overlapped += 1
                assert a["end"] - b["start"] <= 0.5 + 1e-3
        grid = np.arange(0, line["truth"]["duration"], 0.01)
        active = sum(((grid >= t["start"]) & (grid < t["end"])).astype(int) for t in turns)
        assert active.max() <= 2
    assert overlapped >= 5


def test_recipe_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown mix recipe keys \\['snr'\\]"):
        MixRecipe.from_dict({"snr": 3})
    assert MixRecipe.from_dict({"gap_s": 0.5}).gap_s == (0.5, 0.5)


# -- corpus readers -----------------------------------------------------------------------------

def _tone(path: Path, seconds=0.5, freq=440.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, 0.3 * np.sin(2 * np.pi * freq * t), SR)


def test_meld_layout(tmp_path):
    with (tmp_path / "train_sent_emo.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Sr No.", "Utterance", "Speaker", "Emotion", "Dialogue_ID", "Utterance_ID"])
        w.writerow([1, "Oh my God, he\u2019s lost it.", "Chandler", "surprise", 0, 0])
        w.writerow([2, "Hey!", "Joey", "joy", 0, 1])
        w.writerow([3, "No audio for me", "Ross", "neutral", 7, 3])
    _tone(tmp_path / "train_splits" / "dia0_utt0.wav")
    _tone(tmp_path / "train_splits" / "dia0_utt1.wav")
    utts = read_speech_corpus(tmp_path)
    assert [(u.speaker, u.text) for u in utts] == [("Chandler", "Oh my God, he's lost it."), ("Joey", "Hey!")]
    assert utts[0].path.endswith("dia0_utt0.wav")


def test_librispeech_layout(tmp_path):
    chapter = tmp_path / "LibriSpeech" / "dev-clean" / "84" / "121123"
    _tone(chapter / "84-121123-0000.flac")
    _tone(chapter / "84-121123-0001.flac")
    (chapter / "84-121123.trans.txt").write_text("84-121123-0000 GO DO YOU HEAR\n84-121123-0001 BUT IN LESS\n")
    utts = read_speech_corpus(tmp_path)
    assert [(u.speaker, u.text, u.uid) for u in utts] == [
        ("84", "Go do you hear", "84-121123-0000"), ("84", "But in less", "84-121123-0001")]


def test_speech_corpus_errors(tmp_path):
    with pytest.raises(ValueError, match="no speech corpus found"):
        read_speech_corpus(tmp_path)
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"path": "a.wav", "speaker": "x"}) + "\n")
    with pytest.raises(ValueError, match="needs path, speaker and text"):
        read_speech_corpus(tmp_path)


def test_background_layouts(tmp_path):
    # MUSAN style: subfolders are labels; the speech folder is refused
    musan = tmp_path / "musan"
    _tone(musan / "noise" / "free-sound" / "n1.wav")
    _tone(musan / "music" / "m1.wav")
    _tone(musan / "speech" / "s1.wav")
    assert sorted(c.label for c in read_background_corpus(musan)) == ["music", "noise"]
    # FSD50K style: fname -> audio by stem, multi-label with mids, voice clips dropped
    fsd = tmp_path / "fsd"
    _tone(fsd / "FSD50K.dev_audio" / "101.wav")
    _tone(fsd / "FSD50K.dev_audio" / "102.wav")
    (fsd / "FSD50K.ground_truth").mkdir()
    (fsd / "FSD50K.ground_truth" / "dev.csv").write_text(
        'fname,labels,mids,split\n101,"Dog,Domestic_animals_and_pets","/m/0bt9lr,/m/068hy",train\n'
        '102,"Male_speech_and_man_speaking,Speech","/m/05zppz,/m/09x0r",train\n')
    clips = read_background_corpus(fsd)
    assert [(c.labels, c.mids) for c in clips] == [(("Dog", "Domestic animals and pets"), ("/m/0bt9lr", "/m/068hy"))]
    with pytest.raises(ValueError, match="no labelled non-speech background"):
        read_background_corpus(tmp_path / "musan" / "speech")


def test_cli_generates_and_mixes(tmp_path, capsys):
    out = tmp_path / "scenes"
    rc = main(["--generate-speech", "--generate-backgrounds", "--out", str(out), "--scenes", "3",
               "--seed", "1", "--per-speaker", "2", "--set", "overlap_prob=0.5", "--set", "max_seconds=10"])
    assert rc == 0
    lines = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(lines) == 3 and all(x["truth"]["duration"] <= 10.0 for x in lines)
    assert (out / "corpus" / "speech" / "manifest.jsonl").is_file()
    summary = json.loads((out / "mix_recipe.json").read_text())
    assert summary["seed"] == 1 and summary["recipe"]["overlap_prob"] == 0.5
    assert "wrote 3 scenes" in capsys.readouterr().out
    assert main(["--out", str(out), "--set", "bogus=1", "--speech", str(out / "corpus" / "speech"),
                 "--backgrounds", str(out / "corpus" / "backgrounds")]) == 2

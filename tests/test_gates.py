"""QualityGate: skips short, near-silent, mostly silent and heavily clipped clips; warns on weak ones."""

from __future__ import annotations

import numpy as np
import pytest

from paqa_builder.compose.composer import Composer
from paqa_builder.compose.samples import label_record, speech_record, tone_audio
from paqa_builder.record import SAMPLE_RATE
from paqa_builder.registry import build_stage
from paqa_builder.stages.gates import QualityGate, active_share


def test_registry_builds_gate() -> None:
    gate = build_stage("gate", {"backend": "default", "min_duration_s": 2.0})
    assert isinstance(gate, QualityGate) and gate.min_duration_s == 2.0


def test_good_clip_passes_untouched() -> None:
    rec = label_record()
    QualityGate()([rec])
    assert rec.live and rec.skipped is None and rec.warnings == []


@pytest.mark.parametrize("mutate, reason", [
    (lambda r: setattr(r, "duration", 0.4), "too short: 0.40s"),
    (lambda r: setattr(r, "audio", r.audio * 1e-4), "near-silent"),
    (lambda r: r.input_info.update(clipping_ratio=0.05), "heavy clipping: 5.00%"),
])
def test_skip_reasons(mutate, reason) -> None:
    rec = label_record()
    rec.input_info = {"clipping_ratio": 0.0}
    mutate(rec)
    QualityGate()([rec])
    assert not rec.live and rec.error is None
    assert rec.skipped.startswith("gate: ") and reason in rec.skipped


def test_click_in_silence_is_mostly_silent() -> None:
    rec = label_record()
    rec.audio = np.zeros(10 * SAMPLE_RATE, dtype=np.float32)
    rec.audio[1000:1400] = 0.9  # loud enough overall RMS, but 1 frame of 200 is active
    QualityGate()([rec])
    assert "mostly silent" in rec.skipped
    assert active_share(tone_audio(2.0, -20, -20), SAMPLE_RATE, -55.0) == 1.0


def test_acoustics_level_used_when_present() -> None:
    rec = label_record()
    rec.audio = None
    rec.acoustics = {"rms_db": -70.0}
    QualityGate()([rec])
    assert "near-silent: RMS -70.0 dBFS" in rec.skipped


def test_warnings_keep_the_clip() -> None:
    rec = speech_record(asr_confidence=0.3, count_confidence=0.4, speech_db=-30, background_db=-25)
    rec.input_info = {"clipping_ratio": 0.004}
    QualityGate()([rec])
    assert rec.live
    joined = " | ".join(rec.warnings)
    for part in ("gate: clipping: 0.40%", "low ASR confidence 0.30", "low SNR -5.0 dB",
                 "uncertain speaker count (confidence 0.40)"):
        assert part in joined


def test_skipped_clip_gets_no_questions() -> None:
    rec = label_record()
    rec.duration = 0.3
    QualityGate()([rec])
    Composer()([rec])
    assert rec.qa is None and "too short" in rec.skipped

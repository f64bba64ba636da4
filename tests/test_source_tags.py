"""Source-label tagger: whole-clip non-speech events, with and without the AudioSet ontology."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from paqa_builder.record import ClipRecord, Label
from paqa_builder.registry import build_stage
from paqa_builder.stages.source_tags import SourceLabelTagger, resolve_label

ONTOLOGY = Path(__file__).resolve().parents[1] / "examples" / "audioset_sample" / "ontology.json"


def clip(labels: list[Label], duration: float | None = 10.0) -> ClipRecord:
    rec = ClipRecord(clip_id="c", source="audioset", path="a.wav", labels=labels, max_duration=10.0)
    rec.duration = duration
    return rec


def test_flat_labels_keep_non_speech_and_span_the_clip():
    stage = build_stage("tag", {"backend": "source_labels"})
    assert isinstance(stage, SourceLabelTagger)
    rec = clip([Label("/m/09x0r", "Speech"), Label("/m/06mb1", "Rain"), Label("/m/06mb1", "Rain"),
                Label("/m/015lz1", "Singing"), Label("/m/0bt9lr", "Dog")], duration=9.5)
    stage([rec])
    assert rec.error is None
    assert [(e.mid, e.label, e.start, e.end, e.score, e.origin) for e in rec.background] == [
        ("/m/06mb1", "Rain", 0.0, 9.5, 1.0, "source"), ("/m/0bt9lr", "Dog", 0.0, 9.5, 1.0, "source")]
    assert rec.provenance["background"] == "tag:source_labels"


def test_duration_falls_back_to_audio_then_window():
    stage = SourceLabelTagger()
    from_audio = clip([Label("/m/06mb1", "Rain")], duration=None)
    from_audio.audio = np.zeros(16_000 * 3, np.float32)
    from_window = clip([Label("/m/06mb1", "Rain")], duration=None)
    stage([from_audio, from_window])
    assert from_audio.background[0].end == 3.0
    assert from_window.background[0].end == 10.0


def test_no_labels_means_produced_but_empty():
    rec = clip([])
    SourceLabelTagger()([rec])
    assert rec.background == []


def test_exclude_and_keep_speech_options():
    stage = SourceLabelTagger(exclude=["dog"], exclude_speech=False)
    rec = clip([Label("/m/09x0r", "Speech"), Label("/m/0bt9lr", "Dog")])
    stage([rec])
    assert [e.label for e in rec.background] == ["Speech"]


def test_ontology_names_hierarchy_and_free_form_names():
    stage = SourceLabelTagger(ontology=str(ONTOLOGY))
    # names are filled from the ontology; free-form names are resolved to mids; voices dropped
    rec = clip([Label("/m/05zppz", ""), Label("/m/02mk9", ""), Label("", "Dog"),
                Label("/m/07p6fty", "Shout")])
    stage([rec])
    assert [(e.mid, e.label) for e in rec.background] == [("/m/02mk9", "Engine"), ("/m/0bt9lr", "Dog")]
    assert stage.ontology.hierarchical
    assert resolve_label("Dog", "", stage.ontology) == ("/m/0bt9lr", "Dog")
    assert resolve_label("", "no such sound", stage.ontology) == (None, "no such sound")

"""Question families on hand-built records: valid chains, right keys, abstention on weak evidence."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from paqa_builder import chain as C
from paqa_builder.compose.composer import Composer
from paqa_builder.compose.config import TASK_IDS
from paqa_builder.compose.samples import label_record, speech_record
from paqa_builder.ontology import Ontology
from paqa_builder.registry import build_stage

ONTOLOGY = Path(__file__).resolve().parents[1] / "examples" / "audioset_sample" / "ontology.json"


@pytest.fixture(scope="module")
def composer() -> Composer:
    comp = Composer(ontology=str(ONTOLOGY), max_questions_per_task=3, reflect_share=0.3)
    comp.ensure_setup()
    return comp


@pytest.fixture(scope="module")
def onto() -> Ontology:
    return Ontology.load(ONTOLOGY)


def compose(composer: Composer, record) -> list[dict]:
    composer([record])
    assert record.error is None, record.error
    return record.qa


def by_task(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in rows:
        out.setdefault(row["task"], []).append(row)
    return out


def assert_well_formed(row: dict) -> None:
    assert C.validate(row["chain"]) == [], row["chain"]
    letter = row["answer"]
    assert letter in C.LETTERS[: len(row["choices"])]
    assert row["choices"][C.LETTERS.index(letter)] == row["answer_text"]
    assert C.parse(row["chain"]).answer == letter
    assert C.extract_answer(row["chain"]) == letter
    assert len(set(row["choices"])) == len(row["choices"]) >= 2
    assert row["id"].split("/")[-2] == row["task"] == row["evidence"]["task"]
    user, assistant = row["messages"]
    assert user["role"] == "user" and user["content"][0] == {"type": "audio", "text": None}
    assert user["content"][1]["text"] == row["question"] + "\n" + C.format_choices(row["choices"])
    assert assistant["content"][0]["text"] == row["chain"]


def test_rich_record_covers_every_task(composer: Composer) -> None:
    rows = compose(composer, speech_record())
    tasks = by_task(rows)
    # the default dialogue has no overlapping turns: speaker_overlap is in test_compose_overlap.py
    assert set(tasks) == set(TASK_IDS) - {"speaker_overlap"}
    for row in rows:
        assert_well_formed(row)
        assert re.fullmatch(r"dialogue/[a-z_]+/\d", row["id"])


def test_facts_behind_the_keys(composer: Composer) -> None:
    tasks = by_task(compose(composer, speech_record()))
    assert {r["answer_text"] for r in tasks["speaker_count"]} == {"two"}
    quotes = {r["evidence"]["speaker_index"]: r["answer_text"] for r in tasks["speaker_quote"]}
    assert quotes.get(2) == "Yes, it kept me awake until three in the morning."
    if 1 in quotes:
        assert quotes[1] in {"Good morning, did you hear the dog barking last night?",
                             "We should talk to the neighbours about it."}
    for row in tasks["quote_speaker"]:
        expected = "the second speaker" if "awake" in row["question"] else "the first speaker"
        assert row["answer_text"] == expected
    order = {r["evidence"]["variant"]: r["answer_text"] for r in tasks["speaker_order"]}
    assert order["last"] == "the first speaker" and order["most"] == "the first speaker"
    assert "Good morning" in order["first"] or "neighbours" in order["first"]
    acoustic = {r["evidence"]["variant"]: r["answer_text"] for r in tasks["acoustic"]}
    assert acoustic.get("pitch", "the second speaker") == "the second speaker"
    assert acoustic.get("speaker_level", "the first speaker") == "the first speaker"
    assert acoustic.get("bg_vs_speech", "the speech is louder") == "the speech is louder"
    assert acoustic.get("halves", "the second half") == "the second half"
    for row in tasks["temporal"]:
        ev = row["evidence"]
        if ev["variant"] == "first_sound":
            assert row["answer_text"] == "bark"
        if ev["variant"] == "relative":
            assert (ev["sound"], row["answer_text"]) in {
                ("bark", "while the first speaker is talking"),
                ("rain", "after the first speaker's turn ends")}
    assert {r["answer_text"] for r in tasks["speech_or_env"]} == {"speech"}


def test_env_distractors_avoid_present_and_related(composer: Composer, onto: Ontology) -> None:
    rows = compose(composer, speech_record())
    present = {"/m/05tny_", "/m/06mb1", "/m/01yrx", "/m/09x0r"}  # weak Cat included on purpose
    blocked = set().union(*(onto.related(m) for m in present))
    for row in rows:
        mids = row["evidence"].get("choice_mids")
        if not mids or row["task"] not in ("env_present", "temporal"):
            continue
        for mid, text in zip(mids, row["choices"]):
            if text == row["answer_text"]:
                continue
            if row["task"] == "temporal" and mid in present:
                continue  # a present sound heard at another time is a fair temporal distractor
            assert mid not in blocked, (text, row["question"])
            assert text != "cat"


def test_label_only_clip(composer: Composer) -> None:
    assert "speech_or_env" not in by_task(compose(composer, label_record()))
    exhaustive = Composer(ontology=str(ONTOLOGY), max_questions_per_task=3, reflect_share=0.3,
                          labels_exhaustive=True)
    rows = compose(exhaustive, label_record())
    tasks = by_task(rows)
    assert set(tasks) == {"env_present", "env_absent", "speech_or_env", "acoustic"}
    for row in rows:
        assert_well_formed(row)
        assert "<SPEAKER>" not in row["chain"] and "<ASR>" not in row["chain"]
        assert "<ENV>" in row["chain"]
    assert {r["answer_text"] for r in tasks["env_present"]} <= {"dog", "rain"}
    assert tasks["env_absent"][0]["answer_text"] not in {"dog", "rain"}
    assert set(tasks["env_absent"][0]["choices"]) - {tasks["env_absent"][0]["answer_text"]} == {"dog", "rain"}
    assert tasks["speech_or_env"][0]["answer_text"] == "environmental sounds"
    assert tasks["acoustic"][0]["answer_text"] == "the second half"


def test_flat_labels_without_ontology() -> None:
    comp = Composer(ontology=None)
    rec = label_record(labels=(("/m/0bt9lr", "Dog"), ("/m/01yrx", "Cat")))
    comp([rec])
    present = [r for r in rec.qa if r["task"] == "env_present"]
    assert present and comp.ontology is not None and not comp.ontology.hierarchical
    for row in present:
        assert_well_formed(row)
        wrong = set(row["choices"]) - {row["answer_text"]}
        # pool group "animal" stands in for the missing hierarchy: no other animal offered
        assert not wrong & {"dog", "cat", "bird", "horse", "sheep", "frog", "crow", "cricket"}


def test_low_asr_confidence_abstains_on_words() -> None:
    comp = Composer(max_questions_per_task=3)
    tasks = by_task(compose(comp, speech_record(asr_confidence=0.3)))
    for task in ("speaker_quote", "quote_speaker", "content"):
        assert task not in tasks
    assert "first" not in {r["evidence"]["variant"] for r in tasks.get("speaker_order", [])}
    assert tasks["speaker_count"][0]["answer_text"] == "two"
    # the chain must not repeat a transcript the builder does not trust
    assert "Good morning" not in tasks["speaker_count"][0]["chain"]
    assert "[unclear]" in tasks["speaker_count"][0]["chain"]


def test_uncertain_or_inconsistent_speakers_abstain() -> None:
    comp = Composer(max_questions_per_task=3)
    speaker_tasks = {"speaker_count", "speaker_quote", "quote_speaker", "speaker_order"}
    tasks = by_task(compose(comp, speech_record(count_confidence=0.2)))
    assert not speaker_tasks & set(tasks) and "env_present" in tasks
    rec = speech_record()
    rec.num_speakers = 3  # count contradicts the two labels in the turns
    assert not speaker_tasks & set(by_task(compose(comp, rec)))
    short = speech_record(turns=(("A", 0.5, 3.0, "Good morning to you, my friend."),
                                 ("B", 3.2, 3.6, "Hi.")))
    assert "speaker_count" not in by_task(compose(comp, short))


def test_weak_tags_and_close_levels_abstain() -> None:
    comp = Composer(max_questions_per_task=3)
    rec = speech_record(events=(("Cat", "/m/01yrx", 0.1, 0.0, 5.0),), speech_db=-20.0,
                        background_db=-22.0,
                        stats={"A": {"pitch_hz": 150.0}, "B": {"pitch_hz": 160.0}})
    rec.labels = []
    rec.audio = rec.audio * 0 + 0.01
    tasks = by_task(compose(comp, rec))
    assert "env_present" not in tasks and "temporal" not in tasks and "env_absent" not in tasks
    assert "speech_or_env" not in tasks
    # levels 2 dB apart, pitch ratio 1.07 and flat halves give no comparison; an SNR of 2 dB is
    # still a clear "noisy" call
    assert [r["evidence"]["variant"] for r in tasks["acoustic"]] == ["noisy"]
    assert tasks["acoustic"][0]["answer_text"].startswith("noisy")
    env = next(iter(tasks.values()))[0]["chain"]
    assert "<ENV>none</ENV>" in env  # the tagger ran and found nothing reliable


def test_task_selection_and_limits() -> None:
    comp = Composer(tasks=["speaker_count", "env_present"], max_questions_per_task=1, num_choices=3)
    rows = compose(comp, speech_record())
    assert sorted(r["task"] for r in rows) == ["env_present", "speaker_count"]
    assert all(len(r["choices"]) <= 3 for r in rows)
    with pytest.raises(ValueError, match="unknown task"):
        Composer(tasks=["nope"])
    with pytest.raises(ValueError, match="unknown key .min_tag_scor.; did you mean .min_tag_score.?"):
        Composer(min_tag_scor=0.3)


def test_registry_builds_composer_and_system_prompt() -> None:
    stage = build_stage("compose", {"backend": "default", "system_prompt": "You listen first.",
                                    "instruction": "Answer with a chain.", "seed": 3})
    assert isinstance(stage, Composer)
    rec = label_record()
    stage([rec])
    row = rec.qa[0]
    assert row["messages"][0] == {"role": "system", "content": [{"type": "text",
                                                                 "text": "You listen first."}]}
    assert row["messages"][1]["content"][1]["text"].endswith("\nAnswer with a chain.")
    assert rec.provenance["qa"].startswith("compose:default seed=3")


def test_empty_and_sparse_records() -> None:
    comp = Composer()
    from paqa_builder.record import ClipRecord, Label

    bare = ClipRecord(clip_id="bare", source="t", path="bare.wav")
    assert compose(comp, bare) == []
    speech_only = ClipRecord(clip_id="voice", source="t", path="v.wav",
                             labels=[Label("/m/09x0r", "Speech")])
    rows = compose(comp, speech_only)
    assert not [r for r in rows if r["task"] == "speech_or_env"]  # labels may be incomplete
    exhaustive = Composer(labels_exhaustive=True)
    speech_only.qa = None
    rows = compose(exhaustive, speech_only)
    assert [r["answer_text"] for r in rows if r["task"] == "speech_or_env"] == ["speech"]
    assert all("<ENV>" not in r["chain"] for r in rows)  # no tagger, no sound label: no ENV claim
    silent = speech_record(turns=())
    silent.transcript, silent.num_speakers = "", 0
    rows = compose(comp, silent)
    assert rows and all("<SPEAKER>none</SPEAKER>" in r["chain"] and "<ASR>none</ASR>" in r["chain"]
                        for r in rows)
    assert not {"speaker_count", "speaker_quote", "content"} & {r["task"] for r in rows}


def test_single_speaker_and_words_without_turn_text() -> None:
    comp = Composer(max_questions_per_task=2)
    rec = speech_record(turns=(("A", 0.5, 4.0, "The museum opens at nine on Sundays."),))
    rec.turns[0].text = ""  # text only on the aligned words, as some ASR backends give it
    tasks = by_task(compose(comp, rec))
    assert tasks["speaker_count"][0]["answer_text"] == "one"
    assert tasks["speaker_quote"][0]["answer_text"] == "The museum opens at nine on Sundays."
    assert "quote_speaker" not in tasks and "speaker_order" not in tasks
    for rows in tasks.values():
        for row in rows:
            assert_well_formed(row)


def test_numpy_values_give_json_evidence() -> None:
    import json

    import numpy as np

    rec = speech_record()
    for turn in rec.turns:
        turn.start, turn.end = np.float32(turn.start), np.float32(turn.end)
    rec.speaker_stats = {k: {s: np.float32(v) for s, v in st.items()}
                         for k, st in rec.speaker_stats.items()}
    rows = compose(Composer(), rec)
    assert len(rows) == 10
    for row in rows:
        assert json.loads(json.dumps(row["evidence"]))["task"] == row["task"]


def test_cooccurrence_ring_from_audioset_csv(tmp_path) -> None:
    from paqa_builder.compose.distractors import load_cooccurrence

    csv_path = tmp_path / "balanced_train_segments.csv"
    csv_path.write_text(
        "# Segments csv created Sun Mar  5 10:54:31 2017\n# num_ytids=3\n"
        "# YTID, start_seconds, end_seconds, positive_labels\n"
        'aaa, 0.000, 10.000, "/m/0bt9lr,/m/0k4j"\n'      # dog + car
        'bbb, 0.000, 10.000, "/m/0bt9lr,/m/0k4j,/m/06mb1"\n'
        'ccc, 0.000, 10.000, "/m/0bt9lr,/m/07jdr"\n', encoding="utf-8")
    cooc = load_cooccurrence(csv_path)
    assert cooc["/m/0bt9lr"] == ["/m/0k4j", "/m/06mb1", "/m/07jdr"]
    comp = Composer(cooccurrence=str(csv_path), tasks=["env_present"], num_choices=3)
    rec = label_record(labels=(("/m/0bt9lr", "Dog"),))
    rows = compose(comp, rec)
    # flat label set: no siblings, so the co-occurring car/rain/train come before the pool
    assert set(rows[0]["choices"]) - {"dog"} <= {"car", "rain", "train"}


def test_model_tags_unconfirmed_by_labels_are_not_asserted(onto):
    """A tagger hallucination next to a dataset label blocks distractors but is never an answer."""
    from paqa_builder.record import BackgroundEvent

    def build(policy: str) -> list[dict]:
        comp = Composer(ontology=str(ONTOLOGY), max_questions_per_task=3, reflect_share=0.0,
                        model_tags_when_labelled=policy, tasks=["env_present"])
        rows = []
        for i in range(12):
            rec = label_record(f"clip{i}", labels=(("/m/02mk9", "Engine"),))
            rec.background = [BackgroundEvent("Chicken, rooster", "/m/09b5t", 0.95, 0.0, 10.0, "model"),
                              BackgroundEvent("Engine", "/m/02mk9", 0.6, 1.0, 9.0, "model")]
            rows += compose(comp, rec)
        return rows

    strict = build("related_only")
    assert strict and all(r["answer_text"] == "engine" for r in strict)
    assert not any("chicken" in c.lower() for r in strict for c in r["choices"])
    assert all("[1.0-9.0s]" in r["chain"] for r in strict)  # the model gives the label its timing
    loose = build("all")
    assert any(r["answer_text"].lower().startswith("chicken") for r in loose)


def _temporal_rows(origin: str, sounds: tuple[str, ...] = ("bark", "rain")) -> list[dict]:
    """Temporal questions on the sample dialogue (first turn 0.5-3.0 s) with timed sounds of
    ``origin``: a bark over the first turn and/or rain well after it."""
    from paqa_builder.compose.samples import speech_record
    from paqa_builder.record import BackgroundEvent

    events = {"bark": BackgroundEvent("Bark", "/m/05tny_", 0.8, 0.0, 2.0, origin),
              "rain": BackgroundEvent("Rain", "/m/06mb1", 0.7, 4.0, 9.0, origin)}
    comp = Composer(ontology=str(ONTOLOGY), max_questions_per_task=10, reflect_share=0.0,
                    tasks=["temporal"])
    rows = []
    for i in range(8):
        rec = speech_record(f"timed{i}")
        rec.background = [events[name] for name in sounds]
        rows += compose(comp, rec)
    return rows


def test_tagger_spans_only_prove_presence() -> None:
    """Patchy tagger spans never support 'before/after' or 'which sound first'; ground-truth
    spans do (timed_absence_origins)."""
    model = _temporal_rows("model")
    variants = {r["evidence"]["variant"] for r in model}
    assert "first_sound" not in variants
    relative = [r for r in model if r["evidence"]["variant"] == "relative"]
    assert relative and {r["answer_text"] for r in relative} == {"while the first speaker is talking"}
    assert all(r["evidence"]["sound"] == "bark" for r in relative)
    assert not [r for r in _temporal_rows("model", ("rain",)) if r["evidence"]["variant"] == "relative"]
    truth = _temporal_rows("truth")
    assert {"first_sound", "relative", "during"} <= {r["evidence"]["variant"] for r in truth}
    rain = [r for r in _temporal_rows("truth", ("rain",)) if r["evidence"]["variant"] == "relative"]
    assert rain and {r["answer_text"] for r in rain} == {"after the first speaker's turn ends"}


def test_misheard_words_are_never_quoted_or_asked() -> None:
    """One low-scored word keeps its sentence out of every quote; content answers need
    min_word_score."""
    from paqa_builder.compose.samples import speech_record

    comp = Composer(ontology=str(ONTOLOGY), max_questions_per_task=10, reflect_share=0.0,
                    tasks=["speaker_quote", "quote_speaker", "speaker_order", "content"])
    rec = speech_record("misheard")
    for w in rec.words:
        if w.word == "awake":
            w.score = 0.3
        if w.word.startswith("neighbours"):
            w.score = 0.85  # good enough to quote (>= 0.6), not to be a content answer (< 0.9)
    rows = compose(comp, rec)
    # a misheard word may still be a wrong option of a content question (said by someone else),
    # but never an answer, a quoted question, or a quote option
    texts = [r["answer_text"] for r in rows] + [r["question"] for r in rows] + \
        [c for r in rows if r["task"] != "content" for c in r["choices"]]
    assert rows and not any("awake" in t for t in texts)
    assert any("neighbours" in t for t in texts)  # its sentence is still quoted
    content = [r for r in rows if r["task"] == "content"]
    assert content and all(r["answer_text"] not in {"awake", "neighbours"} for r in content)
    clean = compose(comp, speech_record("clean"))
    assert any("awake" in r["answer_text"] for r in clean)


def test_exhaustive_labels_silence_tags_on_a_clip_without_sound_labels():
    """Mixed scenes list every background: a tag on a clip labelled only 'Speech' is a hallucination."""
    from paqa_builder.record import BackgroundEvent

    def env_rows(exhaustive: bool) -> list[dict]:
        comp = Composer(ontology=str(ONTOLOGY), labels_exhaustive=exhaustive,
                        tasks=["env_present", "env_absent"])
        rec = label_record("voice_only", labels=(("/m/09x0r", "Speech"),))
        rec.background = [BackgroundEvent("Ding", "/m/07phxs1", 0.5, 2.0, 3.0, "model")]
        return compose(comp, rec)

    assert any(r["answer_text"] == "ding" for r in env_rows(False) if r["task"] == "env_present")
    assert env_rows(True) == []


def test_env_absent_check_sentence_agrees_in_number():
    from paqa_builder.compose.facts import Sound
    from paqa_builder.compose.families.environment import _all_heard

    engine = Sound(name="engine", mid="/m/02mk9", start=0.0, end=10.0, score=0.9, origin="model")
    rain = Sound(name="rain", mid="/m/06mb1", start=0.0, end=5.0, score=0.8, origin="model")
    assert _all_heard([engine], "gunshot") == "the engine is heard, the gunshot is not."
    assert _all_heard([engine, rain], "gunshot") == \
        "the engine and the rain are all heard, the gunshot is not."


def test_quotes_said_next_to_another_speaker_are_not_used() -> None:
    """min_quote_margin_s: a line whose words come within the margin of another speaker's turn is
    never quoted; far from every change it still is."""
    from paqa_builder.compose.samples import speech_record

    turns = (("A", 0.5, 3.0, "The ferry to the island leaves at noon."),
             ("B", 3.1, 6.0, "Then we should pack the blue tent tonight."),
             ("A", 8.0, 10.0, "My sister keeps bees behind the barn."))
    tasks = ["speaker_quote", "quote_speaker", "speaker_order"]
    quoted = lambda rows: " ".join(r["answer_text"] + " " + r["question"] for r in rows)  # noqa: E731
    loose = compose(Composer(ontology=str(ONTOLOGY), max_questions_per_task=10, tasks=tasks,
                             reflect_share=0.0), speech_record("m", turns=turns))
    strict_comp = Composer(ontology=str(ONTOLOGY), max_questions_per_task=10, tasks=tasks,
                           reflect_share=0.0, min_quote_margin_s=0.5)
    strict = compose(strict_comp, speech_record("m", turns=turns))
    assert "ferry" in quoted(loose) and "blue tent" in quoted(loose)
    text = quoted(strict)
    # A's first line ends 0.1 s before B starts, and B's line starts right after it: both dropped;
    # A's second line is 2 s clear of B
    assert "ferry" not in text and "blue tent" not in text and "bees" in text


def test_a_sentence_cut_at_a_speaker_change_is_never_quoted() -> None:
    """The report scene that gave a wrong key: the diarizer moved the speaker change into the
    middle of A's sentence, so B's turn starts with its rest ("before the trip."). Neither
    piece is quoted or offered; the sentences said whole inside a turn still are."""
    from paqa_builder.compose.facts import whole_sentences
    from paqa_builder.compose.samples import speech_record
    from paqa_builder.record import Turn

    turns = (("A", 0.9, 3.2, "I prefer tea with honey instead of sugar."),
             ("B", 3.8, 6.5, "The concert starts after the opening speech."),
             ("A", 7.1, 9.0, "He is learning to speak Spanish,"),
             ("B", 9.2, 12.2, "before the trip. The bus was crowded with students this morning."))
    assert whole_sentences([Turn(*t) for t in turns]) == {
        "A": ["I prefer tea with honey instead of sugar."],
        "B": ["The concert starts after the opening speech.", "The bus was crowded with students this morning."]}
    tasks = ["speaker_quote", "quote_speaker", "speaker_order"]
    comp = Composer(ontology=str(ONTOLOGY), max_questions_per_task=10, tasks=tasks, reflect_share=0.0)
    rows = []
    for i in range(8):  # clip ids seed the draws: which line is asked about, which options appear
        rows += compose(comp, speech_record(f"cut{i}", turns=turns))
    shown = " ".join(r["question"] + " " + " ".join(r["choices"]) for r in rows)
    assert "Spanish" not in shown and "before the trip" not in shown
    assert {"honey", "concert", "crowded"} <= set(re.findall(r"[a-z]+", shown.lower()))


def _foreground_rows(speech_db: float, background_db: float, snr_db: float | None,
                     speech_ratio: float = 0.6, heard: bool = True, route: str | None = None,
                     task: str = "speech_or_env") -> list[dict]:
    from paqa_builder.compose.samples import speech_record

    rec = speech_record("fg", speech_db=speech_db, background_db=background_db)
    rec.snr_db, rec.speech_ratio, rec.route = snr_db, speech_ratio, route
    if not heard:
        rec.turns, rec.words, rec.speech_regions, rec.num_speakers = [], [], [], 0
    comp = Composer(ontology=str(ONTOLOGY), tasks=[task], reflect_share=0.0,
                    max_questions_per_task=10)
    return compose(comp, rec)


def test_speech_vs_background_loudness_needs_levels_and_snr_to_agree() -> None:
    """The acoustic bg_vs_speech question follows the same sign test as the foreground question:
    a meeting excerpt (AMI, report) and four recorded tune scenes had whole-clip levels in favour
    of the background while the active-speech SNR was +4 to +9 dB."""
    def loudness(*args):
        return [r["answer_text"] for r in _foreground_rows(*args, task="acoustic")
                if r["evidence"]["variant"] == "bg_vs_speech"]

    assert loudness(-38.0, -30.0, 8.9) == []
    # snr_db is taken over speech-dominant frames: negative only when there is none (ratio 0)
    assert loudness(-38.0, -30.0, -6.0, 0.0) == ["the background is louder"]
    assert loudness(-20.0, -32.0, 12.0) == ["the speech is louder"]
    assert loudness(-20.0, -32.0, -2.0, 0.0) == []
    assert loudness(-38.0, -30.0, None) == ["the background is louder"]  # no SNR: levels decide


def test_chain_background_relation_needs_the_snr_to_agree() -> None:
    """The perception chain's 'background louder than speech' follows the same sign test."""
    from paqa_builder.compose.config import ComposeConfig
    from paqa_builder.compose.facts import build_facts
    from paqa_builder.compose.samples import speech_record
    from paqa_builder.ontology import Ontology

    def relation(speech_db, background_db, snr_db):
        rec = speech_record("rel", speech_db=speech_db, background_db=background_db)
        rec.snr_db = snr_db
        facts = build_facts(rec, ComposeConfig(), Ontology.load(str(ONTOLOGY)))
        assert facts.speakers  # the relation is only stated for confident speakers
        return facts.speaker_level_relation(ComposeConfig())

    assert relation(-38.0, -30.0, 8.9) is None
    assert relation(-38.0, -30.0, -6.0) == "louder than speech"
    assert relation(-20.0, -32.0, 12.0) == "quieter than speech"
    assert relation(-20.0, -32.0, -2.0) is None
    assert relation(-30.0, -30.5, 12.0) == "about as loud as speech"


def test_foreground_needs_levels_and_snr_to_agree() -> None:
    """Recorded tune clips whose separator leaked the voice into the background stem: whole-clip
    stem levels 10 dB in favour of the background, active-speech SNR +12 dB. No question; when
    the SNR agrees, the environment answer is asked."""
    assert _foreground_rows(-30.0, -20.0, 12.0) == []
    rows = _foreground_rows(-30.0, -20.0, -8.0)
    assert [r["answer_text"] for r in rows] == ["environmental sounds"]
    assert [r["answer_text"] for r in _foreground_rows(-18.0, -30.0, 10.0)] == ["speech"]
    assert _foreground_rows(-18.0, -30.0, -3.0) == []  # levels say speech, the SNR says otherwise


def test_an_empty_speech_stem_is_no_proof_of_no_speech_when_speech_was_heard() -> None:
    """speech_ratio 0.5 %: the separator kept almost nothing of a hoarse voice that VAD and the
    diarizer heard, so 'environment' is not asserted; with nothing heard it is."""
    assert _foreground_rows(-40.0, -38.0, None, speech_ratio=0.005, heard=True) == []
    rows = _foreground_rows(-40.0, -38.0, None, speech_ratio=0.005, heard=False)
    assert [(r["answer_text"], r["evidence"]["basis"]) for r in rows] == [("environmental sounds", "speech_ratio")]
    # the router heard speech in the mixture (quiet meeting talk the stem-side VAD missed): abstain,
    # whether the stem is nearly empty or the levels favour the background by far
    assert _foreground_rows(-40.0, -38.0, None, speech_ratio=0.005, heard=False, route="speech") == []
    assert _foreground_rows(-84.0, -38.0, -45.0, speech_ratio=0.0, heard=False, route="speech") == []
    rows = _foreground_rows(-84.0, -38.0, -45.0, speech_ratio=0.0, heard=False)
    assert [(r["answer_text"], r["evidence"]["basis"]) for r in rows] == [("environmental sounds", "speech_ratio")]
    # a recipe with a router but no VAD or diarizer after it: nothing missed the speech, no abstention
    from paqa_builder.compose.samples import speech_record

    rec = speech_record("fg", speech_db=-84.0, background_db=-38.0)
    rec.snr_db, rec.speech_ratio, rec.route = -45.0, 0.0, "speech"
    rec.turns = rec.words = rec.speech_regions = rec.num_speakers = None
    comp = Composer(ontology=str(ONTOLOGY), tasks=["speech_or_env"], reflect_share=0.0)
    assert [r["answer_text"] for r in compose(comp, rec)] == ["environmental sounds"]
    rows = _foreground_rows(-40.0, -38.0, None, speech_ratio=0.005, heard=False, route="no_speech")
    assert [r["answer_text"] for r in rows] == ["environmental sounds"]


def test_noisy_and_clean_need_the_snr_margin() -> None:
    """snr_margin_db 5: noisy below 0 dB and clean above 25 dB only (the portable recipe's
    setting); the default margin 0 keeps the plain 5 / 20 dB edges."""
    from paqa_builder.compose.samples import speech_record

    def noisy_answers(snr: float, margin: float) -> list[str]:
        rec = speech_record(f"snr{snr}")
        rec.snr_db = snr
        comp = Composer(ontology=str(ONTOLOGY), tasks=["acoustic"], reflect_share=0.0,
                        max_questions_per_task=10, snr_margin_db=margin)
        return [r["answer_text"].split(":")[0] for r in compose(comp, rec) if r["evidence"].get("variant") == "noisy"
                or "snr_db" in r["evidence"] and "speech_db" not in r["evidence"]]

    assert noisy_answers(4.0, 0.0) == ["noisy"] and noisy_answers(4.0, 5.0) == []
    assert noisy_answers(-1.0, 5.0) == ["noisy"]
    assert noisy_answers(22.0, 0.0) == ["clean"] and noisy_answers(22.0, 5.0) == []
    assert noisy_answers(26.0, 5.0) == ["clean"]


def test_speaker_content_options_never_hide_in_a_misheard_word() -> None:
    """'Which word comes from the first speaker?' offers the other speaker's words as wrong options
    only when they cannot hide in what the first speaker was heard to say (report flite scene:
    "a long letter" heard as "along lighter" made the second speaker's "long" a second right
    option), and only when every word of the first speaker was heard clearly."""
    from paqa_builder.compose.samples import speech_record
    from paqa_builder.compose.text import said_words, sounds_near

    assert sounds_near("long", said_words("She rode along lighter."))      # inside a heard word
    assert sounds_near("colt", said_words("on a cold day"))                # one letter changed
    assert not sounds_near("letter", said_words("She rode along lighter."))
    assert not sounds_near("sunrise", said_words("She rode along lighter."))

    turns = (("A", 0.5, 3.0, "She rode along lighter to her grandmother."),
             ("B", 3.5, 6.5, "The baker wakes up long before sunrise."),
             ("A", 7.0, 9.5, "The concert starts after the opening speech."))

    def first_speaker_options(low_word: str | None) -> list[list[str]]:
        comp = Composer(ontology=str(ONTOLOGY), max_questions_per_task=10, reflect_share=0.0,
                        tasks=["content"], seed=3)
        rec = speech_record("along", turns=turns, count_confidence=0.99)
        for w in rec.words:
            if low_word and w.word.startswith(low_word):
                w.score = 0.5
        rows = [r for r in compose(comp, rec) if "first speaker" in r["question"]]
        return [r["choices"] for r in rows]

    said_by_b = {"baker", "wakes", "long", "before", "sunrise"}
    clear = first_speaker_options(None)
    assert clear and all("long" not in c for c in clear)
    assert any(set(c) & said_by_b for c in clear)  # B's other words are still hard negatives
    unsure = first_speaker_options("lighter")
    assert all(not set(c) & said_by_b for c in unsure)

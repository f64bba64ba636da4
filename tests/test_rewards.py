"""Reward functions on hand-written completions: right, wrong and malformed."""

import json

import pytest

from hyper_train.rewards import (
    accuracy_reward,
    build_rewards,
    consistency_checks,
    consistency_reward,
    format_reward,
    length_score,
    make_length_reward,
    stated_letter,
)
from paqa_builder.chain import Chain, render

CHOICES = ["dog barking", "rain", "engine"]
EVIDENCE = json.dumps({"transcript": "good morning everyone. thanks for coming",
                       "env_labels": ["dog barking"], "absent_labels": ["rain", "engine"]})


def chain(answer="A", env="- dog barking [0.0-10.0s]", speaker='Speaker 1 [0.0-2.0s]: "good morning everyone"',
          summary="A dog barks, so the answer is (A).", reflect=None):
    return render(Chain(planning="Listen for the background.", reasoning=["A dog is heard.", "That is option (A)."],
                        summary=summary, answer=answer, env=env, speaker=speaker, reflect=reflect))


RIGHT = chain()
WRONG = chain(answer="B", summary="Rain falls, so the answer is (B).", env="- rain [0.0-10.0s]",
              speaker='Speaker 1 [0.0-2.0s]: "the weather is terrible today"')
MALFORMED = "I think it is a dog <THINK> unclosed"


def test_accuracy_letter_text_and_chat_turns():
    comps = [RIGHT, WRONG, MALFORMED, [{"role": "assistant", "content": "The answer is (A)."}], "dog barking"]
    assert accuracy_reward(comps, answer=["A"] * 5, choices=[CHOICES] * 5) == [1.0, 0.0, 0.0, 1.0, 1.0]
    # gold given as option text instead of a letter
    assert accuracy_reward([RIGHT, WRONG], answer=["dog barking"] * 2, choices=[CHOICES] * 2) == [1.0, 0.0]


def test_format_reward():
    no_answer = RIGHT.split("<FINAL_ANSWER>")[0]
    scores = format_reward([RIGHT, WRONG, no_answer, MALFORMED, "no tags at all"])
    assert scores[0] == scores[1] == 1.0
    assert scores[2] == pytest.approx(5 / 6)  # one required tag of six missing
    assert scores[3] == scores[4] == 0.0


def test_consistency_right_wrong_malformed():
    right, wrong, bad = consistency_reward([RIGHT, WRONG, MALFORMED], evidence=[EVIDENCE] * 3,
                                           choices=[CHOICES] * 3)
    assert right == 1.0
    assert bad == 0.0
    checks = consistency_checks(WRONG, EVIDENCE, CHOICES)
    assert checks["env_vs_evidence"] == 0.0  # claims rain, which the evidence says is absent
    assert checks["reasoning_vs_answer"] == 1.0
    assert checks["speaker_vs_asr"] < 0.6  # quote not in the transcript
    assert wrong == pytest.approx(sum(checks.values()) / 3)


def test_consistency_reasoning_contradicts_answer_and_reflect_correction():
    contradict = chain(answer="C", summary="The answer is (A).")
    assert consistency_checks(contradict, EVIDENCE, CHOICES)["reasoning_vs_answer"] == 0.0
    corrected = chain(answer="C", summary="At first this points to (A).",
                      reflect="Wait, I change my answer from (A) to (C).")
    assert consistency_checks(corrected, EVIDENCE, CHOICES)["reasoning_vs_answer"] == 1.0
    assert stated_letter("So the answer is (B) engine, not (D).") == "B"


def test_speaker_vs_own_asr_without_evidence_and_word_matching():
    text = chain(speaker='Speaker 1 [0.0-1.0s]: "hello there"').replace(
        "</SPEAKER>", "</SPEAKER>\n<ASR>hello there. general kenobi</ASR>")
    assert consistency_checks(text, None, CHOICES)["speaker_vs_asr"] == 1.0
    # "rain" must not match the absent label "train"
    ev = json.dumps({"env_labels": ["rain"], "absent_labels": ["train"]})
    assert consistency_checks(chain(env="- rain [0.0-1.0s]"), ev, CHOICES)["env_vs_evidence"] == 1.0


def test_length_shaping():
    assert length_score(50, 10, 100) == 1.0
    assert length_score(5, 10, 100) == 0.5
    assert length_score(150, 10, 100) == 0.5
    assert length_score(300, 10, 100) == 0.0
    reward = make_length_reward(4, 8)
    assert reward(["one two", "one two three four five", "w " * 12]) == [0.5, 1.0, 0.5]
    assert reward(["one <PAUSE> two"]) == [0.5]  # PAUSE is not a word


def test_build_rewards_names_and_errors():
    funcs = build_rewards(["accuracy", "format", "consistency", "length"])
    assert [f.__name__ for f in funcs] == ["accuracy_reward", "format_reward", "consistency_reward",
                                           "length_reward"]
    with pytest.raises(ValueError, match="unknown reward 'bleu'"):
        build_rewards(["bleu"])


def test_span_iou_and_agreement_exact_values():
    from hyper_train.rewards import span_agreement, span_iou

    assert span_iou((0.0, 2.0), (1.0, 3.0)) == pytest.approx(1 / 3)
    assert span_iou((0.0, 1.0), (2.0, 3.0)) == 0.0 and span_iou((1.0, 2.0), (1.0, 2.0)) == 1.0
    # one span right, one reference span missing: precision 1, recall (1 + 0) / 2
    assert span_agreement([(0.0, 2.0)], [(0.0, 2.0), (4.0, 6.0)]) == pytest.approx(0.75)
    # an invented span on top of the right ones: precision (1 + 1 + 0) / 3, recall 1
    assert span_agreement([(0.0, 2.0), (4.0, 6.0), (8.0, 9.0)], [(0.0, 2.0), (4.0, 6.0)]) == pytest.approx(5 / 6)
    assert span_agreement([], [(0.0, 1.0)]) == 0.0


def test_spans_checked_against_the_target_chain():
    target = chain(env="- dog barking [0.0-10.0s]", speaker='Speaker 1 [0.0-2.0s]: "good morning everyone"')
    moved = chain(env="- dog barking [0.0-10.0s]", speaker='Speaker 1 [1.0-3.0s]: "good morning everyone"')
    assert consistency_checks(target, EVIDENCE, CHOICES, target)["spans_vs_evidence"] == 1.0
    # the speaker span [1-3] against [0-2]: IoU 1/3 both ways; the ENV span matches exactly
    assert consistency_checks(moved, EVIDENCE, CHOICES, target)["spans_vs_evidence"] == pytest.approx((1 + 1 / 3) / 2)
    assert "spans_vs_evidence" not in consistency_checks(moved, EVIDENCE, CHOICES)  # no target: not checked
    same, shifted = consistency_reward([target, moved], evidence=[EVIDENCE] * 2, choices=[CHOICES] * 2,
                                       chain=[target, target])
    assert same > shifted


def test_final_answer_body_in_free_words_gives_the_option_not_the_pronoun():
    """A model (or the audit's LLM column) that writes words inside FINAL_ANSWER: the letter it
    commits to, never the pronoun "I" (which upper-casing the body used to return)."""
    from paqa_builder.chain import extract_answer

    choices = ["dog", "rain", "car", "wind"]
    assert extract_answer("<FINAL_ANSWER>I think it is B</FINAL_ANSWER>", choices) == "B"
    assert extract_answer("<FINAL_ANSWER>(C) rain</FINAL_ANSWER>", choices) == "C"
    assert extract_answer("<FINAL_ANSWER>b</FINAL_ANSWER>", choices) == "B"
    assert extract_answer("<FINAL_ANSWER>the answer is d</FINAL_ANSWER>", choices) == "D"
    assert extract_answer("<FINAL_ANSWER>rain</FINAL_ANSWER>", choices) == "B"

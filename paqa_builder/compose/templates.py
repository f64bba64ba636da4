"""Phrasings for questions, planning, summaries and reflections, chosen by the clip RNG.

Every frequent question kind has at least four phrasings so that no single wording dominates a
task (a model should learn the perception, not a template). Placeholders are filled with
``str.format``: ``{ord}`` speaker ordinal, ``{quote}``, ``{sound}``.
"""

from __future__ import annotations

import random

QUESTIONS: dict[str, tuple[str, ...]] = {
    "env_present": (
        "Which of these sounds can be heard in the recording?",
        "Which sound is present in this audio?",
        "One of these sounds occurs in the clip. Which one?",
        "Apart from any speech, which of the following sounds do you hear?",
        "Listen to the background. Which of these sounds is in it?",
        "Which of the following can be heard in this clip?",
    ),
    "env_absent": (
        "Which of these sounds is NOT heard in the recording?",
        "Which sound does not occur anywhere in this clip?",
        "All but one of these sounds can be heard. Which one is missing?",
        "Which of the following is absent from the audio?",
        "Which of these sounds never appears in the clip?",
    ),
    "speech_or_env": (
        "What dominates the foreground of this recording?",
        "Is the foreground mainly speech or environmental sound?",
        "What is the most prominent kind of sound in this clip?",
        "Listening to the whole clip, what is in the foreground?",
    ),
    "speaker_count": (
        "How many different people speak in this recording?",
        "How many speakers can be heard?",
        "How many distinct voices take part in this conversation?",
        "Count the speakers. How many are there?",
        "How many people are talking in this clip?",
    ),
    "speaker_quote": (
        "What does the {ord} speaker say?",
        "Which of these lines is spoken by the {ord} speaker?",
        "The {ord} person to speak says which of the following?",
        "Which words come from the {ord} speaker?",
        "What is said by the {ord} voice in the clip?",
    ),
    "quote_speaker": (
        'Who says "{quote}"?',
        'Which speaker says "{quote}"?',
        'The line "{quote}" is spoken by whom?',
        'Whose voice says "{quote}"?',
    ),
    "speaker_order/first": (
        "Who speaks first?",
        "Which voice is heard first?",
        "Who opens the conversation?",
        "Who starts talking before anyone else?",
    ),
    "speaker_order/last": (
        "Which speaker talks last?",
        "Who has the last word in the clip?",
        "Who is the last to speak?",
        "Whose voice ends the conversation?",
    ),
    "speaker_order/most": (
        "Which speaker talks the most?",
        "Who speaks for the longest time?",
        "Which speaker has the most speaking time?",
        "Who does most of the talking?",
    ),
    "speaker_overlap/interrupter": (
        "Who starts talking while someone else is still speaking?",
        "Which speaker cuts in over another?",
        "Who talks over someone else in the clip?",
        "Which voice interrupts another one?",
    ),
    "speaker_overlap/said": (
        "Someone starts talking while another person is still speaking. What do they say?",
        "What does the person who cuts in say?",
        "One voice starts over another. What are its words?",
        "Which line is said by the speaker who interrupts?",
    ),
    "speaker_overlap/pair": (
        "Which two people talk at the same time?",
        "Whose voices overlap?",
        "Which two speakers are heard at once?",
        "Which pair of speakers talk over each other?",
    ),
    "content/any": (
        "Which of these words is spoken in the recording?",
        "Which word can be heard in the speech?",
        "Which of these is mentioned in the audio?",
        "One of these words is said aloud. Which?",
    ),
    "content/speaker": (
        "Which word does the {ord} speaker say?",
        "What does the {ord} speaker mention?",
        "Which of these words comes from the {ord} speaker?",
        "The {ord} speaker mentions which of the following?",
    ),
    "temporal/during": (
        "Which sound is heard while the {ord} speaker is talking?",
        "While the {ord} speaker talks, which of these sounds can be heard?",
        "Which of these sounds overlaps with the {ord} speaker's voice?",
        "During the {ord} speaker's turn, what else is audible?",
    ),
    "temporal/relative": (
        "When is the {sound} heard relative to the first speech?",
        "Does the {sound} occur before, during or after the first speaker talks?",
        "How does the {sound} line up with the first speaker's words in time?",
        "Relative to the first utterance, when does the {sound} happen?",
    ),
    "temporal/first_sound": (
        "Which of these sounds is heard first?",
        "Which sound occurs earliest in the clip?",
        "Which of the following comes first in the recording?",
        "Which sound starts before the others?",
    ),
    "acoustic/pitch": (
        "Which speaker has the higher voice?",
        "Whose voice is higher-pitched?",
        "Which of the speakers speaks at a higher pitch?",
        "Who has the higher-sounding voice?",
    ),
    "acoustic/speaker_level": (
        "Which speaker is louder?",
        "Whose voice is louder in the recording?",
        "Which speaker is heard at the higher level?",
        "Who speaks more loudly?",
    ),
    "acoustic/rate": (
        "Which speaker talks faster?",
        "Who speaks at the quicker pace?",
        "Which speaker says more words per second?",
        "Whose speech is faster?",
    ),
    "acoustic/bg_vs_speech": (
        "Is the background louder than the speech?",
        "How loud are the background sounds compared with the voices?",
        "Which is louder here: the speech or the background?",
        "Compare the level of the speech with that of the background sounds.",
    ),
    "acoustic/halves": (
        "Which half of the clip is louder?",
        "Is the recording louder at the start or at the end?",
        "Where is the clip louder: first half or second half?",
        "Comparing the two halves of the clip, which is louder?",
    ),
    "acoustic/noisy": (
        "How noisy is this recording?",
        "Is the speech clean or buried in background noise?",
        "Which best describes the recording conditions?",
        "How much background noise is there behind the voices?",
    ),
}
"""Question phrasings by task (or ``task/variant``)."""

PLANNING: dict[str, tuple[str, ...]] = {
    "env": (
        "The question is about environmental sounds. I should set the voices aside, list the "
        "background sounds I hear and compare them with each option.",
        "I need to separate the background from any speech, identify each non-speech sound, and "
        "check which option matches.",
        "To answer, I listen past the voices to the background, note which sounds occur, then "
        "test every option against that list.",
    ),
    "foreground": (
        "I need to judge whether speech or environmental sound dominates, so I compare how much "
        "and how loudly each is present.",
        "The question asks what is in the foreground: I estimate the level and share of speech "
        "against the background sounds.",
    ),
    "speakers": (
        "I need to tell the voices apart, order the speakers by when they first talk, and note "
        "what each one says.",
        "This needs speaker separation: I track each distinct voice from its first appearance and "
        "attach its words to it.",
        "I will separate the speakers, number them in order of appearance, and compare their "
        "turns with the options.",
    ),
    "content": (
        "I should transcribe the speech carefully and check which option is actually said.",
        "The answer is in the words spoken, so I listen to the transcript and match it against "
        "the options.",
    ),
    "temporal": (
        "Timing matters here: I need the spans of the background sounds and of the speaker turns "
        "so I can see what overlaps or comes first.",
        "I will place each sound and each speaker turn on a timeline and compare their order.",
    ),
    "acoustic": (
        "This is about acoustic properties: I compare levels and pitch rather than content.",
        "I need to compare how the sources sound (level, pitch, pace) instead of what is said.",
    ),
}
"""Planning openings by family group."""

SUMMARY: tuple[str, ...] = (
    "{fact} The answer is ({letter}) {text}.",
    "{fact} So option ({letter}), {text}, is correct.",
    "{fact} This matches option ({letter}): {text}.",
    "{fact} Therefore ({letter}) {text}.",
)
CONFIRM: tuple[str, ...] = (
    "Re-checking the evidence: {check} The answer stays ({letter}).",
    "Double-checking: {check} Option ({letter}) holds.",
    "Looking again: {check} No reason to change ({letter}).",
    "Verifying once more: {check} ({letter}) is consistent with what I heard.",
)
TENTATIVE: tuple[str, ...] = (
    "At first this points to option ({letter}), {text}.",
    "A first pass suggests ({letter}) {text}.",
    "My first impression is option ({letter}): {text}.",
)
CORRECT: tuple[str, ...] = (
    "Wait, {correction} So the answer is ({letter}) {text}, not ({wrong}).",
    "Re-checking shows a mistake: {correction} The correct option is ({letter}) {text}, "
    "not ({wrong}).",
    "On a second listen, {correction} I change my answer from ({wrong}) to ({letter}) {text}.",
)


def pick(rng: random.Random, key: str, table: dict[str, tuple[str, ...]] = QUESTIONS,
         **values: str) -> tuple[int, str]:
    """Index and filled text of one phrasing of ``key`` chosen with ``rng``."""
    options = table[key]
    index = rng.randrange(len(options))
    return index, options[index].format(**values)


def choose(rng: random.Random, options: tuple[str, ...], **values: str) -> str:
    """One of ``options`` chosen with ``rng``, filled with ``values``."""
    return options[rng.randrange(len(options))].format(**values)

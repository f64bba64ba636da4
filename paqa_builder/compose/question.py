"""The data a question family hands to the composer, and the family registry type.

A family turns ``Facts`` into candidate ``Question`` objects (correct option, distractors, evidence
and the reasoning that leads from evidence to the answer). The composer then places the options,
renders the chain and runs the family's ``check`` on the placed options: ``check`` is the second,
independent derivation of the key that ``verify_answer`` also uses on ground-truth records.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..ontology import Ontology
from .config import ComposeConfig
from .distractors import DistractorPicker
from .facts import Facts


@dataclass
class Trap:
    """A plausible wrong first conclusion that REFLECT later corrects."""

    option: str
    """Text of the wrong option (one of the distractors)."""
    tempting: str
    """Why that option looks right at first (a reasoning step)."""
    correction: str
    """What the re-check finds (starts lower-case; follows 'Wait, ')."""


@dataclass
class Question:
    """One candidate question before option placement."""

    task: str
    variant: str
    text: str
    template: int
    """Index of the phrasing used (for variety statistics)."""
    answer: str
    distractors: list[str]
    evidence: dict[str, Any]
    steps: list[str]
    """Reasoning steps from the evidence, not yet naming an option."""
    conclusion: str
    """Last reasoning step: why the answer option is right (option letter appended later)."""
    fact: str
    """One sentence of the key fact, used in SUMMARY."""
    check: str
    """One sentence re-stating the decisive evidence, used in REFLECT."""
    planning: str
    trap: Trap | None = None
    option_mids: dict[str, str | None] = field(default_factory=dict)
    """Option text -> ontology mid, for sound options (stored as evidence['choice_mids'])."""


@dataclass
class Ctx:
    """What a family may use besides the facts: settings, the clip RNG, ontology, distractors."""

    cfg: ComposeConfig
    rng: random.Random
    ontology: Ontology
    picker: DistractorPicker


Generate = Callable[[Facts, Ctx], list[Question]]
Check = Callable[[Facts, dict[str, Any], list[str], Ctx], list[bool] | None]
"""``check(facts, evidence, choices, ctx)``: which options are correct per ``facts``; None = unknown."""


@dataclass(frozen=True)
class Family:
    """A task family: its generator and its independent checker."""

    task: str
    generate: Generate
    check: Check

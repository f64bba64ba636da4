"""Answer-key verification: does a composed QA row agree with a (ground-truth) record?

``verify_answer`` rebuilds the clip's facts from ``record`` trusting every field (the record is
meant to come from a mixer manifest or another source of truth) and asks the task family's
independent ``check`` which options that record supports. The key is confirmed only when exactly
the keyed option is supported.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..chain import LETTERS
from ..ontology import Ontology
from ..record import ClipRecord
from .config import ComposeConfig
from .distractors import DistractorPicker
from .facts import build_facts
from .families import families
from .question import Ctx

_FAMILIES: dict | None = None


def _families() -> dict:
    global _FAMILIES
    if _FAMILIES is None:
        _FAMILIES = families()
    return _FAMILIES


def _evidence(value: Any) -> dict[str, Any]:
    """Evidence as a dict whether it is a dict or the JSON string stored in parquet."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (str, bytes)) and value:
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else {}
    return {}


def _plain(value: Any) -> Any:
    """numpy arrays / scalars from parquet as plain Python lists / values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


@lru_cache(maxsize=4)
def _load_ontology(path: str) -> Ontology:
    return Ontology.load(path)


def verify_answer(qa_row: Mapping[str, Any], record: ClipRecord,
                  ontology: Ontology | str | Path | None = None,
                  config: ComposeConfig | None = None) -> bool | None:
    """True when ``record`` supports exactly the keyed option of ``qa_row``, False when it
    supports another option (or none, or several), None when the task cannot be checked from
    ``record`` (e.g. no speaker turns for a speaker question, no audio for a loudness question).

    ``qa_row`` may be a composer dict or a row read back from the ``qa`` parquet (evidence as JSON
    text, choices as an array). ``ontology`` (an ``Ontology`` or a path to ``ontology.json``,
    loaded once) lets sound checks treat related classes as present (a tagger's "bark" against a
    truth label "dog"); without it names and mids must match exactly. ``config`` supplies the
    timing and margin thresholds (defaults otherwise).
    """
    family = _families().get(str(qa_row.get("task")))
    if family is None:
        return None
    choices = [str(c) for c in (_plain(qa_row.get("choices")) or [])]
    answer = str(qa_row.get("answer") or "").strip().upper()
    if len(answer) != 1 or answer not in LETTERS[: len(choices)]:
        return False
    evidence = _evidence(qa_row.get("evidence"))
    evidence = {k: _plain(v) for k, v in evidence.items()}
    cfg = (config or ComposeConfig()).trusting()
    if isinstance(ontology, (str, Path)):
        onto = _load_ontology(str(ontology))
    else:
        onto = ontology or Ontology()
    facts = build_facts(record, cfg, onto, trust=True)
    ctx = Ctx(cfg, random.Random(0), onto, DistractorPicker(onto))
    supported = family.check(facts, evidence, choices, ctx)
    if supported is None:
        return None
    return supported == [i == LETTERS.index(answer) for i in range(len(choices))]

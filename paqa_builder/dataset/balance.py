"""Answer-position balance: each key letter used equally often, per number of options.

The composer draws the key's position uniformly per question, so on a small build the letters
drift apart by chance (35 questions cannot be near uniform), and a model can learn a favourite
letter. ``PositionBalancer`` moves each question's key to the letter its option count has used
least so far in its split (ties go to the letter least used over all splits, then to a hash of the
question id), in the order the rows are written, so the letters of every option count differ by
at most one question per split, and by little more over the whole build. The move swaps the key
with the option at the target letter and rewrites every place that names a letter: ``answer``,
the chain's option references ``(X)`` in REASONING / SUMMARY / REFLECT and its FINAL_ANSWER, the
prompt's option list, and the evidence's per-option ``choice_mids``. The set of options, the key
text and everything the audio supports stay the same.

Deterministic: the finalizer writes rows in committed-chunk order, so a resumed or re-run build
gets the same letters.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ..chain import LETTERS, format_choices, map_section

LETTER_TAGS = ("REASONING", "SUMMARY", "REFLECT")
"""Chain sections whose text refers to options by letter, as ``(X)``."""


def _swap_letters(text: str, a: str, b: str) -> str:
    """``text`` with every ``(a)`` written ``(b)`` and every ``(b)`` written ``(a)``."""
    return re.sub(rf"\(([{LETTERS}])\)", lambda m: f"({b})" if m.group(1) == a else f"({a})"
                  if m.group(1) == b else m.group(0), text)


def swap_chain_letters(chain: str, a: str, b: str) -> str:
    """The chain with options ``a`` and ``b`` exchanged: option references inside the reasoning
    sections are swapped, and a FINAL_ANSWER of ``a`` or ``b`` becomes the other. The caption
    (quotes, sound names) is never touched: a transcript may contain "(A)" of its own."""
    for tag in LETTER_TAGS:
        chain = map_section(chain, tag, lambda body: _swap_letters(body, a, b))
    return map_section(chain, "FINAL_ANSWER", lambda body: _swap_letters(f"({body.strip()})", a, b)[1:-1])


def move_key(row: dict[str, Any], target: int) -> dict[str, Any]:
    """A copy of QA ``row`` whose key sits at option ``target`` (0-based), swapped with the option
    that was there. ``row`` holds ``choices``, ``answer``, ``chain``, ``messages``, ``evidence``."""
    choices = list(row["choices"])
    current = LETTERS.index(row["answer"])
    if target == current:
        return dict(row)
    if not 0 <= target < len(choices):
        raise ValueError(f"{row.get('id')}: option {target} outside {len(choices)} choices")
    old_list = format_choices(choices)
    choices[current], choices[target] = choices[target], choices[current]
    a, b = LETTERS[current], LETTERS[target]
    out = dict(row, choices=choices, answer=b)
    out["chain"] = swap_chain_letters(row["chain"], a, b)
    messages = []
    for message in row.get("messages") or []:
        content = []
        for part in message.get("content") or []:
            text = part.get("text")
            if text is not None and message.get("role") == "user":
                text = text.replace(old_list, format_choices(choices))
            elif text is not None and message.get("role") == "assistant":
                text = swap_chain_letters(text, a, b)
            content.append(dict(part, text=text))
        messages.append(dict(message, content=content))
    out["messages"] = messages
    evidence = row.get("evidence")
    parsed = json.loads(evidence) if isinstance(evidence, str) and evidence else evidence
    if isinstance(parsed, dict) and isinstance(parsed.get("choice_mids"), list):
        mids = list(parsed["choice_mids"])
        mids[current], mids[target] = mids[target], mids[current]
        parsed = dict(parsed, choice_mids=mids)
        out["evidence"] = json.dumps(parsed, sort_keys=True) if isinstance(evidence, str) else parsed
    return out


class PositionBalancer:
    """Moves keys so that each option count uses its letters evenly (see the module docstring)."""

    def __init__(self) -> None:
        self.used: dict[tuple[str, int], list[int]] = {}
        """(split, option count) -> how many keys each letter has received so far; split ``""``
        counts every split together."""
        self.moved = 0
        """Questions whose key changed letter."""

    def target(self, row_id: str, n_options: int, split: str = "") -> int:
        """The letter index least used for ``n_options`` in ``split``, then over all splits; a
        hash of ``row_id`` breaks the remaining ties."""
        here = self.used.setdefault((split, n_options), [0] * n_options)
        overall = self.used.setdefault(("", n_options), [0] * n_options)
        rank = [(here[i], overall[i]) for i in range(n_options)]
        candidates = [i for i in range(n_options) if rank[i] == min(rank)]
        digest = hashlib.sha256(row_id.encode("utf-8")).digest()
        return candidates[int.from_bytes(digest[:8], "big") % len(candidates)]

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        """``row`` with its key at the least-used letter of its option count (and split)."""
        n = len(row["choices"])
        split = str(row.get("split") or "")
        goal = self.target(str(row["id"]), n, split)
        self.used[(split, n)][goal] += 1
        if split:
            self.used[("", n)][goal] += 1
        if goal != LETTERS.index(row["answer"]):
            self.moved += 1
            return move_key(row, goal)
        return dict(row)


def letter_shares(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Per option count: questions, each letter's share of keys, and the largest distance from
    uniform in percentage points."""
    by_n: dict[int, list[str]] = {}
    for row in rows:
        by_n.setdefault(len(row["choices"]), []).append(row["answer"])
    out: dict[int, dict[str, Any]] = {}
    for n, answers in sorted(by_n.items()):
        shares = {LETTERS[i]: answers.count(LETTERS[i]) / len(answers) for i in range(n)}
        out[n] = {"questions": len(answers), "share": shares,
                  "max_deviation_points": round(100 * max(abs(s - 1 / n) for s in shares.values()), 2)}
    return out

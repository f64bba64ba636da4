"""Shortcut audit: can a question be answered without listening?

Audio QA sets are known to leak their keys through text: a favourite letter, an option that is
the key whenever it is offered ("two" for "how many speakers"), the longest option, the option
that repeats the question's words. The audit measures this on a build's QA rows, with no model
and no audio:

* **position balance**: each letter's share of keys per option count, and its largest distance
  from uniform (``balance.letter_shares``);
* **text-only baseline**: rules that see only the question and the options (``RULES``), each
  fitted on four fifths of the clips and scored on the fifth (folds by clip, so one clip's
  questions never inform each other), per task, beside chance;
* **text-answerable questions**: those whose key the answer prior (``answer_prior``) picks with a
  cross-validated probability of at least a threshold; ``audit.drop_text_answerable`` leaves them
  out of the shards.

``paqa-build audit OUT`` prints the tables and writes ``OUT/audit.json``; the dataset card carries
the same tables.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..chain import LETTERS
from ..compose.facts import normalize_text as _normalize_text
from ..config import DEFAULTS
from .balance import letter_shares

AUDIT_COLUMNS = ("id", "clip_id", "task", "question", "choices", "answer", "split")
"""QA columns the audit reads (never the audio)."""

FOLDS = 5
"""Cross-validation folds, by clip."""

MIN_SEEN = 5
"""An option text must have been offered this often in the training folds before the answer
prior trusts its rate (fewer: it falls back to the task-wide rate)."""


TEXT_ONLY_THRESHOLD: float = DEFAULTS["audit"]["text_only_threshold"]
"""Default answer-prior probability at which a question counts as text-answerable (recipe key
``audit.text_only_threshold``)."""

normalize_text = lru_cache(maxsize=1 << 18)(_normalize_text)
"""``compose.facts.normalize_text``, remembered: every rule and fold reads the same questions and
options again (profiled: about 70 % of the audit's time went to normalising)."""


def _words(text: str) -> set[str]:
    return set(normalize_text(text).split())


def fold_of(clip_id: str, folds: int = FOLDS) -> int:
    """The clip's fold (a stable hash: every question of a clip lands in the same fold)."""
    return int.from_bytes(hashlib.sha256(clip_id.encode("utf-8")).digest()[:4], "big") % folds


def _key_index(row: dict[str, Any]) -> int:
    return LETTERS.index(row["answer"])


class AnswerPrior:
    """P(option is the key | task, option text), from how often that text was the key when offered.

    Backs off from (task, question text, option) to (task, option) to the task's chance rate, with
    add-one smoothing; a researcher's worst case: "two" is the key of most "how many voices" questions.
    """

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.fine: dict[tuple, list[int]] = {}
        self.coarse: dict[tuple, list[int]] = {}
        for row in rows:
            key = _key_index(row)
            for i, option in enumerate(row["choices"]):
                for table, k in ((self.fine, (row["task"], normalize_text(row["question"]), normalize_text(option))),
                                 (self.coarse, (row["task"], normalize_text(option)))):
                    seen = table.setdefault(k, [0, 0])
                    seen[0] += i == key
                    seen[1] += 1

    def rate(self, row: dict[str, Any], option: str) -> float:
        """Smoothed key rate of ``option`` in ``row``'s task (and question, when seen enough)."""
        chance = 1.0 / len(row["choices"])
        text = normalize_text(option)
        for k in ((row["task"], normalize_text(row["question"]), text), (row["task"], text)):
            table = self.fine if len(k) == 3 else self.coarse
            hit, seen = table.get(k, (0, 0))
            if seen >= MIN_SEEN:
                return (hit + chance) / (seen + 1)
        return chance

    def scores(self, row: dict[str, Any]) -> list[float]:
        """Key rate of every option of ``row``."""
        return [self.rate(row, option) for option in row["choices"]]


def _letter_prior(train: list[dict[str, Any]]) -> Callable[[dict[str, Any]], list[float]]:
    counts: dict[int, list[int]] = {}
    for row in train:
        n = len(row["choices"])
        counts.setdefault(n, [0] * n)[_key_index(row)] += 1
    return lambda row: [float(c) for c in counts.get(len(row["choices"]), [0] * len(row["choices"]))]


RULES: dict[str, Callable[[list[dict[str, Any]]], Callable[[dict[str, Any]], list[float]]]] = {
    "answer_prior": lambda train: AnswerPrior(train).scores,
    "letter_prior": _letter_prior,
    "longest_option": lambda train: lambda row: [float(len(normalize_text(c))) for c in row["choices"]],
    "shortest_option": lambda train: lambda row: [-float(len(normalize_text(c))) for c in row["choices"]],
    "question_overlap": lambda train: lambda row: [
        float(len(_words(c) & _words(row["question"]))) for c in row["choices"]],
}
"""Text-only answerers: ``rule(train_rows)`` returns ``scores(row) -> one score per option``; the
highest score is the answer, ties go to the earliest option (with balanced letters: chance)."""


def _pick(scores: list[float]) -> int:
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


def _fold_pass(rows: list[dict[str, Any]], folds: int, rules: tuple[str, ...],
               threshold: float | None) -> tuple[dict[str, list[int]], set[str]]:
    """One cross-validated pass: each rule of ``rules`` fitted on the other folds' clips picks an
    option for every row; with a ``threshold``, also the ids the answer prior flags (see
    ``text_answerable``). Fitting is the costly part, so both come from the same fits."""
    picks = {name: [0] * len(rows) for name in rules}
    flagged: set[str] = set()
    fold = [fold_of(str(r["clip_id"]), folds) for r in rows]
    for f in range(folds):
        train = [r for r, g in zip(rows, fold) if g != f]
        held = [i for i, g in enumerate(fold) if g == f]
        if not held:
            continue
        for name in rules:
            scores_of = RULES[name](train)
            for i in held:
                scores = scores_of(rows[i])
                picks[name][i] = _pick(scores)
                if name == "answer_prior" and threshold is not None:
                    key = _key_index(rows[i])
                    # a strict winner only: a tie would hinge on the option order, which the
                    # writer changes
                    if scores[key] >= threshold and all(s < scores[key] for k, s in enumerate(scores) if k != key):
                        flagged.add(str(rows[i]["id"]))
    return picks, flagged


def cross_validated(rows: list[dict[str, Any]], folds: int = FOLDS) -> dict[str, list[int]]:
    """Each rule's pick for every row, made by the rule fitted on the other folds' clips."""
    return _fold_pass(rows, folds, tuple(RULES), None)[0]


def text_answerable(rows: list[dict[str, Any]], threshold: float, folds: int = FOLDS) -> set[str]:
    """Ids of rows whose key the cross-validated answer prior rates above every other option and at
    least ``threshold``. Independent of the options' order, so it can be decided before the writer
    balances the letters."""
    return _fold_pass(rows, folds, ("answer_prior",), threshold)[1]


def audit(rows: list[dict[str, Any]], threshold: float = TEXT_ONLY_THRESHOLD, folds: int = FOLDS) -> dict[str, Any]:
    """The audit of ``rows`` (dicts with ``AUDIT_COLUMNS``): position balance per option count,
    and per task the chance rate, each rule's cross-validated accuracy, the best rule and the
    number of text-answerable questions at ``threshold``."""
    picks, flagged = _fold_pass(rows, folds, tuple(RULES), threshold)
    tasks: dict[str, Any] = {}
    for task in sorted({r["task"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["task"] == task]
        acc = {name: sum(picks[name][i] == _key_index(rows[i]) for i in idx) / len(idx) for name in RULES}
        best = max(acc, key=lambda n: (acc[n], n == "answer_prior"))
        tasks[task] = {
            "questions": len(idx),
            "chance": round(sum(1 / len(rows[i]["choices"]) for i in idx) / len(idx), 4),
            "rules": {n: round(a, 4) for n, a in acc.items()},
            "best_rule": best, "best_accuracy": round(acc[best], 4),
            "text_answerable": sum(str(rows[i]["id"]) in flagged for i in idx),
        }
    total = len(rows)
    best_all = max(RULES, key=lambda n: sum(picks[n][i] == _key_index(r) for i, r in enumerate(rows)))
    return {
        "questions": total, "folds": folds, "threshold": threshold,
        "positions": {str(n): v for n, v in letter_shares(rows).items()},
        "tasks": tasks,
        "overall": {
            "chance": round(sum(1 / len(r["choices"]) for r in rows) / total, 4) if total else None,
            "best_rule": best_all,
            "best_accuracy": round(sum(picks[best_all][i] == _key_index(r) for i, r in enumerate(rows))
                                   / total, 4) if total else None,
            "text_answerable": len(flagged),
        },
    }


LLM_PROMPT = ("You cannot hear the audio clip this question is about. Answer from the text alone, with the "
              "letter of one option and nothing else.")


def llm_text_only(rows: list[dict[str, Any]], client: Any, concurrency: int = 4,
                  limit: int | None = None) -> dict[str, Any]:
    """Accuracy of an LLM that sees only the question and the options (``client``: a
    ``rewrite.client.ChatClient``), per task and overall; unparseable or failed answers count as
    wrong. ``limit`` asks only the first N rows."""
    from concurrent.futures import ThreadPoolExecutor

    from ..chain import extract_answer, format_choices
    from ..rewrite.client import RewriteError

    rows = rows[:limit] if limit else rows

    def ask(row: dict[str, Any]) -> str | None:
        prompt = f"{row['question']}\n{format_choices(row['choices'])}"
        try:
            reply = client.complete([{"role": "system", "content": LLM_PROMPT}, {"role": "user", "content": prompt}],
                                    max_tokens=8, temperature=0.0)
        except RewriteError:
            return None
        # the reply is the model's final answer: read as a FINAL_ANSWER body ("B", "(B) dog", "I think B")
        return extract_answer(f"<FINAL_ANSWER>{reply.strip()}</FINAL_ANSWER>", list(row["choices"]))

    with ThreadPoolExecutor(max(1, concurrency)) as pool:
        letters = list(pool.map(ask, rows))
    tasks: dict[str, list[bool]] = {}
    for row, letter in zip(rows, letters):
        tasks.setdefault(row["task"], []).append(letter == row["answer"])
    right = [ok for oks in tasks.values() for ok in oks]
    return {"model": getattr(client, "model", None), "questions": len(rows),
            "unanswered": sum(letter is None for letter in letters),
            "accuracy": round(sum(right) / len(right), 4) if right else None,
            "tasks": {t: round(sum(v) / len(v), 4) for t, v in sorted(tasks.items())}}


def read_rows(out: str | Path) -> list[dict[str, Any]]:
    """The audit columns of a build's QA shards (all splits), in file order."""
    import pyarrow.parquet as pq

    files = sorted((Path(out) / "data" / "qa").glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{out}: no QA shards under data/qa (is it a paqa-build output?)")
    rows: list[dict[str, Any]] = []
    for path in files:
        rows += pq.read_table(path, columns=list(AUDIT_COLUMNS)).to_pylist()
    return rows


def markdown(report: dict[str, Any]) -> str:
    """The audit as two markdown tables (positions; text-only accuracy per task, with the LLM
    baseline's column when it ran)."""
    lines = ["| options | questions | key share per letter | largest distance from uniform |",
             "|---|---|---|---|"]
    for n, v in report["positions"].items():
        shares = " ".join(f"{k} {s:.0%}" for k, s in v["share"].items())
        lines.append(f"| {n} | {v['questions']} | {shares} | {v['max_deviation_points']:.1f} points |")
    llm = report.get("llm_text_only")
    extra = f" LLM text-only ({llm['model']}) |" if llm else ""
    lines += ["", "| task | questions | chance | text-only (best rule) | rule | text-answerable |" + extra,
              "|---|---|---|---|---|---|" + ("---|" if llm else "")]

    def llm_cell(value: float | None) -> str:
        return "" if not llm else (" - |" if value is None else f" {value:.0%} |")

    for task, v in report["tasks"].items():
        lines.append(f"| {task} | {v['questions']} | {v['chance']:.0%} | {v['best_accuracy']:.0%} | "
                     f"{v['best_rule']} | {v['text_answerable']} |" + llm_cell(llm and llm["tasks"].get(task)))
    o = report["overall"]
    if report["questions"]:
        lines.append(f"| **all** | {report['questions']} | {o['chance']:.0%} | {o['best_accuracy']:.0%} | "
                     f"{o['best_rule']} | {o['text_answerable']} |" + llm_cell(llm and llm["accuracy"]))
    return "\n".join(lines)


def run_audit(out: str | Path, threshold: float = TEXT_ONLY_THRESHOLD, llm: Any = None, llm_limit: int | None = None
              ) -> dict[str, Any]:
    """Audit a finished build: read its QA shards, write ``OUT/audit.json``, return the report.
    ``llm`` (a ``ChatClient``) adds an LLM text-only baseline (``llm_text_only``)."""
    rows = read_rows(out)
    report = audit(rows, threshold)
    if llm is not None:
        report["llm_text_only"] = llm_text_only(rows, llm, limit=llm_limit)
    from ..engine.state import atomic_write_text

    atomic_write_text(Path(out) / "audit.json", json.dumps(report, indent=1, sort_keys=True) + "\n")
    return report

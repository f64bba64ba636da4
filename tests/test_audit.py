"""Shortcut audit (issue 16): answer-letter balance at write time, text-only baselines, dropping
questions a text-only answerer gets right, the ``paqa-build audit`` command and the card section."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from paqa_builder import chain
from paqa_builder.cli import main
from paqa_builder.config import RecipeError, load_recipe
from paqa_builder.dataset import audit as audit_module
from paqa_builder.dataset.audit import audit, fold_of, text_answerable
from paqa_builder.dataset.balance import PositionBalancer, letter_shares, move_key

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "audioset_sample"


def _row(answer: str = "A", choices=("dog barking", "rain", "siren", "engine"), trap: str | None = "C"):
    key = chain.LETTERS.index(answer)
    steps = ["I hear a dog barking from 1.0 s.", f"This matches option ({answer})."]
    reflect = (f"Wait, the engine is not there. So the answer is ({answer}) {choices[key]}, not ({trap})."
               if trap else None)
    text = chain.render(chain.Chain(
        planning="Listen for the sound.", reasoning=steps,
        summary=f"The answer is ({answer}) {choices[key]}.", answer=answer,
        asr='He said "pick (A) or (C)" twice.', reflect=reflect))
    user = "Which sound is heard?\n" + chain.format_choices(list(choices))
    return {"id": "clip1/env_present/0", "clip_id": "clip1", "task": "env_present",
            "question": "Which sound is heard?", "choices": list(choices), "answer": answer,
            "answer_text": choices[key], "chain": text, "split": "train",
            "messages": [{"role": "user", "content": [{"type": "audio", "text": None},
                                                      {"type": "text", "text": user}]},
                         {"role": "assistant", "content": [{"type": "text", "text": text}]}],
            "evidence": json.dumps({"choice_mids": ["/m/dog", "/m/rain", "/m/siren", "/m/engine"]})}


def test_move_key_rewrites_every_letter_and_nothing_else():
    row = _row(answer="A", trap="C")
    moved = move_key(row, 2)
    assert moved["choices"] == ["siren", "rain", "dog barking", "engine"]
    assert moved["answer"] == "C" and moved["choices"][2] == row["answer_text"]
    parsed = chain.parse(moved["chain"])
    assert parsed.problems == [] and parsed.answer == "C"
    assert "This matches option (C)." in parsed.sections["REASONING"]
    assert parsed.sections["SUMMARY"] == "The answer is (C) dog barking."
    # the trap option (siren) moved from C to A: the reflection names it by its new letter
    assert parsed.sections["REFLECT"].endswith("So the answer is (C) dog barking, not (A).")
    assert parsed.sections["ASR"] == 'He said "pick (A) or (C)" twice.'  # transcript untouched
    assert moved["messages"][0]["content"][1]["text"].endswith(
        "(A) siren (B) rain (C) dog barking (D) engine")
    assert moved["messages"][1]["content"][0]["text"] == moved["chain"]
    assert json.loads(moved["evidence"])["choice_mids"] == ["/m/siren", "/m/rain", "/m/dog", "/m/engine"]
    assert row["answer"] == "A" and row["choices"][0] == "dog barking"  # the input is not changed
    assert move_key(row, 0)["chain"] == row["chain"]
    with pytest.raises(ValueError, match="outside 4 choices"):
        move_key(row, 5)


def test_balancer_spreads_keys_evenly_and_is_deterministic():
    rows = [dict(_row(), id=f"c{i}/t/0", split="train" if i % 5 else "test") for i in range(40)]
    rows += [dict(_row(choices=("yes", "no"), trap=None), id=f"d{i}/t/0") for i in range(7)]
    one, two = PositionBalancer(), PositionBalancer()
    first = [one(r) for r in rows]
    again = [two(r) for r in rows]
    assert one.moved > 20
    assert [r["answer"] for r in first] == [r["answer"] for r in again]
    shares = letter_shares(first)
    assert shares[4]["share"] == {"A": 0.25, "B": 0.25, "C": 0.25, "D": 0.25}
    assert sorted(Counter(r["answer"] for r in first[40:]).values()) == [3, 4]
    for split in ("train", "test"):
        per = Counter(r["answer"] for r in first[:40] if r["split"] == split)
        assert max(per.values()) - min(per.values()) <= 1, per
    assert all(r["choices"][chain.LETTERS.index(r["answer"])] == "dog barking" for r in first[:40])
    assert letter_shares(rows)[4]["max_deviation_points"] == 75.0  # all keys at A before


def _audit_rows(n_clips: int = 60) -> list[dict]:
    rows = []
    for i in range(n_clips):
        # speaker_count: "two" is the key whenever offered (a text shortcut)
        opts = ["one", "two", "three", "four"]
        rows.append({"id": f"s{i}/speaker_count/0", "clip_id": f"s{i}", "task": "speaker_count",
                     "question": "How many people speak?", "choices": opts[i % 4:] + opts[:i % 4],
                     "answer": chain.LETTERS[(1 - i % 4) % 4], "split": "train"})
        # env_present: the key cycles over four sounds, each offered everywhere: no shortcut
        sounds = ["dog", "rain", "siren", "engine"]
        key = i % 4
        rows.append({"id": f"s{i}/env_present/0", "clip_id": f"s{i}", "task": "env_present",
                     "question": "Which sound is heard?", "choices": sounds, "answer": chain.LETTERS[key],
                     "split": "train"})
    return rows


def test_text_only_baseline_finds_a_planted_shortcut_and_not_a_fair_task():
    rows = _audit_rows()
    assert all(r["choices"][chain.LETTERS.index(r["answer"])] == "two" for r in rows[::2])
    report = audit(rows, threshold=0.9)
    count, env = report["tasks"]["speaker_count"], report["tasks"]["env_present"]
    assert count["best_rule"] == "answer_prior" and count["best_accuracy"] == 1.0
    assert count["text_answerable"] == 60 and count["chance"] == 0.25
    assert env["rules"]["answer_prior"] <= 0.4 and env["text_answerable"] == 0
    assert report["overall"]["text_answerable"] == 60
    assert report["positions"]["4"]["questions"] == 120
    # folds are by clip: both questions of a clip share one
    assert len({fold_of(r["clip_id"]) for r in rows if r["clip_id"] == "s3"}) == 1
    assert text_answerable(rows, threshold=1.01) == set()


@pytest.fixture(scope="module")
def sample_builds(tmp_path_factory):
    base = tmp_path_factory.mktemp("audit")
    outs = {}
    for name, extra in (("kept", []), ("dropped", ["--set", "audit.drop_text_answerable=true",
                                                   "--set", "audit.text_only_threshold=0.3"])):
        out = base / name
        # the sample is tiny: let the answer prior trust an option text seen once
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(audit_module, "MIN_SEEN", 1)
            assert main(["--source", str(SAMPLE), "--out", str(out), "--recipe", "labels_only",
                         "--no-progress", *extra]) == 0
        outs[name] = out
    return outs


def _qa(out: Path) -> list[dict]:
    import datasets

    qa = datasets.load_dataset(str(out))
    return [dict(r, split=s) for s in qa for r in qa[s]]


def test_build_balances_letters_and_card_shows_the_audit(sample_builds, capsys):
    rows = _qa(sample_builds["kept"])
    for n in letter_shares(rows):
        counts = Counter(r["answer"] for r in rows if len(r["choices"]) == n)
        assert max(counts.get(c, 0) for c in chain.LETTERS[:n]) - min(
            counts.get(c, 0) for c in chain.LETTERS[:n]) <= 1, (n, counts)
    for r in rows:
        assert chain.extract_answer(r["chain"]) == r["answer"]
        assert r["choices"][chain.LETTERS.index(r["answer"])] == r["answer_text"]
    card = (sample_builds["kept"] / "README.md").read_text()
    assert "## Shortcut audit" in card and "| **all** |" in card
    report = json.loads((sample_builds["kept"] / "audit.json").read_text())
    assert report["questions"] == len(rows)
    assert main(["audit", str(sample_builds["kept"])]) == 0
    assert "text-only (best rule)" in capsys.readouterr().out


def test_drop_text_answerable_leaves_out_exactly_the_flagged_questions(sample_builds, monkeypatch):
    kept, dropped = _qa(sample_builds["kept"]), _qa(sample_builds["dropped"])
    monkeypatch.setattr(audit_module, "MIN_SEEN", 1)
    flagged = text_answerable(kept, threshold=0.3)
    assert 0 < len(flagged) < len(kept)
    assert {r["id"] for r in dropped} == {r["id"] for r in kept} - flagged
    summary = json.loads((sample_builds["dropped"] / ".paqa_state" / "summary.json").read_text())
    assert summary["dropped_text_answerable"] == len(flagged)
    assert f"{len(flagged)} such questions were left out" in (sample_builds["dropped"] / "README.md").read_text()


def test_audit_errors_are_one_line(tmp_path, capsys):
    assert main(["audit", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(tmp_path) in err and "no QA shards" in err
    with pytest.raises(RecipeError, match="unknown audit option 'balance'"):
        load_recipe("labels_only", ["audit.balance=false"])
    with pytest.raises(RecipeError, match=r"audit.text_only_threshold must be a number in \(0, 1\]"):
        load_recipe("labels_only", ["audit.text_only_threshold=2"])


def test_fillers_match_the_true_lines_length():
    import random

    from paqa_builder.compose.text import FILLER_LINES, fillers_like

    long_line = "We are going to paint the whole house blue before the summer holidays start."
    picked = fillers_like(long_line, list(FILLER_LINES), 2, random.Random(0))
    closest = sorted(abs(len(f) - len(long_line)) for f in FILLER_LINES)[:2]
    assert sorted(abs(len(f) - len(long_line)) for f in picked) == closest
    assert all(len(f) > 50 for f in picked)
    assert all(len(f) < 12 for f in fillers_like("OK, yes.", list(FILLER_LINES), 2, random.Random(1)))


def test_env_absent_names_the_collections_own_labels_when_they_are_exhaustive(tmp_path):
    from paqa_builder.compose.composer import Composer
    from paqa_builder.compose.samples import label_record

    labels = [("/m/02mk9", "Engine"), ("/m/06mb1", "Rain"), ("/m/0838f", "Water"),
              ("/m/03m9d0z", "Wind"), ("/m/07pbtc8", "Walk, footsteps")]
    csv = tmp_path / "class_labels_indices.csv"
    csv.write_text("index,mid,display_name\n" + "".join(f'{i},{m},"{n}"\n' for i, (m, n) in enumerate(labels)))
    keys = {}
    for exhaustive in (True, False):
        comp = Composer(class_labels=str(csv), tasks=["env_absent"], labels_exhaustive=exhaustive)
        comp.ensure_setup()
        keys[exhaustive] = set()
        for i in range(12):
            rec = label_record(f"clip{i}", labels=(labels[0], labels[1]))
            comp([rec])
            keys[exhaustive] |= {row["answer_text"] for row in rec.qa}
    own = {"water", "wind", "walk"}  # display names
    assert keys[True] and keys[True] <= own  # absent answers drawn from the collection's labels
    assert not keys[False] & own  # without exhaustive labels: the built-in everyday pool


def test_llm_text_only_baseline_through_an_endpoint(sample_builds, capsys):
    """An endpoint that always answers "A" scores the share of keys at A; the table gets its column."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    asked = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_a):
            pass

        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            asked.append(body["messages"][-1]["content"])
            data = json.dumps({"choices": [{"message": {"content": "A"}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = sample_builds["kept"]
        assert main(["audit", str(out), "--llm-url", f"http://127.0.0.1:{server.server_address[1]}/v1",
                     "--llm-model", "stub"]) == 0
    finally:
        server.shutdown()
        server.server_close()
    rows = _qa(out)
    report = json.loads((out / "audit.json").read_text())["llm_text_only"]
    assert report["questions"] == len(asked) == len(rows) and report["unanswered"] == 0
    assert report["accuracy"] == round(sum(r["answer"] == "A" for r in rows) / len(rows), 4)
    assert all("(A) " in prompt for prompt in asked)  # question and options, nothing else
    assert "LLM text-only (stub)" in capsys.readouterr().out


def test_recipe_default_threshold_is_the_audit_default():
    """One value: the recipe default of ``audit.text_only_threshold`` is the audit's own default."""
    from paqa_builder.config import DEFAULTS
    from paqa_builder.dataset.audit import TEXT_ONLY_THRESHOLD

    assert DEFAULTS["audit"]["text_only_threshold"] == TEXT_ONLY_THRESHOLD

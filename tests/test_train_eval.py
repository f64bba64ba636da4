"""``hyper-train eval``: scoring with a scripted generator, and the CLI on a tiny real model."""

import json

import numpy as np
import pytest
import soundfile as sf

from hyper_train.evaluate import evaluate, score
from paqa_builder.chain import extract_answer

ROWS = [
    {"id": "1", "task": "sound", "question": "q", "choices": ["rain", "dog"], "answer": "A"},
    {"id": "2", "task": "sound", "question": "q", "choices": ["rain", "dog"], "answer": "B"},
    {"id": "3", "task": "speech", "question": "q", "choices": ["one", "two", "three"], "answer": "three"},
    {"id": "4", "task": "speech", "question": "q", "choices": ["one", "two"], "answer": "A"},
]
OUTPUTS = ["<THINK>...</THINK>\n<FINAL_ANSWER>A</FINAL_ANSWER>",  # right (tag)
           "The answer is (A).",                                # wrong
           "I am sure it is three",                             # right (option text)
           "no idea"]                                            # unparsed


def test_scripted_generator_gives_known_accuracy(tmp_path):
    calls = []

    def generate(rows):
        calls.append(len(rows))
        return [OUTPUTS[int(r["id"]) - 1] for r in rows]

    pred_path = tmp_path / "out" / "pred.jsonl"
    metrics = evaluate(ROWS, generate, batch_size=3, predictions=str(pred_path))
    assert calls == [3, 1]
    assert metrics["accuracy"] == 0.5 and metrics["n"] == 4 and metrics["unparsed"] == 1
    assert metrics["per_task"] == {"sound": {"n": 2, "correct": 1, "accuracy": 0.5},
                                   "speech": {"n": 2, "correct": 1, "accuracy": 0.5}}
    lines = [json.loads(line) for line in pred_path.read_text().splitlines()]
    assert [r["prediction"] for r in lines] == ["A", "A", "C", None]
    assert [r["correct"] for r in lines] == [True, False, True, False]
    assert json.loads(pred_path.with_suffix(".metrics.json").read_text()) == metrics


def test_score_length_mismatch():
    with pytest.raises(ValueError):
        score(ROWS, OUTPUTS[:2])


@pytest.mark.slow
def test_cli_eval_on_mmau_json_with_tiny_model(tmp_path):
    from tiny_qwen2_audio import build_tiny_qwen2_audio

    from hyper_train.cli import main

    model = build_tiny_qwen2_audio(tmp_path / "model")
    items = []
    for i in range(3):
        sf.write(tmp_path / f"a{i}.wav", (0.1 * np.random.default_rng(i).standard_normal(16000)).astype("float32"),
                 16000)
        items.append({"id": f"m{i}", "audio_id": f"a{i}.wav", "question": "What is heard?",
                      "choices": ["rain", "dog", "car"], "answer": "dog", "task": ["sound", "music"][i % 2]})
    (tmp_path / "mmau.json").write_text(json.dumps(items))
    pred = tmp_path / "pred.jsonl"
    rc = main(["eval", "--model_path", str(model), "--eval_file", str(tmp_path / "mmau.json"),
               "--audio_dir", str(tmp_path), "--predictions", str(pred), "--max_new_tokens", "6",
               "--batch_size", "2"])
    assert rc == 0
    lines = [json.loads(line) for line in pred.read_text().splitlines()]
    metrics = json.loads(pred.with_suffix(".metrics.json").read_text())
    assert len(lines) == 3 and {r["answer"] for r in lines} == {"B"}
    recomputed = [extract_answer(r["output"], r["choices"]) == "B" for r in lines]
    assert metrics["accuracy"] == pytest.approx(sum(recomputed) / 3)
    assert set(metrics["per_task"]) == {"sound", "music"}


def test_cli_usage():
    from hyper_train.cli import main

    assert main(["--help"]) == 0
    assert main(["train"]) == 2


def test_eval_shows_progress_while_it_runs(capsys):
    from hyper_train.evaluate import evaluate

    seen = []

    def generate(batch):
        seen.append(capsys.readouterr().err)  # what the bar printed before this batch
        return ["<FINAL_ANSWER>A</FINAL_ANSWER>"] * len(batch)

    rows = [{"id": str(i), "task": "t", "question": "q", "choices": ["x", "y"], "answer": "A"} for i in range(6)]
    metrics = evaluate(rows, generate, batch_size=2)
    assert metrics["accuracy"] == 1.0
    assert "2/6" in seen[1] and "4/6" in seen[2] and "acc=1.000" in seen[2]


def test_mmau_prediction_file_and_silent_audio_baseline(tmp_path, monkeypatch):
    import numpy as np
    import soundfile as sf

    from hyper_train import evaluate as ev
    from hyper_train.config import EvalArgs

    t = np.arange(16000) / 16000
    sf.write(tmp_path / "tone.wav", (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    raw = [{"id": f"q{i}", "audio_id": "tone.wav", "question": "Is there a tone?", "choices": ["yes", "no"],
            "answer": "yes", "task": "sound", "difficulty": "easy"} for i in range(3)]
    raw.append({"id": "q3", "audio_id": "tone.wav", "question": "Is it silent?", "choices": ["yes", "no"],
                "answer": "no", "task": "sound", "difficulty": "easy"})
    (tmp_path / "mmau.json").write_text(json.dumps(raw))

    def listener(_path, *_a):  # answers from the audio: a model that really listens
        def generate(rows):
            loud = [float(np.abs(ev.decode_audio(r["audio"])).max()) > 0.1 for r in rows]
            return [f"<FINAL_ANSWER>{'A' if (q['question'].startswith('Is there')) == h else 'B'}</FINAL_ANSWER>"
                    for q, h in zip(rows, loud)]
        return generate

    monkeypatch.setattr(ev, "model_generate_fn", listener)
    args = EvalArgs(model_path="m", eval_file=str(tmp_path / "mmau.json"), audio_dir=str(tmp_path),
                    predictions=str(tmp_path / "pred.jsonl"), mmau_output=str(tmp_path / "mmau_pred.json"),
                    silent_baseline=True, batch_size=2)
    metrics = ev.run_eval(args)
    assert metrics["accuracy"] == 1.0 and metrics["silent_audio"]["accuracy"] == 0.0
    assert "swapped_audio" not in metrics
    out = json.loads((tmp_path / "mmau_pred.json").read_text())
    assert [r["model_prediction"] for r in out] == ["yes", "yes", "yes", "no"]
    assert all(r["difficulty"] == "easy" for r in out)  # the scorer's own fields are kept


def test_swapped_audio_baseline_gives_each_question_another_clips_audio(tmp_path, monkeypatch):
    import numpy as np
    import soundfile as sf

    from hyper_train import evaluate as ev
    from hyper_train.config import EvalArgs

    t = np.arange(16000) / 16000
    sf.write(tmp_path / "tone.wav", (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    sf.write(tmp_path / "quiet.wav", np.zeros(16000, dtype=np.float32), 16000)
    raw = [{"id": f"q{i}", "audio_id": wav, "question": "Is there a tone?", "choices": ["yes", "no"],
            "answer": "yes" if wav == "tone.wav" else "no", "task": "sound"}
           for i, wav in enumerate(["tone.wav", "tone.wav", "quiet.wav"])]
    (tmp_path / "mmau.json").write_text(json.dumps(raw))

    def listener(_path, *_a):
        def generate(rows):
            return ["<FINAL_ANSWER>" + ("A" if float(np.abs(ev.decode_audio(r["audio"])).max()) > 0.1 else "B")
                    + "</FINAL_ANSWER>" for r in rows]
        return generate

    monkeypatch.setattr(ev, "model_generate_fn", listener)
    args = EvalArgs(model_path="m", eval_file=str(tmp_path / "mmau.json"), audio_dir=str(tmp_path),
                    predictions=str(tmp_path / "pred.jsonl"), swapped_baseline=True, batch_size=2)
    metrics = ev.run_eval(args)
    # the listener is always right on its own audio and always wrong on the other clip's
    assert metrics["accuracy"] == 1.0 and metrics["swapped_audio"]["accuracy"] == 0.0
    rows = [{"clip_id": "a", "audio": "A"}, {"clip_id": "a", "audio": "A"}, {"clip_id": "b", "audio": "B"}]
    assert [r["audio"] for r in ev.swapped(rows)] == ["B", "B", "A"]
    with pytest.raises(ValueError, match="at least two clips"):
        ev.swapped(rows[:2])


def test_pause_processor_at_inference(tmp_path):
    """``pause_at_inference``: evaluation generates through the <PAUSE> processor Stage II trained
    (its ``pause_args.json`` and entropy history beside the model), so it pauses from the first
    token; with no saved state it falls back to the defaults, whose 256-token warm-up never ends
    on a short answer. Without the flag no processor is attached."""
    import torch
    from tiny_qwen2_audio import build_tiny_qwen2_audio

    from hyper_train.config import PauseArgs
    from hyper_train.evaluate import model_generate_fn
    from hyper_train.pause import PAUSE_ARGS, PAUSE_STATE, PauseLogitsProcessor, save_pause

    model = build_tiny_qwen2_audio(tmp_path / "model")
    rows = [{"question": "What is heard?", "choices": ["rain", "dog"], "answer": "B",
             "audio": {"array": np.zeros(16000, np.float32), "sampling_rate": 16000}} for _ in range(2)]
    plain = model_generate_fn(str(model), max_new_tokens=5)
    assert plain.pause_processor is None and len(plain(rows)) == 2

    untrained = model_generate_fn(str(model), max_new_tokens=5, pause_at_inference=True)
    assert len(untrained(rows)) == 2
    assert untrained.pause_processor._filled == 2 * 5  # two rows, five generated steps
    assert untrained.pause_tokens == 0  # still warming up: the old behaviour, defaults only

    # what Stage II leaves: its settings and an entropy history of low values (a random tiny
    # model's next-token entropy is far above them, so the trained threshold fires at once)
    args = PauseArgs(pause_history_size=64, pause_warmup_tokens=32, pause_min_entropy=0.5, max_pauses=1,
                     max_think_tokens=2)
    trained = PauseLogitsProcessor(0, warmup=32, history_size=64)
    trained.load_state_dict({"history": torch.full((64,), 0.1), "filled": 64, "forced_total": 0})
    save_pause(model, args, trained)
    assert (model / PAUSE_ARGS).is_file() and (model / PAUSE_STATE).is_file()
    paused = model_generate_fn(str(model), max_new_tokens=5, pause_at_inference=True)
    proc = paused.pause_processor
    assert (proc.warmup, proc.max_pauses, proc.max_think_tokens) == (32, 1, 2)
    assert proc.threshold == pytest.approx(0.5)  # the loaded history's quantile, floored
    paused(rows)
    assert paused.pause_tokens == 2 * 2  # one pause of two latent tokens per row
    assert proc._filled == 64 and proc.threshold == pytest.approx(0.5)  # the trained threshold is frozen

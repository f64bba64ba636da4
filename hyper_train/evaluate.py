"""``hyper-train eval``: multiple-choice accuracy, overall and per task, with predictions as JSONL.

Answers are read with ``paqa_builder.chain.extract_answer`` (through ``rewards.answer_letter`` for
the gold side), the same parsing the accuracy reward uses, so eval and training agree on what a
completion commits to.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hyper_train.collator import _clean_messages
from hyper_train.data import SAMPLE_RATE, decode_audio, load_qa, prompt_messages
from hyper_train.rewards import answer_letter
from paqa_builder.chain import LETTERS, extract_answer

log = logging.getLogger(__name__)

GenerateFn = Callable[[list[dict[str, Any]]], list[str]]
"""Maps a batch of qa rows to one generated text per row."""


def score(rows: list[dict[str, Any]], outputs: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Prediction records and metrics (``accuracy``, ``n``, ``per_task``) for rows and their outputs."""
    records = []
    per_task: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row, text in zip(rows, outputs, strict=True):
        choices = list(row["choices"])
        gold = answer_letter(row["answer"], choices)
        pred = extract_answer(text, choices)
        ok = pred is not None and pred == gold
        task = str(row.get("task") or "all")
        per_task[task][0] += int(ok)
        per_task[task][1] += 1
        records.append({"id": row.get("id"), "task": task, "question": row.get("question"),
                        "choices": choices, "answer": gold, "prediction": pred, "correct": ok,
                        "output": text})
    n = len(records)
    metrics = {
        "n": n,
        "accuracy": sum(r["correct"] for r in records) / n if n else 0.0,
        "unparsed": sum(r["prediction"] is None for r in records),
        "per_task": {t: {"n": tot, "correct": c, "accuracy": c / tot} for t, (c, tot) in sorted(per_task.items())},
    }
    return records, metrics


def model_generate_fn(model_path: str, max_new_tokens: int = 512, do_sample: bool = False,
                      dtype: str = "auto", pause_at_inference: bool = False) -> GenerateFn:
    """A ``GenerateFn`` over a saved checkpoint (model class from its config + ``AutoProcessor``);
    with ``pause_at_inference`` it generates through the stage-2 ``<PAUSE>`` processor as trained
    (the ``PauseArgs`` and entropy history Stage II saved beside the model, ``pause.load_pause``),
    exposed as the function's ``pause_processor`` attribute; ``pause_tokens`` counts the
    ``<PAUSE>`` tokens generated so far."""
    import torch
    import transformers
    from transformers import AutoConfig, AutoProcessor

    from hyper_train.model import resolve_dtype

    config = AutoConfig.from_pretrained(model_path)
    model_cls = getattr(transformers, (config.architectures or ["Qwen2AudioForConditionalGeneration"])[0])
    model = model_cls.from_pretrained(model_path, dtype=resolve_dtype(dtype)).eval()
    if torch.cuda.is_available():
        model.to("cuda")
    processor = AutoProcessor.from_pretrained(model_path)
    pause = None
    if pause_at_inference:
        from hyper_train.pause import load_pause
        from hyper_train.tokens import get_tokenizer, token_id

        eos = model.generation_config.eos_token_id
        pause = load_pause(model_path, token_id(processor), tokenizer=get_tokenizer(processor),
                           eos_id=eos[0] if isinstance(eos, list) else eos)

    def generate(rows: list[dict[str, Any]]) -> list[str]:
        texts, audios = [], []
        for row in rows:
            msgs = row.get("messages")
            prompt = ([m for m in msgs if m["role"] != "assistant"] if msgs
                      else prompt_messages(row["question"], list(row["choices"])))
            texts.append(processor.apply_chat_template(_clean_messages(prompt), add_generation_prompt=True,
                                                       tokenize=False))
            audios.append(decode_audio(row["audio"], SAMPLE_RATE))
        batch = processor(text=texts, audio=audios, sampling_rate=SAMPLE_RATE, padding=True,
                          padding_side="left", return_tensors="pt").to(model.device)
        extra = {}
        if pause is not None:
            from transformers import LogitsProcessorList

            pause.reset()  # per-row pause counts restart; the entropy history carries on
            extra["logits_processor"] = LogitsProcessorList([pause])
        with torch.no_grad():
            out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=do_sample, **extra)
        new = out[:, batch["input_ids"].shape[1]:]
        if pause is not None:
            generate.pause_tokens += int((new == pause.pause_id).sum())  # type: ignore[attr-defined]
        return processor.batch_decode(new, skip_special_tokens=True)

    generate.pause_processor = pause  # type: ignore[attr-defined]
    generate.pause_tokens = 0  # type: ignore[attr-defined]
    return generate


def evaluate(rows: Any, generate: GenerateFn, batch_size: int = 4,
             predictions: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Generate for every row in batches, score, write ``predictions`` (JSONL) and its metrics JSON.

    A progress bar (questions done, rate, time left, running accuracy) is shown while it runs."""
    from tqdm import tqdm

    rows = list(rows)
    outputs: list[str] = []
    correct = 0
    with tqdm(total=len(rows), unit="q", desc="hyper-train eval", disable=not progress, dynamic_ncols=True) as bar:
        for start in range(0, len(rows), batch_size):
            batch = rows[start:start + batch_size]
            texts = generate(batch)
            outputs += texts
            correct += sum(r["correct"] for r in score(batch, texts)[0])
            bar.update(len(batch))
            bar.set_postfix(acc=f"{correct / len(outputs):.3f}")
    records, metrics = score(rows, outputs)
    if predictions:
        path = Path(predictions)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        path.with_suffix(".metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def silenced(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with their audio replaced by silence of the same length (the no-listening baseline)."""
    import numpy as np

    out = []
    for row in rows:
        n = len(decode_audio(row["audio"], SAMPLE_RATE))
        out.append({**row, "audio": {"array": np.zeros(max(n, 1), dtype=np.float32), "sampling_rate": SAMPLE_RATE}})
    return out


def swapped(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows, each with the audio of a different clip (the next clip in first-seen order,
    cyclically): same questions and options, audio that does not answer them. Accuracy above
    chance here is what the text, or a generic prior about audio, gives away."""
    first: dict[str, Any] = {}
    for row in rows:
        first.setdefault(str(row.get("clip_id") or row.get("id")), row["audio"])
    clips = list(first)
    if len(clips) < 2:
        raise ValueError("the swapped-audio baseline needs questions from at least two clips")
    following = {clip: clips[(i + 1) % len(clips)] for i, clip in enumerate(clips)}
    return [{**row, "audio": first[following[str(row.get("clip_id") or row.get("id"))]]} for row in rows]


def write_mmau_predictions(eval_file: str, predictions: list[dict[str, Any]], out: str) -> int:
    """The eval JSON's own rows, each with ``model_prediction`` (the predicted option's text, or the
    raw output when no option was parsed): the input of the official MMAU/MMAR scoring scripts."""
    raw = json.loads(Path(eval_file).read_text(encoding="utf-8"))
    by_id = {str(p["id"]): p for p in predictions}
    rows = []
    for row in raw if isinstance(raw, list) else list(raw.values()):
        pred = by_id.get(str(row.get("id", "")))
        if pred is None:
            continue
        letter = pred["prediction"]
        text = pred["choices"][LETTERS.index(letter)] if letter else pred["output"]
        rows.append({**row, "model_prediction": text})
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return len(rows)


def run_eval(args: Any) -> dict[str, Any]:
    """``hyper-train eval`` with an ``EvalArgs``: load data and checkpoint, evaluate, log the summary
    (and, when asked, the MMAU/MMAR prediction file and the silent- and swapped-audio baselines)."""
    if not args.model_path or not args.eval_file:
        raise ValueError("eval needs model_path and eval_file")
    ds = load_qa(args.eval_file, args.split, args.audio_dir, args.max_samples)
    gen = model_generate_fn(args.model_path, args.max_new_tokens, args.do_sample, args.eval_dtype,
                            args.pause_at_inference)
    rows = list(ds)
    metrics = evaluate(rows, gen, args.batch_size, args.predictions)
    log.info("accuracy %.4f on %d questions", metrics["accuracy"], metrics["n"])
    if getattr(gen, "pause_processor", None) is not None:
        metrics["pause_tokens_per_question"] = gen.pause_tokens / max(metrics["n"], 1)
        log.info("%.2f <PAUSE> tokens per question", metrics["pause_tokens_per_question"])
    if getattr(args, "mmau_output", None):
        if not str(args.eval_file).endswith(".json"):
            raise ValueError("mmau_output needs an MMAU/MMAR-style .json eval_file")
        lines = Path(args.predictions).read_text(encoding="utf-8").splitlines()
        n = write_mmau_predictions(args.eval_file, [json.loads(x) for x in lines], args.mmau_output)
        log.info("%d MMAU/MMAR predictions written to %s", n, args.mmau_output)
    if getattr(args, "silent_baseline", False):
        silent = evaluate(silenced(rows), gen, args.batch_size, None)
        metrics["silent_audio"] = {"accuracy": silent["accuracy"], "per_task": silent["per_task"]}
        log.info("accuracy %.4f with the audio; %.4f with silence instead (answerable without listening)",
                 metrics["accuracy"], silent["accuracy"])
    if getattr(args, "swapped_baseline", False):
        other = evaluate(swapped(rows), gen, args.batch_size, None)
        metrics["swapped_audio"] = {"accuracy": other["accuracy"], "per_task": other["per_task"]}
        log.info("accuracy %.4f with the audio; %.4f with another clip's audio", metrics["accuracy"],
                 other["accuracy"])
    if args.predictions:  # again, now with the pause count and the baselines
        Path(args.predictions).with_suffix(".metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics

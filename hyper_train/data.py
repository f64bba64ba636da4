"""Training and evaluation data: a built PAQA folder, a Hub dataset id, or JSON/JSONL files.

Every source is turned into rows with the PAQA ``qa`` fields the trainers use: ``audio`` (16 kHz
``Audio`` feature), ``question``, ``choices``, ``answer`` (letter), ``answer_text``, ``task``,
``chain`` (target text, chain format), ``messages`` (user + assistant turns) and ``evidence`` (JSON).

Accepted files:
- upstream HyPeR / R1-AQA-style JSONL (``instruction`` with ``<audio>`` and ``(a) ... (b) ...``
  options, ``output`` in the upstream tag set, ``audios`` list): the output is re-rendered in our
  chain format through ``paqa_builder.chain``;
- MMAU / MMAR-style JSON (a list of ``{question, choices, answer, audio_id|audio_path, task|category}``)
  for evaluation, where ``answer`` is the option text.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from paqa_builder.chain import LETTERS, Chain, extract_answer, format_choices, render

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000


def user_text(question: str, choices: list[str]) -> str:
    """The user turn's text: the question, a newline, then ``(A) ... (B) ...`` (as PAQA writes it)."""
    return f"{question.strip()}\n{format_choices(choices)}"


def prompt_messages(question: str, choices: list[str]) -> list[dict[str, Any]]:
    """A one-turn chat prompt: one audio placeholder, then the question with its options."""
    return [{"role": "user", "content": [{"type": "audio", "text": None},
                                         {"type": "text", "text": user_text(question, choices)}]}]


def sft_messages(question: str, choices: list[str], chain: str) -> list[dict[str, Any]]:
    """Prompt plus the assistant turn holding the target chain."""
    return prompt_messages(question, choices) + [
        {"role": "assistant", "content": [{"type": "text", "text": chain}]}]


def decode_audio(value: Any, sampling_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 samples at ``sampling_rate`` from a datasets Audio value, a dict, a path or an array."""
    if isinstance(value, np.ndarray):
        return value.astype(np.float32, copy=False)
    if isinstance(value, (str, Path)):
        import librosa
        samples, _ = librosa.load(str(value), sr=sampling_rate, mono=True)
        return samples.astype(np.float32)
    # datasets' decoded Audio (a torchcodec AudioDecoder in datasets>=4) and plain dicts both index so
    samples = np.asarray(value["array"], dtype=np.float32)
    if samples.ndim > 1:  # (channels, samples) from multi-channel files
        samples = samples.mean(axis=0)
    rate = int(value["sampling_rate"])
    if rate != sampling_rate:
        import librosa
        samples = librosa.resample(samples, orig_sr=rate, target_sr=sampling_rate)
    return samples.astype(np.float32, copy=False)


# -- upstream HyPeR JSONL ------------------------------------------------------------------------

_OPTION_RE = re.compile(r"\(([a-jA-J])\)\s*(.*?)(?=\s*\([a-jA-J]\)\s|$)", re.S)
_BLOCK_RE = re.compile(r"<([A-Z_]+)>(.*?)</\1>", re.S)
_STEP_RE = re.compile(r"^\s*\d+[.)]\s*", re.M)


def split_question(instruction: str) -> tuple[str, list[str]]:
    """Question text and option texts from an upstream ``instruction`` ("<audio>Q? (a) x (b) y")."""
    text = instruction.replace("<audio>", "").strip()
    first = re.search(r"\([aA]\)\s", text)
    if not first:
        raise ValueError(f"no '(a) ...' options in instruction: {text[:80]!r}")
    options = [m.group(2).strip() for m in _OPTION_RE.finditer(text[first.start():])]
    return text[:first.start()].strip(), options


def _blocks(text: str) -> dict[str, str]:
    """Upstream tag name -> body (first occurrence), for any tag set; nested blocks included."""
    found: dict[str, str] = {}
    pending = [text]
    while pending:
        for m in _BLOCK_RE.finditer(pending.pop()):
            found.setdefault(m.group(1), m.group(2).strip())
            pending.append(m.group(2))
    return found


def convert_upstream_output(output: str, choices: list[str]) -> str:
    """Re-render an upstream HyPeR ``output`` in our chain format (``chain.render``).

    Upstream outputs use ``<BGM>``/``<DESCRIPTION>``/``<RESPONSE>`` and free-form captions. The
    mapping: BGM or ENV -> ENV; SPEAKER, ASR, PLANNING, SUMMARY, REFLECT kept; a caption without
    sub-sections goes to SPEAKER when it talks about speakers, else to ENV; reasoning is split into
    its numbered steps; the answer letter comes from FINAL_ANSWER, else RESPONSE, read with
    ``chain.extract_answer``. Raises ``ValueError`` when no answer letter can be found.
    """
    b = _blocks(output)
    answer_src = b.get("FINAL_ANSWER") or b.get("RESPONSE") or output
    letter = extract_answer(f"<FINAL_ANSWER>{b['FINAL_ANSWER']}</FINAL_ANSWER>"
                            if "FINAL_ANSWER" in b else answer_src, choices)
    if letter is None:
        raise ValueError("no answer letter in upstream output")
    env = b.get("ENV") or b.get("BGM")
    speaker, asr = b.get("SPEAKER"), b.get("ASR")
    caption = b.get("CAPTION")
    if caption is not None and env is None and speaker is None and asr is None:
        if "speaker" in caption.lower():
            speaker = caption
        else:
            env = caption
    steps = [s.strip() for s in _STEP_RE.split(b.get("REASONING", "")) if s.strip()]
    return render(Chain(planning=b.get("PLANNING", ""), reasoning=steps or [""],
                        summary=b.get("SUMMARY", ""), answer=letter, env=env, speaker=speaker,
                        asr=asr, reflect=b.get("REFLECT")))


def convert_upstream_row(row: dict[str, Any], audio_root: str | None = None) -> dict[str, Any]:
    """One upstream JSONL row (``instruction``/``output``/``audios``) as a PAQA-like qa row."""
    question, choices = split_question(row["instruction"])
    chain = convert_upstream_output(row["output"], choices)
    letter = extract_answer(chain)
    audio = row["audios"][0] if isinstance(row.get("audios"), list) else row.get("audio")
    return {
        "id": str(row.get("id", "")), "clip_id": Path(str(audio)).stem,
        "audio": _resolve(audio, audio_root), "question": question, "choices": choices,
        "answer": letter, "answer_text": choices[LETTERS.index(letter)], "task": row.get("task", "upstream"),
        "chain": chain, "messages": sft_messages(question, choices, chain),
        "evidence": json.dumps(row.get("evidence", {})), "source": "hyper-upstream",
    }


def convert_benchmark_row(row: dict[str, Any], audio_root: str | None = None) -> dict[str, Any]:
    """One MMAU/MMAR-style row (answer given as option text) as a qa row without a chain."""
    choices = [str(c) for c in row["choices"]]
    answer = str(row["answer"]).strip()
    if answer in choices:
        letter = LETTERS[choices.index(answer)]
    else:  # some exports give the letter, or "(B) text"
        letter = extract_answer(answer, choices)
        if letter is None:
            raise ValueError(f"answer {answer!r} matches no choice of row {row.get('id')}")
    audio = row.get("audio_path") or row.get("audio_id") or row.get("audio")
    task = row.get("task") or row.get("category") or row.get("modality") or "all"
    return {
        "id": str(row.get("id", "")), "clip_id": Path(str(audio)).stem,
        "audio": _resolve(audio, audio_root), "question": row["question"], "choices": choices,
        "answer": letter, "answer_text": choices[LETTERS.index(letter)], "task": str(task),
        "chain": "", "messages": prompt_messages(row["question"], choices),
        "evidence": "{}", "source": "benchmark",
    }


def _resolve(path: Any, audio_root: str | None) -> str:
    p = Path(str(path))
    return str(p if p.is_absolute() or audio_root is None else Path(audio_root) / p)


def _read_json_rows(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    return list(data.values()) if isinstance(data, dict) else data


_SOURCE_FORMS = "a built PAQA folder, a Hub dataset id ORG/NAME, or a .json/.jsonl file"


def _is_hub_id(source: str) -> bool:
    """``ORG/NAME`` exactly (what ``datasets.load_dataset`` fetches from the Hub)."""
    import re

    return re.fullmatch(r"[\w.-]+/[\w.-]+", source) is not None and not source.endswith((".json", ".jsonl"))


def load_qa(source: str, split: str = "train", audio_root: str | None = None,
            max_samples: int | None = None, require_audio: bool = True):
    """Load ``source`` as a ``datasets.Dataset`` of qa rows (see module docstring).

    ``source`` is a built PAQA folder, a Hub dataset id, or a ``.json``/``.jsonl`` file; several
    comma-separated sources are mixed (concatenated on their common columns, in the order given).
    ``audio_root`` resolves relative audio paths of JSON rows; with ``require_audio`` rows whose
    audio file is missing are dropped (and counted in the log), since they would fail mid-training.
    A missing local path or an empty value is a one-line error naming it.
    """
    import datasets

    source = str(source or "").strip()
    if not source:
        raise ValueError(f"no data given: expected {_SOURCE_FORMS}")
    if "," in source:
        parts = [load_qa(s, split, audio_root, None, require_audio) for s in source.split(",") if s.strip()]
        common = [c for c in parts[0].column_names if all(c in p.column_names for p in parts)]
        ds = datasets.concatenate_datasets([p.select_columns(common) for p in parts])
        return ds.select(range(min(max_samples, len(ds)))) if max_samples is not None else ds
    path = Path(source)
    if not path.exists() and not _is_hub_id(source):
        raise FileNotFoundError(f"{source}: no such file or folder (expected {_SOURCE_FORMS})")
    if path.suffix in (".json", ".jsonl") and path.is_file():
        raw = _read_json_rows(path)
        convert = convert_upstream_row if raw and "instruction" in raw[0] else convert_benchmark_row
        rows, bad = [], 0
        for r in raw:
            try:
                rows.append(convert(r, audio_root))
            except (ValueError, KeyError, IndexError) as err:
                bad += 1
                log.warning("skipping row %s of %s: %s", r.get("id"), path.name, err)
        if require_audio:
            kept = [r for r in rows if Path(r["audio"]).is_file()]
            if len(kept) < len(rows):
                log.warning("%d of %d rows of %s have no audio file; dropped", len(rows) - len(kept),
                            len(rows), path.name)
            rows = kept
        if not rows:
            raise ValueError(f"{source}: no usable rows ({bad} unparsable); check audio_root")
        ds = datasets.Dataset.from_list(rows).cast_column("audio", datasets.Audio(sampling_rate=SAMPLE_RATE))
    elif path.is_dir() and (path / "data" / "qa").is_dir():
        # a built PAQA folder: read the qa shards directly so a missing or edited card does not matter
        files = sorted(str(p) for p in (path / "data" / "qa").glob(f"{split}-*.parquet"))
        if not files:
            raise FileNotFoundError(f"{source}: no data/qa/{split}-*.parquet shards")
        ds = datasets.load_dataset("parquet", data_files={split: files}, split=split)
    else:
        ds = datasets.load_dataset(source, split=split)
    if "audio" in ds.column_names:
        ds = ds.cast_column("audio", datasets.Audio(sampling_rate=SAMPLE_RATE))
    if max_samples is not None:
        ds = ds.select(range(min(max_samples, len(ds))))
    return ds


def with_prompt(ds):
    """Add the ``prompt`` column GRPO rollouts and eval read: the user turn of ``messages``."""
    def _add(row: dict[str, Any]) -> dict[str, Any]:
        msgs = row.get("messages")
        user = [m for m in msgs if m["role"] != "assistant"] if msgs else prompt_messages(
            row["question"], row["choices"])
        return {"prompt": user}
    return ds.map(_add)

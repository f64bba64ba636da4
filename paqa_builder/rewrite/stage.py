"""The ``rewrite`` stage: an LLM paraphrases each question and the chain's SUMMARY and REFLECT.

Runs after ``compose``. Every rewrite is checked (``verify.problem``) and the chain is re-parsed
with the chain module (same key, same options, well formed); a rejected rewrite keeps the template
text and is counted by reason in the clip's provenance. REASONING is never sent: its steps are the
facts themselves, one per line. Requests run concurrently (``concurrency``), rate-limited, with
timeouts and retries (``client.ChatClient``), and every answer is cached by a hash of the model,
prompt and text (``cache_path``, a JSONL file), so a resumed or repeated build asks nothing twice.
An unreachable endpoint leaves the template text and says so; it never stops the build.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .. import chain as chainfmt
from ..record import ClipRecord
from ..stage import Stage
from .client import ChatClient, RewriteError
from .verify import problem, sound_keys

FIELDS = ("question", "summary", "reflect")
"""What may be rewritten."""

PROMPTS = {
    "question": "Rewrite this quiz question about an audio clip in different words. Keep its meaning, every "
                "quoted line, number and speaker reference. Do not answer it. Reply with the question only.",
    "sentence": "Rewrite this sentence in different words. Keep its meaning, every quoted line, number, option "
                "letter in brackets and speaker reference. Reply with the sentence only.",
}


def default_cache() -> Path:
    """``rewrites.jsonl`` under the toolkit's cache root (``packaged_models.cache_root()``:
    ``$PAQA_CACHE`` or ``~/.cache/paqa``)."""
    from ..packaged_models import cache_root

    return cache_root() / "rewrites.jsonl"


def _kind(field: str) -> str:
    """Which prompt a field is rewritten with."""
    return "question" if field == "question" else "sentence"


class Rewriter(Stage):
    """Stage ``rewrite`` (backend ``openai``); see the module docstring."""

    name = "rewrite"
    backend = "openai"
    reads = frozenset({"qa"})
    writes = frozenset({"qa"})

    def __init__(self, base_url: str = "http://127.0.0.1:8000/v1", model: str = "default",
                 api_key_env: str | None = "PAQA_REWRITER_API_KEY", fields: list[str] | tuple[str, ...] = FIELDS,
                 concurrency: int = 4, requests_per_s: float = 0.0, timeout_s: float = 60.0,
                 retries: int = 2, max_tokens: int = 96, temperature: float = 0.7,
                 cache_path: str | None = None, ontology: str | None = None, class_labels: str | None = None,
                 seed: int = 0, **params: Any) -> None:
        """Configure the rewriter.

        Args:
            base_url: the OpenAI-compatible endpoint's root (``.../v1``).
            model: model name sent with each request.
            api_key_env: environment variable with the API key (never logged or written).
            fields: which of ``question``, ``summary``, ``reflect`` to rewrite.
            concurrency: requests in flight at once.
            requests_per_s: request starts per second at most (0: unlimited).
            timeout_s: seconds before one request is abandoned.
            retries: further tries on timeouts, refused connections, 429 and 5xx.
            max_tokens: reply length limit.
            temperature: sampling temperature (variety; the checks keep the facts).
            cache_path: JSONL cache of answers (default ``default_cache()``); "" disables it.
            ontology: AudioSet ontology (run-wide; its names are sounds a rewrite may not add).
            class_labels: class labels CSV (run-wide; same use).
            seed: run seed, sent to endpoints that take one.
        """
        super().__init__(**params)
        unknown = set(fields) - set(FIELDS)
        if unknown:
            raise ValueError(f"rewrite: fields must be among {', '.join(FIELDS)}, got {sorted(unknown)}")
        self.fields = tuple(fields)
        self.client = ChatClient(base_url, model, api_key_env, timeout_s, retries, requests_per_s)
        self.concurrency = max(1, int(concurrency))
        self.max_tokens, self.temperature, self.seed = int(max_tokens), float(temperature), int(seed)
        self.cache_path = None if cache_path == "" else Path(cache_path) if cache_path else default_cache()
        self.ontology, self.class_labels = ontology, class_labels
        self.vocabulary: frozenset[str] = frozenset()
        self._cache: dict[str, str] = {}
        self._cache_lock = threading.Lock()

    def setup(self) -> None:
        """Load the sound vocabulary and the answer cache."""
        from ..compose.distractors import POOL
        from ..compose.facts import display_name
        from ..ontology import Ontology

        onto = Ontology.load(self.ontology, self.class_labels)
        names = {display_name(n).lower() for n in onto.names.values()} | {display_name(n).lower() for _, n, _ in POOL}
        self.vocabulary = sound_keys(n for n in names if len(n) > 2 and n not in {"speech", "voice"})
        if self.cache_path and self.cache_path.is_file():
            for line in self.cache_path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self._cache[entry["key"]] = entry["reply"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut by an interrupted run

    def provenance(self) -> str:
        """Stage, backend, endpoint and model (never the key)."""
        return f"rewrite:openai url={self.client.url} model={self.client.model} fields={','.join(self.fields)}"

    # -- asking ----------------------------------------------------------------------------------
    def _key(self, kind: str, text: str) -> str:
        blob = json.dumps([self.client.model, PROMPTS[kind], text, self.temperature, self.seed])
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def ask(self, kind: str, text: str) -> str:
        """The model's rewrite of ``text`` (from the cache when asked before)."""
        key = self._key(kind, text)
        with self._cache_lock:
            if key in self._cache:
                return self._cache[key]
        reply = self.client.complete([{"role": "system", "content": PROMPTS[kind]}, {"role": "user", "content": text}],
                                     self.max_tokens, self.temperature, self.seed)
        reply = " ".join(reply.split())
        with self._cache_lock:
            self._cache[key] = reply
            if self.cache_path:
                self.cache_path.parent.mkdir(parents=True, exist_ok=True)
                with self.cache_path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"key": key, "reply": reply}) + "\n")
        return reply

    # -- one batch -------------------------------------------------------------------------------
    def process_batch(self, batch: list[ClipRecord]) -> None:
        """Rewrite every composed question of the batch (requests run concurrently)."""
        self.ensure_setup()
        jobs = []
        in_chain = [f for f in self.fields if f != "question"]
        for record in batch:
            for item in record.qa or []:
                sections = chainfmt.parse(item["chain"]).sections if in_chain else {}
                for field in self.fields:
                    text = item["question"] if field == "question" else sections.get(field.upper())
                    if text:
                        jobs.append((record, item, field, text))
        # each distinct text is asked once: templates repeat, and concurrent duplicates would all
        # miss the cache and all be sent
        asks = sorted({(_kind(field), text) for _, _, field, text in jobs})
        with ThreadPoolExecutor(self.concurrency) as pool:
            answers = dict(zip(asks, pool.map(self._try, asks)))
        tallies: dict[str, Counter] = {}
        for record, item, field, text in jobs:
            reply = answers[(_kind(field), text)]
            tally = tallies.setdefault(record.clip_id, Counter())
            if isinstance(reply, RewriteError):
                tally["rejected: endpoint error"] += 1
                record.warnings.append(f"rewrite: {reply}")
                continue
            reason = self.apply(item, field, text, reply)
            tally["accepted" if reason is None else f"rejected: {reason}"] += 1
        for record in batch:
            tally = tallies.get(record.clip_id)
            if tally:
                record.provenance["rewrite"] = self.provenance() + " " + ", ".join(
                    f"{k} {v}" for k, v in sorted(tally.items()))

    def _try(self, ask: tuple[str, str]) -> str | RewriteError:
        try:
            return self.ask(*ask)
        except RewriteError as exc:
            return exc

    def apply(self, item: dict[str, Any], field: str, text: str, reply: str) -> str | None:
        """Put ``reply`` in place of ``text`` in QA ``item`` if it keeps every fact; the reason
        otherwise (``item`` unchanged)."""
        if len(reply) > 1 and reply[0] == reply[-1] == '"' and not text.startswith('"'):
            reply = reply[1:-1].strip()  # models like to wrap their answer in quotes
        reason = problem(text, reply, _kind(field), self.vocabulary,
                         item["choices"] if field == "question" else None)
        if reason:
            return reason
        if field == "question":
            for message in item.get("messages") or []:
                for part in message.get("content") or []:
                    if message.get("role") == "user" and (part.get("text") or "").startswith(text + "\n"):
                        part["text"] = reply + part["text"][len(text):]
            item["question"] = reply
        else:
            new = chainfmt.map_section(item["chain"], field.upper(), lambda _: reply, count=1)
            parsed = chainfmt.parse(new)
            if parsed.problems or parsed.answer != item["answer"]:
                return "chain no longer parses to the same answer"
            for message in item.get("messages") or []:
                for part in message.get("content") or []:
                    if message.get("role") == "assistant" and part.get("text") == item["chain"]:
                        part["text"] = new
            item["chain"] = new
        item.setdefault("evidence", {}).setdefault("rewritten", []).append(field)
        return None

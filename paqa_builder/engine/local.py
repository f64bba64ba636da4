"""The local engine: stream records from the source through the stages, chunk by chunk.

Memory is bounded by one chunk (``writer.clips_per_chunk`` clips) plus the models. While the
stages work on chunk *k*, a background thread decodes chunk *k+1* (decode is I/O and ffmpeg, so
it overlaps with model time), and committing a chunk is a few renames. A rerun of the same
command resumes: committed chunks are skipped (see ``state.py``).
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ..config import fingerprint
from ..record import ClipRecord
from ..stage import Stage
from .chunks import chunked, encode_chunk
from .pipeline import run_stages
from .state import BuildState


@dataclass
class BuildSummary:
    """Counts and times of one build; printed at the end and saved to ``.paqa_state/summary.json``."""

    clips_done: int = 0
    clips_failed: int = 0
    clips_skipped: int = 0
    clips_resumed: int = 0
    qa_rows: int = 0
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    tasks: dict[str, int] = field(default_factory=dict)
    source_report: dict[str, Any] = field(default_factory=dict)

    def add(self, stats: dict[str, Any], resumed: bool) -> None:
        """Fold one chunk's stats in."""
        self.clips_done += stats["done"]
        self.clips_failed += stats["failed"]
        self.clips_skipped += stats["skipped"]
        if resumed:
            self.clips_resumed += stats["done"] + stats["failed"] + stats["skipped"]
        self.audio_seconds += stats["audio_seconds"]
        for task, n in stats["tasks"].items():
            self.tasks[task] = self.tasks.get(task, 0) + n
        self.qa_rows += sum(stats["rows"]["qa"].values())

    def text(self) -> str:
        """Human-readable end summary."""
        lines = [
            f"clips done {self.clips_done}, failed {self.clips_failed}, skipped {self.clips_skipped}"
            + (f" ({self.clips_resumed} from an earlier run)" if self.clips_resumed else ""),
            f"QA rows {self.qa_rows}; audio {self.audio_seconds / 3600:.3f} h; wall {self.wall_seconds:.1f} s",
        ]
        if self.stage_seconds:
            lines.append("stage model seconds: " + ", ".join(
                f"{k} {v:.1f}" for k, v in self.stage_seconds.items()))
        return "\n".join(lines)


def _decode_chunk(decode: Stage | None, records: list[ClipRecord]) -> list[ClipRecord]:
    if decode is not None:
        for i in range(0, len(records), max(1, decode.batch_size)):
            decode(records[i:i + decode.batch_size])
    return records


def run_local(recipe: dict[str, Any], stages: list[Stage], records: Iterable[ClipRecord],
              state: BuildState, total: int | None = None, progress: bool = True,
              on_chunk: Callable[[int], None] | None = None) -> tuple[BuildSummary, list[int]]:
    """Process every chunk not yet committed; return the summary and the chunk indices seen."""
    from tqdm import tqdm

    ratios = recipe["split"]
    size = int(recipe["writer"].get("clips_per_chunk", 16))
    summary = BuildSummary()
    decode = stages[0] if stages and stages[0].name == "decode" else None
    rest = stages[1:] if decode is not None else stages
    seen: list[int] = []
    started = time.perf_counter()
    bar = tqdm(total=total, unit="clip", disable=not progress, dynamic_ncols=True,
               desc="paqa-build", smoothing=0.1)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as pool:
        work = _todo(chunked(records, size), state, summary, bar, seen)
        nxt = next(work, None)
        # Prefetch: decode chunk k+1 in a thread while chunk k runs through the model stages.
        pending: Future | None = pool.submit(_decode_chunk, decode, nxt[1]) if nxt else None
        while nxt is not None and pending is not None:
            index = nxt[0]
            current = pending.result()
            nxt = next(work, None)
            pending = pool.submit(_decode_chunk, decode, nxt[1]) if nxt else None
            _finish_chunk(index, current, rest, state, ratios, summary, bar)
            if on_chunk:
                on_chunk(index)
    bar.close()
    summary.wall_seconds = time.perf_counter() - started
    for stage in stages:
        summary.stage_seconds[stage.name] = round(summary.stage_seconds.get(stage.name, 0.0)
                                                  + stage.model_seconds, 3)
    return summary, seen


def _todo(blocks, state: BuildState, summary: BuildSummary, bar, seen: list[int]):
    """Yield ``(index, records)`` for chunks still to do; account committed ones on the way."""
    import json

    for index, block in enumerate(blocks):
        seen.append(index)
        ids = [r.clip_id for r in block]
        if state.done(index, ids):
            stats = json.loads(state.part(index, "done.json").read_text())["stats"]
            summary.add(stats, resumed=True)
            bar.update(len(block))
            continue
        yield index, block


def _finish_chunk(index: int, records: list[ClipRecord], stages: list[Stage], state: BuildState,
                  ratios: dict[str, float], summary: BuildSummary, bar) -> None:
    run_stages(stages, records)
    clips_pq, qa_pq, failures, stats = encode_chunk(records, ratios)
    state.commit(index, [r.clip_id for r in records], clips_pq, qa_pq, failures, stats)
    summary.add(stats, resumed=False)
    bar.update(len(records))
    elapsed = max(bar.format_dict.get("elapsed", 0.0), 1e-9)
    bar.set_postfix(qa=summary.qa_rows, failed=summary.clips_failed,
                    rt=f"{summary.audio_seconds / elapsed:.1f}x")


def state_for(out: Path, recipe: dict[str, Any], source_root: str, overwrite: bool) -> tuple[BuildState, bool]:
    """Open the resume state of ``out`` for this recipe; True when resuming."""
    state = BuildState(out)
    resumed = state.open(fingerprint(recipe), source_root, overwrite)
    return state, resumed

"""What the local and the Ray engines share: the build summary, the resume walk over chunks, the
resume state and the progress bar (total and ETA when the source can count its clips, clips per
second and the realtime factor always)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import fingerprint
from ..record import ClipRecord
from .state import BuildState, inputs_digest


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
    setup_seconds: dict[str, float] = field(default_factory=dict)
    """Seconds each stage spent loading its models (``setup``), apart from ``stage_seconds``."""
    dropped_text_answerable: int = 0
    """QA rows left out because a text-only baseline answers them (``audit.drop_text_answerable``)."""

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


class Progress:
    """The build's progress bar: a total and an ETA once the clip count is known (``total`` may be
    a number, a ``Future`` still counting in the background, or None), and in the postfix the QA
    rows, the failures and the realtime factor (audio seconds per wall second)."""

    def __init__(self, total: int | Future | None, enabled: bool, desc: str = "paqa-build") -> None:
        from tqdm import tqdm

        self._pending = total if isinstance(total, Future) else None
        self.bar = tqdm(total=None if self._pending else total, unit="clip", disable=not enabled,
                        dynamic_ncols=True, desc=desc, smoothing=0.1)
        self.lock = threading.Lock()

    def _learn_total(self) -> None:
        if self._pending is not None and self._pending.done():
            pending, self._pending = self._pending, None
            try:
                total = pending.result()
            except Exception:  # noqa: BLE001 - a count that failed leaves the bar without a total
                total = None
            if total is not None:
                self.bar.total = total
                self.bar.refresh()

    def advance(self, n: int, summary: BuildSummary | None = None) -> None:
        """Count ``n`` clips done (thread-safe); with ``summary``, refresh the postfix."""
        with self.lock:
            self._learn_total()
            if self.bar.total is not None and self.bar.n + n > self.bar.total:
                self.bar.total = self.bar.n + n  # a count of rows, and a row gave several windows
            self.bar.update(n)
            if summary is not None:
                elapsed = max(self.bar.format_dict.get("elapsed", 0.0), 1e-9)
                self.bar.set_postfix(qa=summary.qa_rows, failed=summary.clips_failed,
                                     rt=f"{summary.audio_seconds / elapsed:.1f}x")

    def close(self) -> None:
        """Close the bar (the last line stays on screen)."""
        self.bar.close()


def pending_chunks(blocks: Iterable[list[ClipRecord]], state: BuildState,
                   resumed: Callable[[dict[str, Any], int], None],
                   seen: list[int]) -> Iterator[tuple[int, list[ClipRecord]]]:
    """Yield ``(index, records)`` for chunks still to do; report committed ones on the way.

    Shared by both engines: every chunk index goes into ``seen`` (finalize publishes those), and
    for a chunk committed by an earlier run ``resumed(stats, n_clips)`` is called instead.
    """
    for index, block in enumerate(blocks):
        seen.append(index)
        ids = [r.clip_id for r in block]
        if state.done(index, ids, inputs_digest(block)):
            resumed(json.loads(state.part(index, "done.json").read_text())["stats"], len(block))
            continue
        yield index, block
        del block  # as in ``chunked``: a committed chunk must not outlive its slot


def state_for(out: Path, recipe: dict[str, Any], source_root: str, overwrite: bool) -> tuple[BuildState, bool]:
    """Open the resume state of ``out`` for this recipe; True when resuming."""
    state = BuildState(out)
    resumed = state.open(fingerprint(recipe), source_root, overwrite)
    return state, resumed

"""Resume state inside ``out/.paqa_state/``: one committed part per chunk of clips.

Layout::

    out/.paqa_state/
        run.json                       recipe fingerprint + source root (refuses a mismatched resume)
        parts/chunk-000007.clips.parquet
        parts/chunk-000007.qa.parquet
        parts/chunk-000007.failures.jsonl
        parts/chunk-000007.done.json   written last: the chunk counts only when this exists

Chunk ``k`` is source records ``k*N .. k*N+N-1`` in the source's deterministic order. Every file is
written to a temporary name and renamed, so a kill at any moment leaves either a whole part or none.
A rerun skips chunks whose ``done`` marker exists (after checking that the clip ids still match)
and redoes the rest. The directory starts with a dot, so ``datasets`` never reads it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from .lock import LOCK_NAME

STATE_DIR = ".paqa_state"


class ResumeError(RuntimeError):
    """The output folder holds a different build; the message says how to proceed."""


def inputs_digest(records: list[Any]) -> str:
    """Hash of everything a chunk's records were made from: ids, files (size and modification
    time), windows, labels, metadata, truth, and audio a source handed over already decoded."""
    h = hashlib.sha256()
    for r in records:
        stat = None
        try:
            st = os.stat(r.path)
            stat = [st.st_size, st.st_mtime_ns]
        except (OSError, TypeError, ValueError):
            pass
        labels = [[getattr(x, "mid", str(x)), getattr(x, "name", "")] for x in (r.labels or [])]
        h.update(json.dumps([r.clip_id, r.path, stat, r.offset, r.max_duration, labels, r.meta, r.truth],
                            sort_keys=True, default=str).encode())
        if getattr(r, "audio", None) is not None:
            import numpy as np

            h.update(np.ascontiguousarray(r.audio).tobytes())
    return h.hexdigest()[:20]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file, fsync and rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    """Text variant of ``atomic_write_bytes`` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


class BuildState:
    """Chunk bookkeeping for one output folder."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.root = self.out / STATE_DIR
        self.parts = self.root / "parts"
        self.digests: dict[int, str] = {}
        """chunk index -> ``inputs_digest`` of its records in this run (written with the commit)."""
        self.redone: list[int] = []
        """Committed chunks whose inputs changed since, made again by this run."""

    # -- run identity --------------------------------------------------------------------------
    def remove_stale_temporaries(self) -> int:
        """Delete the ``.<name>.tmp-<pid>`` files a killed run left; returns how many.

        Called with the folder's lock held (``engine/lock.py``), so no live writer owns any."""
        if not self.out.is_dir():
            return 0
        stale = [p for folder in (self.out, self.root, self.parts, self.out / "data")
                 if folder.is_dir() for p in folder.rglob(".*.tmp-*") if p.is_file()]
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)

    def check_owned(self, overwrite: bool) -> None:
        """Refuse to ``overwrite`` a non-empty folder this tool did not write.

        Only a folder holding ``.paqa_state/run.json`` (or empty, or absent) is ever cleared."""
        if overwrite and self.out.is_dir() and not (self.root / "run.json").exists() and any(
                p.name != LOCK_NAME for p in self.out.iterdir()):
            raise ResumeError(f"--overwrite refuses {self.out}: it holds files but no build of this "
                              "tool (no .paqa_state/run.json); choose an empty or new --out")

    def open(self, fingerprint: str, source_root: str, overwrite: bool) -> bool:
        """Prepare the folder; returns True when resuming an earlier run of the same recipe."""
        run_file = self.root / "run.json"
        self.check_owned(overwrite)
        self.remove_stale_temporaries()
        if overwrite and self.out.exists():
            for child in (self.root, self.out / "data", self.out / "plots"):
                shutil.rmtree(child, ignore_errors=True)
            for name in ("README.md", "failures.jsonl", "source_report.json"):
                (self.out / name).unlink(missing_ok=True)
        if run_file.exists():
            previous = json.loads(run_file.read_text())
            if previous.get("fingerprint") != fingerprint or previous.get("source") != source_root:
                raise ResumeError(
                    f"{self.out} holds a build of another recipe or source "
                    f"({previous.get('source')}, recipe {previous.get('fingerprint')}); "
                    "rerun with --overwrite to start over, or choose another --out")
            return True
        if self.out.exists() and any(p for p in self.out.iterdir() if p.name not in (STATE_DIR, LOCK_NAME)):
            if (self.out / "data").exists():
                raise ResumeError(f"{self.out} already holds a dataset not made by this tool "
                                  "(or from an older layout); use --overwrite or another --out")
        self.parts.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_file, json.dumps({"fingerprint": fingerprint, "source": source_root}))
        return False

    # -- chunks --------------------------------------------------------------------------------
    def _name(self, index: int, kind: str) -> Path:
        return self.parts / f"chunk-{index:06d}.{kind}"

    def done(self, index: int, clip_ids: list[str], inputs: str | None = None) -> bool:
        """True when chunk ``index`` was committed for exactly these clip ids and inputs.

        ``inputs`` is the chunk's ``inputs_digest``: when a committed chunk was made from other
        inputs (a label edited in the manifest, an audio file replaced), it is not done and is made
        again, so no dataset mixes old and new inputs. Chunks committed before digests existed
        carry none and are kept."""
        if inputs is not None:
            self.digests[index] = inputs
        marker = self._name(index, "done.json")
        if not marker.exists():
            return False
        saved = json.loads(marker.read_text())
        if saved.get("clip_ids") != clip_ids:
            raise ResumeError(
                f"the source changed since the interrupted run (chunk {index} held other clips); "
                "rerun with --overwrite")
        if inputs is not None and saved.get("inputs") not in (None, inputs):
            self.redone.append(index)
            return False
        return True

    def commit(self, index: int, clip_ids: list[str], clips_parquet: bytes, qa_parquet: bytes,
               failures: list[dict[str, Any]], stats: dict[str, Any]) -> None:
        """Write the chunk's parts, then its done marker (the commit point)."""
        atomic_write_bytes(self._name(index, "clips.parquet"), clips_parquet)
        atomic_write_bytes(self._name(index, "qa.parquet"), qa_parquet)
        atomic_write_text(self._name(index, "failures.jsonl"),
                          "".join(json.dumps(f, sort_keys=True) + "\n" for f in failures))
        marker = {"clip_ids": clip_ids, "stats": stats}
        if index in self.digests:
            marker["inputs"] = self.digests[index]
        atomic_write_text(self._name(index, "done.json"), json.dumps(marker, sort_keys=True))

    def committed(self) -> list[int]:
        """Indices of committed chunks, ascending."""
        return sorted(int(p.name.split("-")[1].split(".")[0]) for p in self.parts.glob("chunk-*.done.json"))

    def part(self, index: int, kind: str) -> Path:
        """Path of a committed part file (``clips.parquet``, ``qa.parquet``, ``failures.jsonl``, ``done.json``)."""
        return self._name(index, kind)

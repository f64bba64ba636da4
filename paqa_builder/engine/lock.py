"""One writer per output folder: an exclusive advisory lock on ``out/.paqa_lock``.

Two builds writing the same ``--out`` would interleave their chunk commits and shard swaps (seen:
runs ending with exit 0 and no ``data/``). The lock is taken before anything in ``out`` is read or
cleared and held until the card is written; the kernel releases it when the process dies, however
it dies, so a killed build never leaves a stale lock behind. The file holds the owner's pid, for
the error message only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".paqa_lock"


class OutFolderBusy(RuntimeError):
    """Another live process holds the output folder's lock."""


@contextmanager
def out_lock(out: str | Path) -> Iterator[Path]:
    """Hold the exclusive lock of ``out`` (created if needed) for the ``with`` block."""
    import fcntl

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_NAME
    # closing the file at the end of the block releases the lock
    with open(path, "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            owner = fh.read().strip() or "unknown"
            raise OutFolderBusy(f"another build (pid {owner}) is writing to {out}; wait for it to "
                                "finish or choose another --out") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        yield path

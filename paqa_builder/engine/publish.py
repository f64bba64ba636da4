"""Publishing staged shards so that ``load_dataset(out)`` works at every instant, crash or not.

The published dataset is two things that must agree: ``data/`` (the shards) and ``README.md``
(the card, whose YAML lists each config's splits and their sizes, which ``datasets`` checks).
They cannot be replaced by one rename, so publishing is a sequence whose every intermediate
state loads (a kill at any point leaves one of them; the next run completes the sequence):

1. **interim card**: the card is replaced by one listing only the splits that both the old and
   the new shards have, with no sizes (nothing for ``datasets`` to mismatch) and a random token
   that keeps ``datasets`` from reusing split sizes it cached for another build. Old data, interim
   card: loads (fewer splits).
2. **data swap**: ``renameat2(RENAME_EXCHANGE)`` exchanges ``staging/data`` and ``data`` in one
   step, so ``data/`` never disappears. New data, interim card: loads.
3. **final card**: written by ``card.write_card`` from the published shards (sizes included).

Where the kernel or file system cannot exchange, step 2 falls back to two renames with a moment
without ``data/``, which the next run repairs (``BuildState`` keeps everything needed).
A test hook, ``PAQA_CRASH_AT=<step>``, kills the process with SIGKILL right after that step.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import yaml

from ..dataset.rows import SPLITS

STEPS = ("interim_card", "data_swap")
"""Points after which ``PAQA_CRASH_AT`` can kill the process (tests of the crash windows)."""


def checkpoint(step: str) -> None:
    """Die like ``kill -9`` here when the test hook asks for it."""
    if os.environ.get("PAQA_CRASH_AT") == step:
        os.kill(os.getpid(), signal.SIGKILL)


def exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2`` with ``RENAME_EXCHANGE``); False when the
    platform or file system cannot, in which case nothing was changed."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, f"cannot exchange {a} and {b}: {os.strerror(code)}")


def published_splits(out: Path) -> dict[str, set[str]]:
    """Splits that have shards under ``out/data/<config>/`` right now."""
    return {kind: {s for s in SPLITS if any((out / "data" / kind).glob(f"{s}-*.parquet"))}
            for kind in ("qa", "clips")}


def write_interim_card(out: Path, splits: dict[str, set[str]]) -> None:
    """Step 1: a card naming only ``splits`` (per config), without sizes."""
    from .state import atomic_write_text

    configs = []
    for kind in ("qa", "clips"):
        files = [{"split": s, "path": f"data/{kind}/{s}-*.parquet"} for s in SPLITS if s in splits[kind]]
        if files:
            configs.append({"config_name": kind, "data_files": files, **({} if configs else {"default": True})})
    # datasets keys its cache on the card's YAML, not on the shards: a random token here keeps an
    # interim card from ever matching split sizes cached for another build (no split sizes are
    # given, so nothing is checked against the shards)
    token = int.from_bytes(os.urandom(7), "big")
    info = [{"config_name": c["config_name"], "download_size": token} for c in configs]
    header = yaml.safe_dump({"configs": configs, "dataset_info": info}, sort_keys=False) if configs else ""
    body = ("# PAQA (being published)\n\nA `paqa-build` run was publishing new shards here when it "
            "stopped; run the same command again to finish. The splits listed above load meanwhile.\n")
    atomic_write_text(out / "README.md", (f"---\n{header}---\n" if header else "") + body)


def publish(out: Path, staging: Path, old_aside: Path, counts: dict[str, Any]) -> None:
    """Steps 1 and 2 (the caller writes the final card): move ``staging/data`` into ``out``."""
    new = {kind: {s for s in SPLITS if counts[kind].get(s, 0)} for kind in ("qa", "clips")}
    if (out / "README.md").exists() and (out / "data").exists():
        old = published_splits(out)
        write_interim_card(out, {kind: old[kind] & new[kind] for kind in new})
        checkpoint("interim_card")
    if (out / "data").exists() and exchange(staging / "data", out / "data"):
        shutil.rmtree(staging / "data", ignore_errors=True)  # the old shards, now in staging
    else:
        shutil.rmtree(old_aside, ignore_errors=True)
        if (out / "data").exists():
            (out / "data").rename(old_aside)
        (staging / "data").rename(out / "data")
        shutil.rmtree(old_aside, ignore_errors=True)
    checkpoint("data_swap")

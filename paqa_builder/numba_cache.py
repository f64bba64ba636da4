"""A numba cache that concurrent builds cannot corrupt, and that a build survives when it is.

librosa compiles its pitch and zero-crossing kernels with numba ``cache=True``. By default numba
writes that cache into ``site-packages/librosa/**/__pycache__``: shared by every process of the
venv, and two processes compiling at once once left it corrupt, after which every build died with
signal 11 and no message. Compiling afresh per process is no answer (41 s on a 2-core machine).

So the toolkit

1. points ``NUMBA_CACHE_DIR`` at its own cache (``$PAQA_CACHE/numba/py<ver>-numba<ver>``, never the
   venv) unless the user set one, in :func:`configure`, before numba is imported anywhere;
2. before the first librosa kernel runs in a process (:func:`ensure_sound`), takes an exclusive
   lock on that cache and runs the kernels once in a child process: compiling happens under the
   lock, one process at a time, and a cache that crashes the child (a segfault cannot be caught
   in-process) is wiped and built again, once, before the build goes on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_SOUND: set[str] = set()
"""Cache folders already checked by this process."""

PROBE = ("import numpy as np, librosa\n"
         "x = (0.3 * np.sin(np.arange(8000) * 0.2)).astype(np.float32)\n"
         "librosa.pyin(x, fmin=60, fmax=500, sr=8000, frame_length=512)\n"
         "librosa.yin(x, fmin=60, fmax=500, sr=8000, frame_length=512)\n"
         "librosa.feature.zero_crossing_rate(x)\n")
"""Runs every numba kernel the toolkit reaches through librosa (pyin, yin, zero crossings)."""


def default_dir() -> Path:
    """The toolkit's numba cache for this Python and numba version."""
    from importlib.metadata import PackageNotFoundError, version

    from .packaged_models import cache_root

    try:
        numba = version("numba")
    except PackageNotFoundError:
        numba = "none"
    return cache_root() / "numba" / f"py{sys.version_info.major}{sys.version_info.minor}-numba{numba}"


def configure() -> Path:
    """Set ``NUMBA_CACHE_DIR`` to the toolkit's cache unless the user chose one; return it."""
    if not os.environ.get("NUMBA_CACHE_DIR"):
        os.environ["NUMBA_CACHE_DIR"] = str(default_dir())
    return Path(os.environ["NUMBA_CACHE_DIR"])


def _probe(timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ))


def _fingerprint(folder: Path) -> str:
    """Names, sizes and modification times (ns) of every cache file but the lock and the stamp."""
    lines = []
    for path in sorted(folder.rglob("*")):
        if path.name in (".lock", ".verified") or ".tmp." in path.name:
            continue  # numba writes <file>.tmp.<id> and renames it into place
        try:
            if path.is_file():
                stat = path.stat()
                lines.append(f"{path.relative_to(folder)}\t{stat.st_size}\t{stat.st_mtime_ns}")
        except OSError:  # gone between listing and stat: another process is writing
            lines.append(f"{path.relative_to(folder)}\tchanging")
    return "\n".join(lines)


def ensure_sound(timeout: float = 900.0) -> Path:
    """Make sure the numba cache loads and runs; compile it under a lock when it must.

    Raises ``RuntimeError`` with one line when even a rebuilt cache does not run."""
    import fcntl
    import shutil

    folder = configure()
    if str(folder) in _SOUND:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # blocks while another process compiles
        stamp = folder / ".verified"
        if stamp.is_file() and stamp.read_text() == _fingerprint(folder):
            _SOUND.add(str(folder))  # unchanged since a probe ran it: known good
            return folder
        before = _fingerprint(folder)
        result = _probe(timeout)
        if result.returncode != 0:
            # corrupt (or half-written) cache: wipe it and compile once more, still under the lock
            for child in folder.iterdir():
                if child.name != ".lock":
                    shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink()
            result = _probe(timeout)
            if result.returncode != 0:
                last = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
                raise RuntimeError(f"librosa's numba kernels do not run even with a fresh cache in "
                                   f"{folder}: {last}")
            before = _fingerprint(folder)
        # stamp only a state the probe ran from start to end: a build compiling a kernel outside
        # the lock meanwhile leaves the next process to probe (and stamp) again
        if _fingerprint(folder) == before:
            stamp.write_text(before)
    _SOUND.add(str(folder))
    return folder

"""Issue 13, item 1: librosa's numba cache lives outside the venv, and a corrupt one is rebuilt."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN_PYIN = ("import numpy as np, librosa\n"
            "x = (0.3 * np.sin(np.arange(8000) * 0.2)).astype(np.float32)\n"
            "f0, voiced, _ = librosa.pyin(x, fmin=60, fmax=500, sr=8000, frame_length=512)\n"
            "print('pyin', round(float(np.nanmedian(f0)), 1))\n")


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900,
                          cwd=REPO, env=env)


def test_the_cache_is_the_toolkits_not_the_venvs(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["PAQA_CACHE"] = str(tmp_path / "cache")
    res = _python("import paqa_builder, numba\nprint(numba.config.CACHE_DIR)", env)
    assert res.returncode == 0, res.stderr[-2000:]
    where = Path(res.stdout.strip().splitlines()[-1])
    assert where.is_relative_to(tmp_path / "cache" / "numba") and "site-packages" not in str(where)
    # a user's own choice is kept
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "mine")
    res = _python("import paqa_builder, numba\nprint(numba.config.CACHE_DIR)", env)
    assert res.stdout.strip().splitlines()[-1] == str(tmp_path / "mine")


def test_a_corrupt_cache_is_rebuilt_before_the_build_uses_it(tmp_path):
    from paqa_builder.numba_cache import ensure_sound

    warm = ensure_sound()  # this session's cache, compiled under the lock if it was not yet
    corrupt = tmp_path / "numba"
    shutil.copytree(warm, corrupt, ignore=shutil.ignore_patterns(".lock"))
    blobs = sorted(corrupt.rglob("*.nbc"))
    assert blobs, "the warm cache holds no compiled kernels"
    for blob in blobs:  # flip bytes all through the compiled code
        data = bytearray(blob.read_bytes())
        for i in range(len(data) // 3, len(data), 97):
            data[i] ^= 0x5A
        blob.write_bytes(bytes(data))
    env = {**os.environ, "NUMBA_CACHE_DIR": str(corrupt)}
    broken = _python(RUN_PYIN, env)
    assert broken.returncode != 0  # what every build hit before: the kernels cannot run
    healed = _python("from paqa_builder.numba_cache import ensure_sound\nensure_sound()\n" + RUN_PYIN, env)
    assert healed.returncode == 0, healed.stderr[-2000:]
    # a sine of 0.2 rad per sample at 8 kHz: 0.2 * 8000 / (2 pi) = 254.6 Hz
    assert abs(float(healed.stdout.split("pyin")[-1]) - 254.6) < 3.0
    assert _python(RUN_PYIN, env).returncode == 0  # and the rebuilt cache serves later processes


def test_a_verified_unchanged_cache_is_not_probed_again(tmp_path, monkeypatch):
    """The probe's 2-3 s are spent once per cache state, not once per build."""
    from paqa_builder import numba_cache

    folder = tmp_path / "numba"
    shutil.copytree(numba_cache.ensure_sound(), folder, ignore=shutil.ignore_patterns(".lock", ".verified"))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(folder))
    probes = []
    real_probe = numba_cache._probe
    monkeypatch.setattr(numba_cache, "_probe", lambda timeout: probes.append(1) or real_probe(timeout))

    def fresh_process_check() -> None:
        numba_cache._SOUND.discard(str(folder))  # as a new process would start
        numba_cache.ensure_sound()

    fresh_process_check()
    assert len(probes) == 1 and (folder / ".verified").is_file()
    fresh_process_check()
    assert len(probes) == 1  # unchanged cache: trusted without a probe
    blob = sorted(folder.rglob("*.nbc"))[0]
    blob.write_bytes(blob.read_bytes())  # rewritten (same bytes, new time): probed again
    fresh_process_check()
    assert len(probes) == 2

"""Decode stage on bad inputs: each kind is processed correctly or fails with a clear reason,
and a batch mixing them all goes on (only the bad clips fail)."""

import os
import subprocess
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from paqa_builder.audio_io import AudioError, load_audio
from paqa_builder.record import ClipRecord
from paqa_builder.sources import make_source
from paqa_builder.stages.decode import Decode

SR = 16000


def sine(seconds, sr=SR, freq=440.0, amp=0.3):
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def peak_hz(audio, sr=SR):
    return np.argmax(np.abs(np.fft.rfft(audio))) * sr / audio.size


@pytest.fixture(scope="module")
def decode():
    return Decode()


def run(stage, path, **kw):
    rec = ClipRecord(clip_id=Path(path).stem, source="folder", path=str(path), **kw)
    stage([rec])
    return rec


def test_empty_file(tmp_path, decode):
    (tmp_path / "empty.wav").write_bytes(b"")
    rec = run(decode, tmp_path / "empty.wav")
    assert rec.audio is None and rec.error == f"decode: {tmp_path / 'empty.wav'}: empty file (0 bytes)"


def test_truncated_file(tmp_path, decode):
    sf.write(tmp_path / "full.flac", sine(4.0), SR)
    sf.write(tmp_path / "full.wav", sine(4.0), SR)
    for name in ("full.flac", "full.wav"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / f"cut{Path(name).suffix}").write_bytes(data[: len(data) // 2])
    flac = run(decode, tmp_path / "cut.flac")
    assert flac.audio is None and "truncated or corrupt" in flac.error and "cut.flac" in flac.error
    # a WAV cut in half is still valid PCM: the surviving half decodes
    wav = run(decode, tmp_path / "cut.wav")
    assert wav.error is None and wav.duration == pytest.approx(2.0, abs=0.01)


def test_text_renamed_wav(tmp_path, decode):
    (tmp_path / "notes.wav").write_text("these are meeting notes, not audio\n" * 20)
    rec = run(decode, tmp_path / "notes.wav")
    assert rec.audio is None and "not an audio file" in rec.error and "notes.wav" in rec.error


def test_clip_of_50_ms(tmp_path, decode):
    sf.write(tmp_path / "blip.wav", sine(0.05), SR)
    rec = run(decode, tmp_path / "blip.wav")
    assert rec.audio is None and "too short: 0.050 s < min_duration_s 0.5 s" in rec.error
    assert run(Decode(min_duration_s=0.01), tmp_path / "blip.wav").error is None


def test_all_zero_audio(tmp_path, decode):
    sf.write(tmp_path / "zeros.wav", np.zeros(SR * 2, dtype=np.float32), SR)
    rec = run(decode, tmp_path / "zeros.wav")
    assert rec.audio is None and "silent: peak 0.00e+00 below silence_floor" in rec.error


def test_nan_samples(tmp_path, decode):
    x = sine(2.0)
    x[1000:1010] = np.nan
    x[5000] = np.inf
    sf.write(tmp_path / "nan.wav", x, SR, subtype="FLOAT")
    rec = run(decode, tmp_path / "nan.wav")
    assert rec.audio is None and "NaN/inf samples (11)" in rec.error
    kept = run(Decode(nan_policy="zero"), tmp_path / "nan.wav")
    assert kept.error is None and np.isfinite(kept.audio).all() and kept.audio[1005] == 0.0
    assert any("11 NaN/inf samples replaced by zeros" in w for w in kept.warnings)
    with pytest.raises(ValueError, match="nan_policy"):
        Decode(nan_policy="ignore")


def test_clipped_audio(tmp_path, decode):
    x = np.clip(sine(2.0, amp=3.0), -1.0, 1.0)  # a sine driven far past full scale
    sf.write(tmp_path / "loud.wav", x, SR)
    rec = run(decode, tmp_path / "loud.wav")
    assert rec.error is None
    ratio = rec.input_info["clipping_ratio"]
    assert 0.6 < ratio < 0.85  # |3 sin| >= 1 for ~78% of a period
    assert any(w.startswith("decode: clipping:") for w in rec.warnings)
    clean = run(decode, _write(tmp_path / "clean.wav", sine(2.0)))
    assert clean.input_info["clipping_ratio"] == 0.0 and clean.warnings == []


def _write(path, x, sr=SR):
    sf.write(path, x, sr)
    return path


def test_six_channels(tmp_path, decode):
    chans = np.stack([sine(2.0, freq=200.0 * (k + 1), amp=0.1) for k in range(6)], axis=1)
    sf.write(tmp_path / "surround.wav", chans, SR)
    rec = run(decode, tmp_path / "surround.wav")
    assert rec.error is None and rec.audio.ndim == 1 and rec.audio.shape == (2 * SR,)
    np.testing.assert_allclose(rec.audio, chans.mean(axis=1), atol=1e-4)
    assert rec.input_info["channels"] == 6
    assert "decode: downmixed 6 channels to mono" in rec.warnings


def test_8khz_audio(tmp_path, decode):
    sf.write(tmp_path / "phone.wav", sine(2.0, sr=8000, freq=440.0), 8000)
    rec = run(decode, tmp_path / "phone.wav")
    assert rec.error is None and rec.audio.shape == (2 * SR,) and rec.duration == 2.0
    assert abs(peak_hz(rec.audio) - 440.0) < 1.0
    assert rec.input_info["sample_rate"] == 8000
    assert any("low original sample rate 8000 Hz" in w for w in rec.warnings)


@pytest.mark.parametrize("ext,codec", [("mp3", "mp3"), ("ogg", "vorbis"), ("m4a", "aac")])
def test_compressed_containers(tmp_path, decode, ext, codec):
    sf.write(tmp_path / "src.wav", sine(3.0, sr=44100), 44100)
    ffmpeg("-i", tmp_path / "src.wav", tmp_path / f"clip.{ext}")
    rec = run(decode, tmp_path / f"clip.{ext}", offset=0.5, max_duration=2.0)
    assert rec.error is None
    assert rec.duration == pytest.approx(2.0, abs=0.05)
    assert abs(peak_hz(rec.audio) - 440.0) < 2.0
    assert codec in rec.input_info["codec"].lower() and rec.input_info["sample_rate"] == 44100


def _load_as_nobody(path: Path, warm: Path) -> str:
    """``load_audio(path)`` in a forked child that dropped root for uid/gid 65534 (nobody).

    Forked rather than spawned: the child runs the modules this process already imported, so it
    reads nothing from the repository or the venv, and the test holds wherever the clone lives (a
    clone under a 0700 folder is not readable by nobody). ``warm`` is read first so that every
    lazy import of the decoder has happened before the fork."""
    load_audio(str(warm))
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                load_audio(str(path))
                message = "READ"
            except AudioError as exc:
                message = f"REASON {exc.reason}"
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails
            message = f"CHILD {exc!r}"
        os.write(write_end, message.encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as fh:
        return fh.read()


def test_unreadable_permissions(decode):
    # A world-traversable folder with a mode-000 file. Root ignores file modes, so when the tests
    # run as root the read is attempted by a forked child that dropped to uid nobody.
    folder = Path(tempfile.mkdtemp(prefix="paqa_perm_"))
    try:
        folder.chmod(0o755)
        warm = _write(folder / "readable.wav", sine(1.0))
        target = _write(folder / "locked.wav", sine(1.0))
        target.chmod(0o000)
        if os.geteuid() != 0:
            rec = run(decode, target)
            assert rec.audio is None and rec.error == f"decode: {target}: permission denied"
            return
        assert _load_as_nobody(target, warm) == "REASON permission denied"
        assert _load_as_nobody(warm, warm) == "READ"  # the same child reads a readable file
    finally:
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()


def test_one_hour_file_becomes_bounded_windows(tmp_path, decode):
    path = tmp_path / "hour.flac"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000:duration=3600", "-ac", "1",
           "-sample_fmt", "s16", path)
    src = make_source("folder", tmp_path)
    recs = list(src)
    assert len(recs) == 360 and src.report["windows"] == 360 and src.report["files_windowed"] == 1
    assert recs[0].clip_id == "hour_w000" and recs[-1].clip_id == "hour_w359"
    assert {r.max_duration for r in recs} == {10.0}
    for rec in (recs[0], recs[180], recs[359]):
        tracemalloc.start()
        started = time.perf_counter()
        decode([rec])
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert rec.error is None and rec.audio.shape == (10 * SR,)
        assert seconds < 2.0, seconds  # a seek, not a decode of the hour before it
        assert peak < 16 * 2**20, peak  # ~0.6 MB of samples; never the hour (230 MB as float32)
    # asking for the whole file at once is refused instead of filling memory
    whole = run(decode, path)
    assert whole.audio is None and "exceeds the 600 s limit" in whole.error


def test_mixed_batch_goes_on(tmp_path):
    """Good and bad files in one batch: bad ones fail with reasons, good ones decode."""
    _write(tmp_path / "good.wav", sine(2.0))
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("hello\n" * 50)
    _write(tmp_path / "zeros.wav", np.zeros(SR, dtype=np.float32))
    _write(tmp_path / "blip.wav", sine(0.05))
    recs = list(make_source("folder", tmp_path))
    Decode()(recs)
    by_id = {r.clip_id: r for r in recs}
    assert by_id["good"].error is None and by_id["good"].duration == 2.0
    assert "good" not in {k for k, r in by_id.items() if r.error}
    reasons = {k: r.error.split(": ", 2)[2] for k, r in by_id.items() if r.error}
    assert set(reasons) == {"empty", "text", "zeros", "blip"}
    assert reasons["empty"] == "empty file (0 bytes)"
    assert reasons["blip"].startswith("too short") and reasons["zeros"].startswith("silent")


def test_load_audio_offset_past_end(tmp_path):
    _write(tmp_path / "a.wav", sine(1.0))
    with pytest.raises(AudioError, match="offset 5.00 s is past the end"):
        load_audio(tmp_path / "a.wav", offset=5.0)

"""Probe and decode audio files of any common container into 16 kHz mono float32.

Two readers: ``soundfile`` (libsndfile) for formats it can seek in sample-exactly (WAV, FLAC, OGG,
AIFF, ...), and an ``ffmpeg`` subprocess for everything else (MP3, M4A/AAC, Opus, video
containers). Seeking matters because long files are cut into windows by the sources and each
window is decoded on its own: memory and time per window stay bounded whatever the file length.

Every failure raises :class:`AudioError` with a one-line reason that names the file, so that the
engine can write it to ``failures.jsonl`` and go on.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from .record import SAMPLE_RATE

SOUNDFILE_EXTENSIONS = frozenset({".wav", ".wave", ".flac", ".ogg", ".oga", ".aiff", ".aif",
                                  ".aifc", ".au", ".snd", ".w64", ".rf64", ".caf"})
"""Extensions tried with soundfile first (seekable, sample-exact); others go to ffmpeg."""

AUDIO_EXTENSIONS = tuple(sorted(SOUNDFILE_EXTENSIONS | {
    ".mp3", ".m4a", ".aac", ".opus", ".wma", ".mka", ".amr", ".ac3", ".mp2",
    ".mp4", ".mkv", ".webm", ".mov", ".avi", ".3gp", ".flv"}))
"""Default extensions the sources collect (audio and video containers ffmpeg reads)."""

CLIP_LEVEL = 0.999
"""Samples with ``|x| >= CLIP_LEVEL`` count as clipped."""


class AudioError(RuntimeError):
    """A file could not be probed or decoded; the message is one line and names the file."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{self.path}: {self.reason}")


# -- probing -------------------------------------------------------------------------------------

def _check_readable(path: Path) -> None:
    """Raise AudioError for missing, empty or unreadable files before any decoder sees them."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            fh.read(1)
    except FileNotFoundError as exc:
        raise AudioError(path, "file not found") from exc
    except PermissionError as exc:
        raise AudioError(path, "permission denied") from exc
    except IsADirectoryError as exc:
        raise AudioError(path, "is a directory, not an audio file") from exc
    except OSError as exc:
        raise AudioError(path, f"cannot read file: {exc.strerror or exc}") from exc
    if size == 0:
        raise AudioError(path, "empty file (0 bytes)")


def _ffmpeg_reason(stderr: str) -> str:
    """Turn ffmpeg/ffprobe stderr into a short reason."""
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else "unknown error"
    if "Invalid data found when processing input" in stderr:
        return "not an audio file or corrupt: ffmpeg found no decodable data (invalid data)"
    if "Permission denied" in stderr:
        return "permission denied"
    return f"ffmpeg failed: {last[:200]}"


def _probe_ffmpeg(path: Path, timeout: float = 60.0) -> dict[str, Any]:
    cmd = ["ffprobe", "-v", "error", "-select_streams", "a:0",
           "-show_entries", "stream=codec_name,sample_rate,channels,duration:format=format_name,duration",
           "-of", "json", str(path)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise AudioError(path, "ffprobe is not installed (apt-get install ffmpeg)") from exc
    except subprocess.TimeoutExpired as exc:
        raise AudioError(path, f"ffprobe timed out after {timeout:.0f} s") from exc
    if res.returncode != 0:
        raise AudioError(path, _ffmpeg_reason(res.stderr))
    data = json.loads(res.stdout or "{}")
    streams = data.get("streams") or []
    if not streams:
        raise AudioError(path, "not an audio file: ffmpeg could not find an audio stream")
    st, fmt = streams[0], data.get("format", {})
    duration = st.get("duration") or fmt.get("duration")
    try:
        duration_s = float(duration) if duration not in (None, "N/A") else None
    except ValueError:
        duration_s = None
    return {"reader": "ffmpeg", "format": fmt.get("format_name", ""), "codec": st.get("codec_name", ""),
            "sample_rate": int(st.get("sample_rate") or 0), "channels": int(st.get("channels") or 0),
            "duration": duration_s}


def probe(path: str | Path) -> dict[str, Any]:
    """Cheap facts about ``path`` without decoding it: reader, format, codec, rate, channels, duration.

    Uses ``soundfile.info`` for the formats libsndfile reads (header only) and ``ffprobe`` for the
    rest, or when libsndfile does not recognise the content (e.g. an MP3 named ``.wav``).
    """
    import soundfile as sf

    path = Path(path)
    _check_readable(path)
    if path.suffix.lower() in SOUNDFILE_EXTENSIONS:
        try:
            info = sf.info(str(path))
        except Exception:  # noqa: BLE001 - not libsndfile's format: let ffprobe decide
            pass
        else:
            if info.samplerate > 0 and info.channels > 0:
                return {"reader": "soundfile", "format": info.format, "codec": info.subtype,
                        "sample_rate": int(info.samplerate), "channels": int(info.channels),
                        "duration": info.frames / info.samplerate}
    return _probe_ffmpeg(path)


# -- decoding ------------------------------------------------------------------------------------

def _read_soundfile(src: Any, name: str | Path, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    """Read ``duration`` seconds from ``offset`` with soundfile; (frames x channels, rate)."""
    import soundfile as sf

    try:
        with sf.SoundFile(src) as fh:
            rate = fh.samplerate
            start = int(round(offset * rate))
            if start and fh.frames and start >= fh.frames:
                raise AudioError(name, f"offset {offset:.2f} s is past the end ({fh.frames / rate:.2f} s)")
            if start:
                fh.seek(start)
            frames = -1 if duration is None else max(0, int(round(duration * rate)))
            data = fh.read(frames, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as exc:  # noqa: BLE001 - libsndfile errors have no useful type
        raise AudioError(name, f"truncated or corrupt: {exc}") from exc
    return data, rate


def _read_ffmpeg(path: Path | None, offset: float, duration: float | None, rate: int, channels: int,
                 data: bytes | None = None, timeout: float = 600.0) -> tuple[np.ndarray, str]:
    """Decode with an ffmpeg subprocess at the native rate/channel count; (frames x channels, stderr)."""
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error"]
    if offset > 0:
        cmd += ["-ss", f"{offset:.6f}"]  # before -i: fast input seeking
    if duration is not None:
        cmd += ["-t", f"{duration:.6f}"]
    cmd += ["-i", "pipe:0" if path is None else str(path), "-map", "0:a:0", "-vn",
            "-ac", str(channels), "-ar", str(rate), "-f", "f32le", "pipe:1"]
    name = path if path is not None else "<bytes>"
    try:
        res = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout, check=False,
                             stdin=None if data is not None else subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise AudioError(name, "ffmpeg is not installed (apt-get install ffmpeg)") from exc
    except subprocess.TimeoutExpired as exc:
        raise AudioError(name, f"ffmpeg timed out after {timeout:.0f} s") from exc
    stderr = res.stderr.decode("utf-8", "replace")
    if res.returncode != 0:
        raise AudioError(name, _ffmpeg_reason(stderr))
    samples = np.frombuffer(res.stdout, dtype="<f4")
    usable = samples.size - samples.size % channels
    return samples[:usable].reshape(-1, channels), stderr


SILENCE_DB = -120.0
"""Level reported for silence or an empty signal (dBFS)."""


def rms_db(x: np.ndarray) -> float:
    """RMS level in dBFS; ``SILENCE_DB`` for silence (RMS below 1e-6) or an empty array.

    The one level definition of the project: mixer gains, gates, acoustics and question features
    all measure with it, so a level quoted in a chain is the level the mixer set."""
    if x.size == 0:
        return SILENCE_DB
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return 20.0 * math.log10(rms) if rms > 1e-6 else SILENCE_DB


def resample(audio: np.ndarray, orig_sr: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling of a mono signal (exact rational ratio, no phase drift)."""
    if orig_sr == sr or audio.size == 0:
        return audio.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = math.gcd(int(orig_sr), int(sr))
    return resample_poly(audio, sr // g, int(orig_sr) // g).astype(np.float32)


def finish(frames: np.ndarray, orig_sr: int, sr: int = SAMPLE_RATE) -> tuple[np.ndarray, dict[str, Any]]:
    """Measure, clean, downmix and resample decoded ``frames`` (samples x channels, or 1-D).

    Stats are taken on the original samples (before downmix and resampling, which would hide
    clipping). Non-finite samples are zeroed so resampling cannot smear them; ``has_nan`` keeps the
    fact for the decode stage's policy. The output is clipped to [-1, 1].
    """
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim == 1:
        frames = frames[:, None]
    finite = np.isfinite(frames)
    nonfinite = int(frames.size - np.count_nonzero(finite))
    if nonfinite:
        frames = np.where(finite, frames, 0.0).astype(np.float32)
    mag = np.abs(frames)
    stats = {
        "peak": float(mag.max()) if mag.size else 0.0,
        "clipping_ratio": float(np.count_nonzero(mag >= CLIP_LEVEL) / mag.size) if mag.size else 0.0,
        "has_nan": bool(nonfinite),
        "nonfinite_samples": nonfinite,
    }
    mono = frames.mean(axis=1) if frames.shape[1] > 1 else frames[:, 0]
    mono = np.clip(resample(mono, orig_sr, sr), -1.0, 1.0).astype(np.float32)
    return mono, stats


def load_audio(path: str | Path, offset: float = 0.0, duration: float | None = None,
               sr: int = SAMPLE_RATE, max_seconds: float | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Decode ``duration`` seconds of ``path`` from ``offset`` to mono float32 at ``sr``.

    Returns ``(audio, info)``; ``info`` holds the original ``format``, ``codec``, ``sample_rate``,
    ``channels`` and file ``duration``, plus ``reader``, ``decoded_seconds``, ``peak``,
    ``clipping_ratio`` (share of samples at |x| >= 0.999), ``has_nan`` and ``decoder_errors``
    (non-fatal ffmpeg complaints, e.g. a damaged frame that was skipped). Raises
    :class:`AudioError` for empty, unreadable, non-audio, truncated or corrupt input, and, when
    ``max_seconds`` is given, for a read of more than ``max_seconds`` (bounds memory: a caller that
    asks for a whole file must not get an hour of audio by accident).
    """
    path = Path(path)
    info = probe(path)
    offset = max(0.0, float(offset or 0.0))
    if max_seconds is not None:
        span = duration if duration is not None else (
            info["duration"] - offset if info["duration"] is not None else None)
        if span is not None and span > max_seconds:
            raise AudioError(path, f"read of {span:.0f} s exceeds the {max_seconds:.0f} s limit "
                                   "(sources cut long files into windows; lower max_clip_s)")
    if duration is not None and duration <= 0:
        raise AudioError(path, f"requested duration {duration} s is not positive")
    if info["duration"] is not None and offset > 0 and offset >= info["duration"]:
        raise AudioError(path, f"offset {offset:.2f} s is past the end ({info['duration']:.2f} s)")
    stderr = ""
    if info["reader"] == "soundfile":
        frames, rate = _read_soundfile(str(path), path, offset, duration)
    else:
        rate = info["sample_rate"] or sr
        frames, stderr = _read_ffmpeg(path, offset, duration, rate, max(1, info["channels"]))
    return _complete(frames, rate, sr, info, stderr, path)


def _complete(frames: np.ndarray, rate: int, sr: int, info: dict[str, Any], stderr: str,
              name: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """Shared last step of both loaders: refuse an empty decode, downmix/resample, fill ``info``."""
    if frames.shape[0] == 0:
        raise AudioError(name, "no audio samples could be decoded (truncated or empty stream)")
    audio, stats = finish(frames, rate, sr)
    info.update(stats)
    info["decoded_seconds"] = frames.shape[0] / rate
    info["decoder_errors"] = stderr.strip().splitlines()[0][:200] if stderr.strip() else ""
    return audio, info


def load_audio_bytes(data: bytes, sr: int = SAMPLE_RATE, name: str = "<bytes>") -> tuple[np.ndarray, dict[str, Any]]:
    """Decode a whole in-memory file (e.g. a ``datasets`` Audio cell) like :func:`load_audio`."""
    import soundfile as sf

    if not data:
        raise AudioError(name, "empty file (0 bytes)")
    try:
        meta = sf.info(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - not a libsndfile format: ffmpeg reads it from stdin
        meta = None
    if meta is not None and meta.samplerate > 0:
        frames, rate = _read_soundfile(io.BytesIO(data), name, 0.0, None)
        info: dict[str, Any] = {"reader": "soundfile", "format": meta.format, "codec": meta.subtype,
                                "sample_rate": rate, "channels": meta.channels,
                                "duration": meta.frames / rate}
        stderr = ""
    else:
        # ffmpeg cannot probe a pipe cheaply; decode at the target rate and report channels as 1.
        try:
            frames, stderr = _read_ffmpeg(None, 0.0, None, sr, 1, data=data)
        except AudioError as exc:
            raise AudioError(name, exc.reason) from exc
        rate = sr
        info = {"reader": "ffmpeg", "format": "", "codec": "", "sample_rate": sr, "channels": 1,
                "duration": frames.shape[0] / sr}
    return _complete(frames, rate, sr, info, stderr, name)


MAX_HEADER_S = 1e7
"""A header claiming more than this (about 116 days) is not believed: libsndfile reports a FLAC
without a length in its header as 2**63 frames, and plans made from it never end."""


def decoded_duration(path: str | Path, limit_s: float | None = None, timeout: float = 600.0) -> float | None:
    """Seconds of audio ``path`` really holds, by decoding it as a stream (memory stays flat).

    Decoding stops at ``limit_s`` when given (the answer is then at most ``limit_s``). None when
    ffmpeg cannot decode the file. Used only when the header gives no usable length."""
    rate = 8000  # mono 8 kHz 16-bit: the cheapest stream that still counts time exactly enough
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path)]
    if limit_s is not None:
        cmd += ["-t", f"{limit_s:.3f}"]
    cmd += ["-ac", "1", "-ar", str(rate), "-f", "s16le", "pipe:1"]
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return None
    total = 0
    try:
        assert proc.stdout is not None
        while chunk := proc.stdout.read(1 << 20):
            total += len(chunk)
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return total / (2 * rate) if total else None


def readable_duration(path: str | Path, limit_s: float | None = None) -> float | None:
    """Duration in seconds from :func:`probe`, or None when the file cannot be probed.

    A header without a usable length (missing, not finite, or over ``MAX_HEADER_S``) is replaced
    by :func:`decoded_duration` (up to ``limit_s``)."""
    try:
        duration = probe(path)["duration"]
    except AudioError:
        return None
    if duration is None or not math.isfinite(duration) or duration <= 0 or duration > MAX_HEADER_S:
        return decoded_duration(path, limit_s)
    return duration


def safe_join(root: str | Path, rel: str) -> Path | None:
    """``root/rel`` resolved, or None when it escapes ``root`` (absolute, '..', or outside symlink)."""
    if not rel or os.path.isabs(rel):
        return None
    base = Path(root).resolve()
    target = (base / rel).resolve()
    try:
        target.relative_to(base)
    except ValueError:
        return None
    return target

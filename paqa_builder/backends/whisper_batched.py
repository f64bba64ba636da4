"""Whisper batched across the clips of a stage batch, on whole clips or on VAD regions.

faster-whisper's ``BatchedInferencePipeline`` decodes many <= 30 s chunks of one audio array in one
encoder/decoder batch. Here the chunks come from every clip of the batch at once: the clips are
laid end to end, each clip's chunks become ``clip_timestamps`` (never merged across clips), and
the segments are handed back to their clip with clip-relative times.

Measured on 2 CPU cores (Whisper base int8, the first 24 scenes of tune-group folder ``real_s11``;
``benchmarks/asr_batching.py``, results in ``benchmarks/README.md``), against one pass per clip
(WER 16.03 %, the project's normaliser):

- whole clips, language forced: WER 16.21 %, Whisper time 1.19x shorter;
- VAD regions only (the recipe's Silero regions, padded 0.2-2 s): WER 18.9-23.0 %, worse;
- the transcriber stage as the portable recipe runs it (language detected per clip, one more
  encoder pass per clip), whole clips: 34.7-35.1 s against 27.0-28.2 s, WER 16.58 %.

So the transcriber uses it for whole clips, and only when asked (``batch_regions: true``, or
``"auto"`` for CUDA only): it is not measured on a GPU yet, and the batched pipeline ignores
``no_speech_threshold``, ``log_prob_threshold`` and ``compression_ratio_threshold`` and uses only
the first temperature, so windows the one-by-one path drops as silence can come out as text.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


def region_chunks(regions: list[tuple[float, float]], duration: float, pad: float = 0.2,
                  max_seconds: float = 30.0) -> list[tuple[float, float]]:
    """The decoding chunks of one clip: its speech regions padded by ``pad`` seconds and clipped to
    the clip, then joined greedily, pauses included, while a chunk stays within ``max_seconds``
    (Whisper's window); a single region longer than that is cut into consecutive windows. Sorted,
    in seconds. Leading and trailing non-speech and long pauses between windows are never decoded.

    Joining matters: in a probe on 24 tune-group recorded scenes (faster-whisper's own VAD regions),
    a chunk per region gave WER 27.0-29.9 % where joined regions gave 18.8 %, and every chunk costs
    a full 30 s encoder window."""
    padded = sorted((max(0.0, a - pad), min(duration, b + pad)) for a, b in regions if b > a)
    pieces: list[tuple[float, float]] = []
    for a, b in padded:
        while b - a > max_seconds:
            pieces.append((a, a + max_seconds))
            a += max_seconds
        pieces.append((a, b))
    chunks: list[list[float]] = []
    for a, b in pieces:
        if chunks and b - chunks[-1][0] <= max_seconds:
            chunks[-1][1] = max(chunks[-1][1], b)
        else:  # a new window, starting where an overlapping one ended
            chunks.append([max(a, chunks[-1][1]) if chunks else a, b])
    return [(a, b) for a, b in chunks if b - a > 0.05]  # a sliver holds no word


def _shift(segment: Any, offset: float) -> Any:
    """A copy of a faster-whisper ``Segment`` (and its words) moved ``offset`` seconds earlier."""
    words = segment.words
    if words is not None:
        words = [dataclasses.replace(w, start=w.start - offset, end=w.end - offset) for w in words]
    return dataclasses.replace(segment, start=segment.start - offset, end=segment.end - offset, words=words)


def decode_regions(pipeline: Any, audios: list[np.ndarray], chunks: list[list[tuple[float, float]]],
                   sample_rate: int, batch_size: int, **decode: Any) -> list[list[Any]]:
    """Decode every clip's ``chunks`` in one ``BatchedInferencePipeline.transcribe`` call.

    Args:
        pipeline: a ``faster_whisper.BatchedInferencePipeline``.
        audios: one mono float32 array per clip, at ``sample_rate``.
        chunks: per clip, ``(start, end)`` seconds to decode (``region_chunks``); a clip with none
            gets no segment.
        sample_rate: of ``audios`` (16 kHz for Whisper).
        batch_size: chunks per encoder/decoder batch.
        decode: passed to ``transcribe`` (language, beam_size, ...); ``word_timestamps`` is always on.

    Returns:
        per clip, its segments in time order, with clip-relative segment and word times.
    """
    if len(audios) != len(chunks):
        raise ValueError(f"{len(audios)} clips but {len(chunks)} chunk lists")
    offsets = np.cumsum([0] + [a.size for a in audios[:-1]]) / float(sample_rate)
    stamps, owners = [], []
    for clip, (offset, spans) in enumerate(zip(offsets, chunks)):
        for a, b in spans:
            stamps.append({"start": float(offset + a), "end": float(offset + b)})
            owners.append(clip)
    result: list[list[Any]] = [[] for _ in audios]
    if not stamps:
        return result
    joined = np.concatenate([np.asarray(a, dtype=np.float32) for a in audios])
    # timestamp tokens on (the pipeline's default is off): without them the decoder writes a chunk
    # as one run and drops sentences (28.1 % against 18.8 % WER in the probe of region_chunks)
    segments, _info = pipeline.transcribe(joined, clip_timestamps=stamps, batch_size=batch_size,
                                          word_timestamps=True, without_timestamps=False, **decode)
    starts = np.array([s["start"] for s in stamps])
    for segment in segments:
        # the chunk a segment came from: the pipeline writes its start into ``seek`` (in 10 ms
        # frames). Not its times: word alignment and segments without words can run past the
        # chunk's end, into the next clip's time
        k = int(np.argmin(np.abs(starts - segment.seek / 100.0)))
        result[owners[k]].append(_shift(segment, float(offsets[owners[k]])))
    return result

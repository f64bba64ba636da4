"""Whisper on VAD regions, batched across clips, against one pass per whole clip (issue 17).

Reads mixed scenes (``paqa-build mix`` output: ``stems/<clip>.speech.flac`` + ``manifest.jsonl``
with truth turns), finds speech regions with the portable recipe's VAD stage (Silero ONNX) on
each speech stem, and prints, from one run:

1. language forced to English: time and WER of faster-whisper's one pass per clip against
   ``whisper_batched.decode_regions`` (the regions of all clips in one batched call);
2. the transcriber stage as the portable recipe runs it (language detected per clip, batches of
   4 clips): ``batch_regions`` off against on, twice each, alternating.

Quote only tune-group folders when choosing anything from it::

    python benchmarks/asr_batching.py --scenes /tmp/cal/real_s11 --clips 24
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv: list[str] | None = None) -> None:
    """Run both comparisons and print one line per measurement."""
    import soundfile as sf
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    from paqa_builder import packaged_models as packaged
    from paqa_builder.backends.transcribe_fw import FasterWhisperTranscriber
    from paqa_builder.backends.vad_silero import SileroVAD
    from paqa_builder.backends.whisper_batched import decode_regions, region_chunks
    from paqa_builder.evaluation.metrics import WerCounts, wer_counts
    from paqa_builder.record import ClipRecord

    def corpus_wer(hyps: list[str]) -> float:
        """WER over all scenes, with the project's scoring normaliser (as ``paqa-build eval``)."""
        return sum((wer_counts(r, h) for r, h in zip(refs, hyps)), WerCounts()).wer

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", required=True, type=Path, help="a paqa-build mix output folder")
    ap.add_argument("--clips", type=int, default=24, help="the first N scenes with a speech stem")
    ap.add_argument("--pads", type=float, nargs="+", default=[0.2],
                    help="region_pad values (s) for the language-forced comparison; the stage uses the first")
    ap.add_argument("--no-stage", action="store_true", help="skip the stage comparison (2)")
    args = ap.parse_args(argv)
    truth = {}
    for line in (args.scenes / "manifest.jsonl").read_text().splitlines():
        row = json.loads(line)
        turns = sorted(row["truth"].get("turns", []), key=lambda t: t["start"])
        truth[row["clip_id"]] = " ".join(t.get("text", "") for t in turns)
    files = sorted(glob.glob(str(args.scenes / "stems" / "*.speech.flac")))[: args.clips]
    ids = [Path(f).name.split(".")[0] for f in files]
    audios = [sf.read(f, dtype="float32")[0] for f in files]
    refs = [truth[i] for i in ids]
    vad = SileroVAD(onnx=True)
    vad.ensure_setup()

    def records() -> list[ClipRecord]:
        recs = [ClipRecord(clip_id=i, source="bench", path=f, audio=a, speech_audio=a, duration=a.size / 16000)
                for i, f, a in zip(ids, files, audios)]
        vad(recs)
        return recs

    regions = [list(r.speech_regions or []) for r in records()]
    print(f"{len(files)} scenes from {args.scenes}, {sum(a.size for a in audios) / 16000:.0f} s of speech stems")
    model = WhisperModel(str(packaged.whisper_base_dir()), device="cpu", compute_type="int8", local_files_only=True)
    options = {"language": "en", "beam_size": 5, "temperature": 0.0}

    def one_by_one() -> list[str]:
        return [" ".join(s.text for s in model.transcribe(a, word_timestamps=True, condition_on_previous_text=False,
                                                           **options)[0]) for a in audios]

    one_by_one()  # warm
    start = time.perf_counter()
    hyps = one_by_one()
    print(f"language forced, one pass per clip: {time.perf_counter() - start:.1f} s, "
          f"WER {corpus_wer(hyps):.4f}")
    for pad in args.pads:
        chunks = [region_chunks(r, a.size / 16000, pad) for r, a in zip(regions, audios)]
        start = time.perf_counter()
        out = decode_regions(BatchedInferencePipeline(model), audios, chunks, 16000, 16, **options)
        hyps = [" ".join(s.text for s in o) for o in out]
        print(f"language forced, batched VAD regions, pad {pad:g} s ({sum(map(len, chunks))} chunks): "
              f"{time.perf_counter() - start:.1f} s, WER {corpus_wer(hyps):.4f}")
    for mode in () if args.no_stage else (False, True, False, True):
        stage = FasterWhisperTranscriber(cpu_threads=2, batch_regions=mode, batch_size=4, region_pad=args.pads[0])
        stage.ensure_setup()
        recs = records()
        start = time.perf_counter()
        for k in range(0, len(recs), 4):
            stage(recs[k: k + 4])
        print(f"transcriber stage, language detected, batch_regions={mode}: {time.perf_counter() - start:.1f} s, "
              f"WER {corpus_wer([r.transcript or '' for r in recs]):.4f}")


if __name__ == "__main__":
    main()

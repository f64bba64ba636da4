"""Transcription with WhisperX (paper profile): batched faster-whisper, then wav2vec2 alignment.

``whisperx.load_model`` loads the CTranslate2 Whisper (a Hub name such as ``large-v3`` or a local
folder) together with WhisperX's voice-activity model (the pyannote segmentation model shipped in
the whisperx wheel, so no download); ``transcribe`` decodes the VAD chunks of a clip in batches.
Word times come from ``whisperx.align`` with a wav2vec2 CTC model loaded by
``whisperx.load_align_model``, where one is available for the clip's language; otherwise the words
of each segment are spread over it by length and the clip gets a warning. Alignment runs with the
offline punkt fallback of ``nltk_offline`` so it never tries ``nltk.download``.

Words are given speakers with ``speakers.assign_words_to_speakers`` (the same rule as the portable
transcriber), which also fills the text of each diarization turn.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..record import SAMPLE_RATE, ClipRecord, Word
from ..stages.slots import Transcriber
from . import hub
from .speakers import assign_words_to_speakers
from .stems import asr_input


class WhisperXTranscriber(Transcriber):
    """Fill ``words``, ``transcript``, ``language`` and ``asr_confidence``; fill turn texts if diarized.

    ``asr_confidence`` is the duration-weighted mean over segments of ``exp(avg_logprob)`` (Whisper's
    mean token probability); a clip where nothing was decoded gets 0.0, so the composer abstains
    from transcript questions. Reads ``speech_audio`` when present (else ``audio``) and ``turns``
    when present.
    """

    backend = "whisperx"
    uses_gpu = True

    def __init__(
        self,
        model: str = "large-v3",
        device: str = "auto",
        compute_type: str = "default",
        language: str | None = None,
        align: bool | str = "auto",
        align_model: str | None = None,
        segment_batch_size: int = 16,
        input: str = "speech",
        residual_gain: float = 0.0,
        vad_method: str = "pyannote",
        vad_onset: float = 0.5,
        vad_offset: float = 0.363,
        chunk_size: int = 30,
        asr_options: dict[str, Any] | None = None,
        threads: int = 4,
        download_root: str | None = None,
        **params: Any,
    ) -> None:
        """Configure the transcriber.

        Args:
            model: faster-whisper model name (``large-v3``, ``medium``, a Hub id) or a local
                CTranslate2 folder (``model.bin`` + ``tokenizer.json``).
            device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
            compute_type: CTranslate2 compute type; ``default`` is float16 on GPU, float32 on CPU.
            language: ISO code forcing the language; None detects it per clip.
            align: ``auto`` aligns where an alignment model is available (else even spreading
                and a warning), ``true`` requires alignment, ``false`` never aligns.
            align_model: wav2vec2 CTC model for alignment: local folder, Hub id or torchaudio
                bundle name; None uses WhisperX's default for the language.
            segment_batch_size: VAD chunks decoded together by WhisperX within a clip.
            input: ``speech`` transcribes the speech stem when the separate stage made one,
                ``mixture`` always transcribes ``audio``.
            residual_gain: share of the background stem added back to the speech stem before
                recognition (see ``stems.asr_input``); ignored for ``mixture``.
            vad_method: WhisperX VAD, ``pyannote`` (carried by the whisperx wheel) or ``silero``
                (fetched through torch.hub).
            vad_onset: VAD onset threshold.
            vad_offset: VAD offset threshold.
            chunk_size: longest VAD chunk in seconds handed to Whisper.
            asr_options: extra faster-whisper decoding options (``beam_size``, ...).
            threads: CPU threads for CTranslate2.
            download_root: folder for downloaded Whisper models (default: the HF cache).
            **params: ``batch_size`` (clips per call) and base-class parameters.
        """
        super().__init__(**params)
        if input not in ("speech", "mixture"):
            raise ValueError(f"transcribe:whisperx input must be 'speech' or 'mixture', not {input!r}")
        self.model_name = str(model)
        self.device_name = device
        self.compute_type = compute_type
        self.language = language
        self.align = align if isinstance(align, bool) else str(align).lower()
        if self.align not in (True, False, "auto"):
            raise ValueError(f"transcribe:whisperx align must be auto, true or false, not {align!r}")
        self.align_model = align_model
        self.segment_batch_size = int(segment_batch_size)
        self.input = input
        self.residual_gain = float(residual_gain)
        self.vad_method = vad_method
        self.vad_options = {"vad_onset": vad_onset, "vad_offset": vad_offset, "chunk_size": chunk_size}
        self.chunk_size = int(chunk_size)
        self.asr_options = dict(asr_options or {})
        self.threads = int(threads)
        self.download_root = download_root
        self._asr: Any = None
        self._aligners: dict[str, tuple[Any, dict] | None] = {}
        self._align_skipped: dict[str, str] = {}
        self._device = "cpu"
        self._punkt_fallback = False

    # -- availability ----------------------------------------------------------------------------
    def check_available(self) -> None:
        """One-line errors for a missing package, Whisper model or (required) alignment model."""
        what = f"{self.name}:{self.backend}"
        try:
            import whisperx  # noqa: F401
        except ImportError as exc:
            raise RuntimeError(f"{what}: whisperx cannot be imported ({exc}); pip install whisperx.") from None
        ref = self.model_name
        if hub.is_local(ref) or hub.looks_like_path(ref):
            folder = hub.require_local_path(ref, what, must_contain=("model.bin",))
            if not (folder / "tokenizer.json").is_file() and hub.hub_offline():
                raise RuntimeError(f"{what}: {folder} has no tokenizer.json and HF_HUB_OFFLINE is set; "
                                   f"copy the model's tokenizer.json into it.")
        else:
            from faster_whisper.utils import _MODELS

            repo_id = _MODELS.get(ref, ref)
            if "/" not in repo_id:
                raise RuntimeError(f"{what}: unknown Whisper model {ref!r}; use one of "
                                   f"{', '.join(sorted(_MODELS))}, a Hub id or a local folder.")
            hub.require_hf_model(repo_id, what, [("model.bin",), ("config.json",), ("tokenizer.json",)])
        if self.align is True:
            name = self._align_name(self.language or "en")
            reason = self._align_unavailable(name)
            if reason:
                raise RuntimeError(f"{what}: {reason}; set stages.transcribe.align_model, or align: auto.")

    def _align_name(self, language: str) -> str | None:
        """The alignment model for ``language``: the configured one, else WhisperX's default."""
        if self.align_model:
            return self.align_model
        from whisperx.alignment import DEFAULT_ALIGN_MODELS_HF, DEFAULT_ALIGN_MODELS_TORCH

        return DEFAULT_ALIGN_MODELS_TORCH.get(language) or DEFAULT_ALIGN_MODELS_HF.get(language)

    def _align_unavailable(self, name: str | None) -> str | None:
        """Why the alignment model ``name`` cannot be loaded now without a download, or None."""
        if not name:
            return f"no alignment model for language {self.language or 'detected'}"
        if hub.is_local(name):
            return None if (Path(name).expanduser() / "config.json").is_file() else f"{name} lacks config.json"
        import torchaudio.pipelines

        if name in torchaudio.pipelines.__all__:
            import torch

            bundle = getattr(torchaudio.pipelines, name)
            weights = Path(torch.hub.get_dir()) / "checkpoints" / Path(bundle._path).name
            if weights.is_file() or not hub.hub_offline():
                return None
            return f"torchaudio alignment model {name} is not downloaded and HF_HUB_OFFLINE is set"
        if hub.cached_file(name, "config.json") or not hub.hub_offline():
            return None
        return f"alignment model {name} is not in the Hugging Face cache and HF_HUB_OFFLINE is set"

    # -- lifecycle -------------------------------------------------------------------------------
    def setup(self) -> None:
        """Load the WhisperX pipeline (and the alignment model when the language is fixed)."""
        import whisperx

        from .nltk_offline import patch_whisperx_alignment

        self._punkt_fallback = patch_whisperx_alignment()
        self._device = hub.resolve_device(self.device_name)
        kind, _, index = self._device.partition(":")
        self._asr = whisperx.load_model(
            self.model_name, kind, device_index=int(index or 0), compute_type=self.compute_type,
            asr_options=self.asr_options or None, language=self.language,
            vad_method=self.vad_method, vad_options=self.vad_options,
            download_root=self.download_root, local_files_only=hub.hub_offline(), threads=self.threads,
        )
        if self.language and self.align is not False:
            self._aligner(self.language)

    def _aligner(self, language: str) -> tuple[Any, dict] | None:
        """Alignment model and metadata for ``language``, loaded once; None when unavailable (auto)."""
        if language in self._aligners:
            return self._aligners[language]
        loaded = None
        if self.align is not False:
            name = self._align_name(language)
            reason = self._align_unavailable(name)
            if reason is None:
                import whisperx

                try:
                    loaded = whisperx.load_align_model(language, self._device, model_name=name)
                except Exception as exc:  # noqa: BLE001 - "auto" degrades, "true" re-raises below
                    reason = f"loading alignment model {name} failed: {type(exc).__name__}: {exc}"
            if reason is not None:
                if self.align is True:
                    raise RuntimeError(f"{self.name}:{self.backend}: {reason}")
                self._align_skipped[language] = " ".join(reason.split())
        self._aligners[language] = loaded
        return loaded

    def provenance(self) -> str:
        """Stage, backend, Whisper model, alignment model and WhisperX version."""
        from importlib.metadata import version

        aligners = sorted(lang for lang, a in self._aligners.items() if a is not None)
        align = ",".join(f"{lang}:{self._align_name(lang)}" for lang in aligners) or "none"
        punkt = " punkt=rule-fallback" if self._punkt_fallback and aligners else ""
        return (f"{self.name}:{self.backend} model={self.model_name} align={align}{punkt} "
                f"version=whisperx-{version('whisperx')}")

    # -- work ------------------------------------------------------------------------------------
    def process_batch(self, batch: list[ClipRecord]) -> None:
        """Transcribe, align and attribute every clip of ``batch``."""
        for record in batch:
            self._transcribe_one(record)

    def _transcribe_one(self, record: ClipRecord) -> None:
        use_speech = self.input == "speech"
        audio = asr_input(record.speech_audio if use_speech else None, record.background_audio,
                          record.audio, self.residual_gain)
        duration = audio.size / SAMPLE_RATE
        result = self._asr.transcribe(audio, batch_size=self.segment_batch_size,
                                      language=self.language, chunk_size=self.chunk_size)
        language = result.get("language") or self.language or ""
        segments = [s for s in result["segments"] if s.get("text", "").strip()]
        aligner = self._aligner(language) if segments and language else None
        if aligner is not None:
            import whisperx

            aligned = whisperx.align(segments, aligner[0], aligner[1], audio, self._device,
                                     return_char_alignments=False)["segments"]
            words = _aligned_words(aligned, duration)
        else:
            if segments and self.align is not False:
                why = self._align_skipped.get(language, f"no alignment for language {language!r}")
                record.warnings.append(f"transcribe: word times spread evenly over segments ({why})")
            words = [w for s in segments for w in _even_words(s["text"], s["start"], s["end"], duration)]
        record.words = words
        record.transcript = " ".join(s["text"].strip() for s in segments)
        record.language = language or None
        record.asr_confidence = _confidence(segments)
        if record.turns:
            assign_words_to_speakers(words, record.turns)


def _confidence(segments: list[dict]) -> float:
    """Duration-weighted mean of ``exp(avg_logprob)``; 0.0 when no segment was decoded."""
    weights, probs = [], []
    for seg in segments:
        logprob = seg.get("avg_logprob")
        if logprob is None or not math.isfinite(logprob):
            continue
        weights.append(max(float(seg["end"]) - float(seg["start"]), 1e-3))
        probs.append(min(1.0, math.exp(float(logprob))))
    if not weights:
        return 0.0
    return float(np.average(probs, weights=weights))


def _clamp(t: float, duration: float) -> float:
    return float(min(max(t, 0.0), duration))


def _even_words(text: str, start: float, end: float, duration: float) -> list[Word]:
    """Words of ``text`` spread over [start, end] in proportion to their length (no alignment)."""
    tokens = text.split()
    if not tokens:
        return []
    start, end = _clamp(start, duration), _clamp(end, duration)
    total = sum(len(t) for t in tokens)
    out, t = [], start
    for token in tokens:
        step = (end - start) * len(token) / total
        out.append(Word(word=token, start=round(t, 3), end=round(t + step, 3)))
        t += step
    return out


def _aligned_words(segments: list[dict], duration: float) -> list[Word]:
    """``Word`` list from ``whisperx.align`` segments; words it could not place get neighbour times."""
    words: list[Word] = []
    for seg in segments:
        raw = [w for w in seg.get("words", []) if str(w.get("word", "")).strip()]
        seg_start = _finite(seg.get("start"), 0.0)
        seg_end = _finite(seg.get("end"), duration)
        if not raw and str(seg.get("text", "")).strip():
            words.extend(_even_words(seg["text"], seg_start, seg_end, duration))
            continue
        prev_end = seg_start
        for i, w in enumerate(raw):
            start = _finite(w.get("start"), None)
            end = _finite(w.get("end"), None)
            if start is None:
                start = prev_end
            if end is None:
                # next placed word's start, else the segment end
                nxt = next((_finite(v.get("start"), None) for v in raw[i + 1:]
                            if _finite(v.get("start"), None) is not None), None)
                end = nxt if nxt is not None else seg_end
            start, end = _clamp(start, duration), _clamp(max(end, start), duration)
            score = _finite(w.get("score"), None)
            words.append(Word(word=re.sub(r"\s+", " ", str(w["word"]).strip()), start=round(start, 3),
                              end=round(end, 3), score=None if score is None else round(score, 3)))
            prev_end = end
    words.sort(key=lambda w: (w.start, w.end))
    return words


def _finite(value: Any, default: float | None) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default

"""Transcription with faster-whisper (CTranslate2): words with timestamps, language, confidence.

Portable default: Whisper *base* joined from the packaged wheels (see ``packaged.py``), int8 on CPU,
float16 on CUDA. Word times come from faster-whisper's cross-attention alignment
(``word_timestamps=True``); the WhisperX backend adds wav2vec2 alignment where its model exists.
Nothing here downloads: ``model`` must be a local CTranslate2 directory or the packaged base.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, ClassVar

import numpy as np

from .. import packaged_models as packaged
from ..record import ClipRecord, Word
from ..stages.slots import Transcriber
from .speakers import assign_words_to_speakers
from .stems import asr_input

APOSTROPHES = ("'", "\u2019")
NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "km", "yue", "bo"})
"""Languages written without spaces between words (turn texts are joined with "")."""


def choose_device(device: str) -> str:
    """``"auto"`` becomes ``"cuda"`` when CTranslate2 sees a GPU, else ``"cpu"``."""
    if device != "auto":
        return device
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def asr_confidence(word_probs: list[float], seg_logprobs: list[tuple[float, float]]) -> float | None:
    """Clip ASR confidence in [0, 1]: the lower of mean word probability and exp(mean logprob).

    ``seg_logprobs`` holds (duration, avg_logprob) per segment; the mean is duration-weighted.
    Taking the lower of the two keeps the composer's abstain rule conservative: a transcript is
    trusted only when both the per-word and the per-token evidence are strong. None when no word
    was recognised (nothing to be confident about).
    """
    if not word_probs:
        return None
    word_mean = float(np.mean(word_probs))
    total = sum(max(d, 1e-3) for d, _ in seg_logprobs)
    if total <= 0:
        return word_mean
    mean_lp = sum(max(d, 1e-3) * lp for d, lp in seg_logprobs) / total
    return float(min(word_mean, math.exp(min(mean_lp, 0.0))))


class FasterWhisperTranscriber(Transcriber):
    """Transcribe the speech stem (or the mixture) with faster-whisper and assign words to turns.

    Writes ``words`` (with start/end/score, and speaker when ``turns`` exist), ``transcript``,
    ``language`` and ``asr_confidence``; when diarization ``turns`` are present it also fills each
    ``Turn.text`` in place with the words assigned to it.
    """

    backend: ClassVar[str] = "faster_whisper"

    def __init__(self, model: str | None = None, language: str | None = None,
                 beam_size: int = 5, device: str = "auto", compute_type: str = "auto",
                 cpu_threads: int = 0, vad_filter: bool = False, use_speech_stem: bool = True,
                 condition_on_previous_text: bool = False, residual_gain: float = 0.0,
                 temperature: float | list[float] = 0.0, max_compression_ratio: float = 2.4,
                 loop_retry_ngram: int = 3, max_words_per_second: float = 8.0,
                 skip_without_speech: bool = True, batch_regions: bool | str = False,
                 region_pad: float | None = None, region_batch_size: int = 16, **params: Any) -> None:
        """Configure the transcriber.

        Args:
            model: local CTranslate2 Whisper directory; None uses the packaged Whisper base
                (joined into ``$PAQA_CACHE`` on first use). Never a hub name: nothing downloads.
            language: ISO code to force (e.g. ``"en"``); None detects it per clip.
            beam_size: beam width for decoding (1 = greedy, faster, a little less accurate).
            device: ``"auto"`` (CUDA when CTranslate2 sees one), ``"cpu"`` or ``"cuda"``.
            compute_type: CTranslate2 compute type; ``"auto"`` = int8 on CPU, float16 on CUDA.
            cpu_threads: CTranslate2 intra-op threads; 0 lets it choose.
            vad_filter: run faster-whisper's own Silero VAD first (off: the pipeline's VAD and
                separation stages already handle silence, and it would shift nothing but time).
            use_speech_stem: transcribe ``speech_audio`` when a separation stage produced it.
            condition_on_previous_text: feed the previous window's text as prompt (off: it
                makes hallucination loops on noisy clips more likely).
            residual_gain: share of the background stem added back to the speech stem before
                recognition (0 = the stem alone; see ``stems.asr_input`` for the measurement).
            temperature: decoding temperature, or a list for Whisper's fallback (re-decode by
                sampling at the next temperature when a window looks like a loop). The default 0
                keeps a build reproducible: the fallback samples from CTranslate2's random
                generator, which cannot be seeded per clip, so a clip could come out differently
                in two runs. Loops are handled deterministically instead (``loop_retry_ngram``).
            max_compression_ratio: a segment whose text compresses better than this (gzip ratio,
                Whisper's own loop test) is a repetition loop.
            loop_retry_ngram: when a segment is a loop, decode the clip again forbidding repeated
                n-grams of this many tokens, and keep that result if it loops less (0: never).
                Measured on mix seed 7: one clip of 60 looped at temperature 0 ("The doctor told
                Kim to drink more water." 20 times, clip WER 237 %).
            max_words_per_second: a segment of 8 words or more spoken faster than this is not
                speech but a hallucination (fast human speech stays under about 6 words/s) and
                is dropped, with a warning (0: keep everything). Seen at the end of a real
                two-speaker call, where Whisper base wrote about 200 words of invented dialogue
                into its last 2 s; such text varies its words, so the compression test above
                does not catch it. The bound is physical, not fitted to that recording.
            skip_without_speech: when the VAD stage ran and found no speech region in the clip,
                write an empty transcript without running Whisper (what it writes there is
                invented: on the shipped sample, "1,5%, 2%..." over engine noise).
            batch_regions: decode the speech clips of a stage batch together, in one batched
                faster-whisper call per language (``whisper_batched``); ``"auto"``: on CUDA only.
                Off by default: on 2 CPU cores, with the language detected per clip, the stage was
                slower (34.7-35.1 s with whole clips against 27.0-28.2 s one by one, on 24 tune
                scenes), it is not measured on a GPU, and the batched pipeline skips Whisper's
                silence and fallback rules (see ``whisper_batched``). Clips longer than one
                window, with no language known up front, or in a repetition loop are decoded one
                by one; clips without VAD speech skip Whisper in both modes.
            region_pad: None (default): each speech clip is decoded whole in the batched mode;
                a number: only its VAD regions, padded by that many seconds. Decoding only the
                regions raised word error rate on tune scenes (16.0 % -> 18.9-23.0 % for pads of
                0.2-2 s, ``benchmarks/asr_batching.py``); whole clips: 16.2 % (language forced),
                16.6 % (stage).
            region_batch_size: chunks (<= 30 s each) per encoder/decoder batch in that mode.
        """
        super().__init__(**params)
        self.model_dir = model
        self.language = language
        self.beam_size = int(beam_size)
        self.device = device
        self.compute_type = compute_type
        self.cpu_threads = int(cpu_threads)
        self.vad_filter = bool(vad_filter)
        self.use_speech_stem = bool(use_speech_stem)
        self.condition_on_previous_text = bool(condition_on_previous_text)
        self.residual_gain = float(residual_gain)
        self.temperature = (float(temperature) if isinstance(temperature, (int, float))
                            else [float(t) for t in temperature])
        self.max_compression_ratio = float(max_compression_ratio)
        self.loop_retry_ngram = int(loop_retry_ngram)
        self.max_words_per_second = float(max_words_per_second)
        self.skip_without_speech = bool(skip_without_speech)
        if batch_regions not in (True, False, "auto"):
            raise ValueError(f"batch_regions must be true, false or 'auto', got {batch_regions!r}")
        self.batch_regions = batch_regions
        self.region_pad = None if region_pad is None else float(region_pad)
        self.region_batch_size = int(region_batch_size)
        self._pipeline: Any = None
        self.model: Any = None
        self._encoded: tuple[bytes, Any] | None = None
        self._desc = ""

    # -- lifecycle -------------------------------------------------------------------------------
    def check_available(self) -> None:
        """Fail fast when faster-whisper or the model files are missing."""
        if importlib_missing("faster_whisper"):
            raise RuntimeError("transcribe/faster_whisper needs faster-whisper: pip install faster-whisper")
        if self.model_dir is None:
            if not packaged.whisper_base_available():
                raise RuntimeError(f"transcribe/faster_whisper: no packaged Whisper base; "
                                   f"{packaged.INSTALL_HINT}, or set stages.transcribe.model=<dir>")
        else:
            from pathlib import Path

            if not (Path(self.model_dir) / "model.bin").is_file():
                raise RuntimeError(f"transcribe/faster_whisper: {self.model_dir} holds no model.bin "
                                   "(expected a CTranslate2 Whisper directory)")

    def setup(self) -> None:
        """Join the packaged model if needed and load it once on the chosen device."""
        from faster_whisper import WhisperModel

        if self.model_dir is None:
            model_dir = str(packaged.whisper_base_dir())
            model_desc = packaged.whisper_base_provenance()
        else:
            model_dir = str(self.model_dir)
            model_desc = model_dir
        device = choose_device(self.device)
        compute = self.compute_type
        if compute == "auto":
            compute = "float16" if device == "cuda" else "int8"
        self.model = WhisperModel(model_dir, device=device, compute_type=compute,
                                  cpu_threads=self.cpu_threads, local_files_only=True)
        self._plain_encode = self.model.encode
        self.model.encode = self._encode_once
        if self.batch_regions is True or (self.batch_regions == "auto" and device == "cuda"):
            from faster_whisper import BatchedInferencePipeline

            self._pipeline = BatchedInferencePipeline(self.model)
        self._desc = (f"model={model_desc} device={device} compute={compute} "
                      f"batch_regions={self._pipeline is not None} "
                      f"faster-whisper=={packaged.dist_version('faster-whisper')} "
                      f"ctranslate2=={packaged.dist_version('ctranslate2')}")

    def provenance(self) -> str:
        """Backend, model (with hash for the packaged one), device and library versions."""
        return f"{self.name}:{self.backend} {self._desc}".strip()

    # -- work ------------------------------------------------------------------------------------
    def process_batch(self, batch: list[ClipRecord]) -> None:
        """Transcribe each clip: one faster-whisper pass per clip (30 s windows), or, with
        ``batch_regions``, the batch's speech clips (or their VAD regions, with ``region_pad``)
        in one batched call per language."""
        todo = [(record, audio) for record in batch if (audio := self._asr_audio(record)) is not None]
        if self._pipeline is None:
            for record, audio in todo:
                self._transcribe(record, audio)
            return
        from .whisper_batched import decode_regions, region_chunks

        by_language: dict[str, list[tuple[ClipRecord, np.ndarray, float | None]]] = {}
        for record, audio in todo:
            language, language_p = self._detect_language(audio)
            long_clip = audio.size > 30 * record.sample_rate  # windows would cut words: seek instead
            if language is None or long_clip or (self.region_pad is not None and not record.speech_regions):
                self._transcribe(record, audio, (language, language_p))
                continue
            by_language.setdefault(language, []).append((record, audio, language_p))
        for language, group in by_language.items():
            # whole mode: one chunk per clip (clips over one window went one by one above)
            chunks = [[(0.0, a.size / float(r.sample_rate))] if self.region_pad is None
                      else region_chunks(list(r.speech_regions or []), a.size / float(r.sample_rate), self.region_pad)
                      for r, a, _ in group]
            decoded = decode_regions(self._pipeline, [a for _, a, _ in group], chunks, group[0][0].sample_rate,
                                     batch_size=self.region_batch_size, language=language,
                                     beam_size=self.beam_size, temperature=self.temperature,
                                     compression_ratio_threshold=self.max_compression_ratio)
            for (record, audio, language_p), segments, spans in zip(group, decoded, chunks):
                looping = self._loopiness(segments) > self.max_compression_ratio and self.loop_retry_ngram > 0
                if looping or not spans:  # the loop retry, or regions too short to cut
                    self._transcribe(record, audio, (language, language_p))
                else:
                    self._write(record, audio, segments, language, language_p)

    def _asr_audio(self, record: ClipRecord) -> np.ndarray | None:
        """The audio Whisper should read, or None when the clip is settled without it."""
        if record.audio is None:
            raise ValueError("no audio (decode stage missing?)")
        audio = asr_input(record.speech_audio if self.use_speech_stem else None,
                          record.background_audio, record.audio, self.residual_gain)
        if self.skip_without_speech and record.speech_regions == []:
            self.no_speech(record)
            record.provenance.setdefault("transcript", f"{self.name}: not run (no VAD speech region)")
            return None
        if audio.size < record.sample_rate // 10:
            # under 0.1 s there is nothing Whisper can read; an empty result is the honest answer
            record.words, record.transcript, record.asr_confidence = [], "", None
            record.language = self.language
            return None
        return audio

    def _transcribe(self, record: ClipRecord, audio: np.ndarray,
                    detected: tuple[str | None, float | None] | None = None) -> None:
        """Decode one whole clip (with the repetition-loop retry) and write its transcript;
        ``detected`` is ``_detect_language``'s answer when the caller already has it."""
        language, language_p = detected if detected is not None else self._detect_language(audio)
        segments, info = self._decode(audio, language=language)
        loop = self._loopiness(segments)
        if loop > self.max_compression_ratio and self.loop_retry_ngram > 0:
            retry, retry_info = self._decode(audio, language=language,
                                             no_repeat_ngram_size=self.loop_retry_ngram)
            retry_loop = self._loopiness(retry)
            if retry_loop < loop:
                segments, info = retry, retry_info
            record.warnings.append(
                f"transcribe: repetition loop (compression ratio {loop:.1f}) decoded again without "
                f"repeated {self.loop_retry_ngram}-grams (ratio {min(loop, retry_loop):.1f})")
        self._write(record, audio, segments, info.language,
                    info.language_probability if language_p is None else language_p)

    def _write(self, record: ClipRecord, audio: np.ndarray, segments: list[Any], language: str,
               language_p: float | None) -> None:
        """Words, transcript, language and confidence of ``record`` from decoded ``segments``."""
        duration = audio.size / float(record.sample_rate)
        kept = [seg for seg in segments if not too_fast(seg, self.max_words_per_second)]
        if len(kept) < len(segments):
            record.warnings.append(
                f"transcribe: dropped {len(segments) - len(kept)} segment(s) spoken faster than "
                f"{self.max_words_per_second:g} words/s (hallucinated text)")
            segments = kept
        words: list[Word] = []
        texts: list[str] = []
        seg_logprobs: list[tuple[float, float]] = []
        for seg in segments:
            texts.append(seg.text)
            seg_logprobs.append((float(seg.end - seg.start), float(seg.avg_logprob)))
            for w in seg.words or []:
                text = w.word.strip()
                if not text:
                    continue
                start = min(max(float(w.start), 0.0), duration)
                end = min(max(float(w.end), start), duration)
                if words and w.word[:1] in APOSTROPHES:
                    # faster-whisper treats a leading apostrophe as opening punctuation and splits
                    # "o'clock" into "o" + "'clock": glue the piece back onto its word
                    prev = words[-1]
                    prev.word += text
                    prev.end = round(end, 3)
                    prev.score = round(min(prev.score or 1.0, float(w.probability)), 4)
                    continue
                words.append(Word(word=text, start=round(start, 3), end=round(end, 3),
                                  score=round(float(w.probability), 4)))
        sep = "" if language in NO_SPACE_LANGUAGES else " "
        if record.turns:
            assign_words_to_speakers(words, record.turns, sep=sep)
        record.words = words
        # Whisper's own segment text keeps the language's spacing; words only lose it
        record.transcript = " ".join(" ".join(texts).split()) if sep else "".join(texts).strip()
        record.language = language
        record.asr_confidence = asr_confidence([w.score or 0.0 for w in words], seg_logprobs)
        if self.language is None and language_p is not None and language_p < 0.5 and words:
            record.warnings.append(f"transcribe: language {language} detected with p={language_p:.2f}")

    def _encode_once(self, features: np.ndarray) -> Any:
        """``WhisperModel.encode`` remembering its last input: the same 30 s window is never
        encoded twice (language detection, decoding and a loop retry all read one output)."""
        key = hashlib.blake2b(np.ascontiguousarray(features).tobytes(), digest_size=16).digest()
        if self._encoded is None or self._encoded[0] != key:
            self._encoded = (key, self._plain_encode(features))
        return self._encoded[1]

    def _detect_language(self, audio: np.ndarray) -> tuple[str | None, float | None]:
        """The clip's language from the encoder output that decoding will reuse.

        faster-whisper detects the language on its own encoding of the first window, one frame
        longer than the window it then decodes, so every clip paid two encoder passes (measured:
        about 40 % of transcription time on 10 s clips). Here the language is read from the
        decoding window itself, which ``_encode_once`` then hands to the decoder. Only for clips
        of one window, with no language forced and Whisper's own VAD off; otherwise
        ``(self.language, None)`` and faster-whisper decides as before."""
        from faster_whisper.audio import pad_or_trim

        if self.language is not None or self.vad_filter:
            return self.language, None
        extractor = self.model.feature_extractor
        if audio.size > extractor.n_samples:
            return None, None
        if not self.model.model.is_multilingual:
            return "en", 1.0
        features = extractor(audio)
        window = pad_or_trim(features[:, : min(extractor.nb_max_frames, features.shape[-1] - 1)])
        token, probability = self.model.model.detect_language(self._encode_once(window))[0][0]
        return token[2:-2], float(probability)

    def _decode(self, audio: np.ndarray, language: str | None = None,
                **extra: Any) -> tuple[list[Any], Any]:
        """One faster-whisper pass over the clip; the segments are decoded here, not lazily."""
        segments, info = self.model.transcribe(
            audio, language=language, beam_size=self.beam_size, word_timestamps=True,
            vad_filter=self.vad_filter, condition_on_previous_text=self.condition_on_previous_text,
            temperature=self.temperature, compression_ratio_threshold=self.max_compression_ratio,
            **extra)
        return list(segments), info

    @staticmethod
    def _loopiness(segments: list[Any]) -> float:
        """Highest gzip compression ratio among the segments (0 when there is none)."""
        return max((float(s.compression_ratio) for s in segments), default=0.0)


def too_fast(segment: Any, max_words_per_second: float, min_words: int = 8) -> bool:
    """True when a Whisper segment of at least ``min_words`` words is faster than the bound."""
    n = len(segment.text.split())
    if max_words_per_second <= 0 or n < min_words:
        return False
    return n / max(float(segment.end - segment.start), 1e-3) > max_words_per_second


def importlib_missing(module: str) -> bool:
    """True when ``module`` cannot be found (checked without importing it)."""
    import importlib.util

    return importlib.util.find_spec(module) is None

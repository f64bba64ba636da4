"""Speech/background separation with Demucs (paper profile): vocals against the rest.

The model is loaded with Demucs' own loader, ``demucs.pretrained.get_model(name, repo=...)``:
with ``repo`` it reads ``<name>.yaml`` (a bag of models) or ``<name>.th`` from that folder, and
without it Demucs fetches the named model from the Hugging Face Hub (falling back to its legacy
download URL). The speech stem is the ``vocals`` source; the background stem is
``mixture - speech`` rather than the sum of the other sources, so the two stems add up to the input
exactly (Demucs' sources only approximately sum to the mixture) and the SNR compares the same
signals for every separator. Speech ratio and SNR use the shared definitions in ``stems.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..record import SAMPLE_RATE, ClipRecord
from ..stages.slots import Separator
from . import hub
from .stems import stem_stats


class DemucsSeparator(Separator):
    """Split ``audio`` into ``speech_audio`` (Demucs vocals) and ``background_audio`` (the rest).

    Also writes ``speech_ratio`` and ``snr_db`` as defined in ``paqa_builder.backends.stems``.
    A batch runs as one padded Demucs call, on CUDA when available.
    """

    backend = "demucs"
    uses_gpu = True

    def __init__(
        self,
        model: str = "htdemucs",
        repo: str | None = None,
        device: str = "auto",
        speech_sources: tuple[str, ...] | list[str] = ("vocals",),
        shifts: int = 0,
        overlap: float = 0.25,
        frame_s: float = 0.05,
        dominance_db: float = 0.0,
        floor_db: float = -60.0,
        dynamic_range_db: float = 45.0,
        **params: Any,
    ) -> None:
        """Configure the separator.

        Args:
            model: Demucs model (bag) name, e.g. ``htdemucs`` or ``htdemucs_ft``.
            repo: local folder holding ``<model>.yaml`` and its ``<sig>.th`` files (or
                ``<model>.th``); None loads the named pretrained model from the Hub.
            device: ``auto`` (CUDA when available), ``cpu`` or ``cuda[:n]``.
            speech_sources: Demucs sources whose sum is the speech stem.
            shifts: random time-shift passes averaged by Demucs (0 = one pass; more is slower
                and slightly better).
            overlap: overlap between Demucs' processing segments (share of a segment).
            frame_s: analysis frame for ``speech_ratio``/``snr_db`` (see ``stems.stem_stats``).
            dominance_db: how much louder the speech stem must be to make a frame speech.
            floor_db: speech-stem level (dBFS) below which a frame is never speech.
            dynamic_range_db: frames further than this below the loudest speech frame are not speech.
            **params: ``batch_size`` (clips per Demucs call) and base-class parameters.
        """
        super().__init__(**params)
        self.model_name = model
        self.repo = repo
        self.device_name = device
        self.speech_sources = tuple(speech_sources)
        self.shifts = int(shifts)
        self.overlap = float(overlap)
        self.stats_params = dict(frame_s=frame_s, dominance_db=dominance_db, floor_db=floor_db,
                                 dynamic_range_db=dynamic_range_db)
        self._model: Any = None
        self._device = "cpu"

    # -- availability ----------------------------------------------------------------------------
    def check_available(self) -> None:
        """Fail early when the model is neither in ``repo`` nor cached while the Hub is off."""
        what = f"{self.name}:{self.backend}"
        try:
            import demucs  # noqa: F401
        except ImportError:
            raise RuntimeError(f"{what}: the demucs package is missing; pip install 'demucs>=4.1'.") from None
        if self.repo:
            folder = hub.require_local_path(self.repo, what)
            names = {p.stem.rsplit("-", 1)[0] if p.suffix == ".th" else p.stem
                     for p in folder.iterdir() if p.suffix in (".yaml", ".th")}
            if self.model_name not in names:
                raise RuntimeError(
                    f"{what}: {folder} has no {self.model_name}.yaml or {self.model_name}.th "
                    f"(found: {', '.join(sorted(names)) or 'nothing'}); fix stages.separate.model or repo."
                )
            return
        if self._cached_without_repo():
            return
        if hub.hub_offline():
            raise RuntimeError(
                f"{what}: Demucs model {self.model_name} is not cached and HF_HUB_OFFLINE is set; run "
                f"`python -c \"from demucs.pretrained import get_model; get_model('{self.model_name}')\"` "
                f"once with network, or set stages.separate.repo to a folder with {self.model_name}.yaml "
                f"and its .th files."
            )

    def _cached_without_repo(self) -> bool:
        """True when Demucs' Hub copy or its legacy torch-hub checkpoint of the model is cached."""
        import yaml
        from demucs.hf import DEFAULT_NAMESPACE, hf_repo_name
        from demucs.pretrained import REMOTE_ROOT, _parse_remote_files

        namespace, name = (self.model_name.split("/", 1) if "/" in self.model_name
                           else (DEFAULT_NAMESPACE, self.model_name))
        repo_id = f"{namespace}/{hf_repo_name(name)}"
        bag_file = hub.cached_file(repo_id, f"{name}.yaml")
        if bag_file:
            sigs = yaml.safe_load(Path(bag_file).read_text())["models"]
            return all(hub.cached_file(repo_id, f"{sig}.safetensors") for sig in sigs)
        # Legacy path: the bag yaml ships inside the demucs package, weights go to torch hub.
        bag_yaml = REMOTE_ROOT / f"{name}.yaml"
        if not bag_yaml.is_file():
            return False
        import torch

        urls = _parse_remote_files(REMOTE_ROOT / "files.txt")
        checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
        sigs = yaml.safe_load(bag_yaml.read_text())["models"]
        return all(sig in urls and (checkpoints / urls[sig].rsplit("/", 1)[-1]).is_file() for sig in sigs)

    # -- lifecycle -------------------------------------------------------------------------------
    def setup(self) -> None:
        """Load the model with ``demucs.pretrained.get_model`` and place it on the device."""
        from demucs.pretrained import get_model

        self._device = hub.resolve_device(self.device_name)
        model = get_model(self.model_name, repo=Path(self.repo).expanduser() if self.repo else None)
        unknown = [s for s in self.speech_sources if s not in model.sources]
        if unknown:
            raise RuntimeError(
                f"{self.name}:{self.backend}: model {self.model_name} has no source {unknown[0]!r} "
                f"(sources: {', '.join(model.sources)}); fix stages.separate.speech_sources."
            )
        self._model = model.to(self._device).eval()

    def provenance(self) -> str:
        """Stage, backend, model name and Demucs version."""
        from importlib.metadata import version

        where = f" repo={self.repo}" if self.repo else ""
        return f"{self.name}:{self.backend} model={self.model_name}{where} version=demucs-{version('demucs')}"

    # -- work ------------------------------------------------------------------------------------
    def process_batch(self, batch: list[ClipRecord]) -> None:
        """Separate all clips of ``batch`` in one padded Demucs call and fill the four fields."""
        speech = self.separate([np.asarray(r.audio, dtype=np.float32) for r in batch])
        for record, voice in zip(batch, speech):
            mixture = np.asarray(record.audio, dtype=np.float32)
            record.speech_audio = voice
            record.background_audio = (mixture - voice).astype(np.float32)
            stats = stem_stats(voice, record.background_audio, SAMPLE_RATE, **self.stats_params)
            record.speech_ratio = stats.speech_ratio
            record.snr_db = stats.snr_db

    def separate(self, clips: list[np.ndarray]) -> list[np.ndarray]:
        """Speech stems (16 kHz mono float32, same lengths as ``clips``) for 16 kHz mono ``clips``."""
        import torch
        import torchaudio.functional as AF
        from demucs.apply import apply_model

        model = self._model
        rate = int(model.samplerate)
        out: list[np.ndarray | None] = [None] * len(clips)
        waves, scales, lengths, index = [], [], [], []
        for i, clip in enumerate(clips):
            scale = float(np.std(clip)) if clip.size else 0.0
            if clip.size == 0 or scale < 1e-8:
                # Silence (or nothing): there is no speech to find, and normalising would divide by 0.
                out[i] = np.zeros_like(clip, dtype=np.float32)
                continue
            # Demucs models are trained on standardised input; undo the scaling on the output.
            wav = torch.from_numpy(clip / scale).to(self._device)
            wav = AF.resample(wav, SAMPLE_RATE, rate) if rate != SAMPLE_RATE else wav
            waves.append(wav)
            scales.append(scale)
            lengths.append(clip.size)
            index.append(i)
        if waves:
            longest = max(w.shape[-1] for w in waves)
            mix = torch.zeros(len(waves), model.audio_channels, longest, device=self._device)
            for j, wav in enumerate(waves):
                mix[j, :, : wav.shape[-1]] = wav  # mono copied to every channel
            with torch.inference_mode():
                sources = apply_model(model, mix, shifts=self.shifts, split=True,
                                      overlap=self.overlap, progress=False, device=self._device)
            picks = [model.sources.index(s) for s in self.speech_sources]
            voice = sources[:, picks].sum(dim=1).mean(dim=1)  # (batch, time) at model rate
            if rate != SAMPLE_RATE:
                voice = AF.resample(voice, rate, SAMPLE_RATE)
            voice = voice.float().cpu().numpy()
            for j, i in enumerate(index):
                stem = np.zeros(lengths[j], dtype=np.float32)
                n = min(lengths[j], voice.shape[-1])
                stem[:n] = voice[j, :n] * scales[j]
                out[i] = stem
        return [o if o is not None else np.zeros(0, np.float32) for o in out]

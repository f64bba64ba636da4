"""Backends by name: stage slot -> backend name -> import string ``module:Class``.

Import strings keep heavy libraries out of the import path until a recipe chooses a backend.
A recipe may also give a full ``package.module:Class`` as backend, to plug in its own stage.
"""

from __future__ import annotations

import importlib
from typing import Any

from .stage import Stage

BACKENDS: dict[str, dict[str, str]] = {
    "decode": {"ffmpeg": "paqa_builder.stages.decode:Decode"},
    "separate": {
        "deepfilternet": "paqa_builder.backends.separate_dfn:DeepFilterNetSeparator",
        "demucs": "paqa_builder.backends.separate_demucs:DemucsSeparator",
    },
    "vad": {
        "silero": "paqa_builder.backends.vad_silero:SileroVAD",
        "pyannote_seg": "paqa_builder.backends.vad_pyannote:PyannoteSegmentationVAD",
    },
    "diarize": {
        "portable": "paqa_builder.backends.diarize_portable:PortableDiarizer",
        "pyannote": "paqa_builder.backends.diarize_pyannote:PyannoteDiarizer",
    },
    "transcribe": {
        "faster_whisper": "paqa_builder.backends.transcribe_fw:FasterWhisperTranscriber",
        "whisperx": "paqa_builder.backends.transcribe_whisperx:WhisperXTranscriber",
    },
    "tag": {
        "yamnet": "paqa_builder.backends.tag_yamnet:YamnetTagger",
        "ast": "paqa_builder.backends.tag_ast:ASTTagger",
        "source_labels": "paqa_builder.stages.source_tags:SourceLabelTagger",
    },
    "perceive": {"oracle": "paqa_builder.backends.oracle:OraclePerception"},
    "acoustics": {"librosa": "paqa_builder.stages.acoustics:Acoustics"},
    "gate": {"default": "paqa_builder.stages.gates:QualityGate"},
    "compose": {"default": "paqa_builder.compose.composer:Composer"},
}


def resolve(slot: str, backend: str) -> type[Stage]:
    """The Stage class for ``backend`` in ``slot``; ``backend`` may be a ``module:Class`` string."""
    target = backend if ":" in backend else BACKENDS.get(slot, {}).get(backend)
    if target is None:
        known = ", ".join(sorted(BACKENDS.get(slot, {}))) or "none"
        raise ValueError(f"unknown backend {backend!r} for stage {slot!r} (known: {known})")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RuntimeError(
            f"stage {slot!r} backend {backend!r} needs a package that is not installed: {exc}. "
            f"Run scripts/setup.sh or pip install 'paqa-toolkit[portable]'/'[paper]'."
        ) from exc
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Stage)):
        raise ValueError(f"{target} is not a Stage subclass")
    return cls


def build_stage(slot: str, params: dict[str, Any]) -> Stage:
    """Instantiate the stage for one recipe section (``backend`` key plus constructor params)."""
    params = dict(params)
    backend = params.pop("backend", "default")
    cls = resolve(slot, backend)
    return cls(**params)

"""Backends by name: stage slot -> backend name -> import string ``module:Class``.

Import strings keep heavy libraries out of the import path until a recipe chooses a backend.
A recipe may also give a full ``package.module:Class`` as backend, to plug in its own stage.
"""

from __future__ import annotations

import importlib
from pathlib import Path
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


def _check_plugin(slot: str, module_name: str, class_name: str) -> None:
    """Refuse a ``module:Class`` backend before importing it when the module's source plainly
    has no such class: a typo (``this:Foo``) must not run an arbitrary module's import code."""
    import ast
    import importlib.util

    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise ValueError(f"stage {slot!r}: backend module {module_name!r} not found")
    if not (spec.origin and spec.origin.endswith(".py")):
        return  # compiled or namespace module: nothing to read without importing it
    try:
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError) as exc:
        raise ValueError(f"stage {slot!r}: cannot read backend module {module_name!r}: {exc}") from None
    names = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    names |= {a.asname or a.name for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
              for a in n.names}
    names |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    if class_name not in names:
        raise ValueError(f"stage {slot!r}: backend module {module_name!r} defines no {class_name!r}")


def resolve(slot: str, backend: str) -> type[Stage]:
    """The Stage class for ``backend`` in ``slot``; ``backend`` may be a ``module:Class`` string."""
    target = backend if ":" in backend else BACKENDS.get(slot, {}).get(backend)
    if target is None:
        known = ", ".join(sorted(BACKENDS.get(slot, {}))) or "none"
        raise ValueError(f"unknown backend {backend!r} for stage {slot!r} (known: {known})")
    module_name, _, class_name = target.partition(":")
    if ":" in backend:
        _check_plugin(slot, module_name, class_name)
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

"""The one registry of plug-ins: sources, stage backends, question families and rewards.

Every kind has built-in entries (below, as ``module:attr`` import strings, so heavy libraries stay
out of the import path until a recipe chooses one) and an entry-point group through which another
installed package adds its own without editing this project::

    [project.entry-points."paqa_builder.stages"]      # name: "<slot>.<backend>"
    "transcribe.my_asr" = "my_pkg.asr:MyTranscriber"
    [project.entry-points."paqa_builder.sources"]     # name: the source kind
    "lhotse" = "my_pkg.source:LhotseSource"
    [project.entry-points."paqa_builder.families"]    # name: the task id
    "who_laughs" = "my_pkg.family:FAMILY"
    [project.entry-points."hyper_train.rewards"]      # name: the reward name
    "brevity" = "my_pkg.rewards:brevity_reward"

A recipe may also name a backend as ``package.module:Class`` directly (checked before import).
"""

from __future__ import annotations

import difflib
import importlib
from pathlib import Path
from typing import Any

from .stage import Stage

GROUPS: dict[str, str] = {
    "source": "paqa_builder.sources",
    "stage": "paqa_builder.stages",
    "family": "paqa_builder.families",
    "reward": "hyper_train.rewards",
}
"""Plug-in kind -> entry-point group."""

_FAM = "paqa_builder.compose.families"
BUILTIN: dict[str, dict[str, str]] = {
    "source": {
        "audioset": "paqa_builder.sources.audioset:AudioSetSource",
        "folder": "paqa_builder.sources.folder:FolderSource",
        "hf": "paqa_builder.sources.hf:HFSource",
    },
    "stage": {
        "decode.ffmpeg": "paqa_builder.stages.decode:Decode",
        "route.silero": "paqa_builder.backends.vad_silero:SileroRouter",
        "separate.deepfilternet": "paqa_builder.backends.separate_dfn:DeepFilterNetSeparator",
        "separate.demucs": "paqa_builder.backends.separate_demucs:DemucsSeparator",
        "vad.silero": "paqa_builder.backends.vad_silero:SileroVAD",
        "vad.pyannote_seg": "paqa_builder.backends.vad_pyannote:PyannoteSegmentationVAD",
        "diarize.portable": "paqa_builder.backends.diarize_portable:PortableDiarizer",
        "diarize.pyannote": "paqa_builder.backends.diarize_pyannote:PyannoteDiarizer",
        "transcribe.faster_whisper": "paqa_builder.backends.transcribe_fw:FasterWhisperTranscriber",
        "transcribe.whisperx": "paqa_builder.backends.transcribe_whisperx:WhisperXTranscriber",
        "tag.yamnet": "paqa_builder.backends.tag_yamnet:YamnetTagger",
        "tag.ast": "paqa_builder.backends.tag_ast:ASTTagger",
        "tag.source_labels": "paqa_builder.stages.source_tags:SourceLabelTagger",
        "perceive.oracle": "paqa_builder.backends.oracle:OraclePerception",
        "acoustics.librosa": "paqa_builder.stages.acoustics:Acoustics",
        "gate.default": "paqa_builder.stages.gates:QualityGate",
        "compose.default": "paqa_builder.compose.composer:Composer",
        "rewrite.openai": "paqa_builder.rewrite.stage:Rewriter",
    },
    "family": {  # task id -> the Family object
        "env_present": f"{_FAM}.environment:ENV_PRESENT",
        "env_absent": f"{_FAM}.environment:ENV_ABSENT",
        "speech_or_env": f"{_FAM}.environment:SPEECH_OR_ENV",
        "speaker_count": f"{_FAM}.speakers:SPEAKER_COUNT",
        "speaker_quote": f"{_FAM}.speakers:SPEAKER_QUOTE",
        "quote_speaker": f"{_FAM}.speakers:QUOTE_SPEAKER",
        "speaker_order": f"{_FAM}.speakers:SPEAKER_ORDER",
        "content": f"{_FAM}.content:CONTENT",
        "temporal": f"{_FAM}.temporal:TEMPORAL",
        "acoustic": f"{_FAM}.acoustic:ACOUSTIC",
        "speaker_overlap": f"{_FAM}.overlap:SPEAKER_OVERLAP",
    },
    "reward": {
        "accuracy": "hyper_train.rewards:accuracy_reward",
        "format": "hyper_train.rewards:format_reward",
        "consistency": "hyper_train.rewards:consistency_reward",
        "length": "hyper_train.rewards:length_reward_from_args",
    },
}
"""Built-in plug-ins: kind -> name -> ``module:attr``."""


def _entry_points(kind: str) -> dict[str, str]:
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=GROUPS[kind])}


def available(kind: str) -> dict[str, str]:
    """Every registered ``name -> module:attr`` of ``kind``: built-ins, then installed plug-ins
    (a plug-in cannot replace a built-in of the same name)."""
    if kind not in GROUPS:
        raise ValueError(f"unknown plug-in kind {kind!r} (known: {', '.join(GROUPS)})")
    return {**_entry_points(kind), **BUILTIN[kind]}


def unknown_name(what: str, name: str, known: list[str] | tuple[str, ...]) -> ValueError:
    """The error for a name that is not registered: closest match, or the known names."""
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(sorted(known)) or 'none'})"
    return ValueError(f"unknown {what} {name!r}{hint}")


def import_target(target: str, what: str) -> Any:
    """The object a ``module:attr`` string names; a missing package is a one-line RuntimeError."""
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RuntimeError(f"{what} needs a package that is not installed: {exc}. Run "
                           "scripts/setup.sh or pip install 'paqa-toolkit[portable]'/'[paper]'.") from exc
    obj = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
    if obj is None:
        raise ValueError(f"{what}: {target} names nothing")
    return obj


def load(kind: str, name: str) -> Any:
    """The registered object ``name`` of ``kind`` (a class for sources and stages, a ``Family``,
    a reward callable)."""
    table = available(kind)
    if name not in table:
        raise unknown_name(kind, name, list(table))
    return import_target(table[name], f"{kind} {name!r}")


def backends_of(slot: str) -> list[str]:
    """Registered backend names of one stage slot."""
    return sorted(key.split(".", 1)[1] for key in available("stage") if key.split(".", 1)[0] == slot)


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
    if ":" in backend:
        module_name, _, class_name = backend.partition(":")
        _check_plugin(slot, module_name, class_name)
        target = backend
    else:
        target = available("stage").get(f"{slot}.{backend}")
        if target is None:
            err = unknown_name("backend", backend, backends_of(slot))
            raise ValueError(str(err).replace(f"backend {backend!r}", f"backend {backend!r} for stage {slot!r}", 1))
    cls = import_target(target, f"stage {slot!r} backend {backend!r}")
    if not (isinstance(cls, type) and issubclass(cls, Stage)):
        raise ValueError(f"{target} is not a Stage subclass")
    return cls


def build_stage(slot: str, params: dict[str, Any]) -> Stage:
    """Instantiate the stage for one recipe section (``backend`` key plus constructor params)."""
    params = dict(params)
    backend = params.pop("backend", "default")
    cls = resolve(slot, backend)
    return cls(**params)

"""Sources: where clips come from. ``make_source(kind, root, **params)`` builds one.

Kinds are plug-ins (``paqa_builder.registry``, kind ``source``): ``audioset`` (segments CSVs +
audio files, see :mod:`.audioset`), ``folder`` (any audio tree with an optional manifest,
:mod:`.folder`) and ``hf`` (a ``datasets`` dataset with an Audio column, :mod:`.hf`), plus any
installed package's ``paqa_builder.sources`` entry point. A source iterates over
:class:`~paqa_builder.record.ClipRecord` sorted by ``clip_id``, lazily, and exposes ``report``
(counts of matched/missing/refused items), ``ontology_path`` and ``class_labels_path``. Window
parameters are shared by all kinds; see :class:`.base.Source`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import Source, plan_windows


def source_class(kind: str) -> type[Source]:
    """The registered source class of ``kind`` (did-you-mean error for an unknown kind)."""
    from ..registry import load

    try:
        cls = load("source", kind)
    except ValueError as exc:
        raise ValueError(str(exc).replace("unknown source", "unknown source kind", 1)) from None
    if not (isinstance(cls, type) and issubclass(cls, Source)):
        raise ValueError(f"source kind {kind!r} is not a paqa_builder.sources.Source subclass")
    return cls


def check_source_params(kind: str, params: dict[str, Any]) -> None:
    """Refuse recipe keys the source of ``kind`` does not take, before it reads anything."""
    from ..registry import unknown_name

    known = sorted(source_class(kind).param_names())
    for key in params:
        if key not in known:
            raise ValueError(f"source ({kind}): {unknown_name('key', key, known)}")


def detect_kind(root: Path) -> str:
    """The first registered kind whose ``detect`` recognises ``root``; ``folder`` otherwise (any
    audio tree is a folder source)."""
    from ..registry import available

    if root.is_dir():
        for kind in available("source"):
            if source_class(kind).detect(root):
                return kind
    return "folder"


def make_source(kind: str, root: str | Path | Any, **params: Any) -> Source:
    """The source of ``kind`` reading ``root``; ``params`` come from the recipe's ``source:`` section.

    Raises ``ValueError`` for an unknown kind or parameter (with the closest valid name).
    """
    check_source_params(kind, params)
    return source_class(kind)(root, **params)


__all__ = ["Source", "check_source_params", "detect_kind", "make_source", "plan_windows", "source_class"]

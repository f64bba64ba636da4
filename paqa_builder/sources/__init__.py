"""Sources: where clips come from. ``make_source(kind, root, **params)`` builds one.

Kinds: ``audioset`` (segments CSVs + audio files, see :mod:`.audioset`), ``folder`` (any audio
tree with an optional manifest, :mod:`.folder`) and ``hf`` (a ``datasets`` dataset with an Audio
column, :mod:`.hf`). A source iterates over :class:`~paqa_builder.record.ClipRecord` sorted by
``clip_id``, lazily, and exposes ``report`` (counts of matched/missing/refused items),
``ontology_path`` and ``class_labels_path``. Window parameters are shared by all kinds; see
:class:`.base.Source`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import Source, plan_windows

SOURCE_KINDS = ("audioset", "folder", "hf")


def make_source(kind: str, root: str | Path | Any, **params: Any) -> Source:
    """The source of ``kind`` reading ``root``; ``params`` come from the recipe's ``source:`` section.

    Raises ``ValueError`` for an unknown kind and ``TypeError`` for an unknown parameter.
    """
    if kind == "audioset":
        from .audioset import AudioSetSource as cls
    elif kind == "folder":
        from .folder import FolderSource as cls
    elif kind == "hf":
        from .hf import HFSource as cls
    else:
        raise ValueError(f"unknown source kind {kind!r} (known: {', '.join(SOURCE_KINDS)})")
    return cls(root, **params)


__all__ = ["SOURCE_KINDS", "Source", "make_source", "plan_windows"]

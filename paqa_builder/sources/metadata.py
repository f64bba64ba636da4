"""Strict reading of a source's metadata files (manifests, segments CSVs, ontology, class labels).

A metadata file that is empty, not UTF-8, or whose CSV quoting runs across lines is an error that
names the file and the reason, before any audio is read: silently reading it as "no rows" gave
datasets of zero clips, and an unterminated quote swallowed the rows after it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

SAFE_CLIP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.,=+@-]{0,199}")
"""A clip id given by metadata: a file-name-like token, never a path (no '/', no leading dot)."""


class MetadataError(ValueError):
    """A metadata file that cannot be used; the message names the file and the reason."""


def read_text(path: str | Path, what: str) -> str:
    """The whole UTF-8 text of ``path`` (a BOM is dropped); errors name the file and why."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MetadataError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MetadataError(f"{path}: the {what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                            f"offset {exc.start})") from None
    if not text.strip():
        raise MetadataError(f"{path}: the {what} is empty")
    return text


def csv_rows(path: str | Path, text: str, what: str, **reader_args) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of a CSV text; a quoted field running over a line end is an error.

    No metadata field of ours holds a line break, so one that does means a quote was never closed
    and every row up to the next quote went into that field."""
    reader = csv.reader(io.StringIO(text, newline=""), **reader_args)
    line = 1
    for fields in reader:
        if any("\n" in f or "\r" in f for f in fields):
            raise MetadataError(f"{path}:{line}: a quoted field runs to line {reader.line_num} in the "
                                f"{what} (a quote is not closed)")
        yield line, fields
        line = reader.line_num + 1


def check_clip_id(clip_id: str) -> str | None:
    """Why ``clip_id`` (from metadata) is refused, or None when it is usable."""
    if SAFE_CLIP_ID.fullmatch(clip_id) and ".." not in clip_id:
        return None
    return f"clip_id {clip_id[:60]!r} is not a plain name (letters, digits, _ . , = + @ -; no path)"

"""AudioSet file naming: recover the YouTube id (and segment start/end) from a file name.

Downloaders name AudioSet audio in several ways; all of these are recognised (any extension):

=================================  =============================================
``Y<ytid>.wav``                    the original AudioSet/DCASE release naming
``<ytid>.flac``                    bare id
``<ytid>_<start>_<end>.flac``      start/end in seconds (``30.000``) or ms (``30000``)
``Y<ytid>_<start>_<end>.wav``      DCASE strong-label naming
``<ytid>_<start>.ogg``             start only (seconds or ms)
=================================  =============================================

A YouTube id is exactly 11 characters of ``[A-Za-z0-9_-]``. Because ids may themselves contain
``_`` and ``-`` and may start with ``Y``, one name can have several readings; :func:`parse_name`
returns all of them and the source keeps the first whose id appears in a segments CSV.

Seconds or milliseconds: a number with a decimal point is seconds. An integer is resolved against
the CSV row's start when one is known (``30`` or ``30000`` for a row starting at 30 s); without a
row, a start/end pair whose difference exceeds 100 is milliseconds (AudioSet segments last at most
10 s), and a lone integer start of 1000 or more that is a multiple of 1000 is milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

YTID = r"[A-Za-z0-9_-]{11}"
_NUM = r"\d+(?:\.\d+)?"
_PATTERNS = (
    ("start_end", re.compile(rf"^(?P<ytid>{YTID})_(?P<start>{_NUM})_(?P<end>{_NUM})$")),
    ("start", re.compile(rf"^(?P<ytid>{YTID})_(?P<start>{_NUM})$")),
    ("bare", re.compile(rf"^(?P<ytid>{YTID})$")),
)


@dataclass(frozen=True)
class NameParse:
    """One reading of a file name: id, raw start/end text (None when absent) and pattern name."""

    ytid: str
    start: str | None
    end: str | None
    pattern: str

    def seconds(self, row_start: float | None = None) -> tuple[float | None, float | None]:
        """Start and end in seconds, resolving the s/ms ambiguity (see module docstring)."""
        if self.start is None:
            return None, None
        start, end = float(self.start), (float(self.end) if self.end is not None else None)
        has_point = "." in self.start or (self.end is not None and "." in self.end)
        if has_point:
            return start, end
        if row_start is not None:
            if abs(start - row_start) < 1e-3:
                return start, end
            if abs(start / 1000.0 - row_start) < 1e-3:
                return start / 1000.0, (end / 1000.0 if end is not None else None)
        if end is not None:
            is_ms = end - start > 100
        else:
            is_ms = start >= 1000 and start % 1000 == 0
        if is_ms:
            return start / 1000.0, (end / 1000.0 if end is not None else None)
        return start, end


def parse_name(stem: str) -> list[NameParse]:
    """All readings of a file stem (name without extension), most specific pattern first.

    Each pattern is tried on the stem as is and, when it starts with ``Y``, without that prefix:
    ``Y--PJHxphWEs_30.000_40.000`` reads as id ``--PJHxphWEs`` (pattern ``y_start_end``), while an
    id that itself starts with ``Y`` still matches the un-stripped reading.
    """
    texts = [("", stem)] + ([("y_", stem[1:])] if stem.startswith("Y") else [])
    out: list[NameParse] = []
    seen: set[tuple[str, str | None, str | None]] = set()
    for pattern, rx in _PATTERNS:
        for prefix, text in texts:
            m = rx.match(text)
            if not m:
                continue
            groups = m.groupdict()
            key = (groups["ytid"], groups.get("start"), groups.get("end"))
            if key not in seen:
                seen.add(key)
                out.append(NameParse(key[0], key[1], key[2], prefix + pattern))
    return out

"""Question families by task id. Each family generates candidate questions from a clip's facts and
independently checks which options a record supports (see ``compose.question.Family``).

Families are plug-ins (``paqa_builder.registry``, kind ``family``): the built-in ones live in this
package; another package adds one with an entry point in the ``paqa_builder.families`` group.
"""

from __future__ import annotations

from ..question import Family


def families() -> dict[str, Family]:
    """Task id -> family, for every registered family (built-in and installed plug-ins)."""
    from ...registry import available, load

    out: dict[str, Family] = {}
    for name in available("family"):
        fam = load("family", name)
        if not isinstance(fam, Family) or fam.task != name:
            raise ValueError(f"family plug-in {name!r} must be a compose.question.Family with task {name!r}")
        out[name] = fam
    return out

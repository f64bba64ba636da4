"""Question families by task id. Each family generates candidate questions from a clip's facts and
independently checks which options a record supports (see ``compose.question.Family``)."""

from __future__ import annotations

from ..question import Family
from . import acoustic, content, environment, speakers, temporal

FAMILIES: dict[str, Family] = {
    fam.task: fam
    for module in (environment, speakers, content, temporal, acoustic)
    for fam in module.FAMILIES
}
"""Task id -> family; covers every id in ``compose.config.TASK_IDS``."""

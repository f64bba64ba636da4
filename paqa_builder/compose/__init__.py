"""QA composer: turns a clip's perception into multiple-choice questions with perception-chain
targets (stage ``compose``), plus the answer-key verifier used by the evaluation.

Heavy imports stay out of this package: it needs only numpy and the standard library.
"""

from .config import TASK_IDS, ComposeConfig

__all__ = ["TASK_IDS", "ComposeConfig"]

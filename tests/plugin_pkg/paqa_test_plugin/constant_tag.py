"""Tag backend ``constant``: every clip gets one background event for its whole length."""

from __future__ import annotations

from paqa_builder.record import BackgroundEvent
from paqa_builder.stages.slots import Tagger


class ConstantTagger(Tagger):
    """Labels each clip with ``label`` (a test double for a real tagger plug-in)."""

    backend = "constant"

    def __init__(self, label: str = "Hum", mid: str = "/m/07rcgpl", **params) -> None:
        super().__init__(**params)
        self.label, self.mid = label, mid

    def process_batch(self, batch) -> None:
        for record in batch:
            record.background = [BackgroundEvent(self.label, self.mid, 0.9, 0.0, float(record.duration or 0.0))]

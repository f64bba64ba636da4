"""One in-memory source for engine tests: noise clips with audio already decoded.

Shared by the local-engine, Ray-engine and memory tests so that they build the same kind of
records (no decode stage needed, since the records carry audio and duration).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from paqa_builder.record import ClipRecord, Label


class NoiseSource:
    """``n`` white-noise clips, made only when pulled; clips listed in ``bad`` are all NaN.

    ``wrap`` is applied to every record as it is yielded (the memory test counts live records).
    """

    provides = {"audio", "duration"}

    def __init__(self, n: int, bad: frozenset[int] | set[int] = frozenset(), seconds: float = 1.0,
                 amplitude: float = 0.1, wrap: Callable[[ClipRecord], ClipRecord] | None = None) -> None:
        self.n, self.bad, self.seconds, self.amplitude, self.wrap = n, bad, seconds, amplitude, wrap
        self.report = {"rows": n}
        self.ontology_path = None

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        for i in range(self.n):
            audio = (self.amplitude * np.random.default_rng(i).standard_normal(int(16000 * self.seconds)))
            audio = audio.astype(np.float32)
            if i in self.bad:
                audio[:] = np.nan
            record = ClipRecord(clip_id=f"clip{i:03d}", source="fake", path=f"/fake/clip{i:03d}.wav",
                                labels=[Label("/m/0cj0r", "White noise")], audio=audio,
                                duration=self.seconds, meta={"relpath": f"clip{i:03d}.wav"})
            yield self.wrap(record) if self.wrap else record

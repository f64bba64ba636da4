"""Stage protocol: a small class with ``setup()`` and a call over a batch of records.

The same stage object runs in-process (local engine) and inside a Ray Data actor (``map_batches``),
so a stage keeps no state tied to a process other than what ``setup()`` builds. Heavy libraries are
imported inside ``setup()`` or the methods that need them, never at module import.

A stage marked ``speech_only`` (separation, VAD, diarization, transcription) does not run on a clip
the router found no speech in (``record.route == "no_speech"``): ``no_speech()`` writes the
empty result instead, so those clips cost only decoding, tagging and acoustics.

A failure on one clip never stops the batch: ``__call__`` first runs ``process_batch`` on the live
records; if that raises, it retries one record at a time so that only the bad clip is marked failed.
"""

from __future__ import annotations

import abc
import time
from typing import Any, ClassVar

from .record import NO_SPEECH, ClipRecord


class Stage(abc.ABC):
    """Base class for every pipeline stage/backend.

    Subclasses set ``name`` (the stage slot, e.g. ``"transcribe"``), ``backend`` (e.g.
    ``"faster_whisper"``), ``reads`` and ``writes`` (record field names), and implement
    ``process_batch``. Constructor keyword arguments come from the recipe's stage section.
    """

    name: ClassVar[str] = "stage"
    backend: ClassVar[str] = "base"
    reads: ClassVar[frozenset[str]] = frozenset()
    writes: ClassVar[frozenset[str]] = frozenset()
    uses_gpu: ClassVar[bool] = False
    speech_only: ClassVar[bool] = False
    """Skip clips routed ``no_speech``, calling the class's ``no_speech(record)`` instead (set,
    with that method, by the speech slots' bases)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A ``speech_only`` stage must say what it writes for a clip with no speech: its class
        (or its slot base, ``stages/slots.py``) defines ``no_speech(record)``; checked when the
        class is defined, so a plug-in that forgets it fails at import, not mid-run."""
        super().__init_subclass__(**kwargs)
        if cls.speech_only and not callable(getattr(cls, "no_speech", None)):
            raise TypeError(f"{cls.__name__} is speech_only but defines no no_speech(record)")

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.batch_size: int = int(params.pop("batch_size", 8))
        self.model_seconds = 0.0
        """Wall seconds spent inside ``process_batch`` (for the end summary and benchmarks)."""
        self._ready = False

    # -- lifecycle -----------------------------------------------------------------------------
    def setup(self) -> None:  # noqa: B027 - an optional hook: most model-free stages need none
        """Load models once per worker. Called by the engine before the first batch."""

    def ensure_setup(self) -> None:
        """Call ``setup()`` once; safe to call from every batch."""
        if not self._ready:
            self.setup()
            self._ready = True

    def check_available(self) -> None:  # noqa: B027 - optional: the default accepts everything
        """Raise ``RuntimeError`` with one actionable line if the models cannot be loaded.

        Runs before any audio is read, so a missing package, token or model file is reported at
        once. The default accepts everything.
        """

    @classmethod
    def param_names(cls) -> set[str]:
        """Names of the recipe parameters this stage accepts (run-wide values such as ``seed`` and
        ``ontology`` are passed only to stages that accept them). Defaults to the constructor's
        named parameters; a stage taking ``**params`` overrides this."""
        import inspect

        sig = inspect.signature(cls.__init__)
        return {n for n, p in sig.parameters.items()
                if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}

    def provenance(self) -> str:
        """Text recorded for every field this stage writes."""
        return f"{self.name}:{self.backend}"

    # -- work ------------------------------------------------------------------------------------
    @abc.abstractmethod
    def process_batch(self, batch: list[ClipRecord]) -> None:
        """Fill ``writes`` on every record of ``batch`` in place (records here are live)."""

    def __call__(self, batch: list[ClipRecord]) -> list[ClipRecord]:
        self.ensure_setup()
        live = [r for r in batch if r.live]
        if self.speech_only:
            for record in live:
                if record.route == NO_SPEECH:
                    self.no_speech(record)  # type: ignore[attr-defined]  # checked in __init_subclass__
                    for field_name in self.writes:
                        if getattr(record, field_name, None) is not None:
                            record.provenance.setdefault(field_name, f"{self.name}: not run (route {NO_SPEECH})")
            live = [r for r in live if r.route != NO_SPEECH]
        if live:
            started = time.perf_counter()
            try:
                self.process_batch(live)
            except Exception:  # noqa: BLE001 - isolate the bad clip, see below
                for record in live:
                    try:
                        self.process_batch([record])
                    except Exception as exc:  # noqa: BLE001 - recorded per clip, run goes on
                        record.fail(self.name, f"{type(exc).__name__}: {exc}")
            self.model_seconds += time.perf_counter() - started
            stamp = self.provenance()
            for record in live:
                if record.live:
                    for field_name in self.writes:
                        if getattr(record, field_name, None) is not None:
                            record.provenance.setdefault(field_name, stamp)
        return batch

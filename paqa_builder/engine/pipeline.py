"""Building and checking the stage list of a recipe, and running a chunk of records through it.

Shared by the local and the Ray engines so that both build exactly the same stages.
``build_pipeline`` checks, before any audio is read, that every key of a stage section is one its
backend takes, that every field a stage reads is written by the source or an earlier stage, and
that every backend can load its models.
"""

from __future__ import annotations

from typing import Any

from ..record import SOURCE_FIELDS, record_fields
from ..registry import build_stage
from ..stage import Stage


class PipelineError(ValueError):
    """A recipe whose stages cannot work together; raised before any audio is read."""


def build_pipeline(recipe: dict[str, Any], context: dict[str, Any] | None = None,
                   check: bool = True, provided: set[str] | frozenset[str] = frozenset()) -> list[Stage]:
    """Instantiate the recipe's stages in order and check the read/write chain.

    ``context`` holds run-wide values (``seed``, ``ontology``) passed to every stage whose
    constructor accepts them, unless the recipe sets them for that stage. ``provided`` names
    fields the source itself fills beyond the identity fields (e.g. ``audio`` for in-memory sources).
    """
    context = context or {}
    stages: list[Stage] = []
    produced = set(SOURCE_FIELDS) | set(provided)
    known = record_fields()
    check_stage_keys(recipe)
    for slot, params in recipe["stages"].items():
        params = dict(params or {})
        params.pop("ray", None)  # engine placement options (num_cpus, concurrency, ...), not stage params
        try:
            stage_cls_params = _accepted_params(slot, params)
        except (ValueError, RuntimeError) as exc:
            raise PipelineError(str(exc)) from exc
        for key, value in context.items():
            if key in stage_cls_params and params.get(key) is None and value is not None:
                params[key] = value
        try:
            stage = build_stage(slot, params)
        except TypeError as exc:
            raise PipelineError(f"stages.{slot}: {exc}") from exc
        unknown = (stage.reads | stage.writes) - known
        if unknown:
            raise PipelineError(f"stages.{slot} ({type(stage).__name__}) declares unknown fields {sorted(unknown)}")
        missing = stage.reads - produced
        if missing:
            raise PipelineError(
                f"stages.{slot} ({stage.backend}) reads {sorted(missing)} but no earlier stage writes "
                f"{'it' if len(missing) == 1 else 'them'}; add the producing stage before {slot!r}")
        produced |= stage.writes
        stages.append(stage)
    if check:
        for stage in stages:
            stage.check_available()
    return stages


def _accepted_params(slot: str, params: dict[str, Any]) -> set[str]:
    from ..registry import resolve

    return resolve(slot, params.get("backend", "default")).param_names()


BASE_STAGE_KEYS = frozenset({"backend", "batch_size", "ray"})
"""Keys every stage section may hold: the backend, the batch size, Ray placement options."""


def check_stage_keys(recipe: dict[str, Any]) -> None:
    """Refuse any stage key its backend does not take (did-you-mean), before audio is read."""
    from ..registry import unknown_name

    for slot, params in (recipe.get("stages") or {}).items():
        params = dict(params or {})
        try:
            known = sorted(_accepted_params(slot, params) | BASE_STAGE_KEYS)
        except (ValueError, RuntimeError) as exc:
            raise PipelineError(str(exc)) from exc
        for key in params:
            if key not in known:
                backend = params.get("backend", "default")
                raise PipelineError(f"stages.{slot} ({backend}): {unknown_name('key', key, known)}")

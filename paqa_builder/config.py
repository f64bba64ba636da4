"""Recipes: safe YAML files that configure a build, plus ``--set key=value`` overrides.

A recipe is a mapping with these sections (all optional except ``stages``):

``seed``      integer seed for everything random (question choice, distractors, letters).
``source``    parameters of the source (``kind``: audioset|folder|hf|auto, plus the source's own options).
``stages``    ordered mapping slot -> {backend: name, ...params}; the order is execution order.
``split``     {train, validation, test} ratios (by clip, never by question).
``writer``    {rows_per_shard, clips_per_chunk}.
``card``      {license, pretty_name, language, ...} for the dataset card.
``engine``    {kind: local|ray, ...} engine options.
``audit``     {balance_positions, drop_text_answerable, text_only_threshold}: what the finalizer
              does to the questions as a whole (``dataset/audit.py``, ``dataset/balance.py``).

Recipes are found by path, or by name among the recipes shipped inside the package
(``paqa_builder/recipes/``: ``portable`` -> ``paqa_builder/recipes/portable.yaml``), so an installed
wheel runs the default command outside any checkout.
"""

from __future__ import annotations

import copy
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

RECIPE_DIR = Path(str(resources.files("paqa_builder").joinpath("recipes")))
"""The recipes shipped with the package (package data: present in a wheel as in a checkout)."""

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "source": {"kind": "auto"},
    "stages": {},
    "split": {"train": 0.8, "validation": 0.1, "test": 0.1},
    "writer": {"rows_per_shard": 2000, "clips_per_chunk": 16},
    "card": {"license": "other", "pretty_name": "PAQA", "language": ["en"]},
    "engine": {"kind": "local"},
    # text_only_threshold: the one place of this default (dataset.audit.TEXT_ONLY_THRESHOLD reads it)
    "audit": {"balance_positions": True, "drop_text_answerable": False, "text_only_threshold": 0.9},
}


class RecipeError(ValueError):
    """A recipe or override that cannot be used; the message says which key and why."""


def find_recipe(name_or_path: str) -> Path:
    """Resolve a recipe path, or a shipped recipe by name (``portable``, ``recipes/oracle.yaml``)."""
    candidates = [Path(name_or_path)]
    if not name_or_path.endswith((".yaml", ".yml")):
        candidates.append(RECIPE_DIR / f"{name_or_path}.yaml")
    else:  # 'recipes/x.yaml' from older docs, or a bare file name: the shipped one of that name
        candidates.append(RECIPE_DIR / Path(name_or_path).name)
    for cand in candidates:
        if cand.is_file():
            return cand
    known = ", ".join(sorted(p.stem for p in RECIPE_DIR.glob("*.yaml")))
    raise RecipeError(f"recipe {name_or_path!r} not found (known recipes: {known})")


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "stages":
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_recipe(name_or_path: str, overrides: list[str] | None = None) -> dict[str, Any]:
    """Load a recipe (safe YAML), fill defaults, apply ``key.path=value`` overrides, validate shape."""
    path = find_recipe(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe must be a mapping, got {type(data).__name__}")
    recipe = _merge(DEFAULTS, data)
    recipe["name"] = data.get("name", path.stem)
    for item in overrides or []:
        apply_override(recipe, item)
    validate_shape(recipe)
    return recipe


def parse_override(item: str) -> tuple[str, Any]:
    """``"a.b.c=value"`` -> ``("a.b.c", value)``; the value is parsed as YAML (the one ``--set``
    parser of every command: build, mix, the trainer and the benchmarks)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"--set {item!r}: expected key.path=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise RecipeError(f"--set {item!r}: value is not valid YAML: {exc}") from exc
    return key.strip(), value


def apply_override(recipe: dict[str, Any], item: str) -> None:
    """Apply one ``a.b.c=value`` override in place (see :func:`parse_override`)."""
    key, value = parse_override(item)
    parts = key.split(".")
    node = recipe
    for part in parts[:-1]:
        if node.get(part) is None:
            node[part] = {}
        if not isinstance(node[part], dict):
            raise RecipeError(f"--set {item!r}: {part!r} is not a section")
        node = node[part]
    node[parts[-1]] = value


SECTIONS = ("name", "seed", "source", "stages", "split", "writer", "card", "engine", "audit")
"""Top-level keys a build recipe may hold; anything else is a typo and an error."""
WRITER_KEYS = ("rows_per_shard", "clips_per_chunk")
AUDIT_KEYS = {
    "balance_positions": bool,
    "drop_text_answerable": bool,
    "text_only_threshold": float,
}
"""``audit`` options and their types.

``balance_positions``: move keys so each option count uses its letters evenly per split.
``drop_text_answerable``: leave out questions the text-only baseline answers from the question and
options alone (``dataset/audit.text_answerable``) with a key probability of at least
``text_only_threshold`` (a number in (0, 1])."""
ENGINES = ("local", "ray")


def _unknown(what: str, key: str, known: tuple[str, ...] | list[str]) -> RecipeError:
    import difflib

    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
    return RecipeError(f"unknown {what} {key!r}{hint}")


def _positive_int(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RecipeError(f"{where} must be a whole number >= 1, got {value!r}")
    return value


def validate_shape(recipe: dict[str, Any]) -> None:
    """Check every section's type and values before anything is imported or read.

    Stage parameters themselves are checked by each stage's constructor."""
    for key in recipe:
        if key not in SECTIONS:
            raise _unknown("recipe section", key, SECTIONS)
    seed = recipe.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise RecipeError(f"seed must be a whole number, got {seed!r}")
    for section in ("source", "split", "writer", "card", "engine", "audit"):
        if not isinstance(recipe.get(section), dict):
            raise RecipeError(f"{section} must be a mapping, got {recipe.get(section)!r}")
    if not isinstance(recipe.get("stages"), dict) or not recipe["stages"]:
        raise RecipeError("recipe has no stages")
    for slot, params in recipe["stages"].items():
        if params is None:
            recipe["stages"][slot] = {}
        elif not isinstance(params, dict):
            raise RecipeError(f"stages.{slot} must be a mapping of parameters")
        backend = recipe["stages"][slot].get("backend", "default")
        if not isinstance(backend, str) or not backend:
            raise RecipeError(f"stages.{slot}.backend must be a backend name, got {backend!r}")
    split = recipe["split"]
    if set(split) - {"train", "validation", "test"}:
        raise RecipeError(f"unknown split names {sorted(set(split) - {'train', 'validation', 'test'})}")
    try:
        ratios = [float(split.get(k, 0.0)) for k in ("train", "validation", "test")]
    except (TypeError, ValueError):
        raise RecipeError(f"split ratios must be numbers, got {split}") from None
    if any(r < 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
        raise RecipeError(f"split ratios must be >= 0 and sum to 1, got {split}")
    for key, value in recipe["writer"].items():
        if key not in WRITER_KEYS:
            raise _unknown("writer option", key, WRITER_KEYS)
        _positive_int(f"writer.{key}", value)
    for key, value in recipe["audit"].items():
        if key not in AUDIT_KEYS:
            raise _unknown("audit option", key, list(AUDIT_KEYS))
        want = AUDIT_KEYS[key]
        ok = isinstance(value, bool) if want is bool else (
            isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1)
        if not ok:
            kind = "true or false" if want is bool else "a number in (0, 1]"
            raise RecipeError(f"audit.{key} must be {kind}, got {value!r}")
    kind = recipe["engine"].get("kind", "local")
    if kind not in ENGINES:
        raise RecipeError(f"engine.kind must be one of {', '.join(ENGINES)}, got {kind!r}")


def fingerprint(recipe: dict[str, Any]) -> str:
    """Stable hash of everything that changes the committed chunks (engine options excluded, and
    ``audit``, which acts when the finalizer writes the shards: changing it re-finalizes, never
    re-runs a chunk)."""
    relevant = {k: v for k, v in recipe.items() if k not in ("engine", "name", "audit")}
    # placement options (stages.<slot>.ray) change where a stage runs, not what it writes
    relevant["stages"] = {slot: {k: v for k, v in (params or {}).items() if k != "ray"}
                          for slot, params in recipe.get("stages", {}).items()}
    blob = json.dumps(relevant, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]

"""``hyper-train stage1|stage2|eval --config RECIPE [--key value ...]``.

``RECIPE`` is a YAML path or the name of a recipe shipped in ``hyper_train/recipes/``
(``stage1_sft``, ``stage1_sft_full``, ``stage2_grpo``, ``eval``). Each command parses its
dataclasses with TRL's ``TrlParser``: the YAML recipe sets defaults, flags override them. Keys are
checked first: a key no dataclass has (in the recipe or as a flag) stops the command with one line
that suggests the closest valid key. Heavy imports (torch, transformers, trl) happen inside the
command, so ``--help`` of the top-level command and the package import stay cheap.
"""

from __future__ import annotations

import json
import logging
import sys
from importlib import resources
from pathlib import Path
from typing import Any

RECIPE_DIR = Path(str(resources.files("hyper_train").joinpath("recipes")))
"""Training recipes shipped with the package."""


class ConfigKeyError(ValueError):
    """A recipe or flag key that no configuration dataclass of the command has."""


def resolve_config(argv: list[str]) -> list[str]:
    """``argv`` with ``--config NAME`` replaced by the shipped recipe's path when NAME is no file."""
    out = list(argv)
    for i, arg in enumerate(out):
        value = None
        if arg == "--config" and i + 1 < len(out):
            value, at = out[i + 1], i + 1
        elif arg.startswith("--config="):
            value, at = arg.split("=", 1)[1], i
        if value is None or Path(value).is_file():
            continue
        stem = Path(value).name.removesuffix(".yaml").removesuffix(".yml")
        shipped = RECIPE_DIR / f"{stem}.yaml"
        if not shipped.is_file():
            known = ", ".join(sorted(p.stem for p in RECIPE_DIR.glob("*.yaml")))
            raise ConfigKeyError(f"--config {value}: no such file and no shipped recipe of that name "
                                 f"(shipped: {known})")
        out[at] = str(shipped) if at == i + 1 else f"--config={shipped}"
    return out


def check_launch() -> None:
    """Refuse, in one line, a launch whose accelerate config needs GPUs when none is visible
    (DeepSpeed ZeRO or bf16 mixed precision set by ``accelerate launch --config_file ...``)."""
    import os

    deepspeed = os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"
    bf16 = os.environ.get("ACCELERATE_MIXED_PRECISION", "") == "bf16"
    if not (deepspeed or bf16):
        return
    import torch

    if torch.cuda.is_available():
        return
    what = (f"DeepSpeed ZeRO-{os.environ.get('ACCELERATE_DEEPSPEED_ZERO_STAGE', '?')}" if deepspeed
            else "bf16 mixed precision")
    raise ConfigKeyError(f"this accelerate config uses {what}, which needs CUDA GPUs, and none is visible "
                         "here; on CPU run hyper-train without accelerate launch (or with use_cpu: true)")


def check_keys(dataclass_types: tuple[Any, ...], argv: list[str]) -> None:
    """Refuse keys of the ``--config`` YAML and ``--flags`` that none of ``dataclass_types`` has."""
    import dataclasses
    import difflib

    import yaml

    known = {f.name for t in dataclass_types for f in dataclasses.fields(t)} | {"config"}
    found: list[tuple[str, str]] = []
    for i, arg in enumerate(argv):
        if arg.startswith("--"):
            key = arg[2:].split("=", 1)[0]
            if key not in ("help", "h"):
                found.append((key.replace("-", "_"), "flag"))
        if arg == "--config" and i + 1 < len(argv) or arg.startswith("--config="):
            path = Path(argv[i + 1] if arg == "--config" else arg.split("=", 1)[1])
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise ConfigKeyError(f"{path}: cannot read the recipe ({exc})") from None
            if not isinstance(data, dict):
                raise ConfigKeyError(f"{path}: a recipe must be a mapping of keys to values")
            found += [(str(k), str(path)) for k in data]
    for key, where in found:
        if key in known or (key.startswith("no_") and key[3:] in known):  # HfArgumentParser's --no_X
            continue
        close = difflib.get_close_matches(key, sorted(known), n=1)
        if where == "flag":
            hint = f"; did you mean --{close[0]}?" if close else ""
            raise ConfigKeyError(f"unknown flag --{key}{hint}")
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigKeyError(f"unknown key {key!r} in {where}{hint}")

COMMANDS = {
    "stage1": "Stage I: SFT on perception chains (TRL SFTTrainer + audio collator).",
    "stage2": "Stage II: GRPO with audio, <PAUSE> and the HyPeR rewards.",
    "eval": "MCQ accuracy (overall, per task) on a PAQA split or MMAU/MMAR-style JSON.",
}


def _usage() -> str:
    lines = ["usage: hyper-train {stage1,stage2,eval} --config RECIPE [--key value ...]", ""]
    lines += [f"  {name:<7} {text}" for name, text in COMMANDS.items()]
    lines += ["", "`hyper-train <command> --help` lists every field a recipe or flag may set."]
    return "\n".join(lines)


def _stage1(argv: list[str]) -> None:
    from trl import ModelConfig, SFTConfig, TrlParser

    from hyper_train.config import DataArgs, HyperModelArgs
    from hyper_train.sft import run_stage1

    types = (SFTConfig, ModelConfig, DataArgs, HyperModelArgs)
    check_keys(types, argv)
    parser = TrlParser(types, prog="hyper-train stage1")
    sft_args, model_args, data_args, hyper_args = parser.parse_args_and_config(argv)
    print(run_stage1(sft_args, model_args, data_args, hyper_args))


def _stage2(argv: list[str]) -> None:
    from trl import GRPOConfig, ModelConfig, TrlParser

    from hyper_train.config import DataArgs, HyperModelArgs, PauseArgs, RewardArgs
    from hyper_train.grpo import run_stage2

    types = (GRPOConfig, ModelConfig, DataArgs, HyperModelArgs, PauseArgs, RewardArgs)
    check_keys(types, argv)
    parser = TrlParser(types, prog="hyper-train stage2")
    print(run_stage2(*parser.parse_args_and_config(argv)))


def _eval(argv: list[str]) -> None:
    from trl import TrlParser

    from hyper_train.config import EvalArgs
    from hyper_train.evaluate import run_eval

    check_keys((EvalArgs,), argv)
    (args,) = TrlParser((EvalArgs,), prog="hyper-train eval").parse_args_and_config(argv)
    print(json.dumps(run_eval(args), indent=2))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hyper-train`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(_usage())
        return 0
    if not argv or argv[0] not in COMMANDS:
        print(_usage(), file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        check_launch()
        {"stage1": _stage1, "stage2": _stage2, "eval": _eval}[argv[0]](resolve_config(argv[1:]))
    except ConfigKeyError as exc:
        print(f"hyper-train {argv[0]}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

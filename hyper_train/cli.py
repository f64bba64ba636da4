"""``hyper-train stage1|stage2|eval --config recipes/<file>.yaml [--key value ...]``.

Each command parses its dataclasses with TRL's ``TrlParser``: the YAML recipe sets defaults, flags
override them. Heavy imports (torch, transformers, trl) happen inside the command, so ``--help`` of
the top-level command and the package import stay cheap.
"""

from __future__ import annotations

import json
import logging
import sys

COMMANDS = {
    "stage1": "Stage I: SFT on perception chains (TRL SFTTrainer + audio collator).",
    "stage2": "Stage II: GRPO with audio, <PAUSE> and the HyPeR rewards.",
    "eval": "MCQ accuracy (overall, per task) on a PAQA split or MMAU/MMAR-style JSON.",
}


def _usage() -> str:
    lines = ["usage: hyper-train {stage1,stage2,eval} --config RECIPE.yaml [--key value ...]", ""]
    lines += [f"  {name:<7} {text}" for name, text in COMMANDS.items()]
    lines += ["", "`hyper-train <command> --help` lists every field a recipe or flag may set."]
    return "\n".join(lines)


def _stage1(argv: list[str]) -> None:
    from trl import ModelConfig, SFTConfig, TrlParser

    from hyper_train.config import DataArgs, HyperModelArgs
    from hyper_train.sft import run_stage1

    parser = TrlParser((SFTConfig, ModelConfig, DataArgs, HyperModelArgs), prog="hyper-train stage1")
    sft_args, model_args, data_args, hyper_args = parser.parse_args_and_config(argv)
    print(run_stage1(sft_args, model_args, data_args, hyper_args))


def _stage2(argv: list[str]) -> None:
    from trl import GRPOConfig, ModelConfig, TrlParser

    from hyper_train.config import DataArgs, HyperModelArgs, PauseArgs, RewardArgs
    from hyper_train.grpo import run_stage2

    parser = TrlParser((GRPOConfig, ModelConfig, DataArgs, HyperModelArgs, PauseArgs, RewardArgs),
                       prog="hyper-train stage2")
    print(run_stage2(*parser.parse_args_and_config(argv)))


def _eval(argv: list[str]) -> None:
    from trl import TrlParser

    from hyper_train.config import EvalArgs
    from hyper_train.evaluate import run_eval

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
    {"stage1": _stage1, "stage2": _stage2, "eval": _eval}[argv[0]](argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())

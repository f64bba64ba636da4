"""``paqa-build mix``: mix a speech corpus and a background corpus into scenes with exact ground truth.

    paqa-build mix --generate-speech --generate-backgrounds --out scenes/ --scenes 60 --seed 0
    paqa-build mix --speech meld/ --backgrounds musan/noise/ --out scenes/ --set overlap_prob=0.3

Without ``--speech``/``--backgrounds`` the generated corpora go to ``<out>/corpus/``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _default_recipe() -> Path:
    from ..config import RECIPE_DIR

    return RECIPE_DIR / "mix.yaml"


DEFAULT_RECIPE = _default_recipe()


def load_recipe(path: str | Path | None, overrides: list[str]) -> dict[str, Any]:
    """The recipe mapping from ``path`` (or the packaged default) with ``--set KEY=VALUE`` applied.

    Keys may be dotted (``snr_db_by_label.Engine=[0, 10]``) to reach into a mapping.
    """
    import yaml

    from ..config import RecipeError, apply_override

    params: dict[str, Any] = {}
    source = Path(path) if path else DEFAULT_RECIPE
    if source.is_file():
        params = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    elif path:
        raise SystemExit(f"recipe {path} not found")
    params.pop("stages", None)  # a mix recipe has no stages; tolerate a shared file
    for item in overrides:
        try:
            apply_override(params, item)
        except RecipeError as exc:
            raise SystemExit(f"paqa-build mix: {exc}") from None
    return params


def build_parser() -> argparse.ArgumentParser:
    """Argument parser for ``paqa-build mix``."""
    p = argparse.ArgumentParser(prog="paqa-build mix", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--speech", help="speech corpus folder (manifest, MELD CSV or LibriSpeech layout)")
    p.add_argument("--backgrounds", help="background corpus folder (labels file or label subfolders)")
    p.add_argument("--out", required=True, help="output folder (a folder source for paqa-build)")
    p.add_argument("--recipe", help=f"mix recipe YAML (default {DEFAULT_RECIPE.name})")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key; the value is parsed as YAML")
    p.add_argument("--scenes", type=int, help="number of scenes (overrides the recipe)")
    p.add_argument("--seed", type=int, help="random seed (overrides the recipe)")
    p.add_argument("--generate-speech", action="store_true",
                   help="first write a synthetic speech corpus (to --speech, or <out>/corpus/speech)")
    from .generate import VOICE_SETS

    p.add_argument("--voices", default="espeak", choices=sorted(VOICE_SETS),
                   help="voice set for --generate-speech: espeak (six espeak-ng voices, default), "
                        "kokoro (five neural voices), hybrid (three Kokoro + two espeak-ng; "
                        "kokoro and hybrid need the [voices] extra) or flite (five CMU Flite / "
                        "Festival voices, held out for report scenes: --seed 1000 or more; "
                        "apt-get install flite festival festvox-kdlpc16k)")
    p.add_argument("--generate-backgrounds", action="store_true",
                   help="first write synthetic backgrounds (to --backgrounds, or <out>/corpus/backgrounds)")
    p.add_argument("--group", choices=("tune", "report"),
                   help="held-out group (paqa_builder/mixer/heldout.py): mix only this group's "
                        "speakers, and check that --seed is one of its seeds; default: the group "
                        "of the generated voice set or of the corpus's speakers")
    p.add_argument("--per-speaker", type=int, default=10,
                   help="utterances per voice for --generate-speech (default 10)")
    return p


def _held_out(utterances: list[Any], args: argparse.Namespace, seed: int) -> tuple[list[Any], dict[str, Any]]:
    """Keep the utterances of the chosen held-out group; the manifest stamp (group, voices).

    A generated voice set belongs to one group as a whole; a recorded corpus says per utterance.
    Scenes never mix groups, and the seed must lie in the group's range (``heldout``).
    """
    from .heldout import check_scene_group, utterance_groups, voice_set_group

    if args.generate_speech:
        group, voices = voice_set_group(args.voices), args.voices
        if args.group and args.group != group:
            raise ValueError(f"voice set {args.voices} is in the {group} group, not {args.group}")
    else:
        voices = Path(args.speech).name if args.speech else "corpus"
        found = utterance_groups([u.group for u in utterances])
        if args.group:
            utterances = [u for u in utterances if u.group == args.group]
            if not utterances:
                raise ValueError(f"no utterance of group {args.group} in the speech corpus "
                                 f"(groups found: {', '.join(sorted(found))})")
            group = args.group
        elif found <= {"unknown"}:
            return utterances, {}  # a corpus outside the protocol: nothing to stamp or check
        elif len(found) > 1:
            raise ValueError(f"the speech corpus holds {', '.join(sorted(found))} speakers; "
                             "pick one group with --group (scenes never mix groups)")
        else:
            group = found.pop()
    check_scene_group(group, seed)
    return utterances, {"group": group, "voices": voices}


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = build_parser().parse_args(argv)
    from .corpus import read_background_corpus, read_speech_corpus
    from .scene import MixRecipe, mix_corpus

    out = Path(args.out)
    params = load_recipe(args.recipe, args.set)
    seed = args.seed if args.seed is not None else int(params.pop("seed", 0))
    params.pop("seed", None)
    scenes = args.scenes if args.scenes is not None else int(params.pop("scenes", 50))
    params.pop("scenes", None)
    try:
        recipe = MixRecipe.from_dict(params)
    except (TypeError, ValueError) as exc:
        print(f"paqa-build mix: {exc}", file=sys.stderr)
        return 2
    speech_dir = Path(args.speech) if args.speech else out / "corpus" / "speech"
    bg_dir = Path(args.backgrounds) if args.backgrounds else out / "corpus" / "backgrounds"
    if args.generate_speech or args.generate_backgrounds:
        from .generate import VOICE_SETS, generate_background_corpus, generate_speech_corpus

        if args.generate_speech and not (speech_dir / "manifest.jsonl").is_file():
            print(f"generating {args.voices} speech corpus in {speech_dir}", file=sys.stderr)
            try:
                voices = VOICE_SETS[args.voices]()
            except RuntimeError as exc:
                print(f"paqa-build mix: {exc}", file=sys.stderr)
                return 2
            generate_speech_corpus(speech_dir, per_speaker=args.per_speaker, voices=voices)
        if args.generate_backgrounds and not (bg_dir / "labels.jsonl").is_file():
            print(f"generating synthetic backgrounds in {bg_dir}", file=sys.stderr)
            generate_background_corpus(bg_dir, seed=seed)
    try:
        utterances = read_speech_corpus(speech_dir)
        clips = read_background_corpus(bg_dir)
    except (ValueError, RuntimeError) as exc:
        print(f"paqa-build mix: {exc}", file=sys.stderr)
        return 2

    try:
        utterances, stamp = _held_out(utterances, args, seed)
    except ValueError as exc:
        print(f"paqa-build mix: {exc}", file=sys.stderr)
        return 2

    def progress(i: int, n: int) -> None:
        if i == n or i % 10 == 0:
            print(f"mixed {i}/{n} scenes", file=sys.stderr)

    lines = mix_corpus(utterances, clips, out, recipe, scenes=scenes, seed=seed, progress=progress,
                       stamp=stamp)
    n_spk = sorted({len(l["truth"]["speakers"]) for l in lines})
    print(f"wrote {len(lines)} scenes to {out} ({len({u.speaker for u in utterances})} corpus "
          f"speakers, {len({c.label for c in clips})} background labels, speakers per scene {n_spk})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

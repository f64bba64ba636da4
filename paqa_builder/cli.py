"""``paqa-build``: build a PAQA dataset; ``paqa-build mix|eval|show`` for the sibling commands.

    paqa-build --source audioset/ --out paqa/                       # portable profile
    paqa-build --source audioset/ --out paqa/ --recipe paper --set stages.transcribe.batch_size=16
    paqa-build mix --generate-speech --generate-backgrounds --out scenes/ --scenes 50
    paqa-build eval --truth scenes/ --built paqa/
    paqa-build show paqa/
    paqa-build view paqa/                                           # static HTML viewer
    paqa-build export-labelstudio paqa/ ; paqa-build import-labelstudio export.json --to truth/
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

SUBCOMMANDS = ("build", "mix", "eval", "show", "audit", "view", "export-labelstudio", "import-labelstudio")


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="paqa-build",
        description="Build a Perception-Aware QA dataset from an audio collection. "
                    "Sibling commands: 'paqa-build mix', 'paqa-build eval', 'paqa-build show OUT', "
                    "'paqa-build view OUT', 'paqa-build export-labelstudio OUT', "
                    "'paqa-build import-labelstudio EXPORT.json'.")
    p.add_argument("--source", required=True, help="source folder (AudioSet layout, any audio tree "
                   "with optional manifest), a datasets dataset path for --source-kind hf, or "
                   "hf://datasets/ORG/NAME[:config][@split] (streamed from the Hub)")
    p.add_argument("--out", required=True, help="output folder (a Hugging Face dataset repo layout)")
    p.add_argument("--recipe", default="portable",
                   help="recipe name in recipes/ or a YAML path (default: portable)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key, e.g. --set stages.transcribe.model=tiny (repeatable)")
    from .registry import available

    p.add_argument("--source-kind", choices=sorted(available("source")),
                   help="source kind (default: detected from the folder; plug-ins add kinds)")
    p.add_argument("--overwrite", action="store_true", help="discard an earlier build in --out and start over")
    p.add_argument("--limit", type=int, help="process at most this many clips (a quick look)")
    p.add_argument("--engine", choices=("local", "ray"), help="execution engine (default: recipe's, local)")
    p.add_argument("--ray-address", help="Ray cluster address for --engine ray (default: start a local one)")
    p.add_argument("--push-to-hub", metavar="REPO", help="upload the finished folder to this Hub dataset repo")
    p.add_argument("--private", action="store_true", help="with --push-to-hub: create a private repo")
    p.add_argument("--view", action="store_true",
                   help="also render the HTML viewer into OUT/view (before --push-to-hub uploads it)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def _quiet_libraries() -> None:
    # pyannote sends telemetry unless told not to; libraries' progress bars clutter our own.
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    for name in ("faster_whisper", "whisperx", "pyannote", "speechbrain", "lightning", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)


def build_main(argv: list[str]) -> int:
    """Entry point of the build command; returns the process exit code."""
    args = _build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    _quiet_libraries()
    from .build import build
    from .config import RecipeError, load_recipe
    from .engine.pipeline import PipelineError
    from .engine.state import ResumeError

    overrides = list(args.overrides)
    if args.source_kind:
        overrides.append(f"source.kind={args.source_kind}")
    if args.ray_address:
        overrides.append(f"engine.address={args.ray_address}")
    try:
        recipe = load_recipe(args.recipe, overrides)
        summary = build(recipe, args.source, args.out, overwrite=args.overwrite, limit=args.limit,
                        progress=not args.no_progress, engine=args.engine)
    except KeyboardInterrupt:
        print("paqa-build: interrupted; committed chunks are kept: run the same command to resume",
              file=sys.stderr)
        return 130
    except (RecipeError, PipelineError, ResumeError, FileNotFoundError, RuntimeError, ValueError) as exc:
        return _fail(exc, args.verbose)
    except OSError as exc:  # disk full, permissions, ...: the file and the reason, in one line
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return _fail(f"{where}{exc.strerror or exc}; committed chunks are kept: free the cause and "
                     "run the same command to resume", args.verbose)
    except Exception as exc:  # noqa: BLE001 - anything else still ends in one line
        return _fail(f"{type(exc).__name__}: {exc} (run with -v for the traceback)", args.verbose, code=1)
    print(summary.text())
    print(f"dataset written to {Path(args.out).resolve()} "
          f"(datasets.load_dataset({str(args.out)!r}); failures in failures.jsonl)")
    if args.view:
        from .view.site import render_site

        try:
            print(render_site(args.out, progress=not args.no_progress).text())
        except Exception as exc:  # noqa: BLE001 - the dataset is fine; only the viewer failed
            return _fail(f"the dataset is written, but the viewer failed: {type(exc).__name__}: {exc}",
                         args.verbose)
    if args.push_to_hub:
        from .dataset.hub import push_folder

        try:
            url = push_folder(args.out, args.push_to_hub, private=args.private)
        except Exception as exc:  # noqa: BLE001 - network, auth, quota: the dataset itself is fine
            return _fail(f"the dataset is written, but the push to {args.push_to_hub} failed: "
                         f"{type(exc).__name__}: {exc}", args.verbose)
        print(f"uploaded to {url}")
    return 0


def _fail(message: object, verbose: bool, code: int = 2) -> int:
    """Print one error line (the traceback too with ``-v``); return the exit code.

    Anything that looks like a Hugging Face token is masked: errors from the Hub can quote
    request headers."""
    import re
    import traceback

    if verbose:
        traceback.print_exc()
    text = " ".join(str(message).split())  # one line, whatever the exception's message held
    text = re.sub(r"hf_[A-Za-z0-9]{8,}", "hf_***", text)
    print(f"paqa-build: error: {text}", file=sys.stderr)
    return code


def show_main(argv: list[str]) -> int:
    """``paqa-build show OUT``: load the dataset with ``datasets`` and print counts and a few rows."""
    p = argparse.ArgumentParser(prog="paqa-build show", description="Show what a build wrote.")
    p.add_argument("out", help="a folder written by paqa-build")
    p.add_argument("--rows", type=int, default=2, help="QA rows to print per split shown")
    args = p.parse_args(argv)
    from .dataset.show import show

    show(args.out, rows=args.rows)
    return 0


def audit_main(argv: list[str]) -> int:
    """``paqa-build audit OUT``: can the questions be answered without the audio? (``dataset/audit``)"""
    p = argparse.ArgumentParser(prog="paqa-build audit",
                                description="Shortcut audit of a build: answer-letter balance and a "
                                            "text-only baseline per task; writes OUT/audit.json.")
    p.add_argument("out", help="a folder written by paqa-build")
    p.add_argument("--threshold", type=float, default=None,
                   help="answer-prior probability at which a question counts as text-answerable "
                        "(default: the recipe default, 0.9)")
    p.add_argument("--llm-url", help="also ask an LLM at this OpenAI-compatible endpoint (…/v1) to answer "
                                      "from the text alone (API key from PAQA_REWRITER_API_KEY)")
    p.add_argument("--llm-model", default="default", help="model name for --llm-url")
    p.add_argument("--llm-limit", type=int, help="ask the LLM only the first N questions")
    p.add_argument("-v", "--verbose", action="store_true", help="print the traceback of an error")
    args = p.parse_args(argv)
    from .dataset.audit import markdown, run_audit
    from .rewrite.client import ChatClient

    llm = ChatClient(args.llm_url, args.llm_model, timeout_s=120) if args.llm_url else None
    try:
        kwargs = {} if args.threshold is None else {"threshold": args.threshold}
        report = run_audit(args.out, llm=llm, llm_limit=args.llm_limit, **kwargs)
    except (OSError, ValueError) as exc:
        return _fail(exc, args.verbose)
    try:
        print(markdown(report))
        print(f"\nwrote {Path(args.out) / 'audit.json'}")
    except BrokenPipeError:  # `paqa-build audit OUT | head`: the reader left, nothing is wrong
        sys.stderr.close()
    return 0


def view_main(argv: list[str]) -> int:
    """``paqa-build view OUT``: render the static HTML viewer of a build."""
    p = argparse.ArgumentParser(prog="paqa-build view", description="Render a build as a static HTML "
                                "site: index with filters, one page per clip (player, lanes, words, questions).")
    p.add_argument("out", help="a folder written by paqa-build")
    p.add_argument("--html", help="site folder (default OUT/view; inside OUT it is published with the data)")
    p.add_argument("--eval", dest="eval_json", help="eval.json of 'paqa-build eval' (default OUT/eval/eval.json "
                   "when it exists): truth lanes and wrong keys marked")
    p.add_argument("--workers", type=int, help="processes (default: CPU count, at most 8)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="traceback on errors")
    args = p.parse_args(argv)
    from .view.site import render_site

    try:
        summary = render_site(args.out, args.html, eval_json=args.eval_json, workers=args.workers,
                              progress=not args.no_progress)
    except (ValueError, OSError) as exc:
        return _fail(exc, args.verbose)
    print(summary.text())
    return 0


def labelstudio_main(cmd: str, argv: list[str]) -> int:
    """``paqa-build export-labelstudio OUT`` / ``paqa-build import-labelstudio EXPORT.json``."""
    from .view import labelstudio as ls

    if cmd == "export-labelstudio":
        p = argparse.ArgumentParser(prog="paqa-build export-labelstudio",
                                    description="Write Label Studio tasks with the build's perception as "
                                                "pre-annotations, the labelling interface and the audio.")
        p.add_argument("out", help="a folder written by paqa-build")
        p.add_argument("--to", help="export folder (default OUT/labelstudio)")
        p.add_argument("--audio-url-prefix", default=ls.LOCAL_FILES_PREFIX + "audio/",
                       help="prefix of each task's audio URL (default: Label Studio local-files serving "
                            "with the export folder as document root)")
        p.add_argument("-v", "--verbose", action="store_true", help="traceback on errors")
        args = p.parse_args(argv)
        try:
            info = ls.export_tasks(args.out, args.to, args.audio_url_prefix)
        except (ValueError, OSError) as exc:
            return _fail(exc, args.verbose)
        print(f"{info['tasks']} Label Studio tasks in {info['folder']} (tasks.json, label_config.xml, "
              f"audio/; see README.txt there)")
        return 0
    p = argparse.ArgumentParser(prog="paqa-build import-labelstudio",
                                description="Read a Label Studio JSON export back as a truth folder "
                                            "that 'paqa-build eval --truth' accepts.")
    p.add_argument("export_json", help="the project's JSON export from Label Studio")
    p.add_argument("--to", required=True, help="truth folder to write (manifest.jsonl + audio/)")
    p.add_argument("--export-dir", help="the folder 'export-labelstudio' wrote (default: next to EXPORT.json)")
    p.add_argument("--use-predictions", action="store_true",
                   help="take unannotated tasks' predictions as truth (default: skip them)")
    p.add_argument("-v", "--verbose", action="store_true", help="traceback on errors")
    args = p.parse_args(argv)
    try:
        info = ls.import_annotations(args.export_json, args.to,
                                     args.export_dir or Path(args.export_json).parent, args.use_predictions)
    except (ValueError, OSError) as exc:
        return _fail(exc, args.verbose)
    print(f"{info['clips']} annotated clips written to {info['folder']}/manifest.jsonl "
          f"({len(info['without_annotation'])} tasks without an annotation skipped); "
          f"next: paqa-build eval --truth {info['folder']} --built <build>")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Console script ``paqa-build``."""
    try:
        return _dispatch(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:
        # the reader closed the pipe (`paqa-build show out | head`): stop quietly, as cat does;
        # stdout goes to /dev/null so that the interpreter's final flush does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _dispatch(argv: list[str]) -> int:
    """Run the sub-command ``argv`` names (a build when it names none)."""
    if argv and argv[0] in SUBCOMMANDS:
        cmd, rest = argv[0], argv[1:]
        if cmd == "mix":
            from .mixer.cli import main as mix_main

            return mix_main(rest)
        if cmd == "eval":
            from .evaluation.evaluate import main as eval_main

            return eval_main(rest)
        if cmd == "show":
            return show_main(rest)
        if cmd == "audit":
            return audit_main(rest)
        if cmd == "view":
            return view_main(rest)
        if cmd in ("export-labelstudio", "import-labelstudio"):
            return labelstudio_main(cmd, rest)
        return build_main(rest)
    return build_main(argv)


if __name__ == "__main__":
    sys.exit(main())

"""Where a build spends its time: per-stage model seconds per audio second, and wall vs model time.

    python benchmarks/perception.py                                  # portable profile, shipped sample
    python benchmarks/perception.py --recipe paper --set engine.kind=ray --json out.json
    python benchmarks/perception.py --half-speech-mix /tmp/half --scenes 60   # AudioSet-like mix

``--half-speech-mix DIR`` first writes (once) an AudioSet-like scene folder with ``paqa-build mix``:
about half the scenes have no speech, among them music-like and silent ones, the rest one to
three espeak-ng speakers; the build then reads it.

Runs one full build (``--overwrite``) and prints, per stage, the seconds spent inside the stage's
``process_batch`` (its model time), that time per second of audio, and the model-loading time;
then the run's wall time against the sum of the stage times (target <= 1.05: the engine adds
almost nothing around the models), the realtime factor (audio seconds per wall second) and, on a
GPU machine, throughput in audio-hours per GPU-hour. ``--json`` saves the same figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def machine() -> dict[str, object]:
    """CPU model, core count, GPUs and the load average (other work on the machine skews timings)."""
    info: dict[str, object] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                               "python": platform.python_version()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        pass
    info["loadavg_before"] = os.getloadavg()[0]
    return info


def _cpu_seconds() -> float:
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run(source: str, recipe_name: str, overrides: list[str], out: Path, engine: str | None) -> dict:
    """Build once and return the timing figures (see the module docstring)."""
    from paqa_builder.build import build
    from paqa_builder.config import load_recipe

    recipe = load_recipe(recipe_name, overrides)
    info = machine()
    began, cpu_began = time.perf_counter(), _cpu_seconds()
    summary = build(recipe, source, out, overwrite=True, progress=False, engine=engine)
    end_to_end = time.perf_counter() - began
    cpu = _cpu_seconds() - cpu_began
    info["loadavg_after"] = os.getloadavg()[0]
    audio = max(summary.audio_seconds, 1e-9)
    ray = (engine or recipe["engine"].get("kind", "local")) == "ray"
    model_sum = sum(summary.stage_seconds.values())
    n_gpus = len(info.get("gpus", []) or [])
    return {
        "recipe": recipe["name"], "source": source, "engine": engine or recipe["engine"].get("kind", "local"),
        "clips": summary.clips_done, "failed": summary.clips_failed, "qa_rows": summary.qa_rows,
        "audio_seconds": round(summary.audio_seconds, 2),
        "stages": {name: {"model_s": secs, "s_per_audio_s": round(secs / audio, 4),
                          "setup_s": summary.setup_seconds.get(name)}
                   for name, secs in summary.stage_seconds.items()},
        "model_seconds_sum": round(model_sum, 2),
        "run_wall_s": round(summary.wall_seconds, 2),
        "end_to_end_wall_s": round(end_to_end, 2),
        "wall_over_model_sum": round(summary.wall_seconds / max(model_sum, 1e-9), 3),
        "realtime_x": round(audio / end_to_end, 2),
        # CPU seconds of this process and its children (ffmpeg): with other jobs on the machine the
        # wall time grows but this does not, so audio / (cpu / cores) bounds the realtime factor
        # the same build reaches on an otherwise idle machine with that many cores.
        # (Ray workers are not children of this process, so the figure is left out for Ray.)
        "cpu_seconds": round(cpu, 1) if not ray else None,
        "idle_machine_realtime_bound_x": round(audio / (cpu / (os.cpu_count() or 1)), 2) if not ray else None,
        "audio_hours_per_gpu_hour": round(audio / end_to_end / n_gpus, 1) if n_gpus else None,
        "machine": info,
    }


HALF_SPEECH = {"speakers": {0: 0.5, 1: 0.2, 2: 0.2, 3: 0.1}, "backgrounds": {0: 0.2, 1: 0.6, 2: 0.2}}
"""Mix recipe overrides of the half-speech scenes: 1 in 2 without speech, 1 in 10 silent."""


def half_speech_mix(out: Path, scenes: int, seed: int) -> Path:
    """Write (unless already there) the half-speech scene folder and return it.

    Backgrounds are the mixer's synthetic kinds plus ``music`` (chords, bass and drums: what a
    voice detector most often mistakes for speech); voices are espeak-ng (tune voices)."""
    from paqa_builder.mixer.cli import main as mix_main
    from paqa_builder.mixer.generate import generate_background_corpus
    from paqa_builder.mixer.synth import BACKGROUND_KINDS, EXTRA_KINDS

    if (out / "manifest.jsonl").is_file():
        return out
    backgrounds = out / "corpus" / "backgrounds"
    generate_background_corpus(backgrounds, kinds=BACKGROUND_KINDS + EXTRA_KINDS, seed=seed)
    sets = [f"{key}={json.dumps(value)}" for key, value in HALF_SPEECH.items()]
    code = mix_main(["--generate-speech", "--backgrounds", str(backgrounds), "--out", str(out),
                     "--scenes", str(scenes), "--seed", str(seed)]
                    + [arg for kv in sets for arg in ("--set", kv)])
    if code:
        raise SystemExit(f"paqa-build mix failed ({code})")
    return out


def table(result: dict) -> str:
    """The figures as a Markdown table plus a totals line."""
    lines = ["| stage | model s | s per audio s | setup s |", "|---|---:|---:|---:|"]
    for name, row in result["stages"].items():
        setup = "" if row["setup_s"] is None else f"{row['setup_s']:.1f}"
        lines.append(f"| {name} | {row['model_s']:.2f} | {row['s_per_audio_s']:.4f} | {setup} |")
    lines.append(
        f"\n{result['clips']} clips, {result['audio_seconds']:.0f} s of audio, {result['qa_rows']} QA rows; "
        f"stage model time {result['model_seconds_sum']:.1f} s; run wall {result['run_wall_s']:.1f} s "
        f"(wall / model sum = {result['wall_over_model_sum']:.3f}); end to end {result['end_to_end_wall_s']:.1f} s "
        f"= {result['realtime_x']:.2f}x realtime")
    if result["cpu_seconds"] is not None:
        lines.append(f"CPU {result['cpu_seconds']:.0f} s (idle-machine bound "
                     f"{result['idle_machine_realtime_bound_x']:.2f}x realtime)")
    if result["audio_hours_per_gpu_hour"]:
        lines.append(f"throughput {result['audio_hours_per_gpu_hour']} audio-hours per GPU-hour")
    m = result["machine"]
    lines.append(f"machine: {m['cpu']}, {m['cores']} cores, gpus {m.get('gpus', 'none')}, "
                 f"load average {m['loadavg_before']:.1f} -> {m['loadavg_after']:.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", default=str(REPO / "examples" / "audioset_sample"))
    p.add_argument("--recipe", default="portable")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--engine", choices=("local", "ray"))
    p.add_argument("--out", help="build folder (default: a temporary folder, removed afterwards)")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--half-speech-mix", type=Path, metavar="DIR",
                   help="build the half-speech scene mix in DIR (written once) instead of --source")
    p.add_argument("--scenes", type=int, default=60, help="scenes of --half-speech-mix (default 60)")
    p.add_argument("--seed", type=int, default=7, help="mix seed of --half-speech-mix (default 7)")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
    import logging

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "paqa"
        source = (str(half_speech_mix(args.half_speech_mix, args.scenes, args.seed))
                  if args.half_speech_mix else args.source)
        result = run(source, args.recipe, args.overrides, out, args.engine)
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

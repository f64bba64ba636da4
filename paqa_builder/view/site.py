"""``paqa-build view OUT``: render a build as a static site (index + one page per clip).

Layout under the site folder (default ``OUT/view``)::

    index.html                   counts, failures, filters, search and a paged clip table
    index/chunk-NNNN.js          the clip table's rows, loaded on demand (500 clips each)
    clips/<shard>/<clip>.html    one page per clip, grouped by the Parquet shard it came from
    clips/<shard>/<clip>.spec.jpg, <clip>.ogg (audio, only when too large to embed)
    assets/view.css, view.js

Pages open from disk (no server, no network) and from a Hub repo's files. Work is spread over
processes one clip at a time; the parent reads the shards row group by row group, so memory stays
small whatever the build's size.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .load import Build, read_build
from .page import clip_page, esc, script_json

CHUNK_CLIPS = 500
"""Clip-table rows per ``index/chunk-NNNN.js`` file."""

PER_PAGE = 50
"""Clip-table rows shown per page of the index."""

EMBED_AUDIO_MAX_BYTES = 48_000
"""Compressed audio up to this size is embedded in the page (one file to copy); larger is a file."""

LOW_CONFIDENCE = 0.6
"""A clip is 'low confidence' when its speaker-count or ASR confidence is below this (the
composer's default gates, ``compose.min_speaker_count_confidence`` / ``min_asr_confidence``)."""


@dataclass
class ViewSummary:
    """What a render wrote, for the command's last lines and for tests."""

    site: Path
    clips: int = 0
    questions: int = 0
    seconds: float = 0.0
    page_bytes: list[int] = field(default_factory=list)
    audio_files: int = 0

    def text(self) -> str:
        """Two lines: counts and time, then page sizes (median and largest)."""
        sizes = sorted(self.page_bytes) or [0]
        median = sizes[len(sizes) // 2]
        return (f"viewer: {self.clips} clip pages, {self.questions} questions in {self.seconds:.1f} s "
                f"({self.clips / max(self.seconds, 1e-9):.0f} clips/s)\n"
                f"page size: median {median / 1024:.0f} KiB, largest {sizes[-1] / 1024:.0f} KiB "
                f"(audio embedded up to {EMBED_AUDIO_MAX_BYTES // 1000} kB; {self.audio_files} "
                f"clips with an audio file); open {self.site / 'index.html'}")


def page_name(clip_id: str) -> str:
    """File-name stem for a clip page: the id when it is plain, else a cleaned id + short hash."""
    clean = re.sub(r"[^A-Za-z0-9._=+@,-]", "_", clip_id)[:120]
    if clean == clip_id and not clip_id.startswith("."):
        return clip_id
    return f"{clean.lstrip('.')}-{hashlib.sha1(clip_id.encode()).hexdigest()[:8]}"


def _band(snr_db: float | None) -> str:
    from ..evaluation.metrics import snr_band

    return snr_band(snr_db)


def _job_rows(build: Build) -> Iterator[tuple[dict[str, Any], str, str | None, str | None]]:
    """Each clip row with its page href and its neighbours' hrefs (within the shard)."""
    import pyarrow.parquet as pq

    for shard in build.clip_shards:
        ids = [str(x) for x in pq.read_table(shard, columns=["clip_id"]).column(0).to_pylist()]
        hrefs = [f"../{shard.stem}/{page_name(i)}.html" for i in ids]
        for n, row in enumerate(build.clip_rows(shard)):
            folder = f"clips/{shard.stem}"
            yield (dict(row, _folder=folder), hrefs[n], hrefs[n - 1] if n else None,
                   hrefs[n + 1] if n + 1 < len(hrefs) else None)


_BUILD: Build | None = None  # the parent's Build, inherited by forked workers
_SITE: Path | None = None


def _render_one(job: tuple[dict[str, Any], str, str | None, str | None]) -> tuple[dict[str, Any], int, bool]:
    """Write one clip's page and pictures; return its index entry, page size, audio-file flag."""
    from . import media

    row, href, prev_href, next_href = job
    build, site = _BUILD, _SITE
    assert build is not None and site is not None
    cid = str(row["clip_id"])
    stem = page_name(cid)
    folder = site / row.pop("_folder")
    folder.mkdir(parents=True, exist_ok=True)
    audio_bytes = (row.get("audio") or {}).get("bytes") or b""
    from ..audio_io import SAMPLE_RATE, load_audio_bytes

    sr = SAMPLE_RATE  # the clips shards hold 16 kHz FLAC; decoded by the project's one loader
    samples = load_audio_bytes(audio_bytes, sr, name=cid)[0] if audio_bytes else media.np.zeros(0, "float32")
    (folder / f"{stem}.spec.jpg").write_bytes(media.spectrogram_jpeg(samples, sr))
    ogg = media.compressed_audio(samples, sr)
    audio_href = None
    if len(ogg) > EMBED_AUDIO_MAX_BYTES:
        (folder / f"{stem}.ogg").write_bytes(ogg)
        audio_href = f"{stem}.ogg"
    questions = build.questions.get(cid, [])
    outcomes = build.outcomes
    clip_eval = ((build.evaluation or {}).get("per_clip") or {}).get(cid)
    truth = build.truth.get(cid) or _row_truth(row)
    text = clip_page(row, questions=questions, outcomes=outcomes, truth=truth, clip_eval=clip_eval,
                     audio=ogg, audio_href=audio_href, spectrogram_href=f"{stem}.spec.jpg",
                     peaks=media.peaks(samples), prev_href=prev_href, next_href=next_href)
    data = text.encode("utf-8")
    (folder / f"{stem}.html").write_bytes(data)
    conf = [row.get("speaker_count_confidence"), row.get("asr_confidence")]
    entry = {"id": cid, "href": f"clips/{href[3:]}", "split": row.get("split"),
             "spk": row.get("num_speakers"), "conf": row.get("speaker_count_confidence"),
             "snr": row.get("snr_db"), "band": _band(row.get("snr_db")),
             "dur": float(row.get("duration") or 0.0),
             "tasks": sorted({q["task"] for q in questions}), "nq": len(questions),
             "low": any(c is not None and c < LOW_CONFIDENCE for c in conf),
             "wrong": sum(1 for q in questions if outcomes.get(str(q["id"])) is False),
             "text": " ".join([(row.get("transcript") or "")[:160],
                               "| " + ", ".join(x["name"] for x in row.get("labels") or [])]).strip()}
    return entry, len(data), audio_href is not None


def _row_truth(row: dict[str, Any]) -> dict[str, Any] | None:
    from .load import json_field

    truth = json_field(row.get("truth"))
    return truth if isinstance(truth, dict) else None


def render_site(out: str | Path, site: str | Path | None = None, *, eval_json: str | Path | None = None,
                workers: int | None = None, progress: bool = True) -> ViewSummary:
    """Render the viewer of build ``out`` into ``site`` (default ``out/view``, replaced whole)."""
    import multiprocessing as mp
    import os

    global _BUILD, _SITE
    t0 = time.perf_counter()
    build = read_build(out, eval_json)
    site = Path(site) if site else Path(out) / "view"
    tmp = site.with_name(f".{site.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "index").mkdir(parents=True)
    assets = tmp / "assets"
    assets.mkdir()
    for name in ("view.css", "view.js"):
        (assets / name).write_bytes(resources.files("paqa_builder.view").joinpath("assets", name).read_bytes())
    _BUILD, _SITE = build, tmp
    summary = ViewSummary(site=site)
    entries: list[dict[str, Any]] = []
    total = build.count_clips()
    workers = workers or min(os.cpu_count() or 1, 8)
    bar = _bar(total, progress)
    try:
        jobs = _job_rows(build)
        if workers > 1 and total > 8:
            pool = mp.get_context("fork").Pool(workers)
            results = pool.imap(_render_one, jobs, chunksize=4)
        else:
            pool, results = None, map(_render_one, jobs)
        for entry, size, audio_file in results:
            entries.append(entry)
            summary.page_bytes.append(size)
            summary.audio_files += int(audio_file)
            summary.questions += entry["nq"]
            if bar:
                bar.update(1)
        if pool:
            pool.close()
            pool.join()
    finally:
        _BUILD = _SITE = None
        if bar:
            bar.close()
    summary.clips = len(entries)
    chunks = []
    for k in range(0, len(entries), CHUNK_CLIPS) or [0]:
        name = f"index/chunk-{k // CHUNK_CLIPS:04d}.js"
        (tmp / name).write_text(f"paqaChunk({k // CHUNK_CLIPS},{script_json(entries[k:k + CHUNK_CLIPS])});\n",
                                encoding="utf-8")
        chunks.append(name)
    (tmp / "index.html").write_text(index_page(build, entries, chunks), encoding="utf-8")
    if site.exists():
        shutil.rmtree(site)
    tmp.rename(site)
    summary.seconds = time.perf_counter() - t0
    _link_from_card(Path(out), site)
    return summary


def _bar(total: int, progress: bool) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="clip", desc="view", dynamic_ncols=True)


def _count_table(title: str, counts: dict[str, int]) -> str:
    rows = "".join(f"<tr><td>{esc(k)}</td><td class='num'>{v}</td></tr>"
                   for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"<table><tr><th>{esc(title)}</th><th>count</th></tr>{rows}</table>"


def _options(name: str, values: list[Any], label: str) -> str:
    opts = "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in values)
    return f'<label>{esc(label)} <select id="{name}"><option value="">all</option>{opts}</select></label>'


def index_page(build: Build, entries: list[dict[str, Any]], chunks: list[str]) -> str:
    """The index: counts per split / task / label, failures, filters and the paged clip table."""
    from ..evaluation.metrics import SNR_BANDS

    splits: dict[str, int] = {}
    tasks: dict[str, int] = {}
    labels: dict[str, int] = {}
    for e in entries:
        splits[e["split"]] = splits.get(e["split"], 0) + 1
        for q in build.questions.get(e["id"], []):
            tasks[q["task"]] = tasks.get(q["task"], 0) + 1
    for qs in build.questions.values():
        for name in {x["name"] for x in (qs[0].get("labels") or [])} if qs else ():
            labels[name] = labels.get(name, 0) + 1
    failed = [f for f in build.failures if f.get("kind") == "error"]
    gated = [f for f in build.failures if f.get("kind") != "error"]
    fail_rows = "".join(f"<tr><td>{esc(f.get('clip_id'))}</td><td>{esc(f.get('kind'))}</td>"
                        f"<td>{esc(f.get('stage'))}</td><td>{esc(f.get('reason'))}</td></tr>"
                        for f in build.failures[:1000])
    has_eval = build.evaluation is not None
    spk_values = sorted({e["spk"] for e in entries if e["spk"] is not None})
    bands = [b for b in SNR_BANDS if any(e["band"] == b for e in entries)]
    meta = {"chunks": chunks, "chunk_size": CHUNK_CLIPS, "per_page": PER_PAGE, "total": len(entries),
            "has_eval": has_eval}
    ev = ""
    if has_eval:
        keys = (build.evaluation or {}).get("answer_keys") or {}
        truth_name = Path(str(build.evaluation.get("truth_dir") or "?")).name  # no local folders in pages
        ev = (f"<p>Evaluated against the truth in <code>{esc(truth_name)}</code>: "
              f"{sum(1 for v in build.outcomes.values() if not v)} wrong keys of {len(build.outcomes)} "
              f"checked (answer-key accuracy {esc(keys.get('accuracy'))}).</p>")
    top_labels = dict(sorted(labels.items(), key=lambda kv: -kv[1])[:15])
    fail_table = (f"<table><tr><th>clip</th><th>kind</th><th>stage</th><th>reason</th></tr>{fail_rows}</table>"
                  if fail_rows else '<p class="muted">none</p>')
    wrong_box = '<label><input type="checkbox" id="f-wrong"> wrong keys only</label>' if has_eval else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{esc(build.root.name)} · PAQA viewer</title><link rel="stylesheet" href="assets/view.css"></head>
<body class="index-page">
<h1>{esc(build.root.name)} <small>PAQA viewer</small></h1>
<p>{len(entries)} clips, {sum(tasks.values())} questions, {len(failed)} failed and {len(gated)} gated clips.</p>
{ev}
<section class="counts">{_count_table("split", splits)}{_count_table("task", tasks)}
{_count_table("label (clips with questions)", top_labels)}</section>
<h2>Clips</h2>
<div class="filters">
{_options("f-task", sorted(tasks), "task")}{_options("f-split", sorted(splits), "split")}
{_options("f-spk", spk_values, "speakers")}{_options("f-band", bands, "SNR")}
<label><input type="checkbox" id="f-low"> low confidence only</label>{wrong_box}
<input type="search" id="f-q" placeholder="search clip id or transcript">
</div>
<div id="pager"><button class="prev">previous</button><span class="where"></span>
<button class="next">next</button></div>
<table id="clips"><thead><tr><th>clip</th><th>split</th><th>duration</th><th>speakers (conf.)</th><th>SNR</th>
<th>questions</th><th>tasks</th><th>flags</th><th>transcript | labels</th></tr></thead><tbody></tbody></table>
<h2>Failed and gated clips ({len(build.failures)})</h2>
{fail_table}
<script id="index-meta" type="application/json">{script_json(meta)}</script>
<script src="assets/view.js"></script>
</body></html>
"""


def _link_from_card(out: Path, site: Path) -> None:
    """Point the dataset card at the viewer (a marked section, replaced on every render)."""
    from ..dataset.card import viewer_section

    card = out / "README.md"
    if not card.is_file():
        return
    try:
        rel = site.resolve().relative_to(out.resolve()).as_posix()
    except ValueError:
        return  # a site outside the dataset folder is not published with it
    text = card.read_text(encoding="utf-8")
    text = re.sub(r"\n?<!-- paqa-view -->.*?<!-- /paqa-view -->\n?", "\n", text, flags=re.DOTALL).rstrip("\n")
    card.write_text(text + "\n\n" + viewer_section(rel) + "\n", encoding="utf-8")


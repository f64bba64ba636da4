"""One clip's page: player, waveform, spectrogram, lanes, timed words, facts and questions.

Pure functions from plain row dicts to an HTML string; pictures and audio come from ``media``. The
page's behaviour (cursor, word highlight, seek on click, span playback) is ``assets/view.js``,
which reads the JSON block ``#clip-data`` this module writes.
"""

from __future__ import annotations

import base64
import html
import json
from typing import Any

from ..chain import SPAN_RE
from .load import json_field

ASSETS = "../../assets"
"""Where clip pages (``clips/<shard>/<clip>.html``) find the shared CSS and JavaScript."""


def esc(value: Any) -> str:
    """HTML-escaped text of any value (None -> empty)."""
    return "" if value is None else html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 2, unit: str = "") -> str:
    """A number for display (``n/a`` for None)."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def script_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</`` can close it early)."""
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


def speaker_index(name: str, order: dict[str, int]) -> int:
    """Stable colour index of a speaker label within one page (order of first appearance)."""
    return order.setdefault(name, len(order))


def lane(name: str, kind: str, segments: list[dict[str, Any]], duration: float,
         css: str = "") -> str:
    """One lane row: a name and absolutely placed segments (percent of the clip's duration)."""
    d = duration or 1.0
    segs = []
    for s in segments:
        start, end = max(0.0, float(s["start"])), min(d, float(s["end"]))
        if end <= start:
            continue
        title = f"{start:.2f}-{end:.2f}s {s.get('title', '')}".strip()
        segs.append(f'<div class="seg {esc(s.get("css", ""))}" style="left:{100 * start / d:.3f}%;'
                    f'width:{100 * (end - start) / d:.3f}%" data-s="{start:.3f}" data-e="{end:.3f}"'
                    f' title="{esc(title)}">{esc(s.get("text", ""))}</div>')
    return (f'<div class="lane {esc(kind)} {esc(css)}"><span class="lane-name" title="{esc(name)}">'
            f'{esc(name)}</span><div class="track">{"".join(segs)}</div></div>')


def lanes_html(row: dict[str, Any], truth: dict[str, Any] | None, order: dict[str, int]) -> str:
    """Predicted speaker lanes, background, VAD and overlap lanes; truth lanes when known."""
    d = float(row.get("duration") or 0.0)
    out = []
    turns = row.get("turns") or []
    for spk in dict.fromkeys(t["speaker"] for t in turns):
        k = speaker_index(spk, order)
        out.append(lane(spk, "speaker", [dict(t, css=f"spk{k % 8}", title=t.get("text") or "",
                                               text=t.get("text") or "") for t in turns
                                          if t["speaker"] == spk], d))
    background = row.get("background") or []
    out.append(lane("background", "background", [
        dict(b, css=f"bg-{esc(b.get('origin') or 'model')}", text=b["label"],
             title=f"{b['label']} score {b.get('score', 0):.2f} ({b.get('origin')})")
        for b in background], d))
    out.append(lane("speech (VAD)", "vad", [dict(r, css="vad") for r in row.get("speech_regions") or []], d))
    out.append(lane("overlap", "overlap", [dict(r, css="ovl") for r in row.get("overlaps") or []], d))
    if truth:
        t_turns = truth.get("turns") or []
        for spk in dict.fromkeys(str(t["speaker"]) for t in t_turns):
            out.append(lane(f"truth: {spk}", "truth", [
                dict(t, css="truth", text=t.get("text") or "", title=t.get("text") or "")
                for t in t_turns if str(t["speaker"]) == spk], d))
        tb = [dict(b, start=b.get("start", 0.0), end=b.get("end", d), css="truth", text=b["label"])
              for b in truth.get("backgrounds") or []]
        out.append(lane("truth: background", "truth", tb, d))
    return "\n".join(out)


def words_html(row: dict[str, Any], order: dict[str, int]) -> str:
    """The word-timed transcript: each word a span carrying its times and speaker colour."""
    words = row.get("words") or []
    if not words:
        return f'<p class="muted">{esc(row.get("transcript") or "no transcript")}</p>'
    parts = []
    for w in words:
        spk = w.get("speaker")
        css = f" spk{speaker_index(spk, order) % 8}" if spk else ""
        parts.append(f'<span class="w{css}" data-s="{float(w["start"]):.3f}" '
                     f'data-e="{float(w["end"]):.3f}" title="{esc(spk or "")} '
                     f'{float(w["start"]):.2f}s score {fmt(w.get("score"))}">{esc(w["word"])}</span>')
    return '<p id="words">' + " ".join(parts) + "</p>"


def linked_chain(chain: str) -> str:
    """The chain text, escaped, with every ``[a-bs]`` span turned into a link that plays it."""
    def link(m: Any) -> str:
        return (f'<a class="span" href="#" data-s="{float(m.group(1)):.3f}" '
                f'data-e="{float(m.group(2)):.3f}">{m.group(0)}</a>')

    return SPAN_RE.sub(link, esc(chain))


def question_html(q: dict[str, Any], n: int, outcome: bool | None) -> str:
    """One question: task, options with the key marked, the chain with playable spans, evidence."""
    letters = "ABCDEFGHIJ"
    opts = "".join(
        f'<li class="{"key" if letters[i] == q["answer"] else ""}">{esc(c)}</li>'
        for i, c in enumerate(q.get("choices") or []))
    mark = ""
    if outcome is True:
        mark = '<span class="badge ok" title="paqa-build eval confirmed this key">key confirmed</span>'
    elif outcome is False:
        mark = '<span class="badge wrong" title="paqa-build eval found this key wrong">wrong key</span>'
    evidence = json_field(q.get("evidence"))
    return (f'<article class="q{" wrong" if outcome is False else ""}" id="q{n}" data-task="{esc(q["task"])}">'
            f'<header><span class="task">{esc(q["task"])}</span> <code>{esc(q["id"])}</code> {mark}</header>'
            f'<p class="question">{esc(q["question"])}</p><ol type="A">{opts}</ol>'
            f'<p>key: <b>{esc(q["answer"])}</b> ({esc(q.get("answer_text"))})</p>'
            f'<details open><summary>chain</summary><pre class="chain">{linked_chain(q["chain"])}</pre></details>'
            f'<details><summary>evidence</summary><pre>{esc(json.dumps(evidence, indent=1, sort_keys=True))}</pre>'
            f'</details></article>')


def facts_html(row: dict[str, Any], clip_eval: dict[str, Any] | None) -> str:
    """Acoustics, confidences and (with an evaluation) the clip's measured figures, as tables."""
    facts = [("duration", fmt(row.get("duration"), 2, " s")), ("speech ratio", fmt(row.get("speech_ratio"))),
             ("SNR", fmt(row.get("snr_db"), 1, " dB")), ("speakers", fmt(row.get("num_speakers"))),
             ("speaker-count confidence", fmt(row.get("speaker_count_confidence"))),
             ("language", fmt(row.get("language"))), ("ASR confidence", fmt(row.get("asr_confidence")))]
    facts += [(k.replace("_", " "), fmt(v, 1)) for k, v in (row.get("acoustics") or {}).items()]
    extra = json_field(row.get("acoustics_extra")) or {}
    facts += [(k.replace("_", " "), fmt(v, 2)) for k, v in extra.items()] if isinstance(extra, dict) else []
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts)
    out = f'<table class="facts">{rows}</table>'
    stats = json_field(row.get("speaker_stats"))
    if isinstance(stats, dict) and stats:
        keys = sorted({k for v in stats.values() for k in v})
        head = "".join(f"<th>{esc(k.replace('_', ' '))}</th>" for k in keys)
        body = "".join(f"<tr><th>{esc(s)}</th>" + "".join(f"<td>{fmt(v.get(k))}</td>" for k in keys)
                       + "</tr>" for s, v in stats.items())
        out += f'<table class="facts"><tr><th>speaker</th>{head}</tr>{body}</table>'
    if clip_eval:
        items = [("true speakers", clip_eval.get("speakers_true")), ("built speakers", clip_eval.get("speakers_built")),
                 ("DER", fmt(clip_eval.get("der"), 3)), ("WER", fmt(clip_eval.get("wer"), 3)),
                 ("group", clip_eval.get("group"))]
        out += '<table class="facts eval"><caption>paqa-build eval</caption>' + "".join(
            f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in items) + "</table>"
    return out


def provenance_html(row: dict[str, Any]) -> str:
    """Which model produced which fields (the provenance map, grouped by producer)."""
    prov = json_field(row.get("provenance"))
    if not isinstance(prov, dict) or not prov:
        return '<p class="muted">no provenance recorded</p>'
    by_producer: dict[str, list[str]] = {}
    for field_name, producer in sorted(prov.items()):
        by_producer.setdefault(str(producer), []).append(field_name)
    return '<table class="prov">' + "".join(
        f"<tr><th>{esc(', '.join(fields))}</th><td>{esc(p)}</td></tr>"
        for p, fields in sorted(by_producer.items(), key=lambda kv: kv[1])) + "</table>"


def clip_page(row: dict[str, Any], *, questions: list[dict[str, Any]], outcomes: dict[str, bool],
              truth: dict[str, Any] | None, clip_eval: dict[str, Any] | None, audio: bytes,
              audio_href: str | None, spectrogram_href: str, peaks: list[list[float]],
              prev_href: str | None, next_href: str | None) -> str:
    """The whole HTML page of one clip (``audio_href`` None embeds ``audio`` as a data URL)."""
    src = audio_href or "data:audio/ogg;base64," + base64.b64encode(audio).decode("ascii")
    order: dict[str, int] = {}
    lanes = lanes_html(row, truth, order)
    words = words_html(row, order)
    labels = ", ".join(esc(x.get("name")) for x in row.get("labels") or []) or "none"
    nav = ['<a href="../../index.html">index</a>']
    nav += [f'<a href="{esc(prev_href)}" rel="prev">previous</a>'] if prev_href else []
    nav += [f'<a href="{esc(next_href)}" rel="next">next</a>'] if next_href else []
    warnings = "".join(f"<li>{esc(w)}</li>" for w in row.get("warnings") or [])
    qs = "\n".join(question_html(q, i, outcomes.get(str(q["id"]))) for i, q in enumerate(questions))
    data = {"clip_id": row["clip_id"], "duration": float(row.get("duration") or 0.0), "peaks": peaks}
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{esc(row["clip_id"])} · PAQA viewer</title>
<link rel="stylesheet" href="{ASSETS}/view.css"></head>
<body class="clip-page">
<nav>{" · ".join(nav)}</nav>
<h1>{esc(row["clip_id"])} <small>{esc(row.get("split"))}</small></h1>
<p class="meta">{esc(row.get("source"))}: <code>{esc(row.get("path"))}</code> @ {fmt(row.get("offset"), 1)} s ·
labels: {labels}</p>
{f'<ul class="warnings">{warnings}</ul>' if warnings else ''}
<section id="player">
<audio id="audio" controls preload="auto" src="{src}"></audio>
<div id="timeline">
<div class="lane wave"><span class="lane-name">waveform</span>
<div class="track"><canvas id="wave" height="70"></canvas></div></div>
<div class="lane spec"><span class="lane-name">spectrogram</span>
<div class="track"><img id="spec" alt="spectrogram" src="{esc(spectrogram_href)}"></div></div>
{lanes}
<div id="highlight" hidden></div><div id="cursor"></div>
</div>
</section>
<section><h2>Transcript</h2>{words}</section>
<section class="cols"><div><h2>Acoustics and confidence</h2>{facts_html(row, clip_eval)}</div>
<div><h2>Provenance</h2>{provenance_html(row)}</div></section>
<section><h2>Questions ({len(questions)})</h2>
{qs or '<p class="muted">no question was asked about this clip</p>'}</section>
<script id="clip-data" type="application/json">{script_json(data)}</script>
<script src="{ASSETS}/view.js"></script>
</body></html>
"""

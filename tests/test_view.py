"""``paqa-build view`` on the shipped sample, checked in a real headless Chromium; page parts."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

from paqa_builder.chain import time_spans
from paqa_builder.cli import main
from paqa_builder.view import media
from paqa_builder.view.headless import Browser, find_browser
from paqa_builder.view.page import esc
from paqa_builder.view.site import page_name, render_site


def _wait(browser: Browser, expression: str, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = browser.evaluate(expression)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {expression}")


@pytest.fixture(scope="module")
def site(portable_sample):
    summary = render_site(portable_sample, workers=2, progress=False)
    return portable_sample, summary


def test_chromium_is_installed():
    assert find_browser(), "scripts/setup.sh installs Debian's chromium for these tests"


def test_site_layout_sizes_and_card_link(site):
    import datasets
    import pyarrow.parquet as pq

    out, summary = site
    ids = [i for p in sorted((out / "data" / "clips").glob("*.parquet"))
           for i in pq.read_table(p, columns=["clip_id"]).column(0).to_pylist()]
    pages = sorted((out / "view" / "clips").glob("*/*.html"))
    assert summary.clips == len(ids) == len(pages) == 10
    # one folder per clips shard, one page per clip named after it, a spectrogram beside each
    assert {p.parent.name for p in pages} == {p.stem for p in (out / "data" / "clips").glob("*.parquet")}
    assert sorted(p.stem for p in pages) == sorted(ids)
    assert all(p.with_suffix(".spec.jpg").is_file() for p in pages)
    assert summary.questions == sum(1 for s in datasets.load_dataset(str(out)).values() for _ in s)
    assert max(summary.page_bytes) < 150_000, summary.text()  # 10 s of audio embedded as Ogg
    assert "view/index.html" in (out / "README.md").read_text()
    # the extra folder does not change what datasets loads
    assert sum(len(s) for s in datasets.load_dataset(str(out), "clips").values()) == 10


def test_pages_work_in_headless_chromium(site):
    out, _ = site
    with Browser() as b:
        b.open(out / "view" / "index.html")
        _wait(b, "document.body.dataset.rendered")
        assert b.evaluate("document.querySelectorAll('#clips tbody tr').length") == 10
        # filters: clips with a speaker_count question; a search by id
        b.evaluate("(() => { const s = document.getElementById('f-task'); s.value = 'speaker_count';"
                   " s.dispatchEvent(new Event('change')); })()")
        time.sleep(0.3)
        rows = b.evaluate("[...document.querySelectorAll('#clips tbody tr')].map(r => r.cells[6].textContent)")
        assert rows and all("speaker_count" in r for r in rows)
        assert b.errors == []

        # the clip with the most diarized speakers: one lane per speaker, as the clips row says
        import pyarrow.parquet as pq

        rows = [r for p in sorted((out / "data" / "clips").glob("*.parquet"))
                for r in pq.read_table(p, columns=["clip_id", "turns", "words"]).to_pylist()]
        row = max(rows, key=lambda r: (len({t["speaker"] for t in r["turns"] or []}), len(r["words"] or [])))
        best = next((out / "view" / "clips").glob(f"*/{row['clip_id']}.html"))
        b.open(best)
        assert b.evaluate("document.getElementById('audio').duration > 9") or \
            _wait(b, "document.getElementById('audio').duration > 9")
        html = best.read_text()
        chains = re.findall(r'<pre class="chain">(.*?)</pre>', html, re.DOTALL)
        spans = sum(len(time_spans(re.sub(r"<[^>]+>", "", c))) for c in chains)
        assert spans and b.evaluate("document.querySelectorAll('a.span').length") == spans
        lanes = b.evaluate("[...document.querySelectorAll('.lane.speaker .lane-name')].map(x => x.textContent)")
        assert lanes == list(dict.fromkeys(t["speaker"] for t in row["turns"])) and len(lanes) >= 2
        assert b.evaluate("document.querySelectorAll('#words .w').length") == len(row["words"])

        # the player plays
        played = b.evaluate("(async () => { const a = document.getElementById('audio'); await a.play();"
                            " await new Promise(r => setTimeout(r, 700)); const t = a.currentTime;"
                            " a.pause(); return [t, a.paused]; })()")
        assert played[0] > 0.2 and played[1] is True

        # clicking a word moves currentTime to the word's start and highlights it
        word = b.evaluate("(() => { const w = document.querySelectorAll('#words .w');"
                          " const x = w[Math.floor(w.length / 2)]; x.id = 'probe'; return +x.dataset.s; })()")
        b.click("#probe")
        assert abs(b.evaluate("document.getElementById('audio').currentTime") - word) < 0.05
        assert b.evaluate("document.getElementById('probe').classList.contains('playing')")

        # a chain span link seeks to its start, highlights the span on the lanes and plays it
        span = b.evaluate("(() => { const a = [...document.querySelectorAll('a.span')].find(x => +x.dataset.s > 0.5)"
                          " || document.querySelector('a.span'); a.id = 'span-probe';"
                          " return [+a.dataset.s, +a.dataset.e]; })()")
        b.click("#span-probe")
        t = b.evaluate("document.getElementById('audio').currentTime")
        assert span[0] - 0.05 <= t <= span[0] + 0.5
        assert b.evaluate("!document.getElementById('highlight').hidden")
        width = b.evaluate("document.getElementById('highlight').getBoundingClientRect().width")
        track = b.evaluate("document.querySelector('.wave .track').getBoundingClientRect().width")
        assert width == pytest.approx(max(2, track * (span[1] - span[0]) / 10.0), abs=2)
        assert b.errors == [], b.errors


def test_media_values():
    t = np.arange(16000) / 16000
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    p = media.peaks(np.concatenate([np.zeros(16000, np.float32), tone]), bins=4)
    assert p[0] == [0.0, 0.0] and p[1] == [0.0, 0.0]
    assert p[2][0] == pytest.approx(-0.5, abs=1e-3) and p[2][1] == pytest.approx(0.5, abs=1e-3)
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(media.spectrogram_jpeg(tone, 16000, width=200, height=64)))
    assert img.size == (200, 64)
    row = np.asarray(img.convert("L")).mean(axis=1)
    # a 1 kHz tone at 16 kHz: brightest row an eighth of the way up from the bottom (0-8 kHz)
    assert abs((63 - int(np.argmax(row))) - 8) <= 2
    from paqa_builder.audio_io import load_audio_bytes

    ogg = media.compressed_audio(tone, 16000)
    back = load_audio_bytes(ogg, 16000)[0]
    assert abs(len(back) - len(tone)) < 400 and ogg[:4] == b"OggS"


def test_page_names_are_safe_and_distinct():
    assert page_name("Yc8nR2kDq1M") == "Yc8nR2kDq1M"
    odd = [page_name(x) for x in ("a/b", "a?b", ".hidden", "a b")]
    assert all(re.fullmatch(r"[A-Za-z0-9._=+@,-]+", n) and not n.startswith(".") for n in odd)
    assert len(set(odd)) == 4


def test_view_errors_are_one_line(tmp_path, capsys):
    assert main(["view", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing/data/clips: not found" in err
    bad = tmp_path / "export.json"
    bad.write_text("{not json")
    assert main(["import-labelstudio", str(bad), "--to", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "export.json: not a Label Studio JSON export" in err


def test_build_with_view_flag_renders_and_links_the_viewer(tmp_path):
    import datasets

    sample = Path(__file__).resolve().parent.parent / "examples" / "audioset_sample"
    out = tmp_path / "paqa"
    assert main(["--source", str(sample), "--out", str(out), "--recipe", "labels_only", "--no-progress",
                 "--view"]) == 0
    assert len(list((out / "view" / "clips").glob("*/*.html"))) == 10
    card = (out / "README.md").read_text()
    assert card.count("<!-- paqa-view -->") == 1 and "(view/index.html)" in card
    # the card written by a rerun keeps the link once
    assert main(["view", str(out), "--no-progress"]) == 0
    assert (out / "README.md").read_text().count("<!-- paqa-view -->") == 1
    assert sum(len(s) for s in datasets.load_dataset(str(out)).values()) > 0


def test_failures_listed_and_large_audio_referenced_not_embedded(tmp_path, monkeypatch):
    import soundfile as sf

    from paqa_builder.view import site as site_mod

    src = tmp_path / "src"
    src.mkdir()
    t = np.arange(16000 * 4) / 16000
    for n in range(2):
        sf.write(src / f"clip_{n}.wav", (0.3 * np.sin(2 * np.pi * (300 + 200 * n) * t)).astype(np.float32), 16000)
    (src / "empty.wav").write_bytes(b"")
    (src / "text.wav").write_text("this is not audio\n" * 20)
    out = tmp_path / "out"
    assert main(["--source", str(src), "--out", str(out), "--recipe", "labels_only", "--no-progress",
                 "--source-kind", "folder"]) == 0
    reasons = [json.loads(x)["reason"] for x in (out / "failures.jsonl").read_text().splitlines()]
    assert len(reasons) == 2
    monkeypatch.setattr(site_mod, "EMBED_AUDIO_MAX_BYTES", 0)  # every clip's audio becomes a file
    summary = render_site(out, workers=1, progress=False)
    assert summary.clips == 2 and summary.audio_files == 2
    index = (out / "view" / "index.html").read_text()
    assert all(esc(r) in index for r in reasons) and "Failed and gated clips (2)" in index
    page = next((out / "view" / "clips").glob("*/clip_0.html"))
    assert 'src="clip_0.ogg"' in page.read_text() and page.with_name("clip_0.ogg").is_file()
    with Browser() as b:  # the referenced file plays from disk
        b.open(page)
        assert _wait(b, "document.getElementById('audio').duration") == pytest.approx(4.0, abs=0.1)
        assert b.errors == []

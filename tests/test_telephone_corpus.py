"""benchmarks/telephone_corpus.py: the G.711-like channel and the corpus copy it writes."""

import json

import numpy as np
import soundfile as sf
from benchmark_scripts import load_script


def _tool():
    return load_script("telephone_corpus")


def _share_above(x, hz, sr=16000):
    power = np.abs(np.fft.rfft(x)) ** 2
    return power[np.fft.rfftfreq(x.size, 1 / sr) >= hz].sum() / power.sum()


def test_channel_removes_the_band_above_4k_and_keeps_length_and_level():
    tool = _tool()
    rng = np.random.default_rng(0)
    wide = (0.1 * rng.standard_normal(16000)).astype(np.float32)  # white: half its power above 4 kHz
    narrow = tool.telephone(wide)
    assert narrow.shape == wide.shape and narrow.dtype == np.float32
    assert _share_above(wide, 4000) > 0.4 and _share_above(narrow, 4000) < 1e-3
    tone = 0.3 * np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)  # in band: passes, at its level
    assert abs(np.sqrt(np.mean(tool.telephone(tone)[2000:-2000] ** 2)) - 0.3 / np.sqrt(2)) < 0.02


def test_corpus_copy_keeps_one_group_and_renames_its_speakers(tmp_path):
    tool = _tool()
    src = tmp_path / "speech"
    rows = []
    for speaker, group in (("a", "tune"), ("b", "report")):
        (src / "c" / speaker).mkdir(parents=True)
        sf.write(src / "c" / speaker / "u.wav", 0.1 * np.ones(8000, np.float32), 16000)
        rows.append({"path": f"c/{speaker}/u.wav", "speaker": speaker, "text": "hi", "corpus": "c",
                     "group": group, "seconds": 0.5, "licence": "x"})
    (src / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert tool.main([str(src), str(tmp_path / "tel"), "--group", "tune"]) == 0
    out = [json.loads(x) for x in (tmp_path / "tel" / "manifest.jsonl").read_text().splitlines()]
    assert [(r["speaker"], r["group"], r["corpus"]) for r in out] == [("a_tel", "tune", "c_tel")]
    audio, sr = sf.read(tmp_path / "tel" / out[0]["path"])
    assert sr == 16000 and audio.size == 8000

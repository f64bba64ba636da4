"""Hugging Face ``datasets`` source: any dataset with an Audio column (or ``{array, sampling_rate}``).

Rows are read one at a time with the Audio feature's own decoding switched off
(``Audio(decode=False)`` gives the stored bytes or file path); the bytes are decoded by
:mod:`paqa_builder.audio_io`, the same code path as files, so the same bad-input handling applies.
Because a row has no file the decode stage could seek in, this source decodes while iterating and
hands each record over with ``audio`` already set (one row in memory at a time); the decode stage
then only validates it. Long rows are cut into windows like files are. A row that cannot be
decoded becomes a record with ``meta["source_error"]``, which the decode stage turns into a failure.

Streaming (``streaming: true``, the default for ``hf://datasets/ORG/NAME[:config][@split]``) reads
rows with ``datasets``' streaming mode, in the dataset's own order, one row in memory at a time and
without downloading the whole dataset first; clip ids are the row index (``<split>_<index>``) or
the ``id_column``, so a rerun finds the committed chunks again by id (resume by row index).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..audio_io import AudioError, finish, load_audio, load_audio_bytes, safe_join
from ..record import SAMPLE_RATE, ClipRecord
from .base import Source, plan_windows, window_id
from .metadata import MetadataError, check_clip_id


def _json_safe(info: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, (str, int, float, bool)) or v is None else str(v)) for k, v in info.items()}


HUB_PREFIX = "hf://datasets/"


def parse_hub_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``hf://datasets/ORG/NAME[:config][@split]`` -> ``(ORG/NAME, config, split)``."""
    if not uri.startswith(HUB_PREFIX):
        raise ValueError(f"{uri}: a Hub dataset is written hf://datasets/ORG/NAME[:config][@split]")
    rest = uri[len(HUB_PREFIX):].rstrip("/")
    rest, _, split = rest.partition("@")
    repo, _, config = rest.partition(":")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ValueError(f"{uri}: the dataset must be ORG/NAME (hf://datasets/ORG/NAME[:config][@split])")
    return repo, config or None, split or None


class HFSource(Source):
    """A ``datasets`` dataset: a ``save_to_disk`` folder, a local ``load_dataset`` path, or an object.

    Args:
        root: dataset folder (``save_to_disk`` output or anything ``load_dataset`` reads offline),
            or a ``datasets.Dataset``/``DatasetDict`` object.
        name: name used in record paths ``hf://<name>/<split>/<index>`` (default: folder name).
        path: alternative to ``root`` (recipes may spell it either way).
        config: dataset configuration name passed to ``load_dataset``.
        split: split to read (default ``train``; a single-split DatasetDict uses its only split).
        audio_column: column holding the audio (default ``audio``).
        label_column: optional column of labels (ClassLabel ids, names, mids, or lists of those).
        text_column: optional transcript column, copied to ``meta["transcript"]``.
        speaker_column: optional speaker-id column, copied to ``meta["speaker"]``.
        id_column: optional column used as clip id (default ``<split>_<index>``); ids that are
            not plain names (``sources.metadata.check_clip_id``) are refused.
        files_root: folder that audio file paths in rows must lie in (default: the dataset folder;
            none for an in-memory dataset, whose rows must then carry bytes or arrays). A path
            outside it (absolute elsewhere, ``..``, a symlink out) is never opened: it would end up
            inside the built dataset, and on the Hub with ``--push-to-hub``.
        streaming: read rows with ``datasets`` streaming (one row at a time, dataset order);
            default true for ``hf://datasets/...`` sources, false otherwise.
        **params: window and label parameters of :class:`~paqa_builder.sources.base.Source`.
    """

    kind = "hf"
    provides = frozenset({"audio", "input_info"})
    iteration_counts = Source.iteration_counts + ("decode_errors",)

    def __init__(self, root: Any = None, *, name: str | None = None, path: str | Path | None = None,
                 config: str | None = None, split: str = "train", audio_column: str = "audio",
                 label_column: str | None = None, text_column: str | None = None,
                 speaker_column: str | None = None, id_column: str | None = None,
                 files_root: str | Path | None = None, streaming: bool | None = None,
                 **params: Any) -> None:
        root = path if path is not None else root
        if root is None:
            raise ValueError("hf source needs a dataset path (root or path=...)")
        if isinstance(root, str) and root.startswith(HUB_PREFIX):
            root, uri_config, uri_split = parse_hub_uri(root)
            config, split = uri_config or config, uri_split or split
            streaming = True if streaming is None else streaming
            name = name or root.split("/")[1]
        self.streaming = bool(streaming)
        super().__init__(root, **params)
        self.config, self.split = config, split
        self.audio_column, self.label_column = audio_column, label_column
        self.text_column, self.speaker_column, self.id_column = text_column, speaker_column, id_column
        self.name = name or (Path(root).name if isinstance(root, (str, Path)) else "dataset")
        folder = Path(root) if isinstance(root, (str, Path)) and Path(root).is_dir() else None
        self.files_root = (Path(files_root) if files_root else folder)
        self.files_root = self.files_root.resolve() if self.files_root else None
        self._ds: Any = None
        self._order: list[tuple[str, int]] = []

    def _load(self) -> Any:
        import datasets

        root = self.root
        if isinstance(root, (datasets.Dataset, datasets.DatasetDict)):
            ds = root
        elif self.streaming:
            ds = datasets.load_dataset(str(root), self.config, split=self.split, streaming=True)
        elif Path(root).is_dir() and any((Path(root) / f).is_file() for f in
                                         ("state.json", "dataset_dict.json", "dataset_info.json")):
            ds = datasets.load_from_disk(str(root))
        else:
            ds = datasets.load_dataset(str(root), self.config, split=self.split)
        if isinstance(ds, datasets.DatasetDict):
            if self.split in ds:
                ds = ds[self.split]
            elif len(ds) == 1:
                ds = next(iter(ds.values()))
            else:
                raise ValueError(f"hf source: split {self.split!r} not in {sorted(ds)}")
        if ds.column_names is not None and self.audio_column not in ds.column_names:
            raise ValueError(f"hf source: no column {self.audio_column!r} (columns: {ds.column_names})")
        if isinstance((ds.features or {}).get(self.audio_column), datasets.Audio):
            # Our decoder handles bad rows one by one; the feature's decoder would raise mid-iteration.
            ds = ds.cast_column(self.audio_column, datasets.Audio(decode=False))
        return ds

    def _index(self) -> None:
        self._zero("rows", "decode_errors")
        if isinstance(self.root, (str, Path)) and Path(self.root).is_dir():
            top = [p for p in (Path(self.root) / "ontology.json", Path(self.root) / "class_labels_indices.csv")
                   if p.is_file()]
            self.find_label_files(top)
        else:
            self.find_label_files([])
        self._ds = self._load()
        if self.streaming:  # rows are met while iterating; nothing is listed up front
            return
        n = len(self._ds)
        self._report["rows"] = n
        width = max(6, len(str(max(n - 1, 0))))
        if self.id_column:
            ids = [str(x) for x in self._ds[self.id_column]]
            for cid in ids:
                if (why := check_clip_id(cid)) is not None:
                    raise MetadataError(f"{self.root}: column {self.id_column!r}: {why}")
        else:
            ids = [f"{self.split}_{i:0{width}d}" for i in range(n)]
        self._order = sorted((cid, i) for i, cid in enumerate(ids))

    def _labels(self, value: Any) -> list:
        import datasets

        if value is None:
            return []
        items = value if isinstance(value, (list, tuple)) else [value]
        feature = (self._ds.features or {}).get(self.label_column)
        inner = getattr(feature, "feature", feature)  # Sequence/List(ClassLabel) or ClassLabel
        names = inner.names if isinstance(inner, datasets.ClassLabel) else None
        out = [names[x] if names is not None and isinstance(x, int) else str(x) for x in items]
        return self.make_labels(out)

    def _decode(self, cell: Any, pseudo: str) -> tuple[Any, dict[str, Any]]:
        """Decode one audio cell: ``{bytes, path}`` from Audio(decode=False), or ``{array, sampling_rate}``."""
        if isinstance(cell, dict) and cell.get("bytes"):
            return load_audio_bytes(cell["bytes"], SAMPLE_RATE, name=pseudo)
        if isinstance(cell, dict) and cell.get("array") is not None:
            rate = int(cell.get("sampling_rate") or SAMPLE_RATE)
            frames = np.asarray(cell["array"], dtype=np.float32)
            frames = frames.T if frames.ndim == 2 and frames.shape[0] < frames.shape[1] else frames
            audio, stats = finish(frames, rate)
            channels = 1 if frames.ndim == 1 else frames.shape[1]
            info = {"reader": "array", "format": "", "codec": "", "sample_rate": rate,
                    "channels": channels, "duration": frames.shape[0] / rate}
            info.update(stats)
            return audio, info
        path = cell.get("path") if isinstance(cell, dict) else cell
        if isinstance(path, str) and path:
            target = self._confined(path)
            if target is None:
                raise AudioError(pseudo, "row names an audio file outside the dataset folder; not read")
            if target.is_file():
                return load_audio(target)
        raise AudioError(pseudo, "row holds no audio bytes, array or readable file path")

    def _confined(self, path: str) -> Path | None:
        """``path`` resolved inside ``files_root``, or None when it lies outside (or there is none).

        An absolute path is made relative to the root first; ``audio_io.safe_join`` (the check
        every source uses) then refuses ``..``, and symlinks, that lead out."""
        if self.files_root is None:
            return None
        rel = os.path.relpath(path, self.files_root) if os.path.isabs(path) else path
        return safe_join(self.files_root, rel)

    def count_clips(self) -> int | None:
        """The number of rows when the dataset knows it (a row longer than ``max_clip_s`` makes
        several windows: the progress bar then grows its total as it meets them)."""
        self._ensure_index()
        if not self.streaming:
            return len(self._ds)
        try:
            return int(self._ds.info.splits[self.split].num_examples)
        except (AttributeError, KeyError, TypeError, ValueError):
            return None

    def _rows(self) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """``(clip_id, row index, row)`` in the order records are made."""
        if not self.streaming:
            for clip_id, index in self._order:
                yield clip_id, index, self._ds[index]
            return
        known = None
        try:
            known = self._ds.info.splits[self.split].num_examples
        except (AttributeError, KeyError, TypeError):
            pass
        width = max(6, len(str(max((known or 1) - 1, 0))))  # the same ids as a non-streaming read
        for index, row in enumerate(self._ds):
            self._report["rows"] = index + 1
            if self.id_column:
                clip_id = str(row.get(self.id_column))
                if (why := check_clip_id(clip_id)) is not None:
                    raise MetadataError(f"{self.root}: row {index}: column {self.id_column!r}: {why}")
            else:
                clip_id = f"{self.split}_{index:0{width}d}"
            yield clip_id, index, row

    def _iter_records(self) -> Iterator[ClipRecord]:
        for clip_id, index, row in self._rows():
            pseudo = f"hf://{self.name}/{self.split}/{index}"
            meta: dict[str, Any] = {"index": index, "split": self.split}
            if self.text_column and row.get(self.text_column) not in (None, ""):
                meta["transcript"] = row[self.text_column]
            if self.speaker_column and row.get(self.speaker_column) not in (None, ""):
                meta["speaker"] = row[self.speaker_column]
            labels = self._labels(row.get(self.label_column)) if self.label_column else []
            try:
                audio, info = self._decode(row[self.audio_column], pseudo)
            except AudioError as exc:
                self.count("decode_errors", pseudo)
                self.count("clips")
                yield ClipRecord(clip_id=clip_id, source=self.kind, path=pseudo, labels=labels,
                                 meta={**meta, "source_error": exc.reason})
                continue
            info = _json_safe(info)
            windows, dropped = plan_windows(audio.size / SAMPLE_RATE, self.window_s, self.hop_s,
                                            self.max_clip_s, self.max_windows_per_file, self.min_window_s)
            if dropped:
                self.count("windows_dropped", pseudo, n=dropped)
            windowed = windows[0][1] is not None
            if windowed:
                self.count("files_windowed")
            for k, (offset, length) in enumerate(windows):
                start = int(round(offset * SAMPLE_RATE))
                stop = audio.size if length is None else start + int(round(length * SAMPLE_RATE))
                rec = ClipRecord(clip_id=window_id(clip_id, k) if windowed else clip_id, source=self.kind,
                                 path=pseudo, offset=offset, max_duration=length, labels=list(labels),
                                 meta=dict(meta), input_info=dict(info))
                # A copy, so a window does not keep the whole row's array alive downstream.
                rec.audio = audio[start:stop].copy() if windowed else audio
                if windowed:
                    rec.meta["window"] = k
                    self.count("windows")
                self.count("clips")
                yield rec

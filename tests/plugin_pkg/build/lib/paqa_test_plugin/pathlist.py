"""Source kind ``pathlist``: a folder with ``clips.txt`` listing audio files, one per line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from paqa_builder.record import ClipRecord
from paqa_builder.sources import Source


class PathListSource(Source):
    """Reads the files ``clips.txt`` names (relative to the folder), in the listed order."""

    kind = "pathlist"

    @classmethod
    def detect(cls, root: Path) -> bool:
        return (root / "clips.txt").is_file()

    def __init__(self, root: str | Path, *, list_file: str = "clips.txt", **params) -> None:
        super().__init__(root, **params)
        self.list_file = list_file
        self._paths: list[Path] = []

    def _index(self) -> None:
        lines = (Path(self.root) / self.list_file).read_text(encoding="utf-8").splitlines()
        self._paths = [Path(self.root) / x.strip() for x in lines if x.strip()]
        self.count("files_listed", n=len(self._paths))

    def _iter_records(self) -> Iterator[ClipRecord]:
        for path in self._paths:
            yield ClipRecord(clip_id=path.stem, source=self.kind, path=str(path),
                             meta={"relpath": path.name})

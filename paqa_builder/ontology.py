"""AudioSet ontology: names, hierarchy and sibling lookups for labels and distractors.

The ontology (CC BY-SA 4.0, Google) is optional. ``Ontology.load`` reads ``ontology.json`` from a
path when given; without one it degrades to a flat label set built from whatever names are known
(``class_labels_indices.csv``, tagger class maps), where siblings are simply all other known labels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

SPEECH_MIDS = frozenset({
    "/m/09x0r",    # Speech
    "/m/05zppz",   # Male speech, man speaking
    "/m/02zsn",    # Female speech, woman speaking
    "/m/0ytgt",    # Child speech, kid speaking
    "/m/01h8n0",   # Conversation
    "/m/02qldy",   # Narration, monologue
    "/m/0261r1",   # Babbling
    "/m/0brhx",    # Speech synthesizer
    "/m/07p6fty",  # Shout
    "/m/07q4ntr",  # Bellow
    "/m/07rwj3x",  # Whoop
    "/m/07sr1lc",  # Yell
    "/m/04gy_2",   # Battle cry
    "/t/dd00135",  # Children shouting
    "/m/03qc9zr",  # Screaming
    "/m/02rtxlg",  # Whispering
    "/m/015lz1",   # Singing (vocal)
})
"""Labels that describe the human voice rather than the environment; never used as ENV facts."""


@dataclass
class Ontology:
    """Label hierarchy. ``names`` maps mid -> display name; ``children`` mid -> child mids."""

    names: dict[str, str] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)
    abstract: set[str] = field(default_factory=set)
    hierarchical: bool = False

    def __post_init__(self) -> None:
        self.parents: dict[str, list[str]] = {}
        for parent, kids in self.children.items():
            for kid in kids:
                self.parents.setdefault(kid, []).append(parent)
        self._by_name = {name.lower(): mid for mid, name in self.names.items()}

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def load(cls, ontology_json: str | Path | None = None,
             class_labels_csv: str | Path | None = None) -> Ontology:
        """Load from ``ontology.json`` and/or ``class_labels_indices.csv``; both may be absent."""
        from .sources.metadata import MetadataError, csv_rows, read_text

        onto = cls()
        if ontology_json and Path(ontology_json).is_file():
            text = read_text(ontology_json, "ontology")
            try:
                nodes = json.loads(text)
                names = {n["id"]: n["name"] for n in nodes}
                children = {n["id"]: list(n.get("child_ids", [])) for n in nodes}
                abstract = {n["id"] for n in nodes if "abstract" in n.get("restrictions", [])}
            except json.JSONDecodeError as exc:
                raise MetadataError(f"{ontology_json}: the ontology is not valid JSON ({exc.msg}, line "
                                    f"{exc.lineno})") from None
            except (TypeError, KeyError, AttributeError) as exc:
                raise MetadataError(f"{ontology_json}: the ontology is not a list of nodes with "
                                    f"'id' and 'name' ({type(exc).__name__}: {exc})") from None
            onto = cls(names=names, children=children, abstract=abstract, hierarchical=True)
        if class_labels_csv and Path(class_labels_csv).is_file():
            text = read_text(class_labels_csv, "class labels CSV")
            rows = csv_rows(class_labels_csv, text, "class labels CSV")
            _, header = next(rows)
            header = [h.strip() for h in header]
            if "mid" not in header or "display_name" not in header:
                raise MetadataError(f"{class_labels_csv}: the class labels CSV needs 'mid' and "
                                    f"'display_name' columns, found {header}")
            for _, fields in rows:
                row = dict(zip(header, fields))
                mid, name = row.get("mid", "").strip(), row.get("display_name", "").strip()
                if mid and mid not in onto.names:
                    onto.add(mid, name)
        return onto

    def add(self, mid: str, name: str) -> None:
        """Add a flat label (no hierarchy)."""
        self.names[mid] = name
        self._by_name[name.lower()] = mid

    # -- queries -------------------------------------------------------------------------------
    def name(self, mid: str) -> str:
        """Display name of ``mid``; the mid itself when unknown."""
        return self.names.get(mid, mid)

    def mid_for_name(self, name: str) -> str | None:
        """Mid whose display name equals ``name`` (case-insensitive)."""
        return self._by_name.get(name.strip().lower())

    def ancestors(self, mid: str) -> set[str]:
        """All mids above ``mid`` in the hierarchy."""
        out: set[str] = set()
        todo = list(self.parents.get(mid, []))
        while todo:
            cur = todo.pop()
            if cur not in out:
                out.add(cur)
                todo.extend(self.parents.get(cur, []))
        return out

    def descendants(self, mid: str) -> set[str]:
        """All mids below ``mid``."""
        out: set[str] = set()
        todo = list(self.children.get(mid, []))
        while todo:
            cur = todo.pop()
            if cur not in out:
                out.add(cur)
                todo.extend(self.children.get(cur, []))
        return out

    def related(self, mid: str) -> set[str]:
        """``mid`` with its ancestors and descendants: labels that cannot serve as its distractor."""
        return {mid} | self.ancestors(mid) | self.descendants(mid)

    def siblings(self, mid: str) -> list[str]:
        """Concrete labels sharing a parent with ``mid`` (all other labels when flat), sorted."""
        if not self.hierarchical or mid not in self.parents:
            return sorted(m for m in self.names if m != mid and m not in self.abstract)
        sibs = {k for p in self.parents[mid] for k in self.children.get(p, [])}
        return sorted(s for s in sibs if s != mid and s not in self.abstract)

    def is_speech(self, mid: str) -> bool:
        """True for voice labels (speech, singing, shouting, ...), which are not environment sounds."""
        return mid in SPEECH_MIDS or bool(self.ancestors(mid) & {"/m/09x0r"})

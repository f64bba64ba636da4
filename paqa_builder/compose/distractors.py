"""Ontology-aware wrong options for sound questions.

A distractor must be a sound that is *not* in the clip, yet close enough to need listening. The
picker walks rings of candidates around the clip's sounds: ontology siblings, then co-occurring
classes (an optional map), then cousins (children of the parent's siblings), then a built-in pool
of everyday sounds. It never returns a class that is present at any score, nor one related to a
present class (ancestor or descendant), nor a variant of the same source (the children of a
concrete parent whose children are all leaves: bark vs yip under Dog), nor a voice class, nor one
whose name shares a word with a present sound (a cheap guard for flat label sets, where the
hierarchy is unknown). Next to speech, human non-speech sounds (laughter, cough) are also avoided.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from ..ontology import Ontology
from .facts import Facts, display_name

POOL: tuple[tuple[str, str, str], ...] = (
    ("/m/0bt9lr", "Dog", "animal"), ("/m/01yrx", "Cat", "animal"), ("/m/015p6", "Bird", "animal"),
    ("/m/04s8yn", "Crow", "animal"), ("/m/03k3r", "Horse", "animal"),
    ("/m/07bgp", "Sheep", "animal"), ("/m/01xq0k1", "Cattle, bovinae", "animal"),
    ("/m/09ld4", "Frog", "animal"), ("/m/09xqv", "Cricket", "animal"),
    ("/m/06mb1", "Rain", "weather"), ("/m/03m9d0z", "Wind", "weather"),
    ("/m/0ngt1", "Thunder", "weather"),
    ("/m/05kq4", "Ocean", "water"), ("/m/0j6m2", "Stream", "water"),
    ("/m/034srq", "Waves, surf", "water"), ("/m/01jt3m", "Toilet flush", "water"),
    ("/m/0k4j", "Car", "vehicle"), ("/m/09ct_", "Helicopter", "vehicle"),
    ("/m/07jdr", "Train", "vehicle"), ("/m/04_sv", "Motorcycle", "vehicle"),
    ("/m/0912c9", "Vehicle horn, car horn, honking", "vehicle"),
    ("/m/0gy1t2s", "Bicycle bell", "vehicle"), ("/m/03kmc9", "Siren", "vehicle"),
    ("/m/04rlf", "Music", "music"), ("/m/0342h", "Guitar", "music"), ("/m/05r5c", "Piano", "music"),
    ("/m/026t6", "Drum", "music"),
    ("/m/07cx4", "Telephone", "signal"), ("/m/03wwcy", "Doorbell", "signal"),
    ("/m/046dlr", "Alarm clock", "signal"), ("/m/01y3hg", "Smoke detector, smoke alarm", "signal"),
    ("/m/03w41f", "Church bell", "signal"),
    ("/m/0d31p", "Vacuum cleaner", "home"), ("/m/03wvsk", "Hair dryer", "home"),
    ("/m/0fx9l", "Microwave oven", "home"), ("/m/04brg2", "Dishes, pots, and pans", "home"),
    ("/m/0dxrf", "Frying (food)", "home"), ("/m/03v3yw", "Keys jangling", "home"),
    ("/m/07r4wb8", "Knock", "home"), ("/m/0316dw", "Typing", "home"), ("/m/01x3z", "Clock", "home"),
    ("/m/03l9g", "Hammer", "tools"), ("/m/01j4z9", "Chainsaw", "tools"),
    ("/m/01yg9g", "Lawn mower", "tools"),
    ("/m/028ght", "Applause", "human"), ("/m/01j3sz", "Laughter", "human"),
    ("/m/01b_21", "Cough", "human"), ("/m/01hsr_", "Sneeze", "human"),
    ("/t/dd00002", "Baby cry, infant cry", "human"),
    ("/m/0g6b5", "Fireworks", "blast"), ("/m/032s66", "Gunshot, gunfire", "blast"),
    ("/m/02_41", "Fire", "fire"),
)
"""Everyday AudioSet classes (mid, name, coarse group) used when the ontology offers too few."""

HUMAN_SOUNDS_MID = "/m/0dgw9r"
"""AudioSet 'Human sounds': laughter, coughs, ... often go untagged next to speech."""

_STOP = {"and", "of", "the", "a", "an", "on", "in", "with", "sound", "sounds"}
_POOL_GROUP = {mid: group for mid, _, group in POOL}
_POOL_NAME = {mid: name for mid, name, _ in POOL}


def _words(name: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", name.lower()) if w not in _STOP and len(w) > 2}


def cooccurrence_from_segments(path: str | Path, top_k: int = 20) -> dict[str, list[str]]:
    """Per mid, the ``top_k`` mids most often labelled on the same AudioSet segment.

    ``path`` is an AudioSet segments CSV (``# ...`` header lines, then ``YTID, start, end,
    "mid,mid"``), e.g. ``balanced_train_segments.csv``.
    """
    pairs: dict[str, Counter[str]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        rows = csv.reader((line for line in fh if not line.startswith("#")), skipinitialspace=True)
        for row in rows:
            mids = sorted({m.strip() for m in row[3].split(",") if m.strip()}) if len(row) > 3 else []
            for a in mids:
                pairs.setdefault(a, Counter()).update(b for b in mids if b != a)
    return {a: [b for b, _ in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]]
            for a, c in pairs.items()}


def load_cooccurrence(path: str | Path | None) -> dict[str, list[str]]:
    """Co-occurrence map from a ``{mid: [mid, ...]}`` JSON file or an AudioSet segments CSV;
    empty when ``path`` is None."""
    if not path:
        return {}
    if str(path).lower().endswith(".csv"):
        return cooccurrence_from_segments(path)
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {str(k): [str(x) for x in v] for k, v in data.items()}


class DistractorPicker:
    """Chooses absent sound classes as wrong options (see module docstring)."""

    def __init__(self, ontology: Ontology, cooccurrence: dict[str, list[str]] | None = None) -> None:
        self.ontology = ontology
        self.cooccurrence = cooccurrence or {}

    # -- naming ------------------------------------------------------------------------------
    def name_of(self, mid: str) -> str:
        """Display name of ``mid`` from the ontology, else from the built-in pool."""
        name = self.ontology.names.get(mid) or _POOL_NAME.get(mid) or mid
        return display_name(name)

    # -- exclusion ---------------------------------------------------------------------------
    def _present(self, facts: Facts) -> tuple[set[str], set[str]]:
        mids = set(facts.present_mids)
        for name in facts.present_names:
            mid = self.ontology.mid_for_name(name)
            if mid:
                mids.add(mid)
        return mids, set(facts.present_names)

    def allowed(self, facts: Facts) -> Callable[[str], bool]:
        """Predicate ``(mid) -> bool``: True when ``mid`` may serve as an absent sound for ``facts``."""
        mids, names = self._present(facts)
        onto = self.ontology
        blocked: set[str] = set()
        for mid in mids:
            blocked |= onto.related(mid)
            # variants of one source (Dog: bark, yip, howl, bow-wow) are told apart by ear too
            # unreliably to serve as each other's distractors: block the whole family
            for parent in onto.parents.get(mid, []):
                if parent not in onto.abstract and all(
                        not onto.children.get(kid) for kid in onto.children.get(parent, [])):
                    blocked |= onto.related(parent)
        words = set().union(*(_words(n) for n in names)) if names else set()
        groups = {_POOL_GROUP[m] for m in mids if m in _POOL_GROUP}
        speech = facts.speech_labelled or bool(facts.speakers) or (facts.speech_ratio or 0) > 0.05
        if speech:
            # laughter, coughs and the like hide next to speech, so never call them absent
            groups.add("human")
            blocked |= onto.related(HUMAN_SOUNDS_MID) - onto.ancestors(HUMAN_SOUNDS_MID)

        def ok(mid: str) -> bool:
            if mid in blocked or mid in onto.abstract or onto.is_speech(mid):
                return False
            name = self.name_of(mid)
            if name == mid or name.lower() in names or _words(name) & words:
                return False
            # without a hierarchy, the pool's coarse groups stand in for "related"
            return onto.hierarchical or _POOL_GROUP.get(mid) not in groups
        return ok

    # -- candidate rings ---------------------------------------------------------------------
    def _near_rings(self, anchors: list[str]) -> list[list[str]]:
        """Siblings, co-occurring classes and cousins of ``anchors`` (hierarchy only for 1 and 3)."""
        onto = self.ontology
        siblings = sorted({s for a in anchors for s in onto.siblings(a)}) if onto.hierarchical else []
        cooc = sorted({c for a in anchors for c in self.cooccurrence.get(a, [])})
        cousins: set[str] = set()
        if onto.hierarchical:
            for a in anchors:
                for parent in onto.parents.get(a, []):
                    for uncle in onto.siblings(parent) if parent in onto.parents else []:
                        cousins.update(onto.children.get(uncle, []))
        return [siblings, cooc, sorted(cousins)]

    def _rings(self, anchors: Iterable[str]) -> list[list[str]]:
        """Candidate rings, nearest first: the first anchor's neighbourhood, then the others'."""
        anchors = [a for a in anchors if a]
        rings = self._near_rings(anchors[:1]) + self._near_rings(anchors[1:])
        flat = [] if self.ontology.hierarchical else sorted(self.ontology.names)
        return rings + [flat, sorted(_POOL_NAME)]

    def near(self, facts: Facts, anchors: Iterable[str | None], k: int,
             rng: random.Random) -> list[tuple[str, str]]:
        """Up to ``k`` absent ``(mid, display name)`` close to ``anchors`` in the ontology."""
        return self._take(self._rings([a for a in anchors if a]), facts, k, rng)

    def far(self, facts: Facts, k: int, rng: random.Random,
            own_labels: bool = False) -> list[tuple[str, str]]:
        """Up to ``k`` absent everyday sounds from the built-in pool (safest 'not heard' answers).

        ``own_labels`` (for a collection whose labels are exhaustive and whose label set is flat,
        i.e. the collection's own vocabulary) tries the collection's other labels first: when
        the absent answer always came from the pool and the present options from the collection,
        the pool names alone gave the key away (a text-only prior answered 96 % of a 60-scene
        mix's ``env_absent`` questions)."""
        own = sorted(self.ontology.names) if own_labels and not self.ontology.hierarchical else []
        return self._take([own, sorted(_POOL_NAME)], facts, k, rng)

    def _take(self, rings: list[list[str]], facts: Facts, k: int,
              rng: random.Random) -> list[tuple[str, str]]:
        ok = self.allowed(facts)
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for ring in rings:
            ring = list(ring)
            rng.shuffle(ring)
            for mid in ring:
                if len(out) >= k:
                    return out
                name = self.name_of(mid)
                if name.lower() in seen or not ok(mid):
                    continue
                seen.add(name.lower())
                out.append((mid, name))
        return out

    def is_present(self, facts: Facts, mid: str | None, name: str) -> bool:
        """True when ``mid``/``name`` (or a class related to it) is present in ``facts``."""
        mids, names = self._present(facts)
        if name.lower() in names:
            return True
        if mid is None:
            mid = self.ontology.mid_for_name(name)
        return bool(mid and self.ontology.related(mid) & mids)

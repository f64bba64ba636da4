"""One key per spoken word: British and American spellings of the same word compare equal.

A script may say "harbour" where a recogniser writes "harbor"; the audio is the same, so an answer
key, a quote match or a WER count must not depend on which spelling either side chose. The key is
only ever compared, never shown: options keep the spelling the transcript had.

The rules are a small hand-written set for the regular patterns (-our/-or, -ise/-ize, -tre/-ter,
-ogue/-og, doubled l before a suffix on an unstressed syllable) plus a short word list for the
irregular ones. Folding is applied to both sides of every comparison, so a rule that also bends
an unrelated word (``detour`` -> ``detor``) is harmless as long as it does not make two different
spoken words equal; each rule is written to avoid that (``filled`` keeps its l's, ``flour``
and ``hour`` keep their -our).
"""

from __future__ import annotations

import re
from functools import lru_cache

_OUR = re.compile(r"^(\w{3,})our(s|ed|ing|ite|ites|able|ful|hood|er|ers|less)?$")
_ISE = re.compile(r"^(\w{3,})is(e|es|ed|ing|ation|ations)$")
_TRE = re.compile(r"^(\w{3,})tre(s)?$")
_OGUE = re.compile(r"^(\w{3,})ogue(s)?$")
# travelled/traveled, cancelling/canceling: a vowel earlier in the word keeps one-syllable words
# (filled/filed, spilled) out of the rule
_LL = re.compile(r"^(\w*[aeiou]\w*[^aeiou\W][aeiou])ll(ed|ing|er|ers)$")
_WORDS = {
    "grey": "gray", "greys": "grays", "greyish": "grayish",
    "programme": "program", "programmes": "programs",
    "tyre": "tire", "tyres": "tires", "kerb": "curb", "kerbs": "curbs",
    "practise": "practice", "practised": "practiced", "practises": "practices",
    "practising": "practicing", "licence": "license", "licences": "licenses",
    "defence": "defense", "offence": "offense", "cheque": "check", "cheques": "checks",
    "jewellery": "jewelry", "aluminium": "aluminum", "pyjamas": "pajamas", "mould": "mold",
    "plough": "plow", "storey": "story", "storeys": "stories", "sceptical": "skeptical",
    "manoeuvre": "maneuver", "doughnut": "donut", "doughnuts": "donuts", "okay": "ok",
}


@lru_cache(maxsize=65536)
def spelling_key(word: str) -> str:
    """The comparison key of one lower-case word (``harbour`` and ``harbor`` give ``harbor``)."""
    if word in _WORDS:
        return _WORDS[word]
    for pattern, repl in ((_OUR, r"\1or\2"), (_ISE, r"\1iz\2"), (_TRE, r"\1ter\2"),
                          (_OGUE, r"\1og\2"), (_LL, r"\1l\2")):
        key, n = pattern.subn(repl, word)
        if n:
            return key
    return word


def spelling_keys(text: str) -> str:
    """``spelling_key`` of every space-separated word of an already normalised text."""
    return " ".join(spelling_key(w) for w in text.split())

"""Spelling keys: British and American variants of a word compare equal, different words do not."""

from __future__ import annotations

import pytest

from paqa_builder.spelling import spelling_key, spelling_keys


@pytest.mark.parametrize("british, american", [
    ("harbour", "harbor"), ("colour", "color"), ("neighbours", "neighbors"),
    ("neighbourhood", "neighborhood"), ("favourite", "favorite"), ("grey", "gray"),
    ("organise", "organize"), ("organised", "organized"), ("centre", "center"),
    ("theatres", "theaters"), ("catalogue", "catalog"), ("travelled", "traveled"),
    ("cancelling", "canceling"), ("practised", "practiced"), ("programme", "program"),
])
def test_variants_share_a_key(british, american):
    assert spelling_key(british) == spelling_key(american)


@pytest.mark.parametrize("a, b", [
    ("filled", "filed"), ("flour", "floor"), ("hour", "her"), ("four", "for"), ("your", "yore"),
    ("noise", "nose"), ("hall", "hale"), ("spilled", "spieled"), ("tour", "tore"),
])
def test_different_words_stay_different(a, b):
    assert spelling_key(a) != spelling_key(b)


def test_short_and_plain_words_are_untouched():
    for word in ("our", "hour", "flour", "rise", "noise", "called", "filled", "the", "vogue", "7"):
        assert spelling_key(word) == word
    assert spelling_keys("the grey harbour") == "the gray harbor"

"""AudioSet file naming patterns: every supported naming, s/ms resolution, ambiguous ids."""

import pytest

from paqa_builder.sources.naming import parse_name


def only(stem):
    parses = parse_name(stem)
    assert len(parses) == 1, parses
    return parses[0]


def test_y_prefix_wav_naming():
    p = only("Y--PJHxphWEs")
    assert (p.ytid, p.start, p.end, p.pattern) == ("--PJHxphWEs", None, None, "y_bare")
    assert p.seconds() == (None, None)


def test_bare_ytid_naming():
    p = only("--PJHxphWEs")
    assert (p.ytid, p.pattern) == ("--PJHxphWEs", "bare")


def test_start_end_in_seconds():
    p = only("--PJHxphWEs_30.000_40.000")
    assert (p.ytid, p.pattern) == ("--PJHxphWEs", "start_end")
    assert p.seconds() == (30.0, 40.0)


def test_start_end_in_milliseconds():
    p = only("--PJHxphWEs_30000_40000")
    assert p.seconds() == (30.0, 40.0)


def test_integer_seconds_pair_stays_seconds():
    # difference of 10 cannot be milliseconds for a real segment
    assert only("abcdefghijk_30_40").seconds() == (30.0, 40.0)


def test_start_only_seconds_and_ms():
    assert only("abcdefghijk_12.500").seconds() == (12.5, None)
    assert only("abcdefghijk_12000").seconds() == (12.0, None)  # ms heuristic without a row
    assert only("abcdefghijk_45").seconds() == (45.0, None)


def test_ms_resolved_against_csv_row_start():
    # 1500 alone is ambiguous; a row starting at 1.5 s says it is ms, one at 1500 s says seconds
    p = only("abcdefghijk_1500")
    assert p.seconds(row_start=1.5) == (1.5, None)
    assert p.seconds(row_start=1500.0) == (1500.0, None)


def test_dcase_y_prefix_with_times():
    parses = parse_name("Y--PJHxphWEs_30.000_40.000")
    assert [(p.ytid, p.pattern) for p in parses] == [("--PJHxphWEs", "y_start_end")]
    assert parses[0].seconds() == (30.0, 40.0)


def test_ytid_starting_with_y_gives_both_readings():
    # "YYc8nR2kDq1M": Y prefix + id "Yc8nR2kDq1M"; the bare 12-char reading is impossible
    assert [p.ytid for p in parse_name("YYc8nR2kDq1M")] == ["Yc8nR2kDq1M"]
    # "Yc8nR2kDq1M_5": an id starting with Y, no prefix
    parses = parse_name("Yc8nR2kDq1M_5")
    assert [(p.ytid, p.start) for p in parses] == [("Yc8nR2kDq1M", "5")]


def test_ids_with_underscores_and_dashes():
    p = only("k7_PwQ2nXe0_45.000_55.000")
    assert (p.ytid, p.seconds()) == ("k7_PwQ2nXe0", (45.0, 55.0))
    p = only("M2xVb8rT-cA_62500_72500")
    assert (p.ytid, p.seconds()) == ("M2xVb8rT-cA", (62.5, 72.5))


@pytest.mark.parametrize("stem", ["speech_sample", "abc", "abcdefghijk_x_y", "abcdefghijk__30", "a b cdefghijk"])
def test_unrecognised_names(stem):
    assert parse_name(stem) == []

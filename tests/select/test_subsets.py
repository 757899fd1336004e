"""Pass-rate ranges and the per-sample rules."""

from __future__ import annotations

import pytest

from finereason.select.subsets import (
    NAMED_SUBSETS,
    Interval,
    RangeError,
    Rules,
    parse_interval,
)


@pytest.mark.parametrize(
    "text, inside, outside",
    [
        ("0", [0.0], [0.25, 1.0]),
        ("0:0.5", [0.0, 0.25, 0.5], [0.75, 1.0]),
        (":0.25", [0.0, 0.25], [0.5]),
        ("0.75:", [0.75, 1.0], [0.5]),
        ("[0.25,0.75)", [0.25, 0.5], [0.0, 0.75, 1.0]),
        ("(0, 1]", [0.25, 1.0], [0.0]),
        ("(0,1)", [1 / 3, 0.5], [0.0, 1.0]),
    ],
)
def test_parse_interval(text: str, inside: list[float], outside: list[float]) -> None:
    iv = parse_interval(text)
    assert all(iv.contains(x) for x in inside)
    assert not any(iv.contains(x) for x in outside)


@pytest.mark.parametrize("text", ["", "abc", "0.5:0.25", "[0,1.5]", "(0.5,0.5)", "[0.5,0.5)", "-1:0", "0;1"])
def test_parse_interval_rejects_bad_ranges(text: str) -> None:
    with pytest.raises(RangeError):
        parse_interval(text)


def test_float_slack_keeps_thirds() -> None:
    assert parse_interval("[0.3333333333,0.5]").contains(1 / 3)


def test_named_subsets_match_the_paper() -> None:
    (hard,) = NAMED_SUBSETS["hard"]
    (medium,) = NAMED_SUBSETS["medium+"]
    assert [x for x in (0, 0.25, 0.5, 0.75, 1) if hard.contains(x)] == [0]
    assert [x for x in (0, 0.25, 0.5, 0.75, 1) if medium.contains(x)] == [0, 0.25, 0.5, 0.75]
    assert NAMED_SUBSETS["all"] == ()


def test_rules_reasons_in_order() -> None:
    rules = Rules(pass_rate=(Interval(0, 0),))
    assert rules.reason(None, "correct", [])[0] == "no_pass_rate"
    assert rules.reason(None, "incorrect", ["repetition: x"])[0] == "no_pass_rate"
    assert rules.reason(0.5, "incorrect", [])[0] == "pass_rate_out_of_range"
    assert rules.reason(0.0, "incorrect", [])[0] == "verdict_not_correct"
    assert rules.reason(0.0, None, [])[0] == "no_verdict"
    flag = "think_missing: no <think>"
    assert rules.reason(0.0, "correct", [flag]) == ("flagged:think_missing", flag)
    assert rules.reason(0.0, "correct", ["language: 40% latin"]) is None  # not dropped by default
    assert rules.reason(0.0, "correct", []) is None


def test_no_pass_rate_is_never_easy() -> None:
    """The public code scored unscored samples as 1.0; here they are neither hard nor easy."""
    for subset in ("hard", "medium+"):
        assert Rules(NAMED_SUBSETS[subset], require_correct=False).reason(None, None, [])[0] == "no_pass_rate"
    assert Rules(NAMED_SUBSETS["all"], require_correct=False).reason(None, None, []) is None


def test_flag_options() -> None:
    flags = ["language: 40% latin", "caption_too_short: 3 words < 100"]
    assert Rules(require_correct=False).reason(None, None, flags) is None
    assert Rules(require_correct=False, require_clean=True).reason(None, None, flags)[0] == "flagged:language"
    captions = Rules(require_correct=False, drop_flags=("caption_",))
    assert captions.reason(None, None, flags)[0] == "flagged:caption_too_short"
    assert Rules(require_correct=False, drop_flags=()).reason(None, None, ["repetition: x"]) is None
    assert Rules(require_correct=False).reason(None, None, ["format:think_missing"])[0] == "flagged:format"

"""Answer parsing per benchmark rule, including adversarial replies: never a guess."""

from __future__ import annotations

import pytest

from finereason.evaluate.parsing import (
    normalize_open,
    numbers_in,
    open_candidates,
    open_matches,
    parse_choice,
    parse_number,
    scan_choice,
    visible_text,
)

ABCD = {"A": "red", "B": "green", "C": "blue", "D": "yellow"}


@pytest.mark.parametrize(
    ("response", "letter", "method"),
    [
        ("C", "C", "letter"),
        ("(C)", "C", "letter"),
        ("Answer: C", "C", "answer_line"),
        ("The answer is (C) because A is wrong", "C", "answer_line"),
        ("A is tempting, but the answer is C.", "C", "answer_line"),
        ("Option B looks close. Final answer: D", "D", "answer_line"),
        ("<think>maybe A? or B</think>\nAnswer: B", "B", "answer_line"),
        ("\\boxed{D}", "D", "boxed"),
        ("<answer>A</answer>", "A", "answer_tag"),
        ("Answer: blue", "C", "answer_line"),  # an option's exact text
        ("B. green", "B", "letter"),
    ],
)
def test_choice_letters_are_read_from_explicit_answers(response, letter, method):
    parsed = parse_choice(response, ABCD)
    assert (parsed.value, parsed.method) == (letter, method)


@pytest.mark.parametrize(
    "response",
    [
        "",
        "I am not sure.",
        "A cat is sitting on the mat.",  # "A" as an article is not an answer
        "Answer: E",  # not an option
        "<think>The answer is B because",  # cut off while thinking: nothing visible to trust
        "Both A and C could be right.",
    ],
)
def test_no_answer_is_unparsed_never_a_random_letter(response):
    assert parse_choice(response, ABCD).value is None


def test_unclosed_think_is_reported_as_such():
    assert parse_choice("<think>A or B", ABCD).method == "unclosed_think"
    assert visible_text("<think>x</think> y") == " y"
    assert visible_text("<think>never closed") is None


def test_mmmu_scan_finds_mentions_but_only_when_asked():
    assert parse_choice("Both A and C could be right.", ABCD, scan=True).value == "C"  # MMMU: last mentioned
    assert scan_choice("I pick (B) over (A) here", ABCD) == "A"  # bracketed, last occurrence
    assert scan_choice("the sky in this picture is clearly blue today", ABCD) == "C"  # option text, >5 words
    assert scan_choice("blue", ABCD) is None  # short replies are not searched for option texts
    assert scan_choice("DATA SHOWS NOTHING", ABCD) is None  # "A " inside a word is not a letter


@pytest.mark.parametrize(
    ("response", "value"),
    [
        ("Answer: 4", "4"),
        ("The total is 1,000 g. Answer: 1,000 g", "1000"),
        ("Answer: $-2.5$", "-2.5"),
        ("Answer: \\frac{1}{4}", "0.25"),
        ("Answer: 3 or 4", "4"),
        ("12", "12"),
        ("  7.5 ", "7.5"),
    ],
)
def test_numbers(response, value):
    assert parse_number(response).value == value


@pytest.mark.parametrize("response", ["I count four objects", "There are 3 red and 4 blue ones", "<think>4"])
def test_number_without_marker_or_single_value_is_unparsed(response):
    assert parse_number(response).value is None


def test_numbers_in_handles_commas_signs_and_exponents():
    assert numbers_in("from −3 to 1,200.5, about 3e8 or .5") == ["-3", "1200.5", "3e8", ".5"]


def test_mmmu_open_candidates_and_match():
    candidates = open_candidates("First we add the sides. Therefore the total is 7 sides.")
    assert 7.0 in candidates
    assert open_matches("7", candidates)
    assert not open_matches("8", candidates)
    assert open_matches(["24/7", "3.43"], open_candidates("so the ratio is 3.429"))  # MMMU rounds to 2 places
    assert open_matches("paris", open_candidates("The answer is Paris, France"))
    assert normalize_open("a") == [" a", "a "]  # a single letter must not match inside any word
    assert not open_matches("a", open_candidates("the answer is banana"))

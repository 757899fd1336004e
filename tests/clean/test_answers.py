"""Answer standardisation by the seed's rules, checked on rules and on the release's own pairs."""

from __future__ import annotations

import re

import pytest

from finereason.clean.answers import AnswerError, answer_type, last_boxed, standardize_answer
from finereason.clean.options import parse_options


@pytest.mark.parametrize(
    ("raw", "expected", "kind"),
    [
        # the last \boxed{} verbatim, braces balanced
        (r"so \boxed{\frac{1}{2}} first, then \boxed{\frac{\sqrt{3}}{2}}.", r"\frac{\sqrt{3}}{2}", "expression"),
        (r"<think>maybe \boxed{7}</think>The result is \boxed{x^{2}+\{1\}}", r"x^{2}+\{1\}", "expression"),
        (r"\boxed{12 \text{ cm}}", r"12 \text{ cm}", "expression"),  # verbatim means verbatim
        # explicit final results, units dropped, % kept
        ("the answer is 12 cm", "12", "integer"),
        ("Answer: 45°", "45", "integer"),
        (r"$45^{\circ}$", "45", "integer"),
        (r"12\text{ cm}", "12", "integer"),
        ("5.4 acres", "5.4", "number"),
        ("10 square centimeters", "10", "integer"),
        ("3 m/s", "3", "integer"),
        ("60km/h", "60", "integer"),
        ("12cm²", "12", "integer"),
        ("5个", "5", "integer"),
        ("5b", "5b", "expression"),  # attached unknown letters are algebra, not units
        ("2ab", "2ab", "expression"),
        ("3 x", "3 x", "expression"),
        ("$5", "5", "integer"),
        ("45 %", "45%", "number"),
        (r"45\%", "45%", "number"),
        ("答案：12", "12", "integer"),
        # several values, comma-joined
        ("x = 2, y = 3", "2, 3", "expression"),
        ("2 cm and 3 cm", "2, 3", "expression"),
        ("(8, 13)", "(8, 13)", "expression"),
        ("1,017", "1,017", "integer"),
        # math delimiters
        ("$$4.4$$", "4.4", "number"),
        ("$13$", "13", "integer"),
        (r"$$\dfrac{1}{\pi }$$", r"\dfrac{1}{\pi }", "expression"),
        (r"\(x^2+1\)", "x^2+1", "expression"),
        # assignments: a number's name goes, an equation stays
        ("x=5/3", "5/3", "number"),
        ("y = 2x + 1", "y = 2x + 1", "expression"),
        # words and letters
        ("Triangle", "Triangle", "text"),
        ("September 24, 1968", "September 24, 1968", "text"),
        ("2 or 3", "2 or 3", "text"),
        ("Yes.", "Yes", "yes_no"),
        ("Answer: B", "B", "choice"),
        ("(C)", "C", "choice"),
        ("D.", "D", "choice"),
        # solutions
        ("<CONCLUSION>\nD\n</CONCLUSION>", "D", "choice"),
        ("<SUMMARY>x</SUMMARY>\n<CONCLUSION> 35.4 </CONCLUSION>", "35.4", "number"),
        ("<think>work</think>\n<answer>Solve: 3x = 5\nx = 5/3\n\nThe zero of the function is x = 5/3.</answer>",
         "5/3", "number"),
        ("Work...\nTherefore, f(4) evaluates to 19.", "19", "integer"),
        ("Work...\nThe minimum point of the function is (-2, -8).", "(-2, -8)", "expression"),
        ("Step 1 ...\nStep 2 ...\n**Final answer:** 42\nHope this helps!", "42", "integer"),
        ("Long\nsolution ending <answer>The zero is x = 0.<\\final_answer></answer>", "0", "integer"),
        ("<answer>The zero of the function is x = 3.</answer>", "3", "integer"),
    ],
)
def test_rules(raw: str, expected: str, kind: str) -> None:
    got = standardize_answer(raw)
    assert (got.text, got.answer_type) == (expected, kind)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "missing_answer"),
        ("", "missing_answer"),
        ("  \n ", "missing_answer"),
        (r"\boxed{ }", "missing_answer"),
        ("<answer>  </answer>", "missing_answer"),
        ("First we draw the figure.\nThen we look at it closely.", "answer_unextracted"),
        ("x" * 300, "answer_unextracted"),
    ],
)
def test_refusals(raw: str | None, reason: str) -> None:
    with pytest.raises(AnswerError) as err:
        standardize_answer(raw)
    assert err.value.reason == reason


def test_options_map_text_and_letter_forms() -> None:
    opts = ["80J", "70J", "60J"]
    assert standardize_answer("70J", opts).text == "B"
    assert standardize_answer("70 J", opts).text == "B"  # both sides standardised
    assert standardize_answer("B. 70J", opts).text == "B"
    assert standardize_answer("(C)", opts).answer_type == "choice"
    assert standardize_answer("B. 60J", opts).text == "B. 60J"  # contradicts option B: left alone
    assert standardize_answer("75J", opts).text == "75"  # no option: an ordinary number
    assert standardize_answer("70 J", ["70 J", "70 kJ"]).text == "A"  # the exact text decides
    assert standardize_answer("A, C", opts).answer_type == "choice"
    assert standardize_answer("BC", ["AB", "BC", "CD"]).text == "B"  # a segment named like letters


def test_answer_types() -> None:
    assert answer_type("F") == "choice"  # Raven: options are drawn in the image
    assert answer_type("AC") == "text"
    assert answer_type("AC", ["x", "y", "z"]) == "choice"
    assert answer_type("no") == "yes_no"
    assert answer_type("-20") == "integer"
    assert answer_type("0.167") == "number"
    assert answer_type("1.5e3") == "number"
    assert answer_type("sin(x)") == "expression"
    assert answer_type("x") == "expression"
    assert answer_type("up, left") == "text"


def test_last_boxed_needs_balanced_braces() -> None:
    assert last_boxed(r"\boxed{a{b}c} and \boxed{unclosed") == "a{b}c"
    assert last_boxed("nothing") is None


def _unwrapped(text: str) -> str:
    m = re.fullmatch(r"\$\$(.*)\$\$|\$(.*)\$", text, re.DOTALL)
    return (m.group(1) or m.group(2)).strip() if m else text


#: Release pairs where our standard answer differs from the release's, and why.
RELEASE_EXCEPTIONS = {
    # The release kept the unit, against its own rule ("drop units"); we drop it.
    ("Euclid30K", 23502): ("5.4", "5.4 acres"),
    # The source's CoT answers another question (about a senior partner); the release's answer
    # came from the source's label, not from this text.
    ("LLaVA-CoT", 7): ("Philip N. McCombs is a senior partner", "September 24, 1968"),
    # The answer is an option's text: we give the option's letter (C = "944").
    ("WeMath2-Standard", 9): ("C", "944"),
}


def test_release_pairs(release_records: list[dict]) -> None:
    """original_answer → answer on the 70 real records.

    The release keeps math delimiters (``$$4.4$$``); we remove them by design, so those count as
    agreeing when the release's answer without its delimiters equals ours. Everything else must
    match exactly, except the listed, explained cases.
    """
    exact = agree = 0
    mismatches = {}
    for r in release_records:
        question = r.get("ori_question") or r["question"]
        parsed = parse_options(question)
        got = standardize_answer(r["original_answer"], parsed.texts if parsed else ())
        exact += got.text == r["answer"]
        if got.text == _unwrapped(r["answer"]):
            agree += 1
        else:
            mismatches[(r["source"], r["id"])] = (got.text, r["answer"])
    assert mismatches == RELEASE_EXCEPTIONS
    assert len(release_records) == 70
    assert exact == 63  # 90% verbatim; 4 more differ only by the release's $…$
    assert agree == 67  # 95.7%

"""One test per general rule of the cascade, each built from a real miss of the rules.

The cases are the issue's (#12) examples from MMFineReason release records outside the fixture,
where ``verify`` disagreed with the release's judge; each is stated as the convention it follows,
not as a case. A rule that cannot decide must abstain (``undecided``), never say ``incorrect``.
"""

from __future__ import annotations

import time

import pytest

from finereason.verify import Verifier
from finereason.verify.parts import split_parts
from finereason.verify.stage import NO_ANSWER_TAG_SOURCES, source_matches


# --- multi-part answers, aligned part by part ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("32     24", ["32", "24"]),  # a run of spaces (release reference)
        ("4:1     92", ["4:1", "92"]),
        ("(a) 5 N (b) 3 m/s", ["5 N", "3 m/s"]),
        ("i) 2; ii) 4", ["2", "4"]),
        ("x=1 and y=2", ["x=1", "y=2"]),
        ("12\n7", ["12", "7"]),
        ("x = 1,   y = 2", ["x = 1", "y = 2"]),  # a separator before the run is not a part
        ("salt and pepper", ["salt and pepper"]),  # prose joined by "and" is one answer
        ("(1,  2)", ["(1,  2)"]),  # spaces inside brackets do not separate
        ("1,000", ["1,000"]),  # commas are left to the structured comparison (thousands)
    ],
)
def test_split_parts(text: str, parts: list[str]) -> None:
    assert split_parts(text) == parts


@pytest.mark.parametrize(
    ("gold", "pred"),
    [
        ("32     24", "32, 24"),  # release: reference parts separated by a run of spaces
        ("4:1     92", "4:1, 92"),
        ("4:1     92", "(a) 4:1 (b) 92"),
        ("x=1 and y=2", "x = 1, y = 2"),
    ],
)
def test_parts_align_one_by_one(verifier: Verifier, gold: str, pred: str) -> None:
    v = verifier.verify(pred, gold)
    assert (v.verdict, v.detail) == ("correct", "part-wise equal"), v


def test_parts_that_differ_are_incorrect(verifier: Verifier) -> None:
    assert verifier.verify("32, 25", "32     24").verdict == "incorrect"


def test_more_parts_than_the_reference_abstains(verifier: Verifier) -> None:
    """A response answering (a) and (b) against a one-value reference: which part is asked is
    not known to the rules, so they abstain rather than match either part."""
    v = verifier.verify("(a) 5 (b) 7", "5", question="(a) Find x. (b) Find y.")
    assert v.verdict == "undecided" and "parts" in v.detail


def test_more_parts_still_equal_by_math(verifier: Verifier) -> None:
    assert verifier.verify("2, -2", "\\pm 2").verdict == "correct"


# --- equations and inequalities side by side; LaTeX variants -------------------------------------


def test_identity_compared_side_by_side(verifier: Verifier) -> None:
    """Release reference ``$$1^{2}-2^{2}+\\cdots=(-1)^{n+1}\\cdot\\dfrac{n(n+1)}{2}$$`` against the
    same identity in plainer LaTeX: math-verify cannot parse ``\\cdots``, but the left sides are the
    same text and the right sides are equal."""
    gold = "$$1^{2}-2^{2}+\\cdots+(-1)^{n+1}n^{2}=(-1)^{n+1}\\cdot\\dfrac{n(n+1)}{2}$$"
    pred = "1^2-2^2+\\cdots+(-1)^{n+1}n^2=(-1)^{n+1}\\frac{n(n+1)}{2}"
    assert verifier.verify(pred, gold).verdict == "correct"


def test_side_by_side_never_says_different(verifier: Verifier) -> None:
    """``2x = 4`` and ``x = 2`` differ side by side yet state the same thing."""
    assert verifier.verify("x = 2", "2x = 4").verdict != "incorrect"


@pytest.mark.parametrize(("gold", "pred"), [("\\dfrac{x}{2}", "\\tfrac{1}{2}\\cdot x"),
                                            ("$$\\dfrac{3}{4}$$", "\\frac{3}{4}")])
def test_latex_variants(verifier: Verifier, gold: str, pred: str) -> None:
    assert verifier.verify(pred, gold).verdict == "correct"


def test_inverse_function_only_through_math(verifier: Verifier) -> None:
    """``θ₀ = arctan(7μ/2)`` against ``arctan(7μ/2)`` is decided by math-verify; the bound
    ``tan(θ₀) ≤ (7/2)μ`` against ``arctan(7μ/2)`` is left undecided (no string trick relates them)."""
    assert verifier.verify("\\arctan(\\frac{7\\mu}{2})", "\\theta_0 = \\arctan(7\\mu/2)").verdict == "correct"
    bound = verifier.verify("\\arctan(\\frac{7\\mu}{2})", "\\tan(\\theta_0) \\le \\frac{7}{2}\\mu")
    assert bound.verdict == "undecided"


@pytest.mark.parametrize(
    ("gold", "pred"),
    [
        ("ω = sqrt(6g/L)", "\\omega = \\sqrt{\\frac{6g}{L}}"),  # release physics answer, second part
        ("arctan(7μ/2)", "\\arctan(\\frac{7\\mu}{2})"),
        ("tan(θ₀) ≤ (7/2)μ", "\\tan(\\theta_0) \\le \\frac{7}{2}\\mu"),
        ("ln(2)", "\\ln 2"),
    ],
)
def test_plain_text_math_is_read_as_latex(verifier: Verifier, gold: str, pred: str) -> None:
    """Unicode Greek letters and subscripts, and function names typed without a backslash, are
    notation: normalised to LaTeX so that math-verify (sympy) compares them. Before, ``arctan(7μ/2)``
    was parsed as a product of letters and called different from ``\\arctan(\\frac{7\\mu}{2})``."""
    assert verifier.verify(pred, gold).verdict == "correct"


def test_physics_vectors_abstain(verifier: Verifier) -> None:
    """Release reference ``F = Mg((1/2)x̂ - (3/4)ẑ), ω = sqrt(6g/L)`` in plain text against LaTeX:
    the parts align and the second matches, but math-verify cannot parse unit vectors (``\\hat{x}``),
    so the first part, and the whole, is the judge's."""
    v = verifier.verify("F = Mg(\\frac{1}{2}\\hat{x} - \\frac{3}{4}\\hat{z}), \\omega = \\sqrt{\\frac{6g}{L}}",
                        "F = Mg((1/2)x̂ - (3/4)ẑ), ω = sqrt(6g/L)")
    assert v.verdict == "undecided"


# --- letter references with the options only in the question ------------------------------------


def test_letter_reference_maps_to_option_text_in_question(verifier: Verifier) -> None:
    question = "Energy could be ( ).\nA. 80J\nB. 70J\nC. 60J\nD. 50J"
    assert verifier.verify("70J", "B", question=question).verdict == "correct"
    assert verifier.verify("60J", "B", question=question).verdict == "incorrect"


def test_value_unlike_every_option_is_incorrect(verifier: Verifier) -> None:
    """A prediction that is neither a letter nor any option's text is incorrect only when the rules
    show it different from every option; the reference option's text written another way is
    correct by math-verify; otherwise the rules abstain."""
    assert verifier.verify("42", "B", options=["9", "7.5", "4.5", "6"]).verdict == "incorrect"
    assert verifier.verify("Bus", "A", options=["Taxi", "Car"]).verdict == "incorrect"
    assert verifier.verify("\\frac{15}{2}", "B", options=["9", "\\sqrt{56.25}"]).verdict == "correct"
    assert verifier.verify("\\frac{17}{2}", "B", options=["9", "\\sqrt{56.25}"]).verdict == "undecided"


# --- free-form answers ---------------------------------------------------------------------------


def test_free_form_is_never_incorrect_by_rule(verifier: Verifier) -> None:
    """LLaVA-CoT:9 of the fixture: a refusal in prose against a number. The release judge marks it
    inconsistent; the rules cannot read prose, so they leave it to the judge."""
    v = verifier.verify("Insufficient data to determine the total health expenditure", "2008")
    assert v.verdict == "undecided" and "free-form" in v.detail


def test_free_form_option_text_is_never_incorrect_by_rule(verifier: Verifier) -> None:
    """An AI2D-style prose reference against a letter whose option words it differently: the
    rules cannot tell paraphrase from difference."""
    question = ("What does the membrane do?\nA. It lets substances enter and leave the cell in a controlled way\n"
                "B. It makes food for the cell")
    v = verifier.verify("A", "The membrane controls what enters and leaves the cell", question=question)
    assert v.verdict == "undecided"
    assert verifier.verify("B", "A", question=question).verdict == "incorrect"


# --- the <answer> template exemption -------------------------------------------------------------


@pytest.mark.parametrize("source", ["FineVision-ai2d_merged", "FineVision-visualwebinstruct(filtered)",
                                    "LLaVA-CoT", "llava_cot", "AI2D", "VisualWebInstruct"])
def test_exempt_sources_however_spelled(source: str) -> None:
    assert source_matches(source, NO_ANSWER_TAG_SOURCES)


@pytest.mark.parametrize("source", ["MMR1", "Euclid30K", "FineVision-scienceqa", "GameQA-140K"])
def test_other_sources_not_exempt(source: str) -> None:
    assert not source_matches(source, NO_ANSWER_TAG_SOURCES)


# --- bad input: a verdict with a reason, fast, and the run goes on -------------------------------


@pytest.mark.parametrize(
    ("pred", "gold", "why"),
    [
        ("1" * 10_000_000, "1", "too long"),  # a 10 MB answer
        ("{" * 10_000 + "1" + "}" * 10_000, "1", "too long"),  # braces 10,000 deep
        ("{" * 1_000 + "1" + "}" * 1_000, "1", "nested"),  # short enough, still too deep
        ("1", "(" * 1_000 + "1" + ")" * 1_000, "nested"),
    ],
)
def test_oversize_input_is_undecided_at_once(verifier: Verifier, pred: str, gold: str, why: str) -> None:
    def judge(q: str, r: str, c: str) -> str:
        raise AssertionError("a 10 MB answer must not be sent to a judge")

    t0 = time.monotonic()
    v = verifier.verify(pred, gold, judge=judge)
    assert v.verdict == "undecided" and why in v.detail and "not sent to a judge" in v.detail
    assert time.monotonic() - t0 < verifier.timeout_s  # decided before any worker is asked


def test_looping_latex_is_error_within_timeout_and_run_continues() -> None:
    with Verifier(timeout_s=2.0, workers=1) as v:
        out = v.verify_many([("10^{10^{10^{10^{10}}}}", "10^{10^{10^{10^{11}}}}"), ("\\sqrt{12}", "2\\sqrt{3}")])
        assert out[0].verdict == "error" and "timeout" in out[0].detail
        assert out[1].verdict == "correct"


def test_non_json_judge_reply_is_error_and_run_continues(verifier: Verifier) -> None:
    replies = iter(["Sure! They look the same to me.", '{"judgment": "EQUIVALENT"}'])
    judge = lambda q, r, c: next(replies)  # noqa: E731
    prose = "It regulates the movement of substances into and out of the cell"
    out = verifier.verify_many([(prose, "The membrane controls what enters the cell, and what leaves it"),
                                (prose, "The membrane controls what enters the cell, and what leaves it")],
                               judge=judge)
    assert [(o.verdict, o.verdict_by) for o in out] == [("error", "judge"), ("correct", "judge")]

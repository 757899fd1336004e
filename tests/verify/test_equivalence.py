"""The verification cascade: normalisation, numbers, choices, math-verify guards, judge, timeouts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from finereason.verify import Verdict, Verifier, VerifyItem, judge_prompt, parse_judgment, prompt_judge
from finereason.verify.equivalence import verify_answer
from finereason.verify.judge import build_judge_prompt
from finereason.verify.normalize import normalize_answer, parse_quantity, quantities_equal
from finereason.verify.pool import WorkerPool

# (gold, pred, verdict_by) pairs that must be judged correct
CORRECT = [
    ("$$4.4$$", "4.4", "exact"),
    ("$$\\dfrac{1}{\\pi }$$", "\\frac{1}{\\pi}", "exact"),
    ("x^{2}+1", "x^2+1", "exact"),
    ("2 \\times 3", "2\\cdot 3", "exact"),
    ("\\cos^{-1}(x)", "\\arccos(x)", "exact"),
    ("\\left( 1, 2 \\right)", "(1,2)", "exact"),
    ("30^\\circ", "30", "exact"),
    ("30°", "30", "exact"),
    ("50\\%", "50%", "exact"),
    ("[1, 2)", "[1,2)", "exact"),
    ("\\{1, 2\\}", "\\{2, 1\\}", "exact"),
    ("2, 3", "3, 2", "exact"),
    ("1, 2, 3", "\\{3, 2, 1\\}", "exact"),
    ("up, left", "Left, Up", "exact"),
    ("yes", "Yes.", "exact"),
    ("Triangle", "triangle", "exact"),
    ("Ellipse", "the ellipse", "exact"),
    ("September 24, 1968", "september 24, 1968", "exact"),
    ("x=5", "5", "exact"),
    ("5", "x = 5", "exact"),
    ("△ABD ~ △CAD", "\\triangle CAD \\sim \\triangle ABD", "exact"),
    ("△ABD ∽ △CAD", "triangle BDA ~ triangle ADC", "exact"),
    ("1,000", "1000", "exact"),
    ("13", "13 cm", "numeric"),
    ("5 cm", "5", "numeric"),
    ("5.4 acres", "5.4", "numeric"),
    ("1913.85", "1913.85 million euros", "numeric"),
    ("50%", "50", "numeric"),
    ("50%", "0.5", "numeric"),
    ("0.5", "50%", "numeric"),
    ("1/2", "0.5", "numeric"),
    ("\\frac{1}{2}", "0.5", "numeric"),
    ("-\\frac{3}{4}", "-0.75", "numeric"),
    ("\\frac{-3}{4}", "-0.75", "numeric"),
    ("0.167", "1/6", "numeric"),
    ("1200", "1.2\\times10^{3}", "numeric"),
    ("1e-3", "0.001", "numeric"),
    ("5", "5.0", "numeric"),
    ("(-2, -8)", "(-2.0, -8)", "numeric"),
    ("\\sqrt{2}/2", "\\frac{\\sqrt{2}}{2}", "math_verify"),
    ("2\\sqrt{3}", "\\sqrt{12}", "math_verify"),
    ("\\frac{\\pi}{6}", "\\pi/6", "math_verify"),
    ("3x-y+13=0", "6x-2y+26=0", "math_verify"),
    ("x>1", "(1,\\infty)", "math_verify"),
    ("(-\\infty, 2]", "x \\le 2", "math_verify"),
    ("a^2+b^2", "b^2+a^2", "math_verify"),
    ("(\\sqrt{2}, 1)", "(\\frac{2}{\\sqrt{2}}, 1)", "math_verify"),
    ("x^2-4x+3", "(x-1)(x-3)", "math_verify"),
    ("\\pm 2", "2, -2", "math_verify"),
    ("[-1, 3]", "-1 \\le x \\le 3", "math_verify"),
    ("2\\pi", "6.28", "math_verify"),  # decimal approximation of a closed form (rounding rule)
    ("\\sqrt{2}", "1.414", "math_verify"),
    ("0.5", "\\frac12", "numeric"),  # TeX shorthand
    ("\\frac1\\pi", "\\frac{1}{\\pi}", "exact"),
    ("\\angle ABC = 30°", "30", "exact"),
    ("AB = 5", "5", "exact"),
]

# (gold, pred) pairs that must be judged incorrect
INCORRECT = [
    ("1+1/e", "1-1/e"),  # math-verify false positive #1 (plain-text prefix parse)
    ("1-1/e", "1+1/e"),
    ("1/2004!", "1/2006!"),  # false positive #2 (absolute float rounding)
    ("\\frac{1}{2004!}", "\\frac{1}{2006!}"),
    ("3x-y+13=0", "3x+4y+14=0"),  # false positive #3 (both sides collapse to 0)
    ("1", "15"),  # no substring matching
    ("15", "1"),
    ("-1", "1"),  # signs are never stripped
    ("1", "-1"),
    ("0.5", "05"),  # decimal points are never stripped
    ("A, C", "C"),
    ("0.3", "1/3"),  # rounding rule needs <=1% relative difference
    ("5", "4.99"),  # integers do not absorb decimals
    ("50", "0.5"),  # no % anywhere: different numbers
    ("(1, 2)", "(2, 1)"),  # tuples are ordered
    ("[1, 2)", "(1, 2]"),  # interval ends matter
    ("right, right, down", "right, down, right"),  # repeated parts: an ordered sequence
    ("2x", "2"),  # a glued letter is a variable, not a unit
    ("2", "2n"),
    ("\\triangle ABD \\sim \\triangle CAD", "\\triangle ABD \\sim \\triangle ACD"),
    ("35.4", "Product availability"),
    ("Ferrero", "Mars"),
    ("x+y=5", "5"),  # math-verify compares a value with any equation's right-hand side
    ("5", "x+y=5"),
    ("\\sqrt{2}", "1.4"),  # rounds to it, but 1% off
    ("\\frac{\\pi}{3}", "60°"),  # radians vs degrees are not converted
]


@pytest.mark.parametrize(("gold", "pred", "step"), CORRECT)
def test_correct(verifier: Verifier, gold: str, pred: str, step: str) -> None:
    v = verifier.verify(pred, gold)
    assert (v.verdict, v.verdict_by) == ("correct", step), v


@pytest.mark.parametrize(("gold", "pred"), INCORRECT)
def test_incorrect(verifier: Verifier, gold: str, pred: str) -> None:
    v = verifier.verify(pred, gold)
    assert v.verdict == "incorrect", v


#: Pairs the rules cannot decide: each was a silent "incorrect" before verdicts could abstain.
UNDECIDED = [
    ("5 cm", "5 m"),  # different units: a conversion, or a wrong unit? math-verify parses neither
    # More parts in the response than in the reference: which one is asked is not known.
    ("1, 2", "1, 2, 3"),
    ("1", "1, 15"),
    # Free-form prose (a FineVision-ai2d / visualwebinstruct style description).
    ("The cell membrane controls what enters and leaves the cell",
     "It regulates the movement of substances into and out of the cell"),
    # An inequality against its bound: whether the bound is the asked quantity is a judge's call
    # (MMFineReason release, physics: tan(θ₀) ≤ (7/2)μ against arctan(7μ/2)).
    ("\\tan(\\theta_0) \\le \\frac{7}{2}\\mu", "\\arctan(\\frac{7\\mu}{2})"),
]


@pytest.mark.parametrize(("gold", "pred"), UNDECIDED)
def test_undecided(verifier: Verifier, gold: str, pred: str) -> None:
    v = verifier.verify(pred, gold)
    assert v.verdict == "undecided" and v.detail, v


def test_choice_letter_in_gold_vs_compound_answer(verifier: Verifier) -> None:
    v = verifier.verify("A, C", "C")
    assert (v.verdict, v.verdict_by) == ("incorrect", "choice")


# --- normalisation details ------------------------------------------------------------------


def test_normalize_is_notation_only() -> None:
    assert normalize_answer("$$\\dfrac{1}{2}$$") == "\\frac{1}{2}"
    assert normalize_answer("\\boxed{\\text{up, left}}") == "up, left"
    assert normalize_answer("-1") == "-1"
    assert normalize_answer("0.5") == "0.5"
    assert normalize_answer("−3") == "-3"  # unicode minus becomes a sign, never dropped


def test_quantity_units_and_percent() -> None:
    q = parse_quantity("5.4 acres")
    assert q is not None and q.unit == "acres" and q.decimals == 1
    assert parse_quantity("2x") is None
    assert parse_quantity("2 pi") is None
    a, b = parse_quantity("50%"), parse_quantity("0.5")
    assert a and b and quantities_equal(a, b)


# --- multiple choice ------------------------------------------------------------------------


def test_choice_adversarial_phrase(verifier: Verifier) -> None:
    v = verifier.verify("The answer is (C) because A is wrong", "C")
    assert (v.verdict, v.verdict_by) == ("correct", "choice")


def test_choice_option_text_to_letter(verifier: Verifier) -> None:
    opts = ["2 pieces", "3 pieces", "5 pieces", "10 pieces"]
    assert verifier.verify("5", "C", options=opts).verdict == "correct"
    assert verifier.verify("3", "C", options=opts).verdict == "incorrect"


def test_choice_letter_to_option_text(verifier: Verifier) -> None:
    question = "What is the total? A.256; B.512; C.944; D.275"
    v = verifier.verify("C", "944", question=question)
    assert (v.verdict, v.verdict_by) == ("correct", "choice")
    assert verifier.verify("B", "944", question=question).verdict == "incorrect"


def test_choice_letter_to_option_needing_math(verifier: Verifier) -> None:
    v = verifier.verify("B", "\\frac{\\sqrt{2}}{2}", options=["1", "\\sqrt{2}/2"])
    assert (v.verdict, v.verdict_by) == ("correct", "math_verify")


def test_choice_letter_outside_options(verifier: Verifier) -> None:
    v = verifier.verify("E", "C", options={"A": "x", "B": "y", "C": "z"})
    assert v.verdict == "incorrect"


def test_answer_type_text_skips_math(verifier: Verifier) -> None:
    v = verifier.verify("\\sqrt{12}", "2\\sqrt{3}", answer_type="text")
    assert (v.verdict, v.verdict_by) == ("undecided", "exact")


def test_bad_answer_type(verifier: Verifier) -> None:
    with pytest.raises(ValueError):
        verifier.verify("1", "1", answer_type="number")  # type: ignore[arg-type]


def test_unparsed_and_empty_reference(verifier: Verifier) -> None:
    assert verifier.verify(None, "4") == Verdict("unparsed", "none", "no answer was extracted")
    assert verifier.verify("  ", "4").verdict == "unparsed"
    assert verifier.verify("4", "").verdict == "error"


# --- judge ----------------------------------------------------------------------------------


EQ = '{"analysis": "same value", "judgment": "EQUIVALENT"}'
DIFF = '{"analysis": "different values", "judgment": "DIFFERENT"}'


@pytest.mark.parametrize(
    ("reply", "parsed"),
    [
        (EQ, "correct"),
        (DIFF, "incorrect"),
        ('{"judgment": "equivalent"}', "correct"),
        ("  " + DIFF + "\n", "incorrect"),
        ("```json\n" + EQ + "\n```", "correct"),
        ("<think>" + EQ + "</think>\n" + DIFF, "incorrect"),
        ('{"judgment": "NOT EQUIVALENT"}', None),
        ('{"judgment": "EQUIVALENT (mostly)"}', None),
        ('{"judgment": true}', None),
        ('{"analysis": "no verdict"}', None),
        ('["EQUIVALENT"]', None),
        ("Analysis: same value.\nJUDGMENT: EQUIVALENT", None),  # the old line format is not JSON
        ("EQUIVALENT", None),
        ("The answer is " + EQ, None),  # prose around the object
        ('{"judgment": "EQUIVALENT"', None),  # truncated
        ("<think>" + EQ, None),
        ("[" * 100_000, None),  # nested too deep for the JSON parser
        ("", None),
    ],
)
def test_parse_judgment(reply: str, parsed: str | None) -> None:
    assert parse_judgment(reply) == parsed


def test_judge_prompt_is_the_versioned_template() -> None:
    prompt = judge_prompt()
    assert prompt.id == "judge" and prompt.source.endswith("prompts/judge.txt")
    assert set(prompt.placeholders) == {"question", "reference", "response"}
    assert prompt.ref.startswith("judge@v2#")
    text = build_judge_prompt("Q {x}?", "ref", "cand")
    assert "Q {x}?" in text and "Reference answer:\nref" in text and "Response:\ncand" in text
    assert '{"analysis":' in text and '"judgment": "EQUIVALENT"}' in text


def test_judge_decides_undecided_pairs(verifier: Verifier) -> None:
    calls: list[tuple[str, str, str]] = []

    def judge(question: str, reference: str, candidate: str) -> str:
        calls.append((question, reference, candidate))
        return '{"analysis": "a synonym", "judgment": "EQUIVALENT"}'

    pred = "a four-wheeled automobile used for carrying passengers"  # free-form: undecided
    assert verifier.verify(pred, "car").verdict == "undecided"
    v = verifier.verify(pred, "car", question="What is it?", judge=judge)
    assert (v.verdict, v.verdict_by) == ("correct", "judge")
    assert calls == [("What is it?", "car", pred)]


def test_judge_sees_only_undecided(verifier: Verifier) -> None:
    """Rule-decided pairs (correct or incorrect) and unparsed ones never reach the judge."""
    def judge(q: str, r: str, c: str) -> str:
        raise AssertionError("must not be called")

    assert verifier.verify("B", "C", judge=judge).verdict == "incorrect"
    assert verifier.verify("15", "1", judge=judge).verdict == "incorrect"
    assert verifier.verify("red", "blue", judge=judge).verdict == "incorrect"
    assert verifier.verify("4.4", "4.4", judge=judge).verdict == "correct"
    assert verifier.verify(None, "4", judge=judge).verdict == "unparsed"


def test_judge_unparsed_on_request() -> None:
    seen: list[str] = []

    def judge(q: str, r: str, c: str) -> str:
        seen.append(c)
        return DIFF

    with Verifier(judge=judge, judge_unparsed=True) as v:
        out = v.verify_many([VerifyItem(None, "4", response="I think it is five.")])[0]
        assert (out.verdict, out.verdict_by) == ("incorrect", "judge")
        assert seen == ["I think it is five."]
        # nothing to show the judge: stays unparsed
        assert v.verify_many([VerifyItem(None, "4")])[0].verdict == "unparsed"


def test_judge_not_json_is_error(verifier: Verifier) -> None:
    pred = "a four-wheeled automobile used for carrying passengers"
    v = verifier.verify(pred, "car", judge=lambda q, r, c: "JUDGMENT: EQUIVALENT")
    assert (v.verdict, v.verdict_by) == ("error", "judge")
    assert "unparseable" in v.detail


def test_judge_exception_is_error(verifier: Verifier) -> None:
    def judge(q: str, r: str, c: str) -> str:
        raise ConnectionError("server down")

    v = verifier.verify("a four-wheeled automobile used for carrying passengers", "car", judge=judge)
    assert (v.verdict, v.verdict_by) == ("error", "judge")
    assert "server down" in v.detail


def test_prompt_judge_adapter() -> None:
    seen: list[str] = []
    judge = prompt_judge(lambda prompt: seen.append(prompt) or DIFF)
    assert judge("Q", "R", "C") == DIFF
    assert "Reference answer:\nR" in seen[0]


# --- batch API, timeouts and worker failures ------------------------------------------------


def test_verify_many_keeps_order(verifier: Verifier) -> None:
    items = [VerifyItem("4", "4"), ("5", "4"), VerifyItem(None, "4"), ("\\sqrt{12}", "2\\sqrt{3}")]
    assert [v.verdict for v in verifier.verify_many(items)] == ["correct", "incorrect", "unparsed", "correct"]


def test_pathological_expression_times_out() -> None:
    with Verifier(timeout_s=1.0, workers=1) as v:
        assert v.verify("\\sqrt{12}", "2\\sqrt{3}", timeout_s=60).is_correct  # start the worker
        t0 = time.monotonic()
        out = v.verify("(x+2)^{3000}", "(x+1)^{3000}")
        elapsed = time.monotonic() - t0
        assert (out.verdict, out.verdict_by) == ("error", "math_verify"), out
        assert "timeout" in out.detail
        assert elapsed < 5.0
        # the killed worker is replaced and the verifier keeps working
        assert v.verify("\\sqrt{12}", "2\\sqrt{3}").is_correct


@pytest.fixture()
def slow_tasks_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make tests/verify/_slow_task.py importable (worker processes inherit sys.path)."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))


@pytest.mark.usefixtures("slow_tasks_on_path")
def test_slow_worker_function_gives_error_within_timeout() -> None:
    with Verifier(timeout_s=0.5, workers=2) as v:
        v.pool = WorkerPool(2, task="_slow_task:compare")
        t0 = time.monotonic()
        out = v.verify_many([("\\sqrt{12}", "2\\sqrt{3}"), ("4", "4"), ("x+1", "1+x")])
        elapsed = time.monotonic() - t0
        v.pool.close()
    assert [o.verdict for o in out] == ["error", "correct", "error"]
    assert all("timeout" in o.detail for o in (out[0], out[2]))
    assert elapsed < 30  # worker start-up (not timed per task) plus two 0.5 s limits, not 60 s sleeps


@pytest.mark.usefixtures("slow_tasks_on_path")
def test_pool_isolates_timeouts_and_crashes() -> None:
    with WorkerPool(2, task="_slow_task:run") as pool:
        pool.run([("warm",), ("warm",)], timeout_s=30)
        t0 = time.monotonic()
        res = pool.run([("a",), ("slow",), ("crash",), ("raise",), ("b",)], timeout_s=1.0)
        elapsed = time.monotonic() - t0
    assert res[0].value == "a" and res[4].value == "b"
    assert res[1].error is not None and res[1].error.startswith("timeout")
    assert res[2].error is not None and "exited" in res[2].error
    assert res[3].error == "RuntimeError: boom"
    assert elapsed < 10


@pytest.mark.usefixtures("slow_tasks_on_path")
def test_pool_reports_a_task_that_cannot_load() -> None:
    with WorkerPool(1, task="_slow_task:missing_function") as pool:
        res = pool.run([("a",)], timeout_s=1.0)
    assert res[0].error is not None and "failed to start" in res[0].error


def test_shared_verify_answer() -> None:
    assert verify_answer("C", "C").verdict == "correct"
    assert verify_answer("\\sqrt{12}", "2\\sqrt{3}", timeout_s=10).verdict_by == "math_verify"


# --- the guards themselves (in-process, main thread) ----------------------------------------


@pytest.mark.parametrize(
    ("gold", "pred"),
    [("1-1/e", "1+1/e"), ("1/2004!", "1/2006!"), ("\\frac{1}{2004!}", "\\frac{1}{2006!}"),
     ("3x-y+13=0", "3x+4y+14=0")],
)
def test_mathcheck_guards_known_false_positives(gold: str, pred: str) -> None:
    from finereason.verify.mathcheck import compare

    assert compare(gold, pred)["equal"] is False


def test_mathcheck_refuses_partial_parse() -> None:
    from finereason.verify.mathcheck import math_leaf_equal

    # math-verify parses both "5 cm" and "5 m" to 5 (dropping the units): a fragment, so undecided
    assert math_leaf_equal("5 cm", "5 m") is None

"""The verification cascade: is a predicted answer equivalent to the reference?

Steps, cheapest first, each recorded in ``Verdict.verdict_by``:

1. ``exact``       normalised string / word match (and part-wise match of lists, tuples, sets)
2. ``choice``      choice letters, or a letter mapped to its option text (and back)
3. ``numeric``     exact rational comparison of numbers, with units, percent and rounding rules
4. ``math_verify`` symbolic equivalence in a worker process with a hard timeout
5. ``judge``       optional caller-supplied LLM judge with a strict verdict parser

Steps 1–3 run in the calling process and decide most pairs; only pairs they cannot decide reach
the worker pool. A pair is ``correct`` as soon as a step shows equivalence and ``incorrect`` when a
step shows a difference. The rules know when they do not know: free-form prose, multi-part answers
that cannot be aligned part by part, a response with more parts than the reference, expressions
math-verify cannot parse on both sides, and inputs too large or too deeply nested to compare are
``undecided`` with the reason in ``detail``. Only ``undecided`` pairs (and, when asked, ``unparsed``
ones) go to the judge. No answer is ``unparsed``; a timeout, a crashed worker or an unparseable
judge reply is ``error`` with the reason in ``detail`` — never a guess.
"""

from __future__ import annotations

import atexit
import re
import threading
from dataclasses import dataclass
from typing import Iterable, Literal, Mapping, Optional, Sequence, Union

from finereason.clean.options import options_in
from finereason.verify.extract import extract_choice, option_for_text
from finereason.verify.judge import Judge, parse_judgment
from finereason.verify.normalize import (
    cheap_leaf_equal,
    compare_relations,
    compare_structured,
    exact_key,
    is_textual,
    normalize_answer,
    parse_quantity,
    shape_of,
    word_key,
)
from finereason.verify.parts import as_list
from finereason.verify.pool import WorkerPool

VerdictLabel = Literal["correct", "incorrect", "undecided", "unparsed", "error"]
VerdictBy = Literal["exact", "choice", "numeric", "math_verify", "judge", "none"]
AnswerType = Literal["choice", "math", "text"]
Options = Union[Sequence[str], Mapping[str, str]]
_ANSWER_TYPES = ("choice", "math", "text")
#: How the detail of a verdict whose judge request failed begins (the stage counts these as failed).
JUDGE_CALL_FAILED = "judge call failed"
#: Answers longer than this are not compared by rules (a 10 MB "answer" is a runaway response).
MAX_RULE_CHARS = 4000
#: Brackets nested deeper than this are not compared by rules (the parsers recurse).
MAX_RULE_DEPTH = 50
#: An answer of at least this many words that is prose is free-form: only a judge can compare it.
FREE_FORM_WORDS = 6


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of verifying one answer, and which cascade step decided it."""

    verdict: VerdictLabel
    verdict_by: VerdictBy
    detail: str = ""

    @property
    def is_correct(self) -> bool:
        return self.verdict == "correct"


@dataclass(frozen=True, slots=True)
class VerifyItem:
    """One pair for :meth:`Verifier.verify_many`.

    ``answer_type``: None infers from the answers; "choice" decides by option letters and option
    texts only (the reference may be a letter or an option's text); "text" never calls
    math-verify (prose answers); "math" is the full cascade, same as None.
    ``options`` may be a list (lettered A, B, …) or a letter→text mapping; when empty they are
    parsed from ``question``. ``response`` is the visible response, shown to the judge when no
    answer could be extracted (``judge_unparsed``).
    """

    pred: Optional[str]
    gold: str
    options: Options = ()
    answer_type: Optional[AnswerType] = None
    question: str = ""
    response: str = ""


@dataclass(slots=True)
class _Plan:
    """What the in-process steps concluded for one item."""

    verdict: Verdict  # final if ``math`` is None, else the fallback when math does not say equal
    math: Optional[tuple[str, str]] = None  # (gold, pred) for the worker pool
    abstain: bool = False  # math may show equality, but "not equal" stays undecided
    judgeable: bool = True  # False for input no judge should be sent (a 10 MB "answer")


def _undecided(step: VerdictBy, why: str) -> _Plan:
    return _Plan(Verdict("undecided", step, why))


def _options_of(item: VerifyItem) -> dict[str, str]:
    if isinstance(item.options, Mapping):
        return dict(item.options)
    if item.options:
        return {chr(ord("A") + i): o for i, o in enumerate(item.options)}
    return options_in(item.question) if item.question else {}


def _gold_letter(gold_norm: str, opts: Mapping[str, str],
                 answer_type: Optional[str]) -> Optional[str]:
    """The gold's choice letter: a lone capital letter (inside the options, if known)."""
    stripped = gold_norm.strip("() .")
    lone = len(stripped) == 1 and stripped.isalpha()
    if lone and (stripped.isupper() or answer_type == "choice"):
        letter = stripped.upper()
        return letter if not opts or letter in opts else None
    if answer_type == "choice" and opts:
        return option_for_text(gold_norm, opts)
    return None


def _named_letters(pred_norm: str) -> list[str]:
    """The letters of a prediction made only of capital letters ("E", "A, C", "A and C"), else []."""
    parts = [p.strip("() .") for p in re.split(r",|;|\band\b", pred_norm)]
    return parts if all(len(p) == 1 and "A" <= p <= "Z" for p in parts) else []


def _choice_step(item: VerifyItem, gold: str, pred: str, free_form_words: int) -> Optional[_Plan]:
    """Letters vs letters, letters vs option text. None when the step does not apply."""
    opts = _options_of(item)
    gold_letter = _gold_letter(gold, opts, item.answer_type)
    if gold_letter is not None:
        pred_letter = extract_choice(pred, opts)
        if pred_letter is not None:
            ok = pred_letter == gold_letter
            return _Plan(Verdict("correct" if ok else "incorrect", "choice",
                                 f"predicted {pred_letter}, reference {gold_letter}"))
        letters = _named_letters(pred)
        if letters:  # "E" beside options A-C, or "A, C" for one asked option: a different answer
            return _Plan(Verdict("incorrect", "choice",
                                 f"predicted {', '.join(letters)}, reference {gold_letter}"))
        if opts and not _free_form(pred, free_form_words) and all(
                compare_structured(normalize_answer(text), pred, cheap_leaf_equal) is False
                for text in opts.values()):
            # A value the rules show different from every option cannot be the right option.
            return _Plan(Verdict("incorrect", "choice", "prediction differs from every option"))
        if opts.get(gold_letter):  # the reference option's text, written another way (7.5 vs \\sqrt{56.25})
            return _Plan(Verdict("undecided", "choice", "prediction names no option"),
                         math=(normalize_answer(opts[gold_letter]), pred), abstain=True)
        return _undecided("choice", "prediction names no option")
    if not opts or item.answer_type == "text":
        return None
    pred_letter = extract_choice(pred, opts)
    if pred_letter is None or pred_letter not in opts:
        return None
    # Gold is option text (e.g. "944"), prediction a letter: compare the letter's text.
    option_text = normalize_answer(opts[pred_letter])
    same = compare_structured(gold, option_text, cheap_leaf_equal)
    detail = f"predicted {pred_letter} = {opts[pred_letter]!r}"
    if same is True:
        return _Plan(Verdict("correct", "choice", detail))
    if same is False:
        if _free_form(gold, free_form_words) or _free_form(option_text, free_form_words):
            return _undecided("choice", f"{detail}: free-form option text, only a judge can compare it")
        return _Plan(Verdict("incorrect", "choice", detail))
    return _Plan(Verdict("undecided", "choice", detail), math=(gold, option_text))


def _depth(text: str) -> int:
    """Deepest bracket nesting in ``text`` (one pass, no recursion)."""
    depth = deepest = 0
    for c in text:
        if c in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in ")]}":
            depth -= 1
    return deepest


def _too_big(text: str) -> Optional[str]:
    if len(text) > MAX_RULE_CHARS:
        return f"answer of {len(text)} characters is too long to compare by rules (limit {MAX_RULE_CHARS})"
    depth = _depth(text)
    if depth > MAX_RULE_DEPTH:
        return f"brackets nested {depth} deep (limit {MAX_RULE_DEPTH}): not compared by rules"
    return None


def _free_form(norm: str, words: int) -> bool:
    """Prose of ``words`` or more words: the rules can show it equal to the reference, never different."""
    return is_textual(norm) and len(norm.split()) >= words


def _plan(item: VerifyItem, free_form_words: int = FREE_FORM_WORDS) -> _Plan:
    """Run the in-process steps (exact, choice, numeric) for one item."""
    if item.answer_type is not None and item.answer_type not in _ANSWER_TYPES:
        raise ValueError(
            f"answer_type must be one of {_ANSWER_TYPES} or None, got {item.answer_type!r}")
    if item.pred is None or not item.pred.strip():
        return _Plan(Verdict("unparsed", "none", "no answer was extracted"))
    if not item.gold or not item.gold.strip():
        return _Plan(Verdict("error", "none", "empty reference answer"))
    for side, text in (("response", item.pred), ("reference", item.gold)):
        why = _too_big(text)
        if why:
            return _Plan(Verdict("undecided", "none", f"{side}: {why}; not sent to a judge"), judgeable=False)
    gold, pred = normalize_answer(item.gold), normalize_answer(item.pred)
    if exact_key(gold) == exact_key(pred):
        return _Plan(Verdict("correct", "exact", "normalised strings equal"))
    wg = word_key(gold)
    if wg is not None and wg == word_key(pred):
        return _Plan(Verdict("correct", "exact", "same words"))

    choice = _choice_step(item, gold, pred, free_form_words)
    if choice is not None:
        return choice
    if item.answer_type == "choice":
        return _undecided("choice", "reference is not a known option")
    if _free_form(gold, free_form_words) or _free_form(pred, free_form_words):
        return _undecided("none", "free-form answer: only a judge can compare it")

    # Parts separated by labels, runs of spaces, line breaks or "and" become one ", " list.
    gold, pred = normalize_answer(as_list(item.gold)), normalize_answer(as_list(item.pred))
    n_gold, n_pred = len(shape_of(gold).parts), len(shape_of(pred).parts)
    if n_pred > n_gold and shape_of(pred).kind == "list":
        # "\\pm 2" vs "2, -2" is still equal (math-verify says so); otherwise the rules abstain.
        return _Plan(Verdict("undecided", "none", f"response has {n_pred} parts, reference {n_gold}: "
                                                  "which part is asked is not known to the rules"),
                     math=(gold, pred), abstain=True)

    # Which rule decided the scalar parts: "numeric" when numbers were compared by value.
    numeric: dict[bool, bool] = {True: False, False: False}

    def leaf(g: str, p: str) -> Optional[bool]:
        result = cheap_leaf_equal(g, p)
        if result is not None and exact_key(g) != exact_key(p):
            numeric[result] |= parse_quantity(g) is not None and parse_quantity(p) is not None
        return result

    same = compare_structured(gold, pred, leaf)
    if same is None:
        same = compare_relations(gold, pred, leaf)
    if same is True:
        step: VerdictBy = "numeric" if numeric[True] else "exact"
        return _Plan(Verdict("correct", step, "part-wise equal" if n_gold > 1 else "same value"))
    if same is False:
        step = "numeric" if numeric[False] else "exact"
        detail = "different values" if numeric[False] else "different answers"
        return _Plan(Verdict("incorrect", step, detail))
    if item.answer_type == "text":
        return _undecided("exact", "text answers the rules cannot compare")
    return _Plan(Verdict("undecided", "none", "no step showed equivalence"), math=(gold, pred))


def _judge(judge: Judge, item: VerifyItem) -> Verdict:
    candidate = item.pred if item.pred and item.pred.strip() else item.response
    try:
        reply = judge(item.question, item.gold, candidate or "")
    except Exception as exc:  # a failed model call is an error to retry, not a verdict
        return Verdict("error", "judge", f"{JUDGE_CALL_FAILED}: {type(exc).__name__}: {exc}")
    parsed = parse_judgment(reply)
    if parsed is None:
        tail = reply.strip()[-120:]
        return Verdict("error", "judge", f"unparseable judge reply (not the JSON verdict; ends {tail!r})")
    return Verdict(parsed, "judge", "EQUIVALENT" if parsed == "correct" else "DIFFERENT")


def _as_item(x: Union[VerifyItem, tuple]) -> VerifyItem:
    return x if isinstance(x, VerifyItem) else VerifyItem(*x)


class Verifier:
    """Verifies answers; owns the math worker pool, created lazily and reused across calls.

    Use as a context manager, or call :meth:`close`, to stop the workers. One math timeout
    (``timeout_s``, wall clock, per pair) applies; an overrun gives ``error``, never a hang.
    ``free_form_words``: prose answers this long or longer are left to the judge (``undecided``).
    """

    def __init__(self, *, timeout_s: float = 5.0, workers: Optional[int] = None,
                 judge: Optional[Judge] = None, judge_unparsed: bool = False,
                 free_form_words: int = FREE_FORM_WORDS) -> None:
        self.timeout_s = timeout_s
        self.free_form_words = free_form_words
        self.judge = judge
        self.judge_unparsed = judge_unparsed
        self.pool = WorkerPool(workers)

    def verify(self, pred: Optional[str], gold: str, *, options: Options = (),
               answer_type: Optional[AnswerType] = None, question: str = "",
               judge: Optional[Judge] = None, timeout_s: Optional[float] = None) -> Verdict:
        """Verify one prediction against one reference."""
        item = VerifyItem(pred, gold, options, answer_type, question)
        return self.verify_many([item], judge=judge, timeout_s=timeout_s)[0]

    def verify_many(self, items: Iterable[Union[VerifyItem, tuple]], *,
                    judge: Optional[Judge] = None,
                    timeout_s: Optional[float] = None) -> list[Verdict]:
        """Verify many pairs: cheap steps in-process, then one pool batch, then the judge.

        The judge sees exactly the ``undecided`` pairs, and the ``unparsed`` ones whose item
        carries a response when the verifier was made with ``judge_unparsed=True``.
        """
        judge = judge or self.judge
        todo = [_as_item(x) for x in items]
        plans = [_plan(it, self.free_form_words) for it in todo]
        math_idx = [i for i, p in enumerate(plans) if p.math is not None]
        if math_idx:
            outcomes = self.pool.run([plans[i].math for i in math_idx],  # type: ignore[misc]
                                     timeout_s if timeout_s is not None else self.timeout_s)
            for i, out in zip(math_idx, outcomes):
                plans[i] = _apply_math(plans[i], out.value, out.error)
        verdicts = []
        for it, p in zip(todo, plans):
            if judge is not None and p.judgeable and self._judgeable(it, p.verdict):
                verdicts.append(_judge(judge, it))
            else:
                verdicts.append(p.verdict)
        return verdicts

    def _judgeable(self, item: VerifyItem, v: Verdict) -> bool:
        if v.verdict == "undecided":
            return True
        return (self.judge_unparsed and v.verdict == "unparsed" and bool(item.response.strip())
                and bool(item.gold and item.gold.strip()))

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> "Verifier":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _apply_math(p: _Plan, value: Optional[dict], error: Optional[str]) -> _Plan:
    if error is not None:
        return _Plan(Verdict("error", "math_verify", error))
    assert value is not None
    if value.get("equal") is True:
        via = f"; {p.verdict.detail}" if p.verdict.verdict_by == "choice" else ""
        return _Plan(Verdict("correct", "math_verify", value.get("detail", "") + via))
    if value.get("equal") is False and not p.abstain:
        return _Plan(Verdict("incorrect", "math_verify", value.get("detail", "")))
    if p.abstain:
        return p
    return _Plan(Verdict("undecided", "math_verify", value.get("detail", "")))


_default: Optional[Verifier] = None
_default_lock = threading.Lock()


def _shared() -> Verifier:
    global _default
    with _default_lock:
        if _default is None:
            _default = Verifier()
            atexit.register(close)
        return _default


def verify_answer(pred: Optional[str], gold: str, *, options: Options = (),
                  answer_type: Optional[AnswerType] = None, question: str = "",
                  judge: Optional[Judge] = None, timeout_s: float = 5.0) -> Verdict:
    """Verify one answer with the shared, lazily started worker pool.

    ``pred`` is the *extracted* answer (see :func:`finereason.verify.extract.extract_answer`);
    None means nothing was extracted and gives ``unparsed``.
    """
    return _shared().verify(pred, gold, options=options, answer_type=answer_type,
                            question=question, judge=judge, timeout_s=timeout_s)


def verify_many(items: Iterable[Union[VerifyItem, tuple]], *, judge: Optional[Judge] = None,
                timeout_s: float = 5.0) -> list[Verdict]:
    """Batch form of :func:`verify_answer` on the shared pool."""
    return _shared().verify_many(items, judge=judge, timeout_s=timeout_s)


def close() -> None:
    """Stop the shared pool's workers (it restarts lazily on the next call)."""
    if _default is not None:
        _default.close()

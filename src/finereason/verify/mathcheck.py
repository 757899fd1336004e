"""Symbolic equivalence with math-verify, guarded against its known false positives.

Runs inside the worker processes of :mod:`finereason.verify.pool` (math-verify uses SIGALRM for
its own timeouts, which only works in a main thread; we disable those and let the pool enforce a
wall-clock limit by killing the worker instead).

Guards (each is our own logic, added where math-verify 0.9.0 is measured to be wrong):

1. **Plain-text parsing** (``1-1/e`` vs ``1+1/e``, ``3x-y+13=0`` vs ``3x+4y+14=0``): without math
   delimiters math-verify's expression regex matches only a prefix (``1``) or the right-hand side
   of an equation (``0``). We always wrap the answer in ``$…$`` so the LaTeX grammar sees all of
   it, and then require the parsed text to *cover* the input: the sequence of digits and variable
   letters in math-verify's matched string must equal the input's. Otherwise: undecided.
2. **Absolute float rounding** (``1/2004!`` vs ``1/2006!``): math-verify rounds to 6 decimals, so
   any two tiny numbers are "equal". When both sides are closed-form numbers we re-check with a
   *relative* tolerance at 30 significant digits.
3. **List product**: math-verify's ``verify`` compares every gold candidate with every predicted
   candidate, including its raw string fallbacks. We compare only the first parsed object of each
   side, and only when it is a sympy object.
4. **Equation vs value** (``x+y=5`` vs ``5``): math-verify compares a bare value with the right-hand
   side of any equation. We allow that only when the left-hand side is a single symbol
   (``x=5`` vs ``5``). An *inequality* against a bare value (``\\tan\\theta_0 \\le \\frac{7}{2}\\mu``
   vs ``\\arctan(7\\mu/2)``) is undecided: whether the bound is the asked quantity is for a judge.
6. **Relations side by side** (``1^2-2^2+\\cdots=(-1)^{n+1}\\frac{n(n+1)}{2}``): when both sides are
   relations with the same operators, sides are compared pairwise first, so a side math-verify
   cannot parse (``\\cdots``) but that is literally the same on both does not sink the comparison.
7. **Rearranged equations** (``2x = 4`` vs ``x = 2``): math-verify compares sides; we also accept
   two equations whose ``lhs - rhs`` differ by a nonzero constant factor (sympy ``simplify``).
5. **Decimal approximations** (``6.28`` vs ``2\\pi``) are accepted by the rounding rule of
   :mod:`finereason.verify.normalize`, which math-verify's fixed 6-place rounding does not do.
"""

from __future__ import annotations

import logging
import re
from fractions import Fraction
from typing import Any, Optional

from math_verify import parse, verify
from sympy import Basic, MatrixBase, N, Set, Symbol, simplify
from sympy.core.relational import Eq, Relational

from finereason.verify.normalize import (
    cheap_leaf_equal,
    compare_relations,
    compare_structured,
    normalize_answer,
    parse_quantity,
    rounds_to,
    strip_assignment,
)

# math-verify warns that its own timeouts are off (we enforce ours) and logs every parse failure.
logging.getLogger("math_verify").setLevel(logging.ERROR)

_REL_TOL = 1e-6  # matches math-verify's 6-digit intent, but relative instead of absolute
_LATEX_CMD_RE = re.compile(r"\\[A-Za-z]+")


def _signature(text: str) -> str:
    """Digits and letters of an expression with LaTeX command names removed (the coverage key)."""
    return "".join(ch for ch in _LATEX_CMD_RE.sub("", text) if ch.isalnum())


def _parse_full(text: str) -> Optional[Any]:
    """The sympy object for the whole of ``text``, or None when math-verify only got part of it."""
    parsed = parse(f"${text}$", parsing_timeout=None)  # type: ignore[arg-type]
    if len(parsed) < 2 or not isinstance(parsed[0], (Basic, MatrixBase)):
        return None
    if _signature(str(parsed[1])) != _signature(text):
        return None  # guard 1: a prefix or a fragment was parsed
    return parsed[0]


def _numbers_close(a: Basic, b: Basic) -> bool:
    """Guard 2: relative comparison of two closed-form numbers."""
    va, vb = N(a, 30), N(b, 30)
    scale = max(abs(va), abs(vb))
    if scale == 0:
        return True
    return bool(abs(va - vb) <= _REL_TOL * scale)


def _decimal_approximates(literal_text: str, value: Any) -> bool:
    """``6.28`` vs ``2\\pi``: our rounding rule for a decimal literal against a closed form
    (math-verify only rounds to a fixed 6 places, so ``1.414`` != ``\\sqrt{2}`` there)."""
    q = parse_quantity(literal_text)
    if q is None or q.unit or q.percent or not q.decimals:
        return False
    if not isinstance(value, Basic) or not value.is_number or not value.is_real:
        return False
    return rounds_to(q, Fraction(str(N(value, 30))))


def _same_equation(g: Any, p: Any) -> bool:
    """Guard 7: two equations are the same when one is a nonzero constant multiple of the other
    (``2x = 4`` and ``x = 2``), which math-verify's side-by-side comparison misses."""
    if not (isinstance(g, Eq) and isinstance(p, Eq)):
        return False
    ratio = simplify((g.lhs - g.rhs) / (p.lhs - p.rhs))
    return bool(ratio.is_number and ratio != 0 and ratio.is_finite)


def math_leaf_equal(gold: str, pred: str) -> Optional[bool]:
    """One scalar pair: cheap rules first, then math-verify with guards; None if unparseable."""
    cheap = cheap_leaf_equal(gold, pred)
    if cheap is not None:
        return cheap
    g, p = _parse_full(gold), _parse_full(pred)
    if g is None or p is None:
        return None
    if isinstance(g, Relational) != isinstance(p, Relational):
        relation = g if isinstance(g, Relational) else p
        other = p if relation is g else g
        if not isinstance(relation, Eq) and not isinstance(other, Set):
            return None  # guard 4b: a bound "θ ≤ arctan(7μ/2)" against its value is the judge's
        if not isinstance(relation.lhs, Symbol):
            return False  # guard 4
    if _decimal_approximates(gold, p) or _decimal_approximates(pred, g):
        return True  # guard 5
    # allow_set_relation_comp: an interval gold and an inequality prediction describe the same
    # set; math-verify only allows that comparison in the other direction by default.
    if not verify(g, p, timeout_seconds=None,  # type: ignore[arg-type]
                  allow_set_relation_comp=True):
        return _same_equation(g, p)
    if isinstance(g, Basic) and isinstance(p, Basic) and g.is_number and p.is_number:
        return _numbers_close(g, p)
    return True


def compare(gold: str, pred: str) -> dict[str, Any]:
    """Worker entry point: structured comparison of two normalised answers.

    Returns ``{"equal": True|False|None, "detail": str}``; None means math-verify could not parse
    one side completely, which the cascade treats as "not shown equal" (or hands to the judge).
    """
    gold, pred = normalize_answer(gold), normalize_answer(pred)
    # "x = 5" vs "5": compare the value when only one side names the variable.
    if ("=" in gold) != ("=" in pred):
        gold, pred = strip_assignment(gold), strip_assignment(pred)
    first = compare_structured(gold, pred, math_leaf_equal)
    if first is not True:
        first = compare_relations(gold, pred, math_leaf_equal) or first  # guard 6
    if first is None:
        # Part-wise comparison could not decide (a scalar facing a tuple, a relation facing an
        # interval); let math-verify read both whole.
        first = math_leaf_equal(gold, pred)
    detail = {True: "equivalent", False: "not equivalent", None: "could not parse completely"}
    return {"equal": first, "detail": f"math_verify: {detail[first]}"}


def _warm_up() -> None:
    """Run one comparison at import so that ANTLR's parser tables and sympy's caches are built.

    The first parse in a fresh process costs ~0.5 s; done here, it happens once in the forkserver
    (which preloads this module) instead of counting against the first task of every worker.
    """
    compare("\\frac{\\sqrt{2}}{2}", "\\sqrt{2}/2")


_warm_up()

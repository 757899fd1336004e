"""Answer normalisation and the cheap, exact comparisons of the verification cascade.

Everything here is pure Python (no sympy, no math-verify) so that the parent process can decide
the bulk of the pairs (letters, integers, decimals, words, units) without a round trip to the
math worker pool. The rules are written down here, not left to math-verify, because its plain-text
parsing silently degrades (it compares a prefix, collapses equations to ``0``, and reads ``1,2``
as ``1.2``), so anything we can decide exactly we decide ourselves.

Policy decisions, in one place:

* **Units** are dropped when they are words or known unit symbols after a number: ``5 cm`` == ``5``,
  ``5.4 acres`` == ``5.4``, ``1913.85 million euros`` == ``1913.85`` (the seed standardisation
  strips units, scale words included, so the gold carries the bare number). Two *different*
  explicit units (``5 cm`` vs ``5 m``) are left undecided for math-verify / the judge.
* **Percent**: ``50%`` equals both ``50`` (the seed keeps ``%`` and models often drop it) and
  ``0.5`` (same value). ``50`` vs ``0.5`` without any ``%`` is *not* equal.
* **Degrees** (``^\\circ``, ``°``) are dropped: ``30^\\circ`` == ``30``. Radians vs degrees
  (``\\pi/6`` vs ``30°``) is not converted.
* **Rounding**: a decimal literal with *d* places matches a more precise value that rounds to it
  at *d* places when the relative difference is at most 1% (``0.167`` == ``1/6``;
  ``0.3`` != ``1/3``). Integers never absorb decimals (``5`` != ``4.99``).
* **Lists**: top-level comma/semicolon lists compare part by part; order-insensitive when the
  gold's parts are distinct (a set of values), ordered when it repeats a part (a sequence such as
  ``right, right, down``). Brackets keep their meaning: tuples/intervals are ordered and the
  bracket types must agree, ``\\{…\\}`` sets are unordered.
* **Never**: substring matching, stripping signs or decimal points, or casefolding inside LaTeX.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Callable, Literal, Optional

# ----------------------------------------------------------------------------------------------
# String normalisation
# ----------------------------------------------------------------------------------------------

_UNICODE = {
    "\u2212": "-", "\u2013": "-", "\u00d7": r" \times ", "\u00b7": r" \cdot ", "\u22c5": r" \cdot ",
    "\u00f7": "/", "\u03c0": r"\pi ", "\u221a": r"\sqrt", "\u00b0": r"^\circ", "\u2218": r"^\circ",
    "\u25b3": r"\triangle ", "\u25b5": r"\triangle ", "\u2206": r"\triangle ", "\u2220": r"\angle ",
    "\u223d": r" \sim ", "\u223c": r" \sim ", "\u2245": r" \cong ", "\u2264": r" \le ",
    "\u2265": r" \ge ", "\u2260": r" \ne ", "\u221e": r"\infty ", "\uff0c": ",", "\uff1a": ":",
    "\uff1b": ";", "\u3002": ".", "\uff08": "(", "\uff09": ")", "\u00b2": "^2", "\u00b3": "^3",
    "\u2032": "'", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
}
#: Greek letters typed as unicode (physics answers: "ω = sqrt(6g/L)", "(7/2)μ") become LaTeX.
_GREEK = dict(zip(
    "αβγδεζηθικλμνξρστυφχψωΓΔΘΛΞΣΦΨΩ",
    ["\\" + n + " " for n in ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi rho "
                          "sigma tau upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Sigma Phi Psi "
                          "Omega").split()],
))
_UNICODE.update({k: v for k, v in _GREEK.items() if k not in _UNICODE})
_UNICODE_RE = re.compile("|".join(map(re.escape, _UNICODE)))
_SUBSCRIPT_RE = re.compile("[\u2080-\u2089]+")  # θ₀ -> θ_{0}
_HAT_RE = re.compile("([A-Za-z])\u0302")  # x̂ (combining circumflex) -> \\hat{x}
#: Function names typed without a backslash before a parenthesis ("arctan(7μ/2)", "ln(2)"):
#: math-verify reads them as products of single-letter symbols, so they become LaTeX commands
#: and sympy decides (never a string comparison of function names).
_PLAIN_FUNC_RE = re.compile(
    r"(?<![\\A-Za-z])(arcsin|arccos|arctan|sinh|cosh|tanh|sin|cos|tan|cot|sec|csc|ln|log|exp)(?=\s*\()")
_PLAIN_SQRT_RE = re.compile(r"(?<![\\A-Za-z])sqrt\s*\(")

# Commands whose braces only carry formatting: \text{cm} -> cm.
_WRAPPERS = ("text", "textbf", "textit", "textrm", "mathrm", "mathbf", "mathit", "mbox",
             "operatorname", "boxed", "fbox", "displaystyle")
_SPACING_RE = re.compile(r"\\(?:[,;:! ]|(?:quad|qquad|displaystyle|left|right)(?![A-Za-z])\.?)")
_POWER_OP_RE = re.compile(r"(?<=[\w)\]}])\*\*(?=[\w({\[-])")  # sympy-style x**2 -> x^2
_DEGREE_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\degree")
_INV_TRIG_RE = re.compile(r"\\?(sin|cos|tan|cot|sec|csc)\s*\^\s*\{?\s*-\s*1\s*\}?")
_SINGLE_TOKEN_SCRIPT_RE = re.compile(r"([\^_])\{\s*([A-Za-z0-9])\s*\}")
# TeX shorthand with single-token arguments, which math-verify's grammar does not read: \frac12
_TEX_TOKEN = r"([0-9A-Za-z]|\\[A-Za-z]+)"
_FRAC_SHORT_RE = re.compile(rf"\\frac\s*{_TEX_TOKEN}\s*{_TEX_TOKEN}")
_SQRT_SHORT_RE = re.compile(rf"\\sqrt\s*{_TEX_TOKEN}")
_THOUSANDS_RE = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?%?")
# "~" is a LaTeX non-breaking space, except between two figure names, where it means "similar".
_TILDE_SIM_RE = re.compile(r"([A-Z]'*)\s*~\s*(?=\\triangle|triangle|Δ|[A-Z])")


def _unwrap_command(text: str, name: str) -> str:
    """Replace every ``\\name{inner}`` by ``inner``, respecting nested braces."""
    out: list[str] = []
    token = "\\" + name
    i = 0
    while True:
        j = text.find(token, i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        k = j + len(token)
        if k < len(text) and text[k].isalpha():  # a longer command name, e.g. \textbf vs \text
            out.append(text[i:k])
            i = k
            continue
        while k < len(text) and text[k] == " ":
            k += 1
        if k >= len(text) or text[k] != "{":
            out.append(text[i:k])
            i = k
            continue
        end = matching_brace(text, k)
        if end < 0:  # unbalanced: leave the rest untouched rather than guess
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j])
        out.append(text[k + 1:end])
        i = end + 1


def _plain_sqrt(text: str) -> str:
    """``sqrt(6g/L)`` -> ``\\sqrt{6g/L}`` (balanced parentheses; unbalanced text is left alone)."""
    out, pos = [], 0
    for m in _PLAIN_SQRT_RE.finditer(text):
        if m.start() < pos:
            continue
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += (text[i] == "(") - (text[i] == ")")
            i += 1
        if depth:
            break
        out += [text[pos:m.start()], "\\sqrt{", _plain_sqrt(text[m.end():i - 1]), "}"]
        pos = i
    return "".join(out) + text[pos:]


def matching_brace(text: str, open_pos: int) -> int:
    """Index of the ``}`` closing the ``{`` at ``open_pos`` (escaped braces ignored), or -1."""
    depth = 0
    i = open_pos
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _strip_outer_math(text: str) -> str:
    """Strip delimiters around the whole answer ($$, $, \\[ \\], \\( \\), **, backticks)."""
    pairs = (("$$", "$$"), ("$", "$"), ("\\[", "\\]"), ("\\(", "\\)"), ("**", "**"), ("`", "`"))
    changed = True
    while changed:
        changed = False
        text = text.strip()
        for left, right in pairs:
            wrapped = text.startswith(left) and text.endswith(right)
            if wrapped and len(text) > len(left) + len(right):
                text = text[len(left):-len(right)]
                changed = True
    return text


def normalize_answer(text: str) -> str:
    """Canonical surface form of an answer (gold or prediction).

    Only notation is changed, never meaning: delimiters, formatting commands, spacing macros,
    ``\\dfrac``→``\\frac``, ``^{2}``→``^2``, ``\\times``→``\\cdot``,
    ``\\cos^{-1}``→``\\arccos``, ``\\frac12``→``\\frac{1}{2}``, degree marks, ``\\%``→``%``,
    unicode math symbols, thousands separators and a trailing full stop. Signs, decimal points,
    digits and case are kept.
    """
    s = _strip_outer_math(text)
    s = _HAT_RE.sub(r"\\hat{\1}", s)
    s = _SUBSCRIPT_RE.sub(lambda m: "_{" + "".join(str(ord(c) - 0x2080) for c in m.group(0)) + "}", s)
    s = _UNICODE_RE.sub(lambda m: _UNICODE[m.group(0)], s)
    s = _PLAIN_FUNC_RE.sub(r"\\\1", s)
    if "sqrt" in s:
        s = _plain_sqrt(s)
    s = _POWER_OP_RE.sub("^", s)
    s = s.replace("\\$", "").replace("$", "").replace("**", "")  # leftover ** is markdown bold
    for name in _WRAPPERS:
        s = _unwrap_command(s, name)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = s.replace("\\times", "\\cdot").replace("\\%", "%")
    s = _DEGREE_RE.sub("", s)
    s = _SPACING_RE.sub(" ", s)
    s = _INV_TRIG_RE.sub(lambda m: "\\arc" + m.group(1), s)
    s = _FRAC_SHORT_RE.sub(r"\\frac{\1}{\2}", s)
    s = _SQRT_SHORT_RE.sub(r"\\sqrt{\1}", s)
    s = _SINGLE_TOKEN_SCRIPT_RE.sub(r"\1\2", s)
    s = _TILDE_SIM_RE.sub(r"\1 \\sim ", s)
    s = s.replace("~", " ")
    s = re.sub(r"\s+", " ", s).strip()
    s = re.sub(r"[.;。]+$", "", s).strip()
    if _THOUSANDS_RE.fullmatch(s):
        s = s.replace(",", "")
    return s


def exact_key(norm: str) -> str:
    """Key for the exact step: whitespace removed; casefolded unless it contains LaTeX commands."""
    key = re.sub(r"\s+", "", norm)
    return key if "\\" in key else key.casefold()


_ARTICLE_RE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
_WORD_RE = re.compile(r"[^\W_]+(?:['\-][^\W_]+)*")


def word_key(norm: str) -> Optional[str]:
    """Case/punctuation-insensitive key for digit-free word answers (``Yes.`` == ``yes``).

    Returns None for anything with digits or LaTeX, where punctuation can carry meaning
    (``-1`` vs ``1``, ``0.5`` vs ``05``).
    """
    if "\\" in norm or any(c.isdigit() for c in norm):
        return None
    words = _WORD_RE.findall(_ARTICLE_RE.sub("", norm.strip()).casefold())
    return " ".join(words) if words else None


# Words (>= 3 letters, shorter runs are never taken for prose or units) that are mathematics.
MATH_WORDS = frozenset({
    "sqrt", "log", "exp", "sin", "cos", "tan", "cot", "sec", "csc", "arcsin",
    "arccos", "arctan", "sinh", "cosh", "tanh", "inf", "infty", "infinity", "frac", "cdot", "mod",
    "max", "min", "lim", "det", "gcd", "lcm", "and",
})


def is_textual(norm: str) -> bool:
    """True when the answer is prose (a run of >=3 letters that is no LaTeX command/math word).

    Such answers skip math-verify: parsing ``Product availability`` as a product of symbols can
    only produce accidents.
    """
    without_cmds = re.sub(r"\\[A-Za-z]+", " ", norm)
    return any(w.casefold() not in MATH_WORDS for w in re.findall(r"[A-Za-z]{3,}", without_cmds))


# ----------------------------------------------------------------------------------------------
# Numbers and quantities (our own exact arithmetic; math-verify compares floats with a fixed
# absolute rounding, which is what makes 1/2004! equal 1/2006!)
# ----------------------------------------------------------------------------------------------

_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_NUMBER_RE = re.compile(
    rf"(?P<sign>[+-]?)\s*(?:"
    rf"\\frac\{{\s*(?P<fn>[+-]?{_NUM})\s*\}}\{{\s*(?P<fd>[+-]?{_NUM})\s*\}}"
    rf"|(?P<sn>{_NUM})\s*(?:\\cdot|\*)\s*10\s*\^\s*\{{?\s*(?P<se>[+-]?\d+)\s*\}}?"
    rf"|(?P<n>{_NUM})(?:\s*/\s*(?P<d>{_NUM}))?)"
)
_CURRENCY_RE = re.compile(r"^(?:USD|US|RMB|¥|€|£)\s*")
_MAX_EXPONENT = 400  # larger powers of ten are left to the worker pool, which has a timeout

# Unit symbols that may follow a number directly ("13cm", "5N"); case-sensitive because a glued
# lowercase letter is usually a variable ("2n", "3k", "2h"). After a space, lowercase single-letter
# units and words of >=3 letters (acres, pieces, million euros) are accepted too, unless they are
# math words.
GLUED_UNITS = frozenset({
    "cm", "mm", "km", "dm", "nm", "um", "μm", "kg", "mg", "ml", "mL", "cl", "kJ", "kW", "kN", "kV",
    "mV", "mA", "Pa", "kPa", "MPa", "Hz", "kHz", "MHz", "mol", "cal", "kcal", "eV", "min", "hr",
    "hrs", "ms", "deg", "rad", "ft", "yd", "lb", "oz", "mph", "m/s", "km/h", "cm/s", "m/s^2",
    "g/cm^3", "kg/m^3", "g/mL", "N/m", "N", "J", "W", "V", "K", "L", "Ω", "yuan", "RMB", "USD",
})
SPACED_UNITS = GLUED_UNITS | {"m", "g", "s", "h", "l", "t", "in", "mi", "gal"}
_POWER_SUFFIX_RE = re.compile(r"\^?\{?[23]\}?$")
_UNIT_WORD_RE = re.compile(r"[A-Za-zµΩ]{3,}")


@dataclass(frozen=True, slots=True)
class Quantity:
    """A number as written: exact value, decimal places if it was a decimal literal, and marks."""

    value: Fraction
    decimals: Optional[int]  # places of a plain decimal literal; None for ints/fractions/sci
    percent: bool
    unit: str  # normalised unit text, "" when none


def _to_fraction(num: str) -> Fraction:
    d = Decimal(num)
    if abs(d.adjusted()) > _MAX_EXPONENT:  # "1e999999999" would build a gigantic integer
        raise ValueError("exponent out of range")
    return Fraction(d)


def _is_unit(unit: str, spaced: bool) -> bool:
    compact = unit.replace(" ", "")
    base = _POWER_SUFFIX_RE.sub("", compact)
    if compact in GLUED_UNITS or base in GLUED_UNITS:
        return True
    if not spaced:
        return False
    if compact in SPACED_UNITS or base in SPACED_UNITS:
        return True
    words = _POWER_SUFFIX_RE.sub("", unit).split()  # "square units", "units^2"
    return bool(words) and all(
        _UNIT_WORD_RE.fullmatch(w) is not None and w.casefold() not in MATH_WORDS for w in words
    )


def parse_quantity(norm: str) -> Optional[Quantity]:
    """Parse ``-3``, ``0.5``, ``5/3``, ``\\frac{1}{2}``, ``1.2\\cdot10^{3}``, ``50%``, ``5.4 ha``.

    Returns None for anything else (expressions, variables, ``2x``, ``2 ab``): a number glued to
    letters is only a quantity when the letters are a known unit symbol or a spaced word.
    """
    s = _CURRENCY_RE.sub("", norm.strip())
    m = _NUMBER_RE.match(s)
    if not m or m.end() == 0:
        return None
    rest = s[m.end():]
    sign = -1 if m.group("sign") == "-" else 1
    decimals: Optional[int] = None
    try:
        if m.group("fn") is not None:
            denominator = _to_fraction(m.group("fd"))
            if denominator == 0:
                return None
            value = _to_fraction(m.group("fn")) / denominator
        elif m.group("sn") is not None:
            if abs(int(m.group("se"))) > _MAX_EXPONENT:
                return None
            value = _to_fraction(m.group("sn")) * Fraction(10) ** int(m.group("se"))
        else:
            value = _to_fraction(m.group("n"))
            if m.group("d") is not None:
                denominator = _to_fraction(m.group("d"))
                if denominator == 0:
                    return None
                value /= denominator
            elif "." in m.group("n") and "e" not in m.group("n").lower():
                decimals = len(m.group("n").split(".")[1])
    except (ArithmeticError, ValueError):
        return None
    rest = rest.strip()
    percent = rest.startswith("%")
    if percent:
        rest = rest[1:].strip()
    if rest and not _is_unit(rest, spaced=percent or s[m.end():m.end() + 1].isspace()):
        return None
    return Quantity(sign * value, decimals, percent, rest.casefold())


def _round_to(value: Fraction, places: int) -> Fraction:
    quant = Decimal(1).scaleb(-places)
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return Fraction(exact.quantize(quant, rounding=ROUND_HALF_UP))


def rounds_to(literal: Quantity, value: Fraction) -> bool:
    """The precision rule for a decimal literal against an exact value (see module docstring)."""
    if not literal.decimals or _round_to(value, literal.decimals) != literal.value:
        return False
    scale = max(abs(literal.value), abs(value))
    return abs(literal.value - value) / scale <= Fraction(1, 100)


def _values_match(a: Quantity, b: Quantity) -> bool:
    if a.value == b.value:
        return True
    # Precision rule: the less precise decimal literal absorbs a value that rounds to it.
    return any(
        rounds_to(lit, other.value)
        for lit, other in ((a, b), (b, a))
        if other.decimals is None or (lit.decimals is not None and other.decimals > lit.decimals)
    )


def quantities_equal(a: Quantity, b: Quantity) -> Optional[bool]:
    """Exact numeric comparison; None when two different explicit units make it undecidable."""
    if a.unit and b.unit and a.unit != b.unit:
        return None
    if a.percent == b.percent:
        return _values_match(a, b)
    pct, plain = (a, b) if a.percent else (b, a)
    # "50%" equals "50" (percent sign dropped) and "0.5" (same value); see module docstring.
    as_fraction = replace(pct, value=pct.value / 100,
                          decimals=None if pct.decimals is None else pct.decimals + 2)
    return _values_match(pct, plain) or _values_match(as_fraction, plain)


# ----------------------------------------------------------------------------------------------
# Similarity / congruence statements (math-verify reads them as products of symbols)
# ----------------------------------------------------------------------------------------------

_VERTEX = r"[A-Z](?:'+|_\{?\d+\}?|\d+)?"
_FIGURE = rf"(?:\\triangle|(?i:triangle)|\\Delta|Δ)?\s*((?:{_VERTEX}){{3,}})"
_SIM_RE = re.compile(
    rf"^{_FIGURE}\s*(\\sim|\\cong|(?i:similar to|congruent to|sim|cong))\s*{_FIGURE}$")


def parse_similarity(norm: str) -> Optional[tuple[str, frozenset[tuple[str, str]]]]:
    """``△ABD ~ △CAD`` -> ("sim", {(A,C), (B,A), (D,D)}): relation and vertex correspondence.

    Two statements are the same claim when they pair the same vertices, whatever the order in
    which the vertices are listed or which figure is written first.
    """
    m = _SIM_RE.match(norm.strip())
    if not m:
        return None
    left = re.findall(_VERTEX, m.group(1))
    right = re.findall(_VERTEX, m.group(3))
    if len(left) != len(right):
        return None
    rel = "cong" if "cong" in m.group(2).lower() else "sim"
    return rel, frozenset(zip(left, right))


def similarity_equal(a: str, b: str) -> Optional[bool]:
    """True/False when both are similarity/congruence statements, None otherwise."""
    pa, pb = parse_similarity(a), parse_similarity(b)
    if pa is None or pb is None:
        return None
    swapped = frozenset((r, l) for l, r in pb[1])
    return pa[0] == pb[0] and (pa[1] == pb[1] or pa[1] == swapped)


# ----------------------------------------------------------------------------------------------
# Structure: lists, tuples, intervals, sets
# ----------------------------------------------------------------------------------------------

_OPENERS = {"(": ")", "[": "]", "{": "}"}


def split_top_level(text: str, seps: str = ",;") -> list[str]:
    """Split on separators outside any bracket (``\\{ \\}`` count as brackets)."""
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in "{}":
            depth += 1 if text[i + 1] == "{" else -1
            i += 2
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c in seps and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
        i += 1
    parts.append(text[start:].strip())
    return parts


def _outer_brackets(text: str) -> Optional[tuple[str, str, str]]:
    """(open, close, inner) if one bracket pair encloses the whole text (types may differ)."""
    t = text.strip()
    if t.startswith("\\{") and t.endswith("\\}"):
        opener, inner, closer = "\\{", t[2:-2], "\\}"
    elif t[:1] in _OPENERS and t[-1:] in ")]}":
        opener, inner, closer = t[0], t[1:-1], t[-1]
    else:
        return None
    depth = 0
    for c in inner:  # the opener must not close before the end: "(1)(2)" is not one group
        depth += c in "([{"
        depth -= c in ")]}"
        if depth < 0:
            return None
    return (opener, closer, inner) if depth == 0 else None


@dataclass(frozen=True, slots=True)
class Shape:
    """An answer's structure: a scalar, an ordered group, or an unordered group of parts."""

    kind: Literal["scalar", "ordered", "unordered", "list"]
    brackets: str  # e.g. "()", "[)", "\\{\\}", "" for bare lists / scalars
    parts: tuple[str, ...]


def shape_of(norm: str) -> Shape:
    """Decompose an answer into parts; see the module docstring for ordered vs unordered."""
    outer = _outer_brackets(norm)
    if outer:
        opener, closer, inner = outer
        parts = split_top_level(inner)
        if len(parts) >= 2:
            kind = "unordered" if opener in ("\\{", "{") else "ordered"
            return Shape(kind, opener + closer, tuple(parts))
    parts = split_top_level(norm)
    if len(parts) >= 2 and all(parts):
        return Shape("list", "", tuple(parts))
    return Shape("scalar", "", (norm,))


LeafCompare = Callable[[str, str], Optional[bool]]


_MATCH_BUDGET = 20_000  # backtracking steps; parts lists are short, this only stops adversaries


def _match_unordered(gold: tuple[str, ...], pred: tuple[str, ...],
                     leaf: LeafCompare) -> Optional[bool]:
    """Perfect matching of parts by backtracking; None if only undecided pairs could complete it
    (or the search budget ran out)."""
    if sorted(map(exact_key, gold)) == sorted(map(exact_key, pred)):
        return True
    table = [[leaf(g, p) for p in pred] for g in gold]
    steps = 0

    def search(i: int, used: frozenset[int], allow_unknown: bool) -> bool:
        nonlocal steps
        steps += 1
        if steps > _MATCH_BUDGET:
            raise OverflowError
        if i == len(gold):
            return True
        for j, r in enumerate(table[i]):
            if j not in used and (r is True or (allow_unknown and r is None)):
                if search(i + 1, used | {j}, allow_unknown):
                    return True
        return False

    try:
        if search(0, frozenset(), False):
            return True
        return None if search(0, frozenset(), True) else False
    except OverflowError:
        return None


def compare_structured(gold: str, pred: str, leaf: LeafCompare) -> Optional[bool]:
    """Compare two normalised answers part by part using ``leaf`` for scalars.

    Returns True/False, or None when some scalar comparison is undecided by ``leaf`` or when a
    scalar faces a structured answer.
    """
    gs, ps = shape_of(gold), shape_of(pred)
    if gs.kind == "scalar" and ps.kind == "scalar":
        return leaf(gold, pred)
    if "scalar" in (gs.kind, ps.kind):
        single = gold if gs.kind == "scalar" else pred
        if parse_quantity(single) is not None or is_textual(single):
            return False  # one number or one phrase never equals several parts
        # "x \in [1,2]" vs "[1,2]", "x>1" vs "(1,\infty)": only symbolic math can relate them.
        return None
    if len(gs.parts) != len(ps.parts):
        return False
    distinct = len({exact_key(p) for p in gs.parts}) == len(gs.parts)
    # A bare list of distinct values and a \{...\} set state the same thing.
    set_like = {gs.kind, ps.kind} == {"list", "unordered"} and distinct
    if not set_like and (gs.kind != ps.kind or gs.brackets != ps.brackets):
        return False
    if set_like or gs.kind == "unordered" or (gs.kind == "list" and distinct):
        return _match_unordered(gs.parts, ps.parts, lambda g, p: compare_structured(g, p, leaf))
    results = [compare_structured(g, p, leaf) for g, p in zip(gs.parts, ps.parts)]
    if all(r is True for r in results):
        return True
    return False if any(r is False for r in results) else None


# Relations: "lhs = rhs", "a \le b < c" compared side by side.
_RELATION_RE = re.compile(r"\\(?:leq|geq|le|ge|neq|ne)(?![A-Za-z])|<=|>=|!=|[=<>≤≥≠]")
_RELATION_NAMES = {"\\leq": "\\le", "\\geq": "\\ge", "\\ne": "\\neq", "<=": "\\le", ">=": "\\ge",
                   "!=": "\\neq", "≤": "\\le", "≥": "\\ge", "≠": "\\neq"}


def relation_sides(norm: str) -> Optional[tuple[tuple[str, ...], tuple[str, ...]]]:
    """``(operators, sides)`` of an equation or inequality chain at the top level, or None.

    ``"1^2-2^2+\\cdots=(-1)^{n+1}\\frac{n(n+1)}{2}"`` gives ``(("=",), ("1^2-2^2+\\cdots",
    "(-1)^{n+1}\\frac{n(n+1)}{2}"))``. Operators inside brackets do not split.
    """
    ops: list[str] = []
    sides: list[str] = []
    depth, start = 0, 0
    for m in _RELATION_RE.finditer(norm):
        depth = sum((c in "([{") - (c in ")]}") for c in norm[:m.start()])
        if depth:
            continue
        ops.append(_RELATION_NAMES.get(m.group(0), m.group(0)))
        sides.append(norm[start:m.start()].strip())
        start = m.end()
    if not ops:
        return None
    sides.append(norm[start:].strip())
    return (tuple(ops), tuple(sides)) if all(sides) else None


def compare_relations(gold: str, pred: str, leaf: "LeafCompare") -> Optional[bool]:
    """Two relations with the same operators, side by side: True when every side matches, else None.

    Never False: ``2x = 4`` and ``x = 2`` differ side by side yet state the same thing, so a
    mismatch is left to math-verify on the whole relation (or to the judge).
    """
    g, p = relation_sides(gold), relation_sides(pred)
    if g is None or p is None or g[0] != p[0]:
        return None
    results = [compare_structured(a, b, leaf) for a, b in zip(g[1], p[1])]
    return True if all(r is True for r in results) else None


# A named value: the left side is a name (letters, \angle, f(x), subscripts), no digits/operators.
_ASSIGN_RE = re.compile(r"^(?P<lhs>[^=<>0-9+\-*/^]+?)\s*=\s*(?P<rhs>[^=<>]+)$")


def strip_assignment(norm: str) -> str:
    """``x = 5``, ``AB = 5``, ``\\angle ABC = 30`` -> the value (when only one side has ``=``)."""
    m = _ASSIGN_RE.match(norm)
    return m.group("rhs").strip() if m else norm


def cheap_leaf_equal(gold: str, pred: str) -> Optional[bool]:
    """Compare two normalised scalars without sympy.

    True/False when decided by string, word, similarity-statement or exact-number rules; False for
    prose that differs (math-verify cannot help there); None when it takes symbolic math.
    """
    if exact_key(gold) == exact_key(pred):
        return True
    wg, wp = word_key(gold), word_key(pred)
    if wg is not None and wg == wp:
        return True
    sim = similarity_equal(gold, pred)
    if sim is not None:
        return sim
    qg, qp = parse_quantity(gold), parse_quantity(pred)
    if qg is not None and qp is not None:
        return quantities_equal(qg, qp)
    if ("=" in gold) != ("=" in pred):
        g2, p2 = strip_assignment(gold), strip_assignment(pred)
        if (g2, p2) != (gold, pred):
            return cheap_leaf_equal(g2, p2)
    if is_textual(gold) or is_textual(pred):
        return False
    return None

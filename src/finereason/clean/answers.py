"""Ground-truth answers in one standard form, by the seed's extraction rules, without a model.

MMFineReason asks an LLM (``answer_extraction`` prompt) to turn a source's answer or worked
solution into a short ground truth: the last ``\\boxed{}`` verbatim; else the explicitly final
result with units dropped and ``%`` kept; several values joined by ", "; words kept as written;
nothing if no final answer is stated. This module applies the same rules deterministically, which
covers the common shapes (bare answers, "Answer: B", ``$$4.4$$``, "12 cm", ``<answer>`` or
``<CONCLUSION>`` blocks ending in "… is x = 5/3."). What it cannot find it refuses
(:class:`AnswerError` ``answer_unextracted``) rather than guessing; ``clean --llm … --llm-answers``
sends exactly those to the paper's LLM pass (:mod:`finereason.clean.llm_answers`).

Choices made beyond the seed's text: math delimiters wrapping the whole answer are removed
(``$13$`` → ``13``); "x = 5/3" becomes "5/3" only when the right side is a plain number (an
equation answer such as "y = 2x + 1" is kept whole); the degree sign counts as a unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from finereason.clean.options import letter_for_text
from finereason.clean.text import normalize_whitespace
from finereason.verify.extract import last_boxed

ANSWER_TYPES = ("choice", "integer", "number", "expression", "yes_no", "text")


class AnswerError(ValueError):
    """No usable answer: ``reason`` is ``missing_answer`` or ``answer_unextracted``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class StandardAnswer:
    """The standardised answer, its type, and how it was found (for counts and debugging)."""

    text: str
    answer_type: str
    how: str  # "as_given" | "boxed" | "tag" | "final_statement" | "option_text"


# ---- finding the answer in a solution ----------------------------------------------------------

_TAG_RE = re.compile(r"<(answer|conclusion)>(.*?)</\1>", re.IGNORECASE | re.DOTALL)
#: Leftover markup seen in real solutions (MMR1 ends answers with ``<\final_answer>``).
_STRAY_TAG_RE = re.compile(
    r"<[\\/]?(?:answer|conclusion|final_answer|reasoning|think|summary|caption|solution)>", re.IGNORECASE
)
_LONG = 200  # characters; a one-line answer longer than this is a solution, not an answer


def _outside_think(text: str) -> str:
    """The visible part of a solution: after the last ``</think>`` (when anything is there)."""
    if "</think>" in text:
        tail = text.rsplit("</think>", 1)[1]
        if tail.strip():
            return tail
        return text.rsplit("</think>", 1)[0].replace("<think>", "")
    return text.replace("<think>", "")


# ---- normalising a short answer ---------------------------------------------------------------

_PREFIX_RE = re.compile(
    r"^(?:(?:so|thus|hence|therefore)\s*,?\s*)?(?:the\s+)?(?:final\s+|correct\s+)?(?:answer|ans)\s*(?:is\s*:?|:|：|=)\s*"
    r"|^(?:故|所以)?(?:答案|答)\s*(?:是|为|:|：)\s*",
    re.IGNORECASE,
)
_WRAPPERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_NUMBER = r"[+\-−]?(?:\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)(?:\s*/\s*\d+)?"
_NUMBER_RE = re.compile(_NUMBER)
_CJK_UNITS = "元角米个只件人天年月日时分秒克升度千厘毫平方立公里吨块本张条次"
_UNIT_WORD = rf"(?:[A-Za-zµμΩ°℃]+|[{_CJK_UNITS}]+)(?:[²³]|\^\{{?[23]\}}?)?"
_UNIT_RE = re.compile(rf"{_UNIT_WORD}(?:\s*[/·*]\s*{_UNIT_WORD})?(?:\s+{_UNIT_WORD}){{0,2}}")
_LATEX_UNIT_RE = re.compile(r"(?:\\[ ,;!]|~|\s)*\\(?:text|mathrm|rm|operatorname|mbox)\s*\{\s*([^{}]*)\}\s*$")
_DEGREE_RE = re.compile(r"\s*(?:\^\s*\{?\s*\\circ\s*\}?|\\degree|°)\s*$")
#: First words that make a tail a phrase, not a unit: "2 or 3", "5 to 7", "3 of them".
_NOT_UNIT = {"or", "and", "to", "of", "in", "by", "from", "than", "less", "more", "with", "is", "are",
             "the", "a", "an", "if", "when", "at", "for", "each", "per", "x", "y", "z", "n", "i"}
_ASSIGN_RE = re.compile(r"^\\?[A-Za-z](?:_\{?\w+\}?|')?\s*=\s*(.+)$")
_CURRENCY_RE = re.compile(rf"^(?:\\\$|[$¥€£])\s*({_NUMBER})$")
_THOUSANDS_RE = re.compile(r"^[+\-−]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


def _unwrap_math(text: str) -> str:
    for left, right in _WRAPPERS:
        if text.startswith(left) and text.endswith(right) and len(text) > len(left) + len(right):
            inner = text[len(left):-len(right)]
            if "$" not in inner:
                return inner.strip()
    return text


def _drop_unit(text: str) -> str:
    """"12 cm" → "12", "5.4 acres" → "5.4", "45°" → "45", "3\\text{ m/s}" → "3"; "45%" stays."""
    text = _DEGREE_RE.sub("", text)
    m = _LATEX_UNIT_RE.search(text)
    if m and _NUMBER_RE.fullmatch(text[: m.start()].strip()) and _UNIT_RE.fullmatch(m.group(1).strip() or "x"):
        return text[: m.start()].strip()
    m = re.match(rf"^({_NUMBER})(\s*)(.+)$", text)
    if not m or not _UNIT_RE.fullmatch(m.group(3)) or m.group(3).split()[0].casefold() in _NOT_UNIT:
        return text
    if not m.group(2) and not _known_attached_unit(m.group(3)):
        return text  # "5b", "2ab", "3xy" are algebra; "12cm", "60km/h", "5个" are quantities
    return m.group(1)


#: Units written straight after a number; an unknown attached word is taken for a variable.
_ATTACHED_UNITS = frozenset(
    "mm cm dm m km in ft yd mi mg g kg t lb oz ms s min h hr hrs d mL ml L l J kJ cal kcal N kN W kW "
    "V mV kV A mA Ω Pa kPa MPa atm Hz kHz MHz K mol rad sr lm lx Wb T C F eV".split()
)


def _known_attached_unit(tail: str) -> bool:
    if re.fullmatch(rf"[{_CJK_UNITS}]+", tail):
        return True
    words = re.split(r"\s*[/·*]\s*", tail)
    return all(re.sub(r"(?:[²³]|\^\{?[23]\}?)$", "", w) in _ATTACHED_UNITS for w in words)


def _plain_value(text: str) -> str:
    """One value with units, currency, assignment and percent spacing normalised."""
    text = text.strip()
    m = _ASSIGN_RE.match(text)
    if m and _is_numberish(_drop_unit(m.group(1).strip())):
        text = m.group(1).strip()
    m = _CURRENCY_RE.match(text)
    if m:
        text = m.group(1)
    text = re.sub(rf"^({_NUMBER})\s*\\?%$", r"\1%", text)
    return _drop_unit(text)


def _is_numberish(text: str) -> bool:
    return bool(re.fullmatch(rf"{_NUMBER}%?", text)) or bool(
        re.fullmatch(r"[+\-−]?\\d?frac\{\d+\}\{\d+\}|[+\-−]?\d*\\sqrt\{?\d+\}?", text)
    )


def split_top_level(text: str, seps: tuple[str, ...] = (",", ";", "，", "；", " and ")) -> list[str]:
    """Split on separators outside brackets, braces and parentheses ("(8, 13)" stays whole)."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0:
            sep = next((s for s in seps if text.startswith(s, i)), None)
            if sep:
                parts.append(text[start:i])
                start = i + len(sep)
                i = start
                continue
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _normalise(text: str) -> str:
    """The short-answer rules: tags, prefixes, delimiters, trailing period, units, lists."""
    text = normalize_whitespace(_STRAY_TAG_RE.sub(" ", text))
    text = text.replace("**", "").strip()
    text = _PREFIX_RE.sub("", text).strip()
    text = _unwrap_math(text)
    text = _unwrap_math(re.sub(r"(?<!\.)[.。]$", "", text).rstrip())
    if _THOUSANDS_RE.match(text):
        return text
    parts = split_top_level(text)
    if len(parts) > 1:
        values = [_plain_value(_unwrap_math(p)) for p in parts]
        if all(values) and all(answer_type(v) in ("integer", "number", "expression") for v in values):
            return ", ".join(values)
        return text
    return _plain_value(text)


# ---- final statements in solutions -------------------------------------------------------------

_PHRASE_RE = re.compile(r"(?:final\s+answer|the\s+answer|answer)\s*(?:is\s*:?|:|：|=)\s*(?P<v>.+)$", re.IGNORECASE)
_SPLIT_RE = re.compile(r"\b(?:is|are|equals|equal\s+to|evaluates\s+to|becomes|gives)\s+|=\s*|≈\s*", re.IGNORECASE)
_LEAD_RE = re.compile(r"^(?:so|thus|hence|therefore|finally|in\s+conclusion)\s*,?\s*", re.IGNORECASE)


def _final_statement(region: str) -> str | None:
    """The value a solution states last: "Answer: X" on any line from the end, else the value
    after the last "is" / "=" / "evaluates to" on the last line, if it is a value (not prose)."""
    lines = [ln.strip() for ln in _STRAY_TAG_RE.sub(" ", region).split("\n") if ln.strip()]
    for line in reversed(lines):
        m = _PHRASE_RE.search(line.replace("**", ""))
        if m and _normalise(m.group("v")):
            return _normalise(m.group("v"))
    if not lines:
        return None
    last = _LEAD_RE.sub("", lines[-1].replace("**", ""))
    for m in reversed(list(_SPLIT_RE.finditer(last))):
        value = _normalise(last[m.end():])
        if value and len(value) <= 60 and answer_type(value) != "text":
            return value
    return None


# ---- types -------------------------------------------------------------------------------------

_LETTERS_RE = re.compile(r"[A-Z](?:\s*,?\s*[A-Z])*")  # "A", "A, C", "AC" (multi-select)
_MATH_WORDS = {"sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "lg", "sqrt", "pi", "exp", "abs",
               "max", "min", "arcsin", "arccos", "arctan", "frac", "inf", "infty", "mod", "gcd", "lcm"}
_SHORT_WORDS = {"or", "to", "of", "in", "is", "by", "at", "on", "an", "as", "if", "no", "be", "it", "up"}


def answer_type(text: str, options: list[str] | tuple[str, ...] = ()) -> str:
    """A heuristic type: choice, yes_no, integer, number, expression or text.

    A single capital letter is a choice even without parsed options (Raven-style items list
    their options in the image); several letters ("A, C", "AC") only when options exist and
    every letter names one.
    """
    t = text.strip()
    if re.fullmatch(r"[A-Z]", t):
        return "choice"
    if options and _LETTERS_RE.fullmatch(t) and all(ord(c) - 65 < len(options) for c in re.findall("[A-Z]", t)):
        return "choice"
    if re.fullmatch(r"yes|no|true|false|是|否|对|错|正确|错误", t, re.IGNORECASE):
        return "yes_no"
    if re.fullmatch(r"[+\-−]?\d+", t) or _THOUSANDS_RE.fullmatch(t) and "." not in t:
        return "integer"
    if re.fullmatch(rf"{_NUMBER}%?|[+\-−]?\d+(?:\.\d+)?[eE][+\-]?\d+", t):
        return "number"
    if re.search(r"\\[A-Za-z]+", t):
        return "expression"
    words = [w for w in re.findall(r"[^\W\d_]{2,}", t) if w.casefold() not in _MATH_WORDS]
    mathy = re.search(r"[\d=+\-*/^_<>≤≥≠√π∞∠()\[\]{},]|^[a-zA-Z]$", t)
    # Words of three letters or more are prose ("up, left", "September 24"); two-letter runs next
    # to numbers or operators are products of variables ("2ab").
    if any(len(w) >= 3 or w.casefold() in _SHORT_WORDS for w in words) or (words and not mathy):
        return "text"
    return "expression" if mathy else "text"


# ---- the whole standardisation -----------------------------------------------------------------


def standardize_answer(raw: str | None, options: list[str] | tuple[str, ...] = ()) -> StandardAnswer:
    """Standardise one ground-truth answer (or worked solution); raise :class:`AnswerError` if none.

    With ``options``, an answer equal to one option's text becomes that option's letter, and
    "B. 70J" / "(B)" become "B".
    """
    if raw is None or not raw.strip():
        raise AnswerError("missing_answer", "empty answer")
    text = normalize_whitespace(raw)
    visible = _outside_think(text)
    boxed = last_boxed(visible)
    if boxed is not None:
        if not boxed.strip():
            raise AnswerError("missing_answer", "empty \\boxed{}")
        return _typed(boxed.strip(), options, "boxed", raw)
    tags = _TAG_RE.findall(visible)
    how, region = ("tag", tags[-1][1].strip()) if tags else ("as_given", visible.strip())
    if not region:
        raise AnswerError("missing_answer", f"empty <{tags[-1][0]}> block" if tags else "empty answer")
    if "\n" in region or len(region) > _LONG:
        value = _final_statement(region)
        if value is None:
            raise AnswerError("answer_unextracted", f"no final answer stated in a {len(region)}-character solution")
        return _typed(value, options, "final_statement", raw)
    value = _normalise(region)
    if len(value.split()) > 3 and answer_type(value, options) == "text":
        # A sentence ("The zero of the function is x = 3"): take its value if it states one.
        value = _final_statement(region) or value
    if not value:
        raise AnswerError("missing_answer", f"nothing left of {raw[:80]!r}")
    return _typed(value, options, how, raw)


_LETTER_FORM_RE = re.compile(r"^(?:\(([A-Z])\)|([A-Z])(?:[.．:：)]|$))\s*(.*)$", re.DOTALL)


def _typed(value: str, options: list[str] | tuple[str, ...], how: str, raw: str) -> StandardAnswer:
    if options:
        m = _LETTER_FORM_RE.match(value)
        if m:
            letter, rest = m.group(1) or m.group(2), m.group(3)
            index = ord(letter) - ord("A")
            if index < len(options) and (not rest or letter_for_text(rest, [options[index]]) == "A"):
                value = letter
        else:  # option text first: "AB" is a segment when an option reads "AB"
            # The text as given, then both sides standardised ("70 J" vs "70J"); never a guess:
            # two options with the same standard form ("70 J", "70 kJ") match neither.
            letter = (
                letter_for_text(normalize_whitespace(raw), list(options))
                or letter_for_text(value, list(options))
                or letter_for_text(value, [_normalise(o) for o in options])
            )
            if letter:
                return StandardAnswer(letter, "choice", "option_text")
    else:
        m = re.fullmatch(r"\(([A-Z])\)|([A-Z])[.．)]", value)
        if m:
            value = m.group(1) or m.group(2)
    return StandardAnswer(value, answer_type(value, options), how)

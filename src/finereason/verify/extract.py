"""Find the final answer in a model response, and choice letters in an answer.

Only explicit markers count. A response without one is *unparsed*, never scored on a guess:
lmms-eval's random-letter fallback and the release code's substring match both turn format
failures into silent label noise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Mapping, Optional, Sequence

from finereason.verify.normalize import (
    exact_key,
    matching_brace,
    normalize_answer,
    parse_quantity,
    quantities_equal,
    word_key,
)

ThinkStatus = Literal["ok", "missing", "prefilled", "unclosed", "multiple"]
ExtractionMethod = Literal["answer_tag", "boxed", "answer_line"]

_THINK_BLOCK_RE = re.compile(r"<think>.*?</think>", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ThinkSplit:
    """A response split into its reasoning and its visible part.

    ``status`` says how the think block looked: ``prefilled`` means ``</think>`` without
    ``<think>`` (a Qwen3 template that pre-fills the opening tag), ``unclosed`` means the
    reasoning never ended (truncation), so nothing outside it can be trusted.
    """

    think: Optional[str]
    outside: str
    status: ThinkStatus


def split_think(response: str) -> ThinkSplit:
    """Separate ``<think>…</think>`` reasoning from the visible answer text."""
    opens, closes = response.count("<think>"), response.count("</think>")
    if opens == 0 and closes == 0:
        return ThinkSplit(None, response, "missing")
    if opens == 0:
        head, _, tail = response.rpartition("</think>")
        return ThinkSplit(head.replace("</think>", ""), tail, "prefilled")
    if closes == 0:
        head, _, tail = response.partition("<think>")
        return ThinkSplit(tail, head, "unclosed")
    first_open, last_close = response.find("<think>"), response.rfind("</think>")
    if opens == 1 and closes == 1 and first_open < last_close:
        return ThinkSplit(response[first_open + 7:last_close],
                          response[:first_open] + response[last_close + 8:], "ok")
    # Several or interleaved blocks: everything from the first <think> to the last </think> is
    # reasoning; a stray <think> after that opens reasoning that never closed.
    think = _THINK_BLOCK_RE.sub(" ", response[first_open:last_close + 8])
    outside = response[:first_open] + response[last_close + 8:]
    outside = outside.split("<think>", 1)[0]
    return ThinkSplit(think, outside, "multiple")


@dataclass(frozen=True, slots=True)
class Extraction:
    """The final answer text and the marker it was found by."""

    text: str
    method: ExtractionMethod


_ANSWER_TAG_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_LINE_RE = re.compile(
    r"\b(?:final\s+answer|the\s+answer|answer)\s*(?:is|:|=)\s*[:\-]?\s*(?P<ans>.+?)\s*$",
    re.IGNORECASE,
)


def last_boxed(text: str) -> Optional[str]:
    """Content of the last complete ``\\boxed{…}`` (nested braces allowed), or None."""
    found: Optional[str] = None
    for m in _BOXED_RE.finditer(text):
        end = matching_brace(text, m.end() - 1)
        if end >= 0:
            found = text[m.end():end]
    return found


def _clean_line_answer(text: str) -> str:
    text = text.strip().strip("*_` ").strip()
    return re.sub(r"[.。]+$", "", text).strip()


def extract_answer(response: str) -> Optional[Extraction]:
    """The final answer of a response, looking only outside the reasoning block.

    Priority: the last ``<answer>…</answer>``; else the last ``\\boxed{…}``; else the last
    line of the form "... answer is X" / "Answer: X". An unclosed ``<answer>`` (a truncated
    reply) or an empty marker yields None.
    """
    outside = split_think(response).outside
    tags = _ANSWER_TAG_RE.findall(outside)
    if tags:
        text = tags[-1].strip()
        return Extraction(text, "answer_tag") if text else None
    if re.search(r"<answer>", outside, re.IGNORECASE):
        return None
    boxed = last_boxed(outside)
    if boxed is not None:
        return Extraction(boxed.strip(), "boxed") if boxed.strip() else None
    for line in reversed(outside.splitlines()):
        m = _ANSWER_LINE_RE.search(line)
        if m:
            text = _clean_line_answer(m.group("ans"))
            return Extraction(text, "answer_line") if text else None
    return None


# ----------------------------------------------------------------------------------------------
# Multiple choice
# ----------------------------------------------------------------------------------------------

_LONE_LETTER_RE = re.compile(r"\(?\s*([A-Za-z])\s*\)?\s*[.:)]?")
_PHRASE_LETTER_RE = re.compile(
    r"\b(?:answer|option|choice)\b(?:\s+is)?(?:\s*:)?\s*(?:\b(?:option|choice)\b\s*)?"
    r"[:\-]?\s*(?:\(([A-Z])\)|\b([A-Z])\b(?![\w'’]))",
    re.IGNORECASE,
)
_LEADING_LETTER_RE = re.compile(r"^(?:\(([A-Z])\)|([A-Z])[.:)])\s*\S")


def _texts_match(a: str, b: str) -> bool:
    """Option text equality: normalised exact, same words, or same quantity (5 == 5 pieces)."""
    na, nb = normalize_answer(a), normalize_answer(b)
    if exact_key(na) == exact_key(nb):
        return True
    wa, wb = word_key(na), word_key(nb)
    if wa is not None and wa == wb:
        return True
    qa, qb = parse_quantity(na), parse_quantity(nb)
    return qa is not None and qb is not None and quantities_equal(qa, qb) is True


def option_for_text(text: str, options: Mapping[str, str]) -> Optional[str]:
    """The letter whose option text equals ``text``; None if none or several do."""
    hits = [letter for letter, opt in options.items() if opt and _texts_match(text, opt)]
    return hits[0] if len(hits) == 1 else None


def extract_choice(text: Optional[str],
                   options: Mapping[str, str] | Sequence[str] = ()) -> Optional[str]:
    """The single choice letter an answer commits to, or None.

    Accepted: "C", "(C)", "C.", "option C", "Answer: C", "the answer is (C) because A is wrong"
    (an explicit answer phrase beats other letters), "C. 5 pieces", or the text of exactly one
    option. A letter outside the given options, or several candidate letters, gives None.
    """
    if not text:
        return None
    opts = dict(options) if isinstance(options, Mapping) else {
        chr(ord("A") + i): o for i, o in enumerate(options)}
    s = normalize_answer(text)

    def valid(letter: Optional[str]) -> Optional[str]:
        if letter is None:
            return None
        letter = letter.upper()
        return letter if not opts or letter in opts else None

    m = _LONE_LETTER_RE.fullmatch(s)
    if m:
        return valid(m.group(1))
    phrases = list(_PHRASE_LETTER_RE.finditer(s))
    if phrases:
        last = phrases[-1]
        letter = last.group(1) or last.group(2)
        # "answer: a triangle" must not read as letter A: bare lowercase letters need a paren.
        if last.group(1) or letter.isupper():
            return valid(letter)
    m = _LEADING_LETTER_RE.match(s)
    if m:
        return valid(m.group(1) or m.group(2))
    return option_for_text(s, opts) if opts else None

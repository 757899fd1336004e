"""Reading a model's answer out of its response, the way each benchmark's own scorer does.

Two rules hold for every benchmark, where the harnesses differ:

* Reasoning is never read for the answer: the text inside ``<think>…</think>`` is skipped, and a
  response still inside an unclosed think block (cut off while thinking) is *unparsed*.
* Nothing is guessed. lmms-eval's MMMU parser picks a random letter when it finds none, and
  MathVista's scorer snaps any text to the most similar choice by edit distance; both turn a format
  failure into a lottery ticket. Here that case is ``None`` and the item is counted ``unparsed``
  (``eval --protocol official`` reproduces MathVista's snap on request, marked ``official_snap``).

The MMMU-style functions (:func:`scan_choice`, :func:`open_candidates`, :func:`open_matches`)
follow the logic of the official MMMU ``parse_multi_choice_response`` / ``parse_open_response``
/ ``eval_open`` (MMMU-Benchmark/MMMU, eval/eval_utils.py), rewritten without the random fallback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from finereason.verify.extract import extract_answer, extract_choice, split_think

#: How an answer was found; ``none`` and ``unclosed_think`` mean it was not.
PARSE_METHODS = ("answer_tag", "boxed", "answer_line", "letter", "scan", "text", "none", "unclosed_think", "too_long",
                 # prose rules of finereason.evaluate.statements
                 "cued_letter", "ambiguous_letters", "yes_no", "option_text", "option_value", "stated", "conclusion",
                 "first_sentence", "extractor",
                 # eval --protocol official (MathVista): its own rule read the reply; an empty reply;
                 # an extraction that named no choice, snapped to the nearest one
                 "official_exact", "official_empty", "official_snap")


#: A longer reply is not read (``too_long``): no benchmark answer needs it, and reading a 10 MB
#: text with the answer patterns takes minutes. The item is counted unparsed and the run goes on.
MAX_REPLY_CHARS = 100_000
#: Methods after which no further rule may read the reply.
TERMINAL_METHODS = ("unclosed_think", "too_long")


@dataclass(frozen=True)
class Parsed:
    """The answer a response commits to (``value``) and the rule that found it."""

    value: str | None
    method: str


def visible_text(response: str) -> str | None:
    """The response outside its reasoning; None when the reasoning never closed (truncated)."""
    split = split_think(response)
    return None if split.status == "unclosed" else split.outside


def parse_choice(response: str, options: Mapping[str, str], *, scan: bool = False) -> Parsed:
    """The option letter a response chooses, or ``Parsed(None, …)``.

    Order: an explicit final-answer marker (``<answer>``, ``\\boxed{}``, "Answer: X", "the answer
    is X") read as a letter or as one option's exact text; then the whole visible text as a lone
    letter or answer phrase ("(C) because A is wrong" → C). With ``scan`` (MMMU's own rule) a last
    resort looks for "(X)", " X ", "X." mentions and, in longer replies, option texts, taking the
    last one mentioned.
    """
    if len(response) > MAX_REPLY_CHARS:
        return Parsed(None, "too_long")
    visible = visible_text(response)
    if visible is None:
        return Parsed(None, "unclosed_think")
    found = extract_answer(visible)
    if found is not None:
        letter = extract_choice(found.text, options)
        if letter is not None:
            return Parsed(letter, found.method)
    letter = extract_choice(visible.strip(), options)
    if letter is not None:
        return Parsed(letter, "letter")
    if scan:
        letter = scan_choice(visible, options)
        if letter is not None:
            return Parsed(letter, "scan")
    return Parsed(None, "none")


def scan_choice(response: str, options: Mapping[str, str]) -> str | None:
    """MMMU's candidate scan over a free reply: bracketed letters, then bare letters, then texts.

    Several candidates: the one mentioned last wins (as in MMMU). No candidate: None, where the
    official code draws a random letter.
    """
    text = " " + response.strip().strip(",.!?;:'") + " "
    letters = list(options)
    bracketed = [c for c in letters if f"({c})" in text]
    if bracketed:
        return max(bracketed, key=lambda c: text.rfind(f"({c})"))
    spaced = [c for c in letters if f" {c} " in text or f" {c}." in text or f" {c}," in text]
    if spaced:
        return max(spaced, key=lambda c: max(text.rfind(f" {c}{end}") for end in " .,"))
    if len(text.split()) > 5:
        lowered = text.lower()
        named = [c for c, option in options.items() if option and option.lower() in lowered]
        if named:
            return max(named, key=lambda c: lowered.rfind(options[c].lower()))
    return None


# ---------------------------------------------------------------------------------- numbers
_NUMBER_RE = re.compile(
    r"(?<![\w.])[-−]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+)(?![\w])"
)


def numbers_in(text: str) -> list[str]:
    """Every number written in ``text`` (``1,000``, ``-2.5``, ``3e8``, ``.5``), in order, commas removed."""
    return [m.group(0).replace(",", "").replace("−", "-") for m in _NUMBER_RE.finditer(text)]


def parse_number(response: str) -> Parsed:
    """The final numeric answer: from an answer marker when there is one, else a bare number.

    A marker with several numbers ("Answer: 3 or 4") takes the last one, the value the sentence
    lands on; a reply with no marker counts only when its whole visible text is one number.
    """
    if len(response) > MAX_REPLY_CHARS:
        return Parsed(None, "too_long")
    visible = visible_text(response)
    if visible is None:
        return Parsed(None, "unclosed_think")
    found = extract_answer(visible)
    if found is not None:
        values = numbers_in(_frac_to_decimal(found.text))
        return Parsed(values[-1], found.method) if values else Parsed(None, "none")
    values = numbers_in(visible)
    if len(values) == 1 and re.fullmatch(r"[\s$€£(]*[-−]?[\d.,eE+]+\s*%?[\s).]*", visible):
        return Parsed(values[0], "text")
    return Parsed(None, "none")


_FRAC_RE = re.compile(r"\\[dt]?frac\s*\{\s*(-?\d+)\s*\}\s*\{\s*(\d+)\s*\}")


def _frac_to_decimal(text: str) -> str:
    """``\\frac{1}{4}`` → ``0.25`` so a fraction answer compares as the number it is."""
    def repl(m: re.Match[str]) -> str:
        den = int(m.group(2))
        return str(float(Fraction(int(m.group(1)), den))) if den else m.group(0)

    return _FRAC_RE.sub(repl, text)


# ---------------------------------------------------------------------------------- MMMU open
_KEY_INDICATORS = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ")


def open_candidates(response: str) -> list[str | float]:
    """MMMU's open-answer candidates: the tail after a key phrase in each sentence, plus numbers.

    Strings are lower-cased; numbers become floats rounded to 2 places, as MMMU normalises them.
    """
    text = response.strip().strip(".")
    sentences = [s for s in re.split(r"\.\s(?=[A-Z])|\n", text) if s.strip()]
    keys: list[str] = []
    for index, sentence in enumerate(sentences):
        lowered = sentence.lower()
        indicators = _KEY_INDICATORS + (("=",) if index == len(sentences) - 1 else ())
        tails = [lowered.split(ind)[-1].strip() for ind in indicators if ind in lowered]
        tails = [t for t in tails if t and t not in ":,.!?;'"]
        if tails:
            keys.append(min(tails, key=len))
    if not keys:
        keys = [text.lower()]
    out: list[str | float] = []
    for key in keys:
        for value in [key, *numbers_in(key)]:
            for norm in normalize_open(value):
                if norm not in out:
                    out.append(norm)
    return out


def normalize_open(value: str) -> list[str | float]:
    """MMMU's normalisation: a number → its float rounded to 2 places; a single letter gets
    a space on either side (so "a" does not match inside every word); other text lower-cased."""
    value = value.strip()
    try:
        return [round(float(value.replace(",", "")), 2)]
    except ValueError:
        pass
    value = value.lower()
    return [" " + value, value + " "] if len(value) == 1 else [value]


def open_matches(gold: str | list[str], candidates: list[str | float]) -> bool:
    """MMMU ``eval_open``: a number must equal a gold number; a gold text must occur in a candidate."""
    golds: list[str | float] = []
    for g in gold if isinstance(gold, list) else [gold]:
        golds.extend(normalize_open(str(g)))
    for cand in candidates:
        if isinstance(cand, str):
            if any(isinstance(g, str) and g in cand for g in golds):
                return True
        elif cand in golds:
            return True
    return False

"""MathVista's official scoring protocol, its deterministic part (``eval --protocol official``).

The official pipeline (lupantech/MathVista, ``evaluation/extract_answer.py`` then
``evaluation/calculate_score.py``) has three steps:

1. **Extraction** (``extract_answer``): an empty response (exactly ``""``) is extracted as ``""``;
   a multi_choice response that is exactly one of the choices is its own extraction; for an
   integer answer a response that Python's ``int()`` reads is extracted as ``str(int(response))``,
   for a float answer one that ``float()`` reads as ``str(float(response))``. Everything else goes
   to GPT-4 with a few-shot prompt. (The optional ``--quick_extract`` regex is off by default and
   not reproduced.)
2. **Normalisation** (``normalize_extracted_answer``): multi_choice: strip; a bracketed letter
   ``"(b) …"`` becomes ``"B"``; a letter among the options becomes that choice; *anything else is
   replaced by the most similar choice by Levenshtein distance, the first choice on a tie*
   (``get_most_similar``), so an empty extraction lands on the shortest choice. integer:
   ``str(int(float(x)))``; float: ``str(round(float(x), precision))``; list: ``str(x)``; a failure
   is ``None``.
3. **Verdict** (``safe_equal``): the normalised prediction equals the answer string.

Steps 1's rule paths, 2 and 3 are reproduced exactly here. GPT-4's reading in step 1 is not
guessed: our rules' reading (:mod:`finereason.evaluate.statements`) stands in for it, or
``--extractor``'s, and a reply neither reads stays *unparsed*. Items whose verdict comes from the
protocol's leniency rather than from an answer the reply gives are marked by their parse method:
``official_empty`` (an empty reply) and ``official_snap`` (an extraction that names no choice,
snapped to the nearest one).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from finereason.evaluate.items import EvalItem

#: Parse methods of verdicts the protocol decides without an answer in the reply.
LENIENT_METHODS = ("official_empty", "official_snap")
_BRACKETED_LETTER_RE = re.compile(r"\(([a-zA-Z])\)")


def most_similar(prediction: str, choices: Sequence[str]) -> tuple[str, int]:
    """The choice nearest to ``prediction`` by Levenshtein distance (unit costs, as the
    ``Levenshtein`` package the official code imports; rapidfuzz is its engine), the first one on a
    tie, and that distance."""
    distances = [Levenshtein.distance(prediction, choice) for choice in choices]
    best = distances.index(min(distances))
    return choices[best], distances[best]


def rule_extraction(response: str, item: EvalItem) -> str | None:
    """The extraction the official ``extract_answer`` makes without GPT-4, or None where it asks GPT-4."""
    if response == "":
        return ""
    if item.options and response in item.options.values():
        return response
    try:
        if item.answer_type == "integer":
            return str(int(response))
        if item.answer_type == "float":
            return str(float(response))
    except (ValueError, OverflowError):
        pass
    return None


@dataclass(frozen=True)
class Normalized:
    """An extraction after ``normalize_extracted_answer``; ``snapped`` when the nearest-choice rule chose."""

    prediction: str | None
    snapped: bool = False
    distance: int = 0


def normalize(extraction: str, item: EvalItem) -> Normalized:
    """``normalize_extracted_answer`` of the official ``calculate_score.py``, step for step."""
    if item.options:
        choices = list(item.options.values())
        text = extraction.strip()
        bracketed = _BRACKETED_LETTER_RE.findall(text)
        if bracketed:
            text = bracketed[0].upper()
        letters = list(item.options)
        if text in letters:
            return Normalized(choices[letters.index(text)])
        choice, distance = most_similar(text, choices)
        return Normalized(choice, snapped=distance > 0, distance=distance)
    try:
        if item.answer_type == "integer":
            return Normalized(str(int(float(extraction))))
        if item.answer_type == "float":
            if item.precision is None:  # the official int(precision) fails: the prediction is None
                return Normalized(None)
            return Normalized(str(round(float(extraction), item.precision)))
    except (ValueError, OverflowError):
        return Normalized(None)
    # list: str(x); a free-form text answer (none in testmini) is compared as extracted.
    return Normalized(extraction)

"""Multi-part answers: find the parts of an answer however a source separated them.

Standardised references join several values in many ways: runs of spaces (``"32     24"``,
``"4:1     92"``, a table flattened to one line), ``;``, ``,``, ``and``, labels ``(a) … (b) …`` or
``i) … ii) …``, and line breaks. A response usually writes the same parts as ``"32, 24"``. The
cascade compares parts one by one, so both sides are first rewritten to one form, parts joined by
``", "``, which :func:`finereason.verify.normalize.compare_structured` then reads as a list (it
splits on ``,`` and ``;`` itself).

This is our own code: math-verify compares single expressions and has no notion of the parts of
an answer.
"""

from __future__ import annotations

import re

from finereason.verify.normalize import is_textual

#: Part labels at the start of the text or after a blank/separator: "(a)", "a)", "(ii)", "ii)",
#: "(1)" — each label a letter a–h, a roman numeral i–viii or a digit 1–9, optionally followed by ":".
_LABEL = r"(?:[a-h]|i{1,3}|iv|v|vi{1,3}|[1-9])"
_LABEL_RE = re.compile(rf"(?:^|(?<=[\s;,.]))(?:\(({_LABEL})\)|({_LABEL})\))\s*:?\s*", re.IGNORECASE)
_SPACE_RUN_RE = re.compile(r"[ \t\u3000]{2,}|\s*\n\s*")
_AND_RE = re.compile(r"\s+and\s+", re.IGNORECASE)


def _labelled(text: str) -> list[str] | None:
    """Parts introduced by a run of labels (a), (b)… or i), ii)…; None when there is no such run."""
    marks = list(_LABEL_RE.finditer(text))
    if len(marks) < 2 or text[:marks[0].start()].strip():
        return None
    labels = [(m.group(1) or m.group(2)).lower() for m in marks]
    if len(set(labels)) != len(labels):
        return None
    parts = [text[m.end():nxt.start() if nxt else len(text)].strip().rstrip(";,").strip()
             for m, nxt in zip(marks, marks[1:] + [None])]
    return parts if all(parts) else None


def _balanced(part: str) -> bool:
    depth = 0
    for c in part:
        depth += c in "([{"
        depth -= c in ")]}"
        if depth < 0:
            return False
    return depth == 0


def split_parts(text: str) -> list[str]:
    """The parts of a raw (not yet normalised) answer, in order; one part when it has no separator.

    Separators, tried from the most explicit: labels, then line breaks and runs of two or more
    spaces outside brackets, then the word "and" between two non-prose parts (``"x=1 and y=2"``;
    a phrase such as "salt and pepper" stays whole: prose is the judge's). ``,`` and ``;`` are
    left in place: :func:`~finereason.verify.normalize.shape_of` splits on them after
    normalisation, which first reads ``1,000`` as a number.
    """
    text = text.strip()
    labelled = _labelled(text)
    if labelled:
        return labelled
    runs = [p.strip().rstrip(";,").strip() for p in _SPACE_RUN_RE.split(text) if p.strip().rstrip(";,").strip()]
    if len(runs) >= 2 and all(_balanced(p) for p in runs):
        return runs
    anded = [p.strip() for p in _AND_RE.split(text) if p.strip()]
    if len(anded) >= 2 and all(_balanced(p) for p in anded) and not any(is_textual(p) for p in anded):
        return anded
    return [text]


def as_list(text: str) -> str:
    """``text`` with its parts joined by ``", "`` (unchanged when it has one part)."""
    parts = split_parts(text)
    return ", ".join(parts) if len(parts) >= 2 else text

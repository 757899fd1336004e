"""Multiple-choice options written inside a question's text.

Sources put options in the question in many ways: "A. x B. y", "A.256; B.512", "(A) x (B) y",
"A: x" on lines, "Choices:\\nA. …", Chinese "A．x" or "A、x". :func:`parse_options` finds them so
``Sample.options`` holds the texts and an answer given as an option's text can become its letter.

The question text itself is left as it is: a prompt must show the options exactly as the source
wrote them (a re-rendering would change what the teacher and the student see), and the
letters a model answers with must match the ones in the text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

#: An option marker at a line start or after a space, separator or closing punctuation
#: ("…？A．x", "( )A. 1"), one of five styles:
#: "(A)", "A.", "A:", "A)", "A、". The style must be the same for every option of one question.
_MARKER_RE = re.compile(
    r"(?:^|(?<=[\s;,，；*>?？!！。:：)）]))"
    r"(?:(?P<paren>[(（](?P<l1>[A-Z])[)）])"
    r"|(?P<dot>(?P<l2>[A-Z])[.．])"
    r"|(?P<colon>(?P<l3>[A-Z])[:：])"
    r"|(?P<rparen>(?P<l4>[A-Z])[)）])"
    r"|(?P<dun>(?P<l5>[A-Z])、))",
    re.MULTILINE,
)
_STYLES = ("paren", "dot", "colon", "rparen", "dun")


@dataclass(frozen=True)
class ParsedOptions:
    """Options found in a question: texts in letter order, and where the block starts and ends."""

    texts: list[str]
    start: int
    end: int

    @property
    def letters(self) -> list[str]:
        return [chr(ord("A") + i) for i in range(len(self.texts))]


@dataclass(frozen=True)
class _Mark:
    start: int
    end: int
    letter: str
    style: str


def _marks(question: str) -> list[_Mark]:
    out = []
    for m in _MARKER_RE.finditer(question):
        style = next(s for s in _STYLES if m.group(s))
        letter = next(m.group(g) for g in ("l1", "l2", "l3", "l4", "l5") if m.group(g))
        out.append(_Mark(m.start(), m.end(), letter, style))
    return out


def _best_run(marks: list[_Mark]) -> list[_Mark]:
    """The longest run A, B, C… of one style; on a tie the later one (options close a question).

    A run starting at a label such as "point A." earlier in the text is beaten by, or ties with
    and loses to, the real option block after it.
    """
    best: list[_Mark] = []
    for i, first in enumerate(marks):
        if first.letter != "A":
            continue
        run = [first]
        for mark in marks[i + 1:]:
            if mark.style == first.style and mark.letter == chr(ord(run[-1].letter) + 1):
                run.append(mark)
        if len(run) >= len(best):
            best = run
    return best


def _option_text(raw: str) -> str:
    text = raw.strip()
    if text.startswith("**"):
        text = text[2:]
    if text.endswith("**"):
        text = text[:-2]
    return text.strip().rstrip(";,；，").strip()


def parse_options(question: str) -> ParsedOptions | None:
    """Options listed in ``question``, or None when there is no run of at least two.

    Each option runs to the next marker; the last one ends at its line end, so an instruction
    on the next line ("Answer with the letter.") is not swallowed. A run with an empty option is
    taken for a false match (labels, not options) and gives None.
    """
    run = _best_run(_marks(question))
    if len(run) < 2:
        return None
    texts = []
    for k, mark in enumerate(run):
        if k + 1 < len(run):
            raw = question[mark.end:run[k + 1].start]
        else:
            line_end = question.find("\n", mark.end)
            raw = question[mark.end:line_end if line_end >= 0 else len(question)]
        texts.append(_option_text(raw))
    if not all(texts):
        return None
    last = run[-1]
    line_end = question.find("\n", last.end)
    return ParsedOptions(texts, run[0].start, line_end if line_end >= 0 else len(question))


def options_in(question: str) -> dict[str, str]:
    """The options of ``question`` as ``{letter: text}``; ``{}`` when it lists none.

    The mapping form of :func:`parse_options` for callers that look options up by letter
    (verification, benchmark loaders): the package has one option parser, this one.
    """
    parsed = parse_options(question)
    return dict(zip(parsed.letters, parsed.texts)) if parsed else {}


def _norm(text: str) -> str:
    """Comparison key for option texts: case, width, spacing, ``$…$`` and a final period ignored."""
    t = unicodedata.normalize("NFKC", text).casefold().strip()
    t = re.sub(r"^\$+|\$+$", "", t).strip()
    t = re.sub(r"\s+", " ", t)
    return t.rstrip("。.").strip()


def letter_for_text(answer: str, options: list[str]) -> str | None:
    """The letter of the one option whose text equals ``answer``; None if none or several do."""
    key = _norm(answer)
    hits = [i for i, opt in enumerate(options) if key and _norm(opt) == key]
    return chr(ord("A") + hits[0]) if len(hits) == 1 else None

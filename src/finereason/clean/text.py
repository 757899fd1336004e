"""Rule-based question cleaning: whitespace, stray ``<image>`` tags, URLs, question numbers, score tags.

These are the cheap, certain parts of MMFineReason's text cleaning; the judgement calls
(translation, rewriting shallow instructions, dropping non-answerable items) are the LLM's
(:mod:`finereason.clean.llm`). Every rule here is conservative: it removes only text that is
noise wherever it appears, so LaTeX, blanks like ``( )`` and numbers that belong to the problem
("1.5 is …", "(2)+(3)", "2019.") stay. :func:`clean_question` reports which rules fired, so a
manifest can count them and a reviewer can find a sample changed by a given rule.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

# ---- whitespace and invisible characters ------------------------------------------------------

#: Characters that render as nothing; removed. (U+200D joins emoji, which questions do not need.)
_INVISIBLE_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
#: Spaces other than U+0020 (NBSP, narrow NBSP, en/em/thin spaces, ideographic space, tab).
_SPACE_RE = re.compile("[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
#: C0/C1 control characters other than newline (tab is a space above).
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NEWLINE_RE = re.compile("\r\n|[\r\u2028\u2029\x0b\x0c\x85]")
_BR_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)
#: Only unambiguous, semicolon-terminated entities: ``html.unescape`` would also turn a LaTeX
#: matrix's ``&lt`` without a semicolon, or ``&para`` in running text, into symbols.
_ENTITIES = {"&nbsp;": " ", "&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"', "&#39;": "'", "&apos;": "'"}
_ENTITY_RE = re.compile("|".join(map(re.escape, _ENTITIES)))


def normalize_whitespace(text: str) -> str:
    """NFC, visible spaces only, ``\\n`` newlines, runs collapsed, at most one blank line, stripped.

    Leading indentation of a line is kept (code and aligned tables in questions need it); runs of
    spaces inside a line become one. NFKC is deliberately not used: it turns ``x²`` into ``x2``.
    """
    text = unicodedata.normalize("NFC", text)
    text = _NEWLINE_RE.sub("\n", text)
    text = _INVISIBLE_RE.sub("", text)
    text = _SPACE_RE.sub(" ", text)
    text = _CONTROL_RE.sub("", text)
    lines = []
    for line in text.split("\n"):
        body = line.lstrip(" ")
        indent = line[: len(line) - len(body)]
        lines.append(indent + re.sub(r" {2,}", " ", body).rstrip())
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


# ---- markup, links -----------------------------------------------------------------------------

_PUNCT = ".,;:!?。，；：！？)）]】"


def cut(pattern: re.Pattern[str], text: str, keep: Callable[[re.Match[str]], str] = lambda m: "") -> str:
    """Remove every match with the spaces around it, leaving one space only where words would touch.

    So "area (5 points)." becomes "area.", "is<image>this" becomes "is this", and a removal at a
    line start leaves no indentation behind. ``keep`` returns text to put back (a URL's final
    period).
    """

    def repl(m: re.Match[str]) -> str:
        s, start, end = m.string, m.start(), m.end()
        kept = keep(m)
        prev, nxt = s[start - 1:start], s[end:end + 1]
        if start == 0 or prev == "\n" or not nxt or nxt == "\n" or nxt in _PUNCT:
            return kept
        # "is<image>this" needs a space; "解答题（5分）求面积" must not get one.
        had_space = m.group(0) != m.group(0).strip(" \t")
        return kept + " " if had_space or (prev.isascii() and prev.isalnum() and nxt.isascii()) else kept

    return _spaced(pattern).sub(repl, text)


@functools.lru_cache(maxsize=32)
def _spaced(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """``pattern`` with the spaces around it, so a replacement can take them away.

    The leading run is only tried from its first character (the lookbehind): a plain
    ``[ \t]*`` is retried from every position of a long run of spaces, which makes one
    indented line of n spaces cost n² steps. Matches are the same, since a match that could
    begin inside a run also begins at the run's start.
    """
    return re.compile(r"(?<![ \t])[ \t]*(?:" + pattern.pattern + r")[ \t]*", pattern.flags)


#: Exactly ``<image>``: numbered references such as ``<image 2>`` (MMMU) name a particular image
#: and carry meaning, so they stay.
_IMAGE_TAG_RE = re.compile(r"<image>", re.IGNORECASE)
_URL_CORE = r"(?:https?://|ftp://|www\.)[^\s<>\"'，。、；（）【】]+"
#: Link text holds no ``[``: then a search from each ``[`` stops at the next one, and a line of
#: n brackets costs n steps, not n² (nested brackets in link text do not occur in questions).
_MD_IMAGE_RE = re.compile(r"!\[[^\[\]\n]*\]\(\s*" + _URL_CORE + r"\s*\)")
_MD_LINK_RE = re.compile(r"\[([^\[\]\n]+)\]\(\s*" + _URL_CORE + r"\s*\)")
_BRACKETED_URL_RE = re.compile(r"[(\[（【]\s*" + _URL_CORE + r"\s*[)\]）】]")
_URL_RE = re.compile(_URL_CORE)


def _url_tail(m: re.Match[str]) -> str:
    """Sentence punctuation and an unbalanced ``)`` at a URL's end belong to the sentence."""
    url = m.group(0).strip(" \t")
    keep = ""
    while url and (url[-1] in ".,;:!?" or (url[-1] == ")" and url.count("(") < url.count(")"))):
        keep = url[-1] + keep
        url = url[:-1]
    return keep


def remove_urls(text: str) -> str:
    text = cut(_MD_IMAGE_RE, text)
    text = _MD_LINK_RE.sub(r"\1", text)
    text = cut(_BRACKETED_URL_RE, text)
    return cut(_URL_RE, text, _url_tail)


# ---- score tags --------------------------------------------------------------------------------

_NUM = r"\d+(?:\.\d+)?"
_SCORE_UNIT = r"(?:分|points?|pts?\.?|marks?|scores?)"
_SCORE_CLAUSE = (
    rf"(?:本小?题|本大题|小题|每小题|每题|每空|满分|共|计|total(?:\s+of)?|each|worth|for)?\s*"
    rf"(?:满分|共)?\s*{_NUM}\s*{_SCORE_UNIT}(?:\s*(?:each|in\s+total|total))?"
)
#: A bracketed score: "(5 points)", "（3分）", "[10 marks]", "(本小题满分12分)", "(每小题5分，共20分)".
_SCORE_RE = re.compile(
    rf"[(\[（【]\s*{_SCORE_CLAUSE}(?:\s*[,，;；、]\s*{_SCORE_CLAUSE})*\s*[)\]）】]", re.IGNORECASE
)

# ---- question numbers --------------------------------------------------------------------------

_OPERATOR_AFTER = r"(?![ \t]*[-+*/=×÷^<>≤≥≠])"
#: Named numbers: "Question 3:", "Problem 12.", "Q3)", "Exercise 2 -", "No. 5", "第3题", "例2".
_NAMED_NUMBER_RE = re.compile(
    r"^(?:(?:question|problem|exercise|q)\s*\.?\s*(\d{1,3})(?:\s*[:.．)、\-–]|\s*\n|\s+(?=[A-Z(]))"
    r"|no\.\s*(\d{1,3})\s*[:.．)、]?"
    r"|第\s*([0-9一二三四五六七八九十]{1,3})\s*[题問问]\s*[:：.．、]?)[ \t]*",
    re.IGNORECASE,
)
#: Bare numbers: "1. ", "12．", "3、", "4) ", "(12) ", "（3）"; never "1.5", "2019.", "(2)+(3)".
_BARE_NUMBER_RE = re.compile(
    r"^(?:(\d{1,3})(?:[.．](?=[ \t\n]|[^\d\s])|[、)）])|[(（](\d{1,3})[)）](?=[ \t\n]|[^\d\s^_.,]))"
    + _OPERATOR_AFTER
    + r"[ \t]*"
)


def _has_next_item(text: str, number: int, marker: str) -> bool:
    """Whether ``number + 1`` appears later as an item marker of the same kind.

    Then the leading number opens an enumeration of sub-questions or steps ("(1) … (2) …",
    "1. … \\n2. …"), which is part of the problem, not a question number to drop.
    """
    nxt = number + 1
    if marker.startswith(("(", "（")):
        return re.search(rf"[(（]{nxt}[)）]", text) is not None
    # The next item starts a line or a sentence ("1. Find a. 2. Find b."), never "x = 2.".
    return re.search(rf"(?:^|(?<=[\n;；。.!?]))[ \t]*{nxt}[.．、)）](?=[ \t]*[^\s\d])", text) is not None


def remove_question_number(text: str) -> str:
    """Drop a leading question number, unless it starts an enumeration or belongs to the math."""
    m = _NAMED_NUMBER_RE.match(text)
    if m:
        return text[m.end():]
    m = _BARE_NUMBER_RE.match(text)
    if m and not _has_next_item(text[m.end():], int(m.group(1) or m.group(2)), m.group(0).strip()):
        rest = text[m.end():]
        return rest if rest.strip() else text
    return text


# ---- the whole cleaning ------------------------------------------------------------------------


@dataclass
class CleanedText:
    """The cleaned text and which rules changed it (``whitespace``, ``image_tag``, ``url``, …)."""

    text: str
    edits: list[str] = field(default_factory=list)


def clean_question(raw: str | None) -> CleanedText:
    """Apply every rule, in an order where each sees the text it expects.

    Tags and URLs go first so a number hidden behind them ("<image>3. Find …") is at the start
    when numbers are checked.
    """
    edits: list[str] = []
    text = raw or ""

    def step(name: str, new: str) -> None:
        nonlocal text
        if new != text:
            edits.append(name)
            text = new

    step("markup", _ENTITY_RE.sub(lambda m: _ENTITIES[m.group(0)], _BR_RE.sub("\n", text)))
    step("whitespace", normalize_whitespace(text))
    step("image_tag", normalize_whitespace(cut(_IMAGE_TAG_RE, text)))
    step("url", normalize_whitespace(remove_urls(text)))
    step("score_tag", normalize_whitespace(cut(_SCORE_RE, text)))
    # A number may hide behind a score tag or another number ("3. (5 points) Question 3: …").
    for _ in range(3):
        before = text
        step("question_number", normalize_whitespace(remove_question_number(text)))
        if text == before:
            break
    return CleanedText(text, list(dict.fromkeys(edits)))

"""Text keys for duplicate and benchmark comparison: one normalisation, then shingles and n-grams.

Comparison wants two spellings of the same question to look the same, so the normalisation is
stronger than cleaning's (which must keep the text readable): NFKC (``x²`` and ``x2`` compare
equal, full-width digits become ASCII), case folded, ``<image>`` tags dropped, then split into
tokens: runs of word characters, and every other symbol on its own, except sentence
punctuation, quotes and LaTeX's ``$ \\ { }``, which are dropped. So spacing, punctuation and
``$x+1$`` vs ``x + 1`` never decide a match, while ``x+1`` and ``x-1`` stay different questions.
The options are part of the question: the same stem with other choices is another question.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

_IMAGE_TAG_RE = re.compile(r"<\s*image[^>]{0,8}>", re.IGNORECASE)
_TOKEN_RE = re.compile(r"\w+|[^\w\s.,;:!?'\"`$\\{}]")
#: Minus signs and dashes written as minus, so "x − 1" and "x - 1" compare equal.
_MINUS = str.maketrans({"\u2212": "-", "\u2013": "-"})

#: Words that say nothing about *which* problem a question is: function words and the
#: boilerplate of exam questions ("as shown in the figure below, find …"). Used only for the
#: word overlap that confirms an image match, so a reworded question still counts while two
#: different questions about one picture do not. Single letters are dropped as well (choice
#: labels, and variable names like x that every other problem shares).
STOPWORDS = frozenset(
    """a an the and or but if then than so of to in on at by for from with without into onto as is are
    was were be been being do does did has have had this that these those it its there their they
    them he she his her we you your our i me my which what who whom whose where when why how many
    much can could would should will shall may might must not no yes all each every any some such
    other another following given shown show below above figure fig image picture diagram graph
    chart photo find determine calculate compute choose select answer question questions option
    options choice choices correct true false statement according based use using please value""".split()
)


def words(text: str) -> list[str]:
    """The normalised token sequence of ``text`` (see module docstring)."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_MINUS)
    return _TOKEN_RE.findall(_IMAGE_TAG_RE.sub(" ", text))


def question_words(question: str | None, options: Iterable[str] | None = ()) -> list[str]:
    """Words of the question followed by its options."""
    parts = [question or "", *(o or "" for o in (options or ()))]
    return words("\n".join(parts))


def hash64(text: str) -> int:
    """A stable 64-bit hash (the same on every machine and run, unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def hash32(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=4).digest(), "little")


#: Characters of the normalised text that MinHash reads: its first 20,000. The longest question
#: of the MMFineReason sample has 2,323 characters, so real questions are read whole; without a
#: bound, MinHash of a 10 MB text holds 10 M shingles x 128 permutations (10 GB) at once. Two
#: texts that agree on their first 20,000 characters are near-duplicates here whatever follows.
MAX_SHINGLE_CHARS = 20_000


def char_shingles(norm: str, k: int) -> list[bytes]:
    """Overlapping ``k``-character pieces of the normalised text's first :data:`MAX_SHINGLE_CHARS`
    characters (the whole text if shorter than ``k``), so cost and memory are bounded per text.

    Characters rather than word 5-grams because questions are short: a 25-word question has
    only 21 word 5-grams and one changed word removes five of them (Jaccard ≈ 0.6), whereas
    in ~150 characters a changed word touches about 10 of ~146 shingles (Jaccard ≈ 0.87).
    """
    norm = norm[:MAX_SHINGLE_CHARS]
    if not norm:
        return []
    if len(norm) <= k:
        return [norm.encode("utf-8")]
    return [norm[i : i + k].encode("utf-8") for i in range(len(norm) - k + 1)]


def ngram_hashes(ws: list[str], n: int) -> set[int]:
    """64-bit hashes of the distinct word ``n``-grams (empty when there are fewer than n words)."""
    return {hash64(" ".join(ws[i : i + n])) for i in range(len(ws) - n + 1)}


def numbers_key(ws: list[str]) -> int:
    """A hash of the multiset of number-bearing words: a near-duplicate must ask about the same
    numbers, since "AB = 3" and "AB = 5" over one figure are two problems with two answers."""
    return hash32(" ".join(sorted(w for w in ws if any(c.isdigit() for c in w))))


def answer_key(answer: str | None, options: Iterable[str] | None = ()) -> int:
    """A 32-bit key of the normalised answer; 0 means "no answer" (then answers are not compared).

    A choice letter stands for its option's text: two copies of a question with shuffled
    options agree, and two questions sharing a long preamble and one picture but picking
    different options ("the scorpion is a consumer" / "the yucca is a producer", both "B") do
    not — a pair seen in the MMFineReason release's ScienceQA subset.
    """
    ws = words(answer or "")
    opts = list(options or ())
    if len(ws) == 1 and len(ws[0]) == 1 and "a" <= ws[0] <= "z" and ord(ws[0]) - ord("a") < len(opts):
        ws = words(opts[ord(ws[0]) - ord("a")]) or ws
    if not ws:
        return 0
    return hash32(" ".join(ws)) or 1


def content_words(ws: list[str]) -> frozenset[str]:
    """Tokens that can name a problem's things: not stopwords, not single letters or symbols."""
    return frozenset(w for w in ws if len(w) > 1 and w not in STOPWORDS)


#: Fewer shared content words than this is no evidence, whatever the fraction: one shared
#: number or name between two one-word sets would otherwise score 1.0.
MIN_SHARED_WORDS = 2


def word_overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Shared content words over the smaller set's size (0 when they share fewer than
    ``MIN_SHARED_WORDS``): a rewording keeps the nouns, labels and numbers of a question, so
    this survives paraphrase."""
    shared = len(a & b)
    if shared < MIN_SHARED_WORDS:
        return 0.0
    return shared / min(len(a), len(b))

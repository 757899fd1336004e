"""Response quality checks of the selection stage: format, length, truncation, repetition, language.

Each check returns human-readable flags ``"code: detail"``; an empty list means the response
passed. Checks describe what they see instead of raising, because malformed generations are the
normal input here (a Qwen3 template pre-fills ``<think>``, vLLM's reasoning parser moves the
reasoning into a separate field that the model layer re-wraps, a 16K cap cuts replies off).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence

from finereason.verify.extract import split_think

# Letters of each script; Greek is left out on purpose (it is maths notation in English text).
_SCRIPT_RES = {
    "latin": re.compile(r"[A-Za-z\u00C0-\u024F]"),
    "cjk": re.compile(r"[\u3040-\u30FF\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF]"),
    "hangul": re.compile(r"[\uAC00-\uD7AF\u1100-\u11FF]"),
    "cyrillic": re.compile(r"[\u0400-\u04FF]"),
    "arabic": re.compile(r"[\u0600-\u06FF]"),
}
LANGUAGE_SCRIPTS = {
    "en": "latin", "fr": "latin", "de": "latin", "es": "latin", "it": "latin", "pt": "latin",
    "nl": "latin", "vi": "latin", "id": "latin", "tr": "latin", "pl": "latin",
    "zh": "cjk", "ja": "cjk", "ko": "hangul", "ru": "cyrillic", "uk": "cyrillic", "ar": "arabic",
}
_LATEX_CMD_RE = re.compile(r"\\[A-Za-z]+")
_ANSWER_RE = re.compile(r"<answer>.*?</answer>", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class QualityConfig:
    """Thresholds of the response checks (defaults follow the paper, not the release code).

    ``require_answer=False`` is for sources whose answers are free-form (the paper skips the
    ``<answer>`` check for VisualWebInstruct, LLaVA-CoT and AI2D). ``expected_language=None``
    disables the language check.
    """

    require_think: bool = True
    require_answer: bool = True
    min_words: int = 100
    ngram_n: int = 50
    ngram_max_count: int = 3
    expected_language: Optional[str] = "en"
    min_language_share: float = 0.8
    min_letters_for_language: int = 50


def find_repeated_ngram(tokens: Sequence[str], n: int, min_count: int) -> Optional[int]:
    """Start of the first ``n``-token window that has occurred ``min_count`` times, else None.

    Rolling polynomial hash over token ids (mod 2^61-1), so one pass is O(len(tokens)) instead
    of building an ``n``-tuple per position. A hash count reaching ``min_count`` is confirmed
    by comparing the actual windows, so a hash collision never reports a false repetition.
    """
    if n <= 0 or min_count <= 0 or len(tokens) < n:
        return None
    vocab: dict[str, int] = {}
    ids = [vocab.setdefault(t, len(vocab) + 1) for t in tokens]
    mod, base = (1 << 61) - 1, 1_000_003
    drop = pow(base, n - 1, mod)
    h = 0
    for t in ids[:n]:
        h = (h * base + t) % mod
    counts: dict[int, int] = {}
    for start in range(len(ids) - n + 1):
        if start:
            h = ((h - ids[start - 1] * drop) * base + ids[start + n - 1]) % mod
        c = counts.get(h, 0) + 1
        counts[h] = c
        if c >= min_count and _occurrences(ids, start, n) >= min_count:
            return start
    return None


def _occurrences(ids: list[int], end: int, n: int) -> int:
    """How often the window at ``end`` occurs at or before it (runs only on a hash hit)."""
    window = ids[end:end + n]
    return sum(ids[s:s + n] == window for s in range(end + 1))


def _script_counts(text: str) -> dict[str, int]:
    text = _LATEX_CMD_RE.sub(" ", text)
    return {name: len(rx.findall(text)) for name, rx in _SCRIPT_RES.items()}


def script_shares(text: str) -> dict[str, float]:
    """Share of letters per script (LaTeX command names ignored); {} when there are no letters."""
    counts = _script_counts(text)
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()} if total else {}


def _think_flags(response: str, config: QualityConfig) -> tuple[list[str], str]:
    """Format flags and the text whose repetition is checked (the reasoning if any)."""
    split = split_think(response)
    flags: list[str] = []
    if split.status == "missing" and config.require_think:
        flags.append("think_missing: no <think>…</think> block")
    elif split.status == "prefilled":
        flags.append("think_prefilled: '</think>' without '<think>' (template pre-filled the "
                     "tag or reasoning came in a separate field); rewrap as <think>…</think> "
                     "upstream")
    elif split.status == "unclosed":
        flags.append("think_unclosed: '<think>' never closed")
        flags.append("truncated: reasoning never ended")
    elif split.status == "multiple":
        flags.append(f"think_multiple: {response.count('<think>')} '<think>' and "
                     f"{response.count('</think>')} '</think>' tags, expected one block")
    if config.require_answer and split.status != "unclosed":
        if _ANSWER_RE.search(split.outside) is None:
            inside = split.think is not None and "<answer>" in split.think
            where = " (only inside the reasoning)" if inside else ""
            unclosed = "<answer>" in split.outside
            flags.append("answer_unclosed: '<answer>' without '</answer>'" if unclosed
                         else f"answer_missing: no <answer>…</answer> after the reasoning{where}")
    return flags, split.think if split.think is not None else response


def check_response(response: Optional[str], *, finish_reason: Optional[str] = None,
                   config: QualityConfig = QualityConfig()) -> list[str]:
    """All response flags; [] means the response passes.

    ``finish_reason`` is the server's (``"length"`` means the generation hit its token cap).
    """
    if response is None or not response.strip():
        return ["empty_response: no text"]
    flags, think_text = _think_flags(response, config)
    if finish_reason == "length":
        flags.append("truncated: finish_reason=length")
    words = len(response.split())
    if words < config.min_words:
        flags.append(f"too_short: {words} words < {config.min_words}")
    tokens = think_text.split()
    start = find_repeated_ngram(tokens, config.ngram_n, config.ngram_max_count)
    if start is not None:
        preview = " ".join(tokens[start:start + 8])
        flags.append(f"repetition: a {config.ngram_n}-word sequence occurs "
                     f">= {config.ngram_max_count} times ({preview!r}…)")
    flags.extend(_language_flags(response, config))
    return flags


def _language_flags(text: str, config: QualityConfig) -> list[str]:
    if config.expected_language is None:
        return []
    script = LANGUAGE_SCRIPTS.get(config.expected_language)
    if script is None:
        raise ValueError(f"unknown expected_language {config.expected_language!r}; "
                         f"known: {sorted(LANGUAGE_SCRIPTS)}")
    counts = _script_counts(text)
    total = sum(counts.values())
    if total < config.min_letters_for_language:
        return []
    shares = {k: v / total for k, v in counts.items()}
    share = shares[script]
    if share >= config.min_language_share:
        return []
    main = max(shares, key=shares.__getitem__)
    return [f"language: {share:.0%} of letters are {script} (expected {config.expected_language}); "
            f"most are {main} ({shares[main]:.0%})"]


def check_caption(caption: Optional[str], *, min_words: int = 1) -> list[str]:
    """Caption flags: empty, shorter than ``min_words`` words, or an ``[ERROR]`` placeholder."""
    if caption is None or not caption.strip():
        return ["empty_caption: no caption text"]
    flags = []
    if "[ERROR]" in caption:
        flags.append("caption_error: contains an [ERROR] placeholder")
    words = len(caption.split())
    if words < min_words:
        flags.append(f"caption_too_short: {words} words < {min_words}")
    return flags

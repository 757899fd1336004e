"""Which samples a subset keeps: pass-rate ranges, the teacher's verdict, and quality flags.

These are per-sample rules, so they run inside the parallel rewrite pass; caps and balancing,
which need the whole dataset, live in :mod:`finereason.select.caps`.

MMFineReason's subsets are pass-rate ranges of a 4-sample student (Qwen3-VL-4B-Thinking):
``hard`` (pass rate 0, the 123K set) and ``medium+`` (pass rate != 1, the 586K set). A sample
that was never scored has *no* pass rate; the public code treated such samples as 1.0 (easy),
which silently drops them from hard subsets and hides the gap. Here a pass-rate filter rejects
them with their own reason, ``no_pass_rate``, so the count shows up in the manifest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: Pass rates are k/n fractions; comparisons allow this much float slack (1/3 stored as 0.333…).
EPSILON = 1e-9

#: Flag prefixes dropped by default: the template and length failures of the paper's stage 3(a)
#: and the n-gram repetition of 3(b), as the verify stage writes them (``think_missing: …``,
#: ``answer_missing: …``, ``truncated: …``, ``repetition: …``, ``too_short: …``, ``empty_response``).
#: ``format:`` covers producers that namespace format flags. Language and caption flags are kept:
#: the paper applies no language filter and captions are not trained on.
DEFAULT_DROP_FLAGS: tuple[str, ...] = (
    "format:", "think_", "answer_", "truncated", "repetition", "too_short", "empty_response",
)


class RangeError(ValueError):
    """A pass-rate range that does not parse or is empty."""


@dataclass(frozen=True)
class Interval:
    """A pass-rate interval with open or closed ends, e.g. ``[0.25, 0.75)``."""

    low: float
    high: float
    low_closed: bool = True
    high_closed: bool = True

    def contains(self, x: float) -> bool:
        above = x >= self.low - EPSILON if self.low_closed else x > self.low + EPSILON
        below = x <= self.high + EPSILON if self.high_closed else x < self.high - EPSILON
        return above and below

    def __str__(self) -> str:
        return f"{'[' if self.low_closed else '('}{self.low:g},{self.high:g}{']' if self.high_closed else ')'}"


#: Named subsets; ``all`` applies no pass-rate filter (and so keeps unscored samples).
NAMED_SUBSETS: dict[str, tuple[Interval, ...]] = {
    "hard": (Interval(0.0, 0.0),),
    "medium+": (Interval(0.0, 1.0, high_closed=False),),
    "all": (),
}

_NUM = r"\s*([0-9]*\.?[0-9]+)\s*"
_BRACKETED = re.compile(rf"^([\[(]){_NUM},{_NUM}([\])])$")
_COLON = re.compile(rf"^(?:{_NUM})?:(?:{_NUM})?$")
_SINGLE = re.compile(rf"^{_NUM}$")


def parse_interval(text: str) -> Interval:
    """Parse ``0`` (exactly), ``0:0.5`` (closed; ``:0.5`` and ``0.5:`` default to 0 and 1),
    or interval notation ``[0.25,0.75)``, ``(0,1]``; values must lie in [0, 1]."""
    t = text.strip()
    if m := _BRACKETED.match(t):
        iv = Interval(float(m.group(2)), float(m.group(3)), m.group(1) == "[", m.group(4) == "]")
    elif m := _COLON.match(t):
        low = float(m.group(1)) if m.group(1) is not None else 0.0
        high = float(m.group(2)) if m.group(2) is not None else 1.0
        iv = Interval(low, high)
    elif m := _SINGLE.match(t):
        iv = Interval(float(m.group(1)), float(m.group(1)))
    else:
        raise RangeError(f"pass-rate range {text!r}: expected 0, 0:0.5 or [0.25,0.75)")
    if not (0.0 <= iv.low <= iv.high <= 1.0):
        raise RangeError(f"pass-rate range {text!r}: bounds must satisfy 0 <= low <= high <= 1")
    if iv.low == iv.high and not (iv.low_closed and iv.high_closed):
        raise RangeError(f"pass-rate range {text!r} is empty")
    return iv


def flag_code(flag: str) -> str:
    """The short key of a flag (``"repetition: a 50-word …"`` → ``"repetition"``)."""
    return flag.split(":", 1)[0].strip() or flag


@dataclass(frozen=True)
class Rules:
    """The per-sample filters; :meth:`reason` returns the first that rejects, or None.

    Order: pass rate, then verdict, then flags, so every rejection names one reason.
    ``require_correct`` is resolved against the whole dataset before the run: it is only on when
    some sample carries a verdict (otherwise verification never ran and there is nothing to keep).
    With it, ``also_keep`` names the other verdicts kept: by default ``unverifiable`` (open-ended
    items with no reference, which MMFineReason trains on when their format passes), never
    ``undecided`` (the rules could not tell and no judge did) unless asked for.
    """

    pass_rate: tuple[Interval, ...] = ()
    require_correct: bool = True
    drop_flags: tuple[str, ...] = DEFAULT_DROP_FLAGS
    require_clean: bool = False
    also_keep: tuple[str, ...] = ("unverifiable",)

    def settings(self) -> dict[str, Any]:
        return {
            "pass_rate": [str(iv) for iv in self.pass_rate] or None,
            "require_correct": self.require_correct,
            "also_keep_verdicts": list(self.also_keep),
            "drop_flags": list(self.drop_flags),
            "require_clean": self.require_clean,
        }

    def reason(self, pass_rate: float | None, verdict: str | None, flags: list[str] | None) -> tuple[str, str] | None:
        """``(reason, detail)`` for a rejected sample, None for a kept one."""
        if self.pass_rate:
            if pass_rate is None:
                return "no_pass_rate", "the sample was never scored; pass-rate subsets need a score"
            if not any(iv.contains(pass_rate) for iv in self.pass_rate):
                ranges = " ∪ ".join(str(iv) for iv in self.pass_rate)
                return "pass_rate_out_of_range", f"pass rate {pass_rate:g} not in {ranges}"
        if self.require_correct:
            if verdict is None:
                return "no_verdict", "the dataset is verified but this sample has no verdict"
            if verdict != "correct" and verdict not in self.also_keep:
                return "verdict_not_correct", f"verdict {verdict!r}"
        for flag in flags or ():
            if self.require_clean or flag.startswith(self.drop_flags):
                return f"flagged:{flag_code(flag)}", flag
        return None

"""What a family returns, canonical answer formatting, and plausible wrong options.

Families only draw and compute; :mod:`finereason.synth` decides (with the same per-sample RNG)
whether a problem is asked free-form or as multiple choice. That is why every family must hand
back at least three plausible wrong answers whatever question it asked.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from PIL import Image as PILImage

Number = int | Fraction


@dataclass
class Problem:
    """One rendered, solved problem before it becomes a :class:`~finereason.schema.Sample`.

    ``scene`` describes everything drawn that matters for answering (oracle perception);
    ``params`` holds the same facts as data so tests and analyses can recompute ``answer``;
    ``hint`` states the expected answer format and is only appended to free-form questions.
    """

    domain: str
    task: str
    image: PILImage.Image
    question: str
    answer: str
    answer_type: str
    scene: str
    params: dict[str, Any]
    distractors: list[str]
    hint: str = ""


def fmt_num(x: Number) -> str:
    """Canonical exact string: "12", "4.5", "-3"; "7/3" only when no finite decimal exists."""
    x = Fraction(x)
    if x.denominator == 1:
        return str(x.numerator)
    d = x.denominator
    twos = fives = 0
    while d % 2 == 0:
        d //= 2
        twos += 1
    while d % 5 == 0:
        d //= 5
        fives += 1
    if d != 1:
        return f"{x.numerator}/{x.denominator}"
    places = max(twos, fives)
    scaled = x * 10**places
    sign = "-" if scaled < 0 else ""
    digits = str(abs(scaled.numerator)).rjust(places + 1, "0")
    return f"{sign}{digits[:-places]}.{digits[-places:]}".rstrip("0").rstrip(".")


def numeric_distractors(rng: random.Random, answer: Number, plausible: Iterable[Number] = (),
                        *, step: Number = 1, minimum: Number | None = 0,
                        maximum: Number | None = None) -> list[str]:
    """Three distinct wrong numbers: common-mistake values first, then near misses.

    ``plausible`` lists what a solver gets by a typical slip (reading the wrong bar, adding
    instead of subtracting); the rest are ``answer ± k·step`` so no option is an outlier.
    """
    def ok(v: Number) -> bool:
        return (minimum is None or v >= minimum) and (maximum is None or v <= maximum)

    seen = {fmt_num(answer)}
    out: list[str] = []
    for v in plausible:
        s = fmt_num(v)
        if ok(v) and s not in seen:
            seen.add(s)
            out.append(s)
        if len(out) == 3:
            return out
    k = 1
    while len(out) < 3:
        for v in rng.sample([answer + k * step, answer - k * step], 2):
            s = fmt_num(v)
            if ok(v) and s not in seen and len(out) < 3:
                seen.add(s)
                out.append(s)
        k += 1
        if k > 1000:
            raise ValueError(f"cannot find distractors for {answer} in [{minimum}, {maximum}]")
    return out


def label_distractors(rng: random.Random, answer: str, labels: Iterable[str],
                      preferred: Iterable[str] = ()) -> list[str]:
    """Three other labels from the same picture, the most tempting ones first."""
    out = [p for p in dict.fromkeys(preferred) if p != answer][:3]
    rest = [lab for lab in labels if lab != answer and lab not in out]
    rng.shuffle(rest)
    out += rest[: 3 - len(out)]
    if len(out) < 3:
        raise ValueError(f"need at least 4 labels to make options for {answer!r}")
    return out


#: Chart/table themes: (title, short category labels). Labels stay ≤ 7 letters so they fit
#: under a bar at 16 px, and are never colour names (a blue slice labelled "Red" would test
#: something else).
CATEGORY_THEMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Fruit sold", ("Apples", "Pears", "Plums", "Kiwis", "Mangos", "Grapes", "Lemons", "Limes")),
    ("Pets owned", ("Cats", "Dogs", "Fish", "Birds", "Rabbits", "Turtles", "Mice", "Snakes")),
    ("Books read", ("Ana", "Ben", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana")),
    ("Flights", ("Paris", "Rome", "Oslo", "Cairo", "Lima", "Tokyo", "Delhi", "Seoul")),
    ("Trips taken", ("Bus", "Train", "Car", "Bike", "Walk", "Ferry", "Tram", "Taxi")),
    ("Goals scored", ("Lions", "Tigers", "Bears", "Wolves", "Hawks", "Sharks", "Eagles", "Foxes")),
)

#: Ordered axes for line charts and table columns.
SEQUENCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("year", tuple(str(y) for y in range(2015, 2025))),
    ("month", ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")),
    ("day", ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")),
)


def pick_run(rng: random.Random, seq: tuple[str, ...], n: int) -> list[str]:
    """``n`` consecutive labels from ``seq`` (consecutive so a line chart reads as a series)."""
    start = rng.randrange(len(seq) - n + 1)
    return list(seq[start:start + n])

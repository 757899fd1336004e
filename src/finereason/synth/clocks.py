"""Analog clocks: read the time, and add or subtract minutes from it.

The hour hand moves proportionally between numerals as on a real clock: that movement is
what distinguishes 3:45 from 9:15, the classic swapped-hands misreading used as a distractor.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

from finereason.synth.base import Problem
from finereason.synth.draw import BLACK, RGB, WHITE, Draw, canvas, text

TASKS = ("read", "later", "earlier")
SIZES = (340, 360, 380)
FACES: tuple[RGB, ...] = (WHITE, (252, 247, 232), (236, 244, 252), (242, 242, 242))
HAND_COLOURS: tuple[RGB, ...] = (BLACK, (20, 30, 100), (120, 20, 20))
TICK: RGB = (150, 150, 150)


def fmt_time(minutes: int) -> str:
    """Minutes since 12:00 on a 12-hour dial → "h:mm" with h in 1..12 ("12:05", "3:45")."""
    h, m = divmod(minutes % 720, 60)
    return f"{h or 12}:{m:02d}"


def _near_misses(rng: random.Random, t: int, preferred: list[int]) -> list[str]:
    """Three wrong times: typical misreadings first, then a tick, five minutes, a quarter or an
    hour off."""
    out: list[str] = []
    seen = {fmt_time(t)}
    offsets = [60, -60, 15, -15, 5, -5, 1, -1]
    for cand in [*preferred, *(t + k for k in rng.sample(offsets, len(offsets)))]:
        s = fmt_time(cand)
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out[:3]


def _hand(d: Draw, c: float, angle_deg: float, length: float, width: int, colour: RGB) -> None:
    a = math.radians(angle_deg)
    d.line([(c, c), (c + length * math.sin(a), c - length * math.cos(a))], fill=colour,
           width=width)


def _minute_words(m: int) -> str:
    """Where the minute hand points, in the words a careful reader would use."""
    mark = m // 5 or 12
    if m % 5 == 0:
        return f"points at {mark} ({m} minutes past the hour)"
    ticks = m % 5
    return (f"points {ticks} minute tick{'s' if ticks > 1 else ''} past {mark} "
            f"({m} minutes past the hour)")


def generate(rng: random.Random) -> Problem:
    """A clock face with numerals 1–12, minute ticks and two hands.

    Half the times are multiples of five (hand on a numeral), half any minute (read from the
    ticks); face colour, hand colour and size vary so equal times rarely give equal images.
    """
    h = rng.randint(1, 12)
    m = 5 * rng.randrange(12) if rng.random() < 0.5 else rng.randrange(60)
    t = (h % 12) * 60 + m
    size = rng.choice(SIZES)
    hands = rng.choice(HAND_COLOURS)
    im, d = canvas(size, size)
    c, r = size / 2, size / 2 - 14
    d.ellipse([c - r, c - r, c + r, c + r], outline=BLACK, width=4, fill=rng.choice(FACES))
    for i in range(60):
        a = math.radians(6 * i)
        inner = r - (16 if i % 5 == 0 else 8)
        d.line([(c + inner * math.sin(a), c - inner * math.cos(a)),
                (c + (r - 3) * math.sin(a), c - (r - 3) * math.cos(a))],
               fill=BLACK if i % 5 == 0 else TICK, width=3 if i % 5 == 0 else 2)
    for k in range(1, 13):
        a = math.radians(30 * k)
        text(d, (c + (r - 38) * math.sin(a), c - (r - 38) * math.cos(a)), str(k), size=26)
    _hand(d, c, 30 * (h % 12) + m / 2, r * 0.42, 9, hands)
    _hand(d, c, 6 * m, r - 54, 4, hands)  # stops short of the numerals so it never hides one
    d.ellipse([c - 7, c - 7, c + 7, c + 7], fill=hands)

    frac = {15: "a quarter of the way from", 30: "halfway from",
            45: "three quarters of the way from"}
    nxt = h % 12 + 1
    hour_pos = (f"exactly at {h}" if m == 0 else
                f"{frac[m]} {h} to {nxt}" if m in frac else
                f"{Fraction(m, 60)} of the way from {h} to {nxt}")
    scene = (f"Analog clock face with numerals 1 to 12 and minute ticks. The short hour hand "
             f"points {hour_pos}; the long minute hand {_minute_words(m)}. The clock shows "
             f"{fmt_time(t)}.")
    params: dict[str, object] = {"hour": h, "minute": m}
    swapped = (m // 5 % 12) * 60 + 5 * (h % 12)
    task = rng.choice(TASKS)
    if task == "read":
        question = "What time does the clock show?"
        target = t
        wrong = _near_misses(rng, t, [swapped, t + 60 if m >= 30 else t - 60])
    else:
        delta = rng.choice((10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 75, 90, 105, 120, 150))
        sign = 1 if task == "later" else -1
        target = t + sign * delta
        question = (f"What time will the clock show {delta} minutes later?" if sign > 0 else
                    f"What time did the clock show {delta} minutes earlier?")
        wrong = _near_misses(rng, target, [t - sign * delta, swapped + sign * delta])
        params["delta_minutes"] = sign * delta
    return Problem(domain="clock", task=task, image=im, question=question,
                   answer=fmt_time(target), answer_type="time", scene=scene, params=params,
                   distractors=wrong, hint="Answer in h:mm format (12-hour clock).")

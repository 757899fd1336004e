"""Pie charts: read a share, compare shares, and turn a share into a count."""

from __future__ import annotations

import math
import random

from finereason.synth.base import (
    CATEGORY_THEMES,
    Problem,
    fmt_num,
    label_distractors,
    numeric_distractors,
)
from finereason.synth.draw import BLACK, SERIES, TITLE, WHITE, canvas, text

TASKS = ("percent_of", "argmax", "argmin", "max_minus_min", "pair_sum", "count_of_total")
#: Totals for "how many" questions; multiples of 20 so every 5 % share is a whole number.
TOTALS = (200, 400, 500, 600, 800, 1000, 1200, 2000)


def _shares(rng: random.Random, n: int) -> list[int]:
    """``n`` percentages in steps of 5 summing to 100, with a unique largest and smallest."""
    while True:
        cuts = sorted(rng.sample(range(1, 20), n - 1))
        parts = [5 * (b - a) for a, b in zip([0, *cuts], [*cuts, 20])]
        ranked = sorted(parts)
        if ranked[-1] != ranked[-2] and ranked[0] != ranked[1]:
            return parts


def generate(rng: random.Random) -> Problem:
    """A 4–6 slice pie with a legend that prints each category's percentage."""
    title, pool = rng.choice(CATEGORY_THEMES)
    n = rng.randint(4, 6)
    labels = rng.sample(pool, n)
    shares = _shares(rng, n)
    colours = rng.sample(SERIES, n)

    im, d = canvas(480, 340)
    text(d, (240, 22), title, size=TITLE)
    cx, cy, r = 150, 190, 125
    start = -90.0
    for share, colour in zip(shares, colours):
        end = start + 3.6 * share
        d.pieslice([cx - r, cy - r, cx + r, cy + r], start, end, fill=colour)
        start = end
    # White separators as plain lines: a pieslice outline costs ten times as much to draw.
    angle = -90.0
    for share in shares:
        a = math.radians(angle)
        d.line([(cx, cy), (cx + r * math.cos(a), cy + r * math.sin(a))], fill=WHITE, width=2)
        angle += 3.6 * share
    y0 = cy - 16 * n + 16
    for i, (lab, share, colour) in enumerate(zip(labels, shares, colours)):
        y = y0 + 32 * i
        d.rectangle([300, y - 9, 318, y + 9], fill=colour, outline=BLACK)
        text(d, (328, y), f"{lab} {share}%", anchor="lm")

    parts = ", ".join(f"{lab} {s}%" for lab, s in zip(labels, shares))
    scene = (f"Pie chart titled '{title}' with {n} slices, clockwise from 12 o'clock, and a "
             f"legend giving each slice's percentage: {parts}.")
    params: dict[str, object] = {"title": title, "labels": labels, "shares": shares}
    order = sorted(range(n), key=lambda i: shares[i])
    answer: int | str
    hint = "Answer with a number."
    task = rng.choice(TASKS)
    if task == "percent_of":
        i = rng.randrange(n)
        question = f"What percentage of the whole does {labels[i]} account for?"
        answer, atype = shares[i], "integer"
        wrong = numeric_distractors(rng, answer, [shares[(i + 1) % n], 100 - shares[i]], step=5,
                                    minimum=5, maximum=95)
        params["target"] = labels[i]
    elif task in ("argmax", "argmin"):
        word = "largest" if task == "argmax" else "smallest"
        best, runner = (order[-1], order[-2]) if task == "argmax" else (order[0], order[1])
        question = f"Which category has the {word} share?"
        answer, atype = labels[best], "text"
        wrong = label_distractors(rng, labels[best], labels, [labels[runner]])
        hint = "Answer with the category name."
    elif task == "max_minus_min":
        hi, lo = shares[order[-1]], shares[order[0]]
        question = ("How many percentage points larger is the largest slice than the smallest "
                    "slice?")
        answer, atype = hi - lo, "integer"
        wrong = numeric_distractors(rng, answer, [hi, hi + lo, hi - shares[order[1]]], step=5)
    elif task == "pair_sum":
        i, j = rng.sample(range(n), 2)
        question = f"What percentage do {labels[i]} and {labels[j]} account for together?"
        answer, atype = shares[i] + shares[j], "integer"
        wrong = numeric_distractors(rng, answer, [100 - answer, abs(shares[i] - shares[j])],
                                    step=5, minimum=5, maximum=100)
        params["pair"] = [labels[i], labels[j]]
    else:  # count_of_total
        i = rng.randrange(n)
        total = rng.choice(TOTALS)
        question = f"The chart shows {total} responses in total. How many are {labels[i]}?"
        answer, atype = total * shares[i] // 100, "integer"
        wrong = numeric_distractors(rng, answer, [shares[i], total * shares[(i + 1) % n] // 100,
                                                  total - answer], step=total // 20, minimum=1)
        params.update(target=labels[i], total=total)
    answer_s = answer if isinstance(answer, str) else fmt_num(answer)
    return Problem(domain="chart", task=task, image=im, question=question, answer=answer_s,
                   answer_type=atype, scene=scene, params=params, distractors=wrong, hint=hint)

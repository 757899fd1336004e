"""Bar charts: read one bar, compare bars, and aggregate over all of them."""

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
from finereason.synth.draw import SERIES, TITLE, canvas, font, nice_step, text, value_axis

TASKS = ("value_of", "max_minus_min", "sum", "argmax", "argmin", "count_above", "pair_diff")


def _values(rng: random.Random, n: int, labelled: bool) -> tuple[list[int], int]:
    """Distinct values and the gridline step; unlabelled bars sit exactly on gridlines."""
    if labelled:
        values = rng.sample(range(2, rng.choice((20, 50, 100)) + 1), n)
        return values, nice_step(max(values))
    step = rng.choice((1, 2, 5, 10))
    return [step * k for k in rng.sample(range(1, 10), n)], step


def generate(rng: random.Random) -> Problem:
    """A 4–7 bar chart whose values are either printed on the bars or on exact gridlines."""
    title, pool = rng.choice(CATEGORY_THEMES)
    n = rng.randint(4, 7)
    labels = rng.sample(pool, n)
    labelled = rng.random() < 0.5
    values, step = _values(rng, n, labelled)
    top = math.ceil(max(values) / step) * step

    # Wide enough that neighbouring category labels never touch (7 × "Rabbits" needs ~520 px).
    slot_min = max(font(16).getlength(lab) for lab in labels) + 12
    width = max(480, round(80 + n * slot_min))
    im, d = canvas(width, 360)
    text(d, (width / 2, 22), title, size=TITLE)
    box = (62, 60, width - 18, 300)
    y_of = value_axis(d, box, top, step)
    slot = (box[2] - box[0]) / n
    colour = rng.choice(SERIES)
    for i, (lab, v) in enumerate(zip(labels, values)):
        x0 = box[0] + slot * i + slot * 0.18
        x1 = box[0] + slot * (i + 1) - slot * 0.18
        d.rectangle([round(x0), round(y_of(v)), round(x1), box[3] - 1], fill=colour)
        cx = (x0 + x1) / 2
        text(d, (cx, box[3] + 18), lab, size=16)
        if labelled:
            text(d, (cx, y_of(v) - 4), str(v), size=16, anchor="mb")

    pairs = ", ".join(f"{lab} = {v}" for lab, v in zip(labels, values))
    scene = (f"Bar chart titled '{title}'. Vertical axis from 0 to {top} with gridlines every "
             f"{step}. {n} bars, left to right: {pairs}."
             + (" Each bar has its value written above it." if labelled else ""))
    by_value = sorted(zip(values, labels))
    lo, hi = by_value[0], by_value[-1]
    task = rng.choice(TASKS)
    params: dict[str, object] = {"title": title, "labels": labels, "values": values,
                                 "step": step, "top": top, "labelled": labelled}
    answer: int | str
    hint = "Answer with a number."
    if task == "value_of":
        i = rng.randrange(n)
        question = f"What is the value of the bar for {labels[i]}?"
        answer, atype = values[i], "integer"
        neighbours = [values[j] for j in (i - 1, i + 1) if 0 <= j < n]
        wrong = numeric_distractors(rng, answer, neighbours, step=step, minimum=1)
        params["target"] = labels[i]
    elif task == "max_minus_min":
        question = "What is the difference between the tallest and the shortest bar?"
        answer, atype = hi[0] - lo[0], "integer"
        wrong = numeric_distractors(rng, answer, [hi[0], hi[0] - by_value[1][0], hi[0] + lo[0]],
                                    step=step, minimum=0)
    elif task == "sum":
        question = "What is the sum of the values of all the bars?"
        answer, atype = sum(values), "integer"
        wrong = numeric_distractors(rng, answer, [answer - lo[0], answer + step], step=step)
    elif task in ("argmax", "argmin"):
        word = "largest" if task == "argmax" else "smallest"
        question = f"Which category has the {word} value?"
        (best, other) = (hi, lo) if task == "argmax" else (lo, hi)
        runner = by_value[-2] if task == "argmax" else by_value[1]
        answer, atype = best[1], "text"
        wrong = label_distractors(rng, best[1], labels, [runner[1], other[1]])
        hint = "Answer with the category name."
    elif task == "count_above":
        # Between two neighbouring values (strictly, unless they are consecutive integers).
        cuts = sorted(values)
        j = rng.randrange(n - 1)
        threshold = (cuts[j] + cuts[j + 1]) // 2
        question = f"How many bars have a value greater than {threshold}?"
        answer, atype = sum(v > threshold for v in values), "integer"
        wrong = numeric_distractors(rng, answer, [answer + 1, answer - 1, n - answer],
                                    minimum=0, maximum=n)
        params["threshold"] = threshold
    else:  # pair_diff
        i, j = rng.sample(range(n), 2)
        if values[i] < values[j]:
            i, j = j, i
        question = f"How much greater is the value for {labels[i]} than for {labels[j]}?"
        answer, atype = values[i] - values[j], "integer"
        wrong = numeric_distractors(rng, answer, [values[i] + values[j], values[i]],
                                    step=step, minimum=1)
        params["pair"] = [labels[i], labels[j]]
    answer_s = answer if isinstance(answer, str) else fmt_num(answer)
    return Problem(domain="chart", task=task, image=im, question=question, answer=answer_s,
                   answer_type=atype, scene=scene, params=params, distractors=wrong, hint=hint)

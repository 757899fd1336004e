"""Line charts: read a point, measure a change, and find trends across an ordered axis."""

from __future__ import annotations

import itertools
import math
import random

from finereason.synth.base import (
    SEQUENCES,
    Problem,
    fmt_num,
    label_distractors,
    numeric_distractors,
    pick_run,
)
from finereason.synth.draw import SERIES, TITLE, canvas, nice_step, text, value_axis

TASKS = ("value_at", "change", "argmax", "argmin", "range", "count_increases")
#: "in 2019", "in Mar", but "on Tue".
PREPOSITION = {"year": "in", "month": "in", "day": "on"}
TITLES = ("Visitors (thousands)", "Rainfall (mm)", "Sales", "Orders", "Members")


def generate(rng: random.Random) -> Problem:
    """A 5–8 point series whose values are printed at the points or lie on gridlines."""
    kind, seq = rng.choice(SEQUENCES)
    n = rng.randint(5, min(8, len(seq)))
    xs = pick_run(rng, seq, n)
    title = rng.choice(TITLES)
    labelled = rng.random() < 0.5
    if labelled:
        values = rng.sample(range(1, rng.choice((30, 60, 100)) + 1), n)
        step = nice_step(max(values))
    else:
        step = rng.choice((1, 2, 5, 10))
        values = [step * k for k in rng.sample(range(0, 10), n)]
    top = math.ceil(max(values) / step) * step + (step if labelled else 0)

    im, d = canvas(480, 360)
    text(d, (240, 22), title, size=TITLE)
    box = (62, 60, 462, 300)
    y_of = value_axis(d, box, top, step)
    slot = (box[2] - box[0]) / n
    pts = [(box[0] + slot * (i + 0.5), y_of(v)) for i, v in enumerate(values)]
    colour = rng.choice(SERIES)
    d.line(pts, fill=colour, width=3)
    for (x, y), lab, v in zip(pts, xs, values):
        d.ellipse([x - 5, y - 5, x + 5, y + 5], fill=colour)
        text(d, (x, box[3] + 18), lab, size=16)
        if labelled:
            text(d, (x, y - 9), str(v), size=16, anchor="mb")

    pairs = ", ".join(f"{x} = {v}" for x, v in zip(xs, values))
    scene = (f"Line chart titled '{title}' with one series over {n} {kind}s. Vertical axis from "
             f"0 to {top} with gridlines every {step}. Points, left to right: {pairs}."
             + (" Each point has its value written above it." if labelled else ""))
    params: dict[str, object] = {"title": title, "x": xs, "values": values, "step": step,
                                 "top": top, "labelled": labelled}
    order = sorted(range(n), key=lambda i: values[i])
    hint = "Answer with a number."
    task = rng.choice(TASKS)
    if task == "value_at":
        i = rng.randrange(n)
        question = f"What is the value {PREPOSITION[kind]} {xs[i]}?"
        answer, atype = fmt_num(values[i]), "integer"
        near = [values[j] for j in (i - 1, i + 1) if 0 <= j < n]
        wrong = numeric_distractors(rng, values[i], near, step=step)
        params["target"] = xs[i]
    elif task == "change":
        i, j = sorted(rng.sample(range(n), 2))
        delta = values[j] - values[i]
        verb = "increase" if delta > 0 else "decrease"
        question = f"By how much did the value {verb} from {xs[i]} to {xs[j]}?"
        answer, atype = fmt_num(abs(delta)), "integer"
        wrong = numeric_distractors(rng, abs(delta), [values[i] + values[j], values[j]],
                                    step=step, minimum=1)
        params["pair"] = [xs[i], xs[j]]
    elif task in ("argmax", "argmin"):
        word = "highest" if task == "argmax" else "lowest"
        best = order[-1] if task == "argmax" else order[0]
        runner = order[-2] if task == "argmax" else order[1]
        other = order[0] if task == "argmax" else order[-1]
        question = f"{PREPOSITION[kind].capitalize()} which {kind} was the value {word}?"
        answer, atype = xs[best], "text"
        wrong = label_distractors(rng, answer, xs, [xs[runner], xs[other]])
        hint = f"Answer with the {kind}."
    elif task == "range":
        question = "What is the difference between the highest and the lowest value?"
        hi, lo = values[order[-1]], values[order[0]]
        answer, atype = fmt_num(hi - lo), "integer"
        wrong = numeric_distractors(rng, hi - lo, [hi, hi - values[order[1]], hi + lo], step=step)
    else:  # count_increases
        ups = sum(b > a for a, b in itertools.pairwise(values))
        question = f"In how many {kind}s did the value rise compared with the previous {kind}?"
        answer, atype = fmt_num(ups), "integer"
        wrong = numeric_distractors(rng, ups, [n - 1 - ups, ups + 1], minimum=0, maximum=n - 1)
    return Problem(domain="chart", task=task, image=im, question=question, answer=answer,
                   answer_type=atype, scene=scene, params=params, distractors=wrong, hint=hint)

"""Counting: scattered coloured shapes, counted by colour, by shape, or both.

Shapes are placed one per cell of a hidden 6×4 grid with jitter, so they never overlap (an
overlap would make the true count unreadable) while the layout still looks scattered.
"""

from __future__ import annotations

import random
from collections import Counter

from finereason.synth.base import Problem, fmt_num, numeric_distractors
from finereason.synth.draw import RGB, Draw, canvas

TASKS = ("colour_shape", "shape", "colour", "total", "difference")
COLOURS: dict[str, RGB] = {
    "red": (220, 30, 30), "blue": (30, 80, 220), "green": (20, 150, 40),
    "orange": (245, 140, 0), "purple": (130, 50, 170),
}
SHAPES = ("circle", "square", "triangle")
COLS, ROWS, CELL_W, CELL_H = 6, 4, 80, 90


def _draw(d: Draw, shape: str, cx: float, cy: float, r: float, fill: RGB) -> None:
    if shape == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "square":
        d.rectangle([cx - r * 0.85, cy - r * 0.85, cx + r * 0.85, cy + r * 0.85], fill=fill)
    else:
        d.polygon([(cx, cy - r), (cx + r, cy + r * 0.8), (cx - r, cy + r * 0.8)], fill=fill)


def generate(rng: random.Random) -> Problem:
    """8–16 shapes drawn from 2–4 colours and 2–3 shape kinds, so counts are not all 1."""
    colours = rng.sample(list(COLOURS), rng.randint(2, 4))
    shapes = rng.sample(SHAPES, rng.randint(2, 3))
    cells = sorted(rng.sample(range(COLS * ROWS), rng.randint(8, 16)))
    items = [(c, rng.choice(colours), rng.choice(shapes)) for c in cells]

    im, d = canvas(COLS * CELL_W, ROWS * CELL_H)
    for cell, colour, shape in items:
        row, col = divmod(cell, COLS)
        r = rng.uniform(17, 25)
        cx = col * CELL_W + CELL_W / 2 + rng.uniform(-1, 1) * (CELL_W / 2 - r - 4)
        cy = row * CELL_H + CELL_H / 2 + rng.uniform(-1, 1) * (CELL_H / 2 - r - 4)
        _draw(d, shape, cx, cy, r, COLOURS[colour])

    rows_txt = []
    for row in range(ROWS):
        names = [f"{colour} {shape}" for cell, colour, shape in items if cell // COLS == row]
        rows_txt.append(f"row {row + 1}: " + (", ".join(names) if names else "empty"))
    n = len(items)
    scene = (f"{n} non-overlapping filled shapes on a white background, in four loose rows "
             f"(left to right): " + "; ".join(rows_txt) + ".")
    pairs = Counter((colour, shape) for _, colour, shape in items)
    by_shape = Counter(shape for _, _, shape in items)
    by_colour = Counter(colour for _, colour, _ in items)
    params: dict[str, object] = {"shapes": [[colour, shape] for _, colour, shape in items]}

    task = rng.choice(TASKS)
    if task == "difference" and len(set(by_shape.values())) == 1:
        task = "shape"
    if task == "colour_shape":
        colour, shape = rng.choice(sorted(pairs))
        question = f"How many {colour} {shape}s are there?"
        answer = pairs[(colour, shape)]
        plausible = [by_shape[shape], by_colour[colour]]
        params["target"] = [colour, shape]
    elif task == "shape":
        shape = rng.choice(sorted(by_shape))
        question = f"How many {shape}s are there?"
        answer = by_shape[shape]
        plausible = [n - answer]
        params["target"] = [None, shape]
    elif task == "colour":
        colour = rng.choice(sorted(by_colour))
        question = f"How many {colour} shapes are there?"
        answer = by_colour[colour]
        plausible = [n - answer]
        params["target"] = [colour, None]
    elif task == "total":
        question = "How many shapes are there in total?"
        answer = n
        plausible = []
    else:  # difference between the most and the least common shape kinds present
        ranked = by_shape.most_common()
        (more, a), (fewer, b) = ranked[0], ranked[-1]
        question = f"How many more {more}s than {fewer}s are there?"
        answer = a - b
        plausible = [a, a + b]
        params["target"] = [more, fewer]
    return Problem(domain="counting", task=task, image=im, question=question,
                   answer=fmt_num(answer), answer_type="integer", scene=scene, params=params,
                   distractors=numeric_distractors(rng, answer, [*plausible, answer + 1]),
                   hint="Answer with a number.")

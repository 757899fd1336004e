"""Grid puzzles: a number grid with a missing cell, shaded-cell counts, and lattice paths.

For the missing-number puzzle the complete rows must single out the rule: a grid whose
complete rows also fit another rule is redrawn, so the answer is unique, not just likely.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from fractions import Fraction

from PIL import Image as PILImage

from finereason.synth.base import Problem, fmt_num, numeric_distractors
from finereason.synth.draw import BLACK, SERIES, canvas, text

Row = list[int]
#: A built puzzle: image, question, scene, answer, plausible wrong answers, params.
Built = tuple[PILImage.Image, str, str, int, list[int], dict[str, object]]


def _sum_row(r: random.Random) -> Row:
    a, b = r.randint(1, 20), r.randint(1, 20)
    return [a, b, a + b]


def _difference_row(r: random.Random) -> Row:
    a, b = r.randint(1, 20), r.randint(1, 20)
    return [a + b, b, a]


def _product_row(r: random.Random) -> Row:
    a, b = r.randint(2, 9), r.randint(2, 9)
    return [a, b, a * b]


def _arithmetic_row(r: random.Random) -> Row:
    a, k = r.randint(1, 20), r.randint(2, 9)
    return [a, a + k, a + 2 * k]


def _geometric_row(r: random.Random) -> Row:
    a, k = r.randint(1, 6), r.randint(2, 3)
    return [a, a * k, a * k * k]


#: Rule → (make a row, does a row follow it); simple enough to infer from two example rows.
RULES: dict[str, tuple[Callable[[random.Random], Row], Callable[[Row], bool]]] = {
    "sum": (_sum_row, lambda x: x[2] == x[0] + x[1]),
    "difference": (_difference_row, lambda x: x[2] == x[0] - x[1]),
    "product": (_product_row, lambda x: x[2] == x[0] * x[1]),
    "arithmetic": (_arithmetic_row, lambda x: x[1] - x[0] == x[2] - x[1]),
    "geometric": (_geometric_row, lambda x: x[1] % x[0] == 0 and x[2] == x[1] * (x[1] // x[0])),
}


def _constant_step(rows: list[Row]) -> bool:
    """Whether the rows share one step or ratio (2,4,6 and 5,7,9), which invites the reading
    "always add 2" instead of the row rule, with a different answer for the incomplete row."""
    steps = {(x[1] - x[0], x[2] - x[1]) for x in rows}
    ratios = {(Fraction(x[1], x[0]), Fraction(x[2], x[1])) if x[0] and x[1] else None
              for x in rows}
    return len(steps) == 1 or (None not in ratios and len(ratios) == 1)


def _missing_number(rng: random.Random) -> Built:
    rule = rng.choice(list(RULES))
    make, _ = RULES[rule]
    while True:
        rows = [make(rng) for _ in range(3)]
        hidden_row, hidden_col = rng.randrange(3), rng.randrange(3)
        examples = [row for i, row in enumerate(rows) if i != hidden_row]
        fitting = [name for name, (_, fits) in RULES.items() if all(fits(x) for x in examples)]
        if fitting == [rule] and not _constant_step(examples):
            break
    answer = rows[hidden_row][hidden_col]
    a, b, c = rows[hidden_row]
    # What a solver gets by applying another rule to the incomplete row.
    alternatives = {0: [c - b, 2 * b - c, c], 1: [c - a, a + c, a], 2: [a + b, a * b, 2 * b - a]}
    im, d = canvas(360, 330)
    cell, x0, y0 = 90, 45, 30
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            box = [x0 + j * cell, y0 + i * cell, x0 + (j + 1) * cell, y0 + (i + 1) * cell]
            d.rectangle(box, outline=BLACK, width=3)
            mark = "?" if (i, j) == (hidden_row, hidden_col) else str(v)
            text(d, (box[0] + cell / 2, box[1] + cell / 2), mark, size=30)
    shown = "; ".join(f"row {i + 1}: " + ", ".join(
        "?" if (i, j) == (hidden_row, hidden_col) else str(v) for j, v in enumerate(row))
        for i, row in enumerate(rows))
    scene = f"3×3 grid of numbers, read row by row: {shown}."
    q = "Every row of the grid follows the same rule. What number replaces the question mark?"
    params: dict[str, object] = {"rule": rule, "rows": rows, "hidden": [hidden_row, hidden_col]}
    return im, q, scene, answer, alternatives[hidden_col], params


def _shaded(rng: random.Random) -> Built:
    nr, nc = rng.randint(4, 6), rng.randint(5, 7)
    p = rng.uniform(0.3, 0.5)
    cells = [[rng.random() < p for _ in range(nc)] for _ in range(nr)]
    cell, x0, y0 = rng.choice((46, 50, 54)), 60, 25  # sizes vary so equal grids rarely repeat
    im, d = canvas(x0 + nc * cell + 30, y0 + nr * cell + 25)
    colour = rng.choice(SERIES[:3])
    for i, row in enumerate(cells):
        text(d, (x0 - 22, y0 + (i + 0.5) * cell), str(i + 1))
        for j, on in enumerate(row):
            box = [x0 + j * cell, y0 + i * cell, x0 + (j + 1) * cell, y0 + (i + 1) * cell]
            d.rectangle(box, outline=BLACK, width=2, fill=colour if on else None)
    counts = [sum(row) for row in cells]
    total = sum(counts)
    lines = "; ".join(f"row {i + 1}: " + "".join("#" if on else "." for on in row)
                      for i, row in enumerate(cells))
    scene = (f"Grid of {nr} rows × {nc} columns with rows numbered 1 to {nr} from the top; "
             f"some cells are shaded (# = shaded, . = empty, left to right): {lines}.")
    params: dict[str, object] = {"cells": [[int(on) for on in row] for row in cells]}
    kind = rng.choice(("total", "row", "unshaded", "most_row"))
    best = max(counts)
    if kind == "most_row" and counts.count(best) == 1:
        params["kind"] = kind
        q = "Which row (numbered from the top) has the most shaded cells?"
        return im, q, scene, counts.index(best) + 1, [counts.index(min(counts)) + 1], params
    if kind == "row":
        k = rng.randrange(nr)
        params.update(kind=kind, row=k + 1)
        q = f"How many cells in row {k + 1} (numbered from the top) are shaded?"
        return im, q, scene, counts[k], [nc - counts[k]], params
    if kind == "unshaded":
        params["kind"] = kind
        q = "How many cells of the grid are not shaded?"
        return im, q, scene, nr * nc - total, [total], params
    params["kind"] = "total"
    q = "How many cells of the grid are shaded?"
    return im, q, scene, total, [nr * nc - total], params


def _paths(rng: random.Random) -> Built:
    nr, nc = rng.randint(3, 5), rng.randint(3, 6)
    while True:
        inner = [(i, j) for i in range(nr) for j in range(nc) if (i, j) not in
                 ((0, 0), (nr - 1, nc - 1))]
        blocked = sorted(rng.sample(inner, rng.randint(1, 4)))
        ways = [[0] * nc for _ in range(nr)]
        for i in range(nr):
            for j in range(nc):
                if (i, j) in blocked:
                    continue
                ways[i][j] = 1 if (i, j) == (0, 0) else \
                    (ways[i - 1][j] if i else 0) + (ways[i][j - 1] if j else 0)
        if ways[-1][-1] > 0:
            break
    answer = ways[-1][-1]
    cell, x0, y0 = rng.choice((56, 60, 64)), 30, 30
    im, d = canvas(x0 * 2 + nc * cell, y0 * 2 + nr * cell)
    for i in range(nr):
        for j in range(nc):
            box = [x0 + j * cell, y0 + i * cell, x0 + (j + 1) * cell, y0 + (i + 1) * cell]
            d.rectangle(box, outline=BLACK, width=2, fill=BLACK if (i, j) in blocked else None)
    text(d, (x0 + cell / 2, y0 + cell / 2), "S", size=26)
    text(d, (x0 + (nc - 0.5) * cell, y0 + (nr - 0.5) * cell), "E", size=26)
    rows = "; ".join(f"row {i + 1}: " + "".join(
        "S" if (i, j) == (0, 0) else "E" if (i, j) == (nr - 1, nc - 1) else
        "X" if (i, j) in blocked else "." for j in range(nc)) for i in range(nr))
    scene = (f"Grid of {nr} rows × {nc} columns. S is the top-left cell, E the bottom-right "
             f"cell, X marks a black (blocked) cell, . a white cell: {rows}.")
    q = ("Moving only right or down from cell to cell and never entering a black cell, how many "
         "different paths lead from S to E?")
    free = math.comb(nr + nc - 2, nr - 1)
    params: dict[str, object] = {"rows": nr, "cols": nc, "blocked": [list(b) for b in blocked]}
    return im, q, scene, answer, [free, 2 * answer, answer + 1], params


PUZZLES = {"missing_number": _missing_number, "shaded": _shaded, "paths": _paths}


def generate(rng: random.Random) -> Problem:
    """One grid puzzle, each kind equally likely."""
    task = rng.choice(list(PUZZLES))
    im, question, scene, answer, plausible, params = PUZZLES[task](rng)
    return Problem(domain="puzzle", task=task, image=im, question=question,
                   answer=fmt_num(answer), answer_type="integer", scene=scene, params=params,
                   distractors=numeric_distractors(rng, answer, plausible),
                   hint="Answer with a number.")

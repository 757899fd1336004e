"""Tables: look up a cell, add along a row or column, and find a column's maximum."""

from __future__ import annotations

import random

from finereason.synth.base import (
    CATEGORY_THEMES,
    SEQUENCES,
    Problem,
    fmt_num,
    label_distractors,
    numeric_distractors,
    pick_run,
)
from finereason.synth.draw import BLACK, HEADER, TITLE, canvas, text

TASKS = ("lookup", "row_sum", "col_sum", "col_argmax", "col_max", "cell_diff")
ROW_H, FIRST_W, COL_W = 38, 110, 80


def generate(rng: random.Random) -> Problem:
    """A 4–5 row, 3–4 column table of distinct two-digit numbers with header and row labels."""
    title, pool = rng.choice(CATEGORY_THEMES)
    kind, seq = rng.choice(SEQUENCES)
    nr, nc = rng.randint(4, 5), rng.randint(3, 4)
    rows = rng.sample(pool, nr)
    cols = pick_run(rng, seq, nc)
    flat = rng.sample(range(10, 100), nr * nc)
    grid = [flat[r * nc:(r + 1) * nc] for r in range(nr)]

    width = FIRST_W + COL_W * nc
    im, d = canvas(width + 40, 62 + ROW_H * (nr + 1) + 20)
    x0, y0 = 20, 62
    text(d, (x0 + width / 2, 24), title, size=TITLE)
    d.rectangle([x0, y0, x0 + width, y0 + ROW_H], fill=HEADER)
    xs = [x0, x0 + FIRST_W, *(x0 + FIRST_W + COL_W * (c + 1) for c in range(nc))]
    for y in range(y0, y0 + ROW_H * (nr + 1) + 1, ROW_H):
        d.line([(x0, y), (x0 + width, y)], fill=BLACK)
    for x in xs:
        d.line([(x, y0), (x, y0 + ROW_H * (nr + 1))], fill=BLACK)
    for c, name in enumerate(cols):
        text(d, ((xs[c + 1] + xs[c + 2]) / 2, y0 + ROW_H / 2), name)
    for r, name in enumerate(rows):
        yc = y0 + ROW_H * (r + 1.5)
        text(d, (x0 + 10, yc), name, anchor="lm")
        for c, v in enumerate(grid[r]):
            text(d, ((xs[c + 1] + xs[c + 2]) / 2, yc), str(v))

    body = "; ".join(f"{name}: " + ", ".join(f"{c} = {v}" for c, v in zip(cols, grid[r]))
                     for r, name in enumerate(rows))
    scene = (f"Table titled '{title}' with {nr} rows ({', '.join(rows)}) and {nc} columns "
             f"({', '.join(cols)}). Cells: {body}.")
    params: dict[str, object] = {"title": title, "rows": rows, "cols": cols, "cells": grid}
    answer: int | str
    hint = "Answer with a number."
    task = rng.choice(TASKS)
    r, c = rng.randrange(nr), rng.randrange(nc)
    column = [grid[i][c] for i in range(nr)]
    if task == "lookup":
        question = f"What is the value in the {rows[r]} row and the {cols[c]} column?"
        answer, atype = grid[r][c], "integer"
        near = [grid[r][(c + 1) % nc], grid[(r + 1) % nr][c]]
        wrong = numeric_distractors(rng, answer, near)
        params["target"] = [rows[r], cols[c]]
    elif task == "row_sum":
        question = f"What is the total for {rows[r]} across all {kind}s shown?"
        answer, atype = sum(grid[r]), "integer"
        wrong = numeric_distractors(rng, answer, [answer - grid[r][-1], sum(column)], step=10)
        params["target"] = rows[r]
    elif task == "col_sum":
        question = f"What is the total of the {cols[c]} column?"
        answer, atype = sum(column), "integer"
        wrong = numeric_distractors(rng, answer, [answer - column[-1], sum(grid[r])], step=10)
        params["target"] = cols[c]
    elif task == "col_argmax":
        question = f"Which row has the highest value in the {cols[c]} column?"
        best = max(range(nr), key=lambda i: column[i])
        answer, atype = rows[best], "text"
        row_best = max(range(nr), key=lambda i: max(grid[i]))
        wrong = label_distractors(rng, rows[best], rows, [rows[row_best]])
        hint = "Answer with the row name."
        params["target"] = cols[c]
    elif task == "col_max":
        question = f"What is the highest value in the {cols[c]} column?"
        answer, atype = max(column), "integer"
        wrong = numeric_distractors(rng, answer, [sorted(column)[-2], max(grid[r]), min(column)])
        params["target"] = cols[c]
    else:  # cell_diff
        c1, c2 = rng.sample(range(nc), 2)
        if grid[r][c1] < grid[r][c2]:
            c1, c2 = c2, c1
        question = (f"For {rows[r]}, how much greater is the {cols[c1]} value than the "
                    f"{cols[c2]} value?")
        answer, atype = grid[r][c1] - grid[r][c2], "integer"
        wrong = numeric_distractors(rng, answer, [grid[r][c1] + grid[r][c2], grid[r][c1]],
                                    minimum=1)
        params["target"] = [rows[r], cols[c1], cols[c2]]
    answer_s = answer if isinstance(answer, str) else fmt_num(answer)
    return Problem(domain="table", task=task, image=im, question=question, answer=answer_s,
                   answer_type=atype, scene=scene, params=params, distractors=wrong, hint=hint)

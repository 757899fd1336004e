"""Answers recomputed independently of the generators, from ``params`` or the ``scene`` text.

The solvers below are deliberately written differently from the generators (brute force where
the generator uses a formula, string parsing where it uses data) so a shared bug is unlikely.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from fractions import Fraction

import pytest

from finereason.schema import Sample
from finereason.synth import generate
from finereason.synth.base import fmt_num


def _question_number(s: Sample) -> int:
    """The first integer in the question ("greater than 15", "120 minutes", "600 responses")."""
    return int(re.search(r"\d+", s.question).group())  # type: ignore[union-attr]


def _solve_bar(s: Sample) -> str:
    p, task = s.meta_get("params"), s.meta_get("task")
    vals = dict(zip(p["labels"], p["values"]))
    if task == "value_of":
        return str(vals[p["target"]])
    if task == "max_minus_min":
        return str(max(vals.values()) - min(vals.values()))
    if task == "sum":
        return str(sum(vals.values()))
    if task == "argmax":
        return max(vals, key=vals.__getitem__)
    if task == "argmin":
        return min(vals, key=vals.__getitem__)
    if task == "count_above":
        return str(len([v for v in vals.values() if v > _question_number(s)]))
    a, b = p["pair"]
    return str(vals[a] - vals[b])


def _solve_line(s: Sample) -> str:
    p, task = s.meta_get("params"), s.meta_get("task")
    vals = dict(zip(p["x"], p["values"]))
    if task == "value_at":
        return str(vals[p["target"]])
    if task == "change":
        a, b = p["pair"]
        return str(abs(vals[b] - vals[a]))
    if task == "argmax":
        return max(vals, key=vals.__getitem__)
    if task == "argmin":
        return min(vals, key=vals.__getitem__)
    if task == "range":
        return str(max(vals.values()) - min(vals.values()))
    seq = p["values"]
    return str(len([i for i in range(1, len(seq)) if seq[i] > seq[i - 1]]))


def _solve_pie(s: Sample) -> str:
    p, task = s.meta_get("params"), s.meta_get("task")
    shares = dict(zip(p["labels"], p["shares"]))
    assert sum(shares.values()) == 100
    if task == "percent_of":
        return str(shares[p["target"]])
    if task == "argmax":
        return max(shares, key=shares.__getitem__)
    if task == "argmin":
        return min(shares, key=shares.__getitem__)
    if task == "max_minus_min":
        return str(max(shares.values()) - min(shares.values()))
    if task == "pair_sum":
        return str(sum(shares[x] for x in p["pair"]))
    return fmt_num(Fraction(p["total"] * shares[p["target"]], 100))


def _solve_table(s: Sample) -> str:
    p, task = s.meta_get("params"), s.meta_get("task")
    cell = {(r, c): p["cells"][i][j] for i, r in enumerate(p["rows"])
            for j, c in enumerate(p["cols"])}
    t = p["target"]
    if task == "lookup":
        return str(cell[tuple(t)])
    if task == "row_sum":
        return str(sum(v for (r, _), v in cell.items() if r == t))
    if task == "col_sum":
        return str(sum(v for (_, c), v in cell.items() if c == t))
    if task == "col_argmax":
        return max(p["rows"], key=lambda r: cell[(r, t)])
    if task == "col_max":
        return str(max(v for (_, c), v in cell.items() if c == t))
    row, c1, c2 = t
    return str(cell[(row, c1)] - cell[(row, c2)])


def _solve_clock(s: Sample) -> str:
    p = s.meta_get("params")
    total = p["hour"] * 60 + p["minute"] + p.get("delta_minutes", 0)
    h, m = (total // 60) % 12, total % 60
    return f"{12 if h == 0 else h}:{m:02d}"


def _solve_counting(s: Sample) -> str:
    p, task = s.meta_get("params"), s.meta_get("task")
    shapes = [tuple(x) for x in p["shapes"]]
    if task == "total":
        return str(len(shapes))
    if task == "difference":
        more, fewer = p["target"]
        return str(sum(sh == more for _, sh in shapes) - sum(sh == fewer for _, sh in shapes))
    colour, shape = p["target"]
    return str(sum((colour is None or c == colour) and (shape is None or sh == shape)
                   for c, sh in shapes))


def _solve_geometry(s: Sample) -> str:
    p, task = s.meta_get("params"), s.meta_get("task")
    if task == "right_triangle":
        a, b = p["legs"]
        c = p["hypotenuse"]
        assert a * a + b * b == c * c
        return str(math.isqrt(a * a + b * b) if p["unknown"] == "hypotenuse"
                   else math.isqrt(c * c - a * a))
    if task == "triangle_angle":
        angles = p["angles"]
        hidden = ["bottom-left", "bottom-right", "top"].index(p["hidden"])
        return str(180 - sum(x for i, x in enumerate(angles) if i != hidden))
    if task == "rectangle":
        w, h = p["width"], p["height"]
        return str(w * h if p["quantity"] == "area" else w + w + h + h)
    if task == "circle":
        r, pi = Fraction(p["radius"]), Fraction("3.14")
        return fmt_num(pi * r * r if p["quantity"] == "area" else pi * 2 * r)
    return fmt_num(Fraction(p["base"]) * p["height"] / 2)


def _fits(rule: str, row: list[int]) -> bool:
    a, b, c = row
    return {"sum": a + b == c, "difference": a - b == c, "product": a * b == c,
            "arithmetic": b - a == c - b,
            "geometric": a != 0 and b % a == 0 and b // a > 1 and c == b * (b // a)}[rule]


def _solve_grid(s: Sample) -> str:
    p, task = s.meta_get("params"), s.meta_get("task")
    if task == "missing_number":
        hr, hc = p["hidden"]
        examples = [row for i, row in enumerate(p["rows"]) if i != hr]
        rules = [r for r in ("sum", "difference", "product", "arithmetic", "geometric")
                 if all(_fits(r, row) for row in examples)]
        assert rules == [p["rule"]]
        row = list(p["rows"][hr])
        answers = []
        for guess in range(0, 2000):
            row[hc] = guess
            if _fits(rules[0], row):
                answers.append(guess)
        assert len(answers) == 1
        return str(answers[0])
    if task == "paths":
        nr, nc = p["rows"], p["cols"]
        blocked = {tuple(b) for b in p["blocked"]}
        count = 0
        for downs in itertools.combinations(range(nr + nc - 2), nr - 1):
            i = j = 0
            ok = True
            for step in range(nr + nc - 2):
                i, j = (i + 1, j) if step in downs else (i, j + 1)
                ok = ok and (i, j) not in blocked
            count += ok
        return str(count)
    cells = p["cells"]
    kind = p["kind"]
    if kind == "row":
        return str(sum(cells[p["row"] - 1]))
    if kind == "most_row":
        counts = [sum(r) for r in cells]
        return str(counts.index(max(counts)) + 1)
    shaded = sum(map(sum, cells))
    return str(shaded if kind == "total" else len(cells) * len(cells[0]) - shaded)


SOLVERS: dict[str, Callable[[Sample], str]] = {
    "bar_chart": _solve_bar, "line_chart": _solve_line, "pie_chart": _solve_pie,
    "table": _solve_table, "clock": _solve_clock, "counting": _solve_counting,
    "geometry": _solve_geometry, "grid_puzzle": _solve_grid,
}


@pytest.mark.parametrize("family", sorted(SOLVERS))
def test_answers_match_independent_solver(family: str) -> None:
    samples = list(generate(150, seed=21, families=[family]))
    assert len({s.meta_get("task") for s in samples}) >= 3
    for s in samples:
        assert SOLVERS[family](s) == s.meta_get("answer_text"), (s.question, s.meta)


def test_scene_text_alone_answers_bar_and_table_questions() -> None:
    """Oracle perception: the scene string carries every value needed (parsed, not params)."""
    for s in generate(80, seed=2, families=["bar_chart", "table"]):
        scene, task = s.meta_get("scene"), s.meta_get("task")
        if s.meta_get("family") == "bar_chart":
            pairs = re.search(r"left to right: (.*?)\.", scene).group(1)  # type: ignore[union-attr]
            vals = {k: int(v) for k, v in re.findall(r"(\w+) = (\d+)", pairs)}
            if task == "sum":
                assert str(sum(vals.values())) == s.meta_get("answer_text")
            elif task == "argmax":
                assert max(vals, key=vals.__getitem__) == s.meta_get("answer_text")
            elif task == "value_of":
                label = re.search(r"bar for (\w+)\?", s.question).group(1)  # type: ignore[union-attr]
                assert str(vals[label]) == s.meta_get("answer_text")
        elif task == "lookup":
            row, col = re.search(r"the (\w+) row and the (\w+) column", s.question).groups()  # type: ignore[union-attr]
            cells = re.search(rf"{row}: (.*?)(;|\.$)", scene).group(1)  # type: ignore[union-attr]
            assert re.search(rf"{col} = (\d+)", cells).group(1) == s.meta_get("answer_text")  # type: ignore[union-attr]


def test_clock_scene_states_hand_positions() -> None:
    for s in generate(24, seed=8, families=["clock"]):
        p = s.meta_get("params")
        scene = s.meta_get("scene")
        m = p["minute"]
        if m % 5 == 0:
            assert f"minute hand points at {m // 5 or 12} ({m} minutes" in scene
        else:
            assert f"points {m % 5} minute tick" in scene and f"past {m // 5 or 12} ({m} " in scene
        assert f"shows {p['hour']}:{m:02d}" in scene

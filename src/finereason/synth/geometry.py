"""Geometry: labelled figures drawn to scale, with the asked quantity computed exactly.

Lengths and angles are chosen so answers are exact: Pythagorean triples for right triangles,
integer angles, and π fixed at 3.14 in the question so circle answers are finite decimals.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from fractions import Fraction

from finereason.synth.base import Number, Problem, fmt_num, numeric_distractors
from finereason.synth.draw import BLACK, LABEL, RGB, SERIES, WHITE, Draw, canvas, font, text

W, H = 480, 360
PI = Fraction(314, 100)
TRIPLES = ((3, 4, 5), (6, 8, 10), (5, 12, 13), (9, 12, 15), (8, 15, 17), (12, 16, 20),
           (7, 24, 25), (15, 20, 25), (20, 21, 29))
OUTLINE = 3
#: Light fills (and none), so equal measurements rarely give byte-identical pictures.
FILLS: tuple[RGB, ...] = (WHITE, (230, 240, 250), (235, 245, 235), (250, 235, 225),
                          (245, 240, 225), (240, 232, 248))

Point = tuple[float, float]
Solved = tuple[str, str, Number, list[Number], dict[str, object]]


def _fit(points: Sequence[Point], box: tuple[float, float, float, float]) -> list[Point]:
    """Scale and centre a figure (in any units, y up) into a pixel box (y down)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    left, top, right, bottom = box
    s = min((right - left) / (max(xs) - min(xs)), (bottom - top) / (max(ys) - min(ys)))
    ox = (left + right) / 2 - s * (max(xs) + min(xs)) / 2
    oy = (top + bottom) / 2 + s * (max(ys) + min(ys)) / 2
    return [(ox + s * x, oy - s * y) for x, y in points]


def _outside(p: Point, q: Point, centre: Point, dist: float) -> Point:
    """A label position ``dist`` px from the middle of edge pq, on the side away from centre."""
    mx, my = (p[0] + q[0]) / 2, (p[1] + q[1]) / 2
    nx, ny = q[1] - p[1], p[0] - q[0]
    norm = math.hypot(nx, ny)
    nx, ny = nx / norm, ny / norm
    if (mx - centre[0]) * nx + (my - centre[1]) * ny < 0:
        nx, ny = -nx, -ny
    return mx + dist * nx, my + dist * ny


def _toward(p: Point, centre: Point, dist: float) -> Point:
    dx, dy = centre[0] - p[0], centre[1] - p[1]
    norm = math.hypot(dx, dy)
    return p[0] + dist * dx / norm, p[1] + dist * dy / norm


def _dashed(d: Draw, p: Point, q: Point, dash: float = 8) -> None:
    n = max(1, int(math.dist(p, q) // dash))
    for i in range(0, n, 2):
        a, b = i / n, min(1.0, (i + 1) / n)
        d.line([(p[0] + (q[0] - p[0]) * a, p[1] + (q[1] - p[1]) * a),
                (p[0] + (q[0] - p[0]) * b, p[1] + (q[1] - p[1]) * b)], fill=BLACK, width=2)


def _centroid(pts: list[Point]) -> Point:
    return sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)


def _right_triangle(rng: random.Random, d: Draw) -> Solved:
    scale = rng.randint(1, 3)
    a, b, c = (scale * k for k in rng.choice(TRIPLES))
    if rng.random() < 0.5:
        a, b = b, a
    side = rng.choice(("left", "right"))
    # pts: right-angle corner, other end of the horizontal leg, top of the vertical leg.
    shape = [(0, 0), (a, 0), (0, b)] if side == "left" else [(a, 0), (0, 0), (a, b)]
    pts = _fit(shape, (110, 50, 370, 310))
    d.polygon(pts, outline=BLACK, width=OUTLINE, fill=rng.choice(FILLS))
    corner, m = pts[0], 16
    ux = m if side == "left" else -m
    d.line([(corner[0] + ux, corner[1]), (corner[0] + ux, corner[1] - m),
            (corner[0], corner[1] - m)], fill=BLACK, width=2)
    centre = _centroid(pts)
    unknown = rng.choice(("hypotenuse", "leg"))
    labels = {"base": f"{a} cm", "height": f"{b} cm",
              "hyp": "?" if unknown == "hypotenuse" else f"{c} cm"}
    if unknown == "leg":
        labels["height"] = "?"
    text(d, _outside(pts[0], pts[1], centre, 20), labels["base"])
    text(d, _outside(pts[0], pts[2], centre, 36), labels["height"])
    text(d, _outside(pts[1], pts[2], centre, 36), labels["hyp"])
    scene = (f"Right triangle with the right angle (marked by a small square) at the "
             f"bottom-{side} corner. Horizontal leg labelled '{labels['base']}', vertical leg "
             f"labelled '{labels['height']}', hypotenuse labelled '{labels['hyp']}'.")
    params: dict[str, object] = {"legs": [a, b], "hypotenuse": c, "unknown": unknown}
    q = "In the right triangle, what is the length of the side marked '?' in cm?"
    if unknown == "hypotenuse":
        return q, scene, c, [a + b, c + 1, c - 1], params
    return q, scene, b, [c - a, c + a, b + 1], params


def _triangle_angle(rng: random.Random, d: Draw) -> Solved:
    while True:
        angles = [rng.randint(30, 100), rng.randint(30, 100)]
        angles.append(180 - sum(angles))
        if angles[2] >= 30:
            break
    a, b = (math.radians(x) for x in angles[:2])
    side = math.sin(b) / math.sin(a + b)
    apex = (side * math.cos(a), side * math.sin(a))
    pts = _fit([(0, 0), (1, 0), apex], (70, 40, 410, 320))
    d.polygon(pts, outline=BLACK, width=OUTLINE, fill=rng.choice(FILLS))
    centre = _centroid(pts)
    hidden = rng.randrange(3)
    names = ("bottom-left", "bottom-right", "top")
    marks = ["?" if i == hidden else f"{x}°" for i, x in enumerate(angles)]
    for p, mark, angle in zip(pts, marks, angles):
        # Sharp corners need the label further in to clear both sides.
        text(d, _toward(p, centre, max(40, 22 / math.sin(math.radians(angle) / 2))), mark)
    scene = ("Triangle with an angle label inside each corner: "
             + ", ".join(f"{n} corner '{m}'" for n, m in zip(names, marks)) + ".")
    known = [x for i, x in enumerate(angles) if i != hidden]
    q = "What is the size of the angle marked '?' in degrees?"
    params: dict[str, object] = {"angles": angles, "hidden": names[hidden]}
    return q, scene, angles[hidden], [sum(known), 180 - known[0], 90 - abs(known[0] - known[1])], \
        params


def _rectangle(rng: random.Random, d: Draw) -> Solved:
    w, h = rng.sample(range(2, 16), 2)
    pts = _fit([(0, 0), (w, 0), (w, h), (0, h)], (110, 70, 370, 290))
    d.polygon(pts, outline=BLACK, width=OUTLINE, fill=rng.choice(FILLS))
    centre = _centroid(pts)
    across, down = rng.choice(("top", "bottom")), rng.choice(("left", "right"))
    edge_w = (pts[3], pts[2]) if across == "top" else (pts[0], pts[1])
    edge_h = (pts[1], pts[2]) if down == "right" else (pts[0], pts[3])
    text(d, _outside(*edge_w, centre, 20), f"{w} cm")
    text(d, _outside(*edge_h, centre, 36), f"{h} cm")
    scene = (f"Rectangle with its {across} side labelled '{w} cm' and its {down} side labelled "
             f"'{h} cm'.")
    params: dict[str, object] = {"width": w, "height": h}
    if rng.random() < 0.5:
        params["quantity"] = "area"
        q = "What is the area of the rectangle in square centimetres?"
        return q, scene, w * h, [2 * (w + h), w + h, w * h + w], params
    params["quantity"] = "perimeter"
    q = "What is the perimeter of the rectangle in centimetres?"
    return q, scene, 2 * (w + h), [w * h, w + h, 2 * w + h], params


def _circle(rng: random.Random, d: Draw) -> Solved:
    r = rng.randint(2, 12)
    by_diameter = rng.random() < 0.4
    cx, cy, rad = W / 2, H / 2, rng.randint(110, 140)
    d.ellipse([cx - rad, cy - rad, cx + rad, cy + rad], outline=BLACK, width=OUTLINE,
              fill=rng.choice(FILLS))
    d.ellipse([cx - 4, cy - 4, cx + 4, cy + 4], fill=BLACK)
    # Within 20° of horizontal, so a label above the line's middle never touches it.
    theta = math.radians(rng.uniform(-20, 20) + rng.choice((0, 180)))
    ux, uy = math.cos(theta), math.sin(theta)
    if by_diameter:
        d.line([(cx - rad * ux, cy - rad * uy), (cx + rad * ux, cy + rad * uy)], fill=SERIES[1],
               width=3)
        label, what = f"d = {2 * r} cm", f"a diameter drawn and labelled 'd = {2 * r} cm'"
    else:
        d.line([(cx, cy), (cx + rad * ux, cy + rad * uy)], fill=SERIES[1], width=3)
        label, what = f"r = {r} cm", f"a radius drawn and labelled 'r = {r} cm'"
    mid = rad / 2
    lift = 16 + abs(uy / ux) * font(LABEL).getlength(label) / 2
    text(d, (cx + mid * ux, cy + mid * uy - lift), label)
    scene = f"Circle with its centre marked and {what}."
    params: dict[str, object] = {"radius": r, "labelled": "diameter" if by_diameter else "radius"}
    circumference, area = 2 * PI * r, PI * r * r
    if rng.random() < 0.5:
        params["quantity"] = "circumference"
        q = "Using π = 3.14, what is the circumference of the circle in cm?"
        return q, scene, circumference, [PI * r, area, 4 * PI * r], params
    params["quantity"] = "area"
    q = "Using π = 3.14, what is the area of the circle in square cm?"
    return q, scene, area, [circumference, PI * 4 * r * r, 2 * PI * r * r], params


def _triangle_area(rng: random.Random, d: Draw) -> Solved:
    # Never taller than wide, so the height label fits beside the dashed line.
    base = rng.randint(3, 16)
    height = rng.randint(2, min(12, base))
    apex_x = rng.uniform(0.25, 0.75) * base
    # Very flat triangles are drawn a little taller than to scale so the label fits inside.
    pts = _fit([(0, 0), (base, 0), (apex_x, max(height, 0.4 * base))], (100, 60, 380, 290))
    d.polygon(pts, outline=BLACK, width=OUTLINE, fill=rng.choice(FILLS))
    foot = (pts[2][0], pts[0][1])
    _dashed(d, pts[2], foot)
    d.line([(foot[0], foot[1] - 12), (foot[0] + 12, foot[1] - 12), (foot[0] + 12, foot[1])],
           fill=BLACK, width=2)
    text(d, _outside(pts[0], pts[1], _centroid(pts), 20), f"{base} cm")
    # Label the height on whichever side of the dashed line has more room.
    mid_y = (pts[2][1] + foot[1]) / 2
    if foot[0] - (pts[0][0] + pts[2][0]) / 2 > (pts[1][0] + pts[2][0]) / 2 - foot[0]:
        text(d, (foot[0] - 8, mid_y), f"{height} cm", anchor="rm")
    else:
        text(d, (foot[0] + 8, mid_y), f"{height} cm", anchor="lm")
    scene = (f"Triangle with its horizontal base labelled '{base} cm' and a dashed "
             f"perpendicular height from the top vertex to the base labelled '{height} cm'.")
    q = "What is the area of the triangle in square centimetres?"
    params: dict[str, object] = {"base": base, "height": height}
    return q, scene, Fraction(base * height, 2), [base * height, base + height,
                                                   Fraction(base * height, 2) + base], params


FIGURES: dict[str, Callable[[random.Random, Draw], Solved]] = {
    "right_triangle": _right_triangle,
    "triangle_angle": _triangle_angle,
    "rectangle": _rectangle,
    "circle": _circle,
    "triangle_area": _triangle_area,
}


def generate(rng: random.Random) -> Problem:
    """One labelled figure (triangle, rectangle or circle) and a question about it."""
    task = rng.choice(list(FIGURES))
    im, d = canvas(W, H)
    question, scene, answer, plausible, params = FIGURES[task](rng, d)
    exact = Fraction(answer)
    return Problem(domain="geometry", task=task, image=im, question=question,
                   answer=fmt_num(exact),
                   answer_type="integer" if exact.denominator == 1 else "number", scene=scene,
                   params=params, distractors=numeric_distractors(rng, exact, plausible),
                   hint="Answer with a number only (no units).")

"""Built-in generator of verifiable visual problems, so the toolkit runs with no download.

Each family renders a picture with Pillow and computes the exact answer from the parameters it
drew, never from the picture. Sample ``i`` of seed ``s`` depends only on ``(s, i)`` and the
family list: its RNG is seeded from ``"synth:{s}:{i}"`` and families are assigned round-robin,
so shards generated in different processes (``start=``) concatenate to the same dataset.

Every sample carries ``meta``: ``family``, ``seed``, ``index``, ``task`` (question kind),
``scene`` (a complete text description of what is drawn: oracle perception for text-only
models), ``params`` (the same facts as data, for recomputing the answer) and ``answer_text``
(the answer as text, which for multiple choice is the correct option rather than its letter).

Domains: ``chart`` (bar, line, pie), ``table``, ``clock``, ``counting``, ``geometry``,
``puzzle`` (grid puzzles).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence

from finereason.schema import Sample, stable_id
from finereason.synth import bars, clocks, counting, geometry, grids, lines, pies, tables
from finereason.synth.base import Problem
from finereason.synth.draw import to_image

__all__ = ["FAMILIES", "MC_RATE", "generate", "make_sample"]

#: Family name → generator of one :class:`Problem` from a seeded RNG.
FAMILIES: dict[str, Callable[[random.Random], Problem]] = {
    "bar_chart": bars.generate,
    "line_chart": lines.generate,
    "pie_chart": pies.generate,
    "table": tables.generate,
    "clock": clocks.generate,
    "counting": counting.generate,
    "geometry": geometry.generate,
    "grid_puzzle": grids.generate,
}

#: Share of samples asked as 4-option multiple choice; the rest are free-form.
MC_RATE = 0.4
LETTERS = "ABCD"


def make_sample(family: str, seed: int, index: int) -> Sample:
    """Sample ``index`` of ``family`` for ``seed``; independent of every other sample."""
    rng = random.Random(f"synth:{seed}:{index}")
    p = FAMILIES[family](rng)
    s = Sample(id=stable_id("synth", family, str(seed), str(index)), source=f"synth/{family}",
               question=p.question, domain=p.domain, images=[to_image(p.image)])
    if rng.random() < MC_RATE:
        options = [p.answer, *p.distractors[:3]]
        rng.shuffle(options)
        s.options = options
        s.answer = LETTERS[options.index(p.answer)]
        s.answer_type = "choice"
    else:
        s.question = f"{p.question} {p.hint}".rstrip()
        s.answer = p.answer
        s.answer_type = p.answer_type
    for key, value in (("family", family), ("seed", seed), ("index", index), ("task", p.task),
                       ("scene", p.scene), ("params", p.params), ("answer_text", p.answer)):
        s.meta_set(key, value)
    return s


def generate(n: int, seed: int, families: Sequence[str] | None = None, *,
             start: int = 0) -> Iterator[Sample]:
    """Yield samples ``start .. start+n-1``, cycling through ``families`` (default: all).

    Round-robin assignment guarantees every family appears once per ``len(families)`` samples,
    which keeps small generations balanced and lets shards be produced independently.
    """
    names = list(FAMILIES) if families is None else list(families)
    if not names:
        raise ValueError("families must not be empty")
    unknown = [f for f in names if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown synth families {unknown}; known: {sorted(FAMILIES)}")
    for index in range(start, start + n):
        yield make_sample(names[index % len(names)], seed, index)

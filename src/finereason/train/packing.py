"""Rows of examples: one example each, or several packed into ``max_length`` tokens.

Packing is best-fit decreasing over the preflight's exact lengths (image tokens included), so
a row never overflows and never cuts an example: the longest examples are placed first, each
into the fullest row that still has room. Deterministic: the same lengths give the same rows.
The trainer shuffles rows, not examples. (TRL's own packer refuses image datasets, hence this.)
"""

from __future__ import annotations

import bisect


def pack(indices: list[int], lengths: list[int], capacity: int) -> list[list[int]]:
    """Group ``indices`` (examples of ``lengths[i]`` tokens, each <= capacity) into rows of <= capacity tokens.

    A sorted list of ``(room left, row)`` finds the best-fitting row by bisection; at 10^6
    examples that is a few seconds to a minute, once per run.
    """
    order = sorted(indices, key=lambda i: (-lengths[i], i))
    rows: list[list[int]] = []
    room: list[tuple[int, int]] = []  # (tokens left, row number), ascending
    for i in order:
        n = lengths[i]
        if n > capacity:
            raise ValueError(f"example {i} has {n} tokens > capacity {capacity}")
        at = bisect.bisect_left(room, (n, -1))
        if at < len(room):
            left, row = room.pop(at)
            rows[row].append(i)
            bisect.insort(room, (left - n, row))
        else:
            rows.append([i])
            bisect.insort(room, (capacity - n, len(rows) - 1))
    return rows


def single_rows(indices: list[int]) -> list[list[int]]:
    return [[i] for i in indices]


def fill_ratio(rows: list[list[int]], lengths: list[int], capacity: int) -> float:
    """Share of the rows' token budget that holds real tokens (1.0 = no padding at all)."""
    if not rows:
        return 0.0
    return sum(lengths[i] for row in rows for i in row) / (capacity * len(rows))

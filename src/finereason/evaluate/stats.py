"""Accuracy tables with bootstrap confidence intervals, and paired accuracy drops between runs.

Definitions used everywhere (summary, report, grid):

* ``accuracy`` = correct / scored, where *scored* excludes ``error`` items (a model call that
  failed for good, an image that does not decode: the item was never fairly asked). ``unparsed``
  counts as wrong and has its own rate. Errors are counted and reported, never hidden.
* ``macro`` = the mean of per-group accuracies over the benchmark's ``macro_over`` groups
  (MMStar: its 18 subcategories), so a large group does not dominate.
* Intervals are percentile bootstraps over items (seeded, ``n_boot`` resamples); the macro
  interval resamples within each group (stratified) so every group stays represented.
* A *drop* between two runs on the same items is paired: each resample draws item indices once
  and takes the mean of (a - b) over them, which is much tighter than two independent intervals.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from finereason.schema import VERDICTS

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Outcome:
    """One item's verdict and where it sits, the only input the statistics need."""

    id: str
    category: str
    subcategory: str
    verdict: str


def _interval(samples: np.ndarray) -> list[float]:
    lo, hi = np.quantile(samples, [(1 - CONFIDENCE) / 2, 1 - (1 - CONFIDENCE) / 2])
    return [round(float(lo), 6), round(float(hi), 6)]


def bootstrap_mean(values: Sequence[float], rng: np.random.Generator, n_boot: int) -> list[float] | None:
    """Percentile interval of the mean of ``values``; None for fewer than two values."""
    arr = np.asarray(values, dtype=float)
    if arr.size < 2 or n_boot < 1:
        return None
    idx = rng.integers(0, arr.size, size=(n_boot, arr.size))
    return _interval(arr[idx].mean(axis=1))


def bootstrap_macro(groups: Sequence[Sequence[float]], rng: np.random.Generator, n_boot: int) -> list[float] | None:
    """Interval of the mean of group means, resampling items within each group."""
    groups = [np.asarray(g, dtype=float) for g in groups if len(g)]
    if not groups or sum(g.size for g in groups) < 2 or n_boot < 1:
        return None
    means = np.zeros(n_boot)
    for g in groups:
        means += g[rng.integers(0, g.size, size=(n_boot, g.size))].mean(axis=1)
    return _interval(means / len(groups))


def _counts(outcomes: Iterable[Outcome]) -> dict[str, int]:
    counts = dict.fromkeys(VERDICTS, 0)
    for o in outcomes:
        counts[o.verdict] += 1
    return counts


def _row(name: str, outcomes: list[Outcome], rng: np.random.Generator, n_boot: int) -> dict:
    counts = _counts(outcomes)
    scored = [1.0 if o.verdict == "correct" else 0.0 for o in outcomes if o.verdict != "error"]
    n_scored = len(scored)
    return {
        "name": name,
        "n": len(outcomes),
        **counts,
        "accuracy": round(sum(scored) / n_scored, 6) if n_scored else None,
        "ci": bootstrap_mean(scored, rng, n_boot),
        "unparsed_rate": round(counts["unparsed"] / n_scored, 6) if n_scored else None,
    }


def _ordered(names: Iterable[str], order: Sequence[str]) -> list[str]:
    names = list(dict.fromkeys(names))
    known = [n for n in order if n in names]
    return known + sorted(n for n in names if n not in known)


def accuracy_table(
    outcomes: Sequence[Outcome], *, macro_over: str, seed: int, n_boot: int = 1000, order: Sequence[str] = ()
) -> dict:
    """Overall, macro, per-category and per-subcategory accuracy with intervals and counts."""
    rng = np.random.default_rng(seed)
    overall = _row("all", list(outcomes), rng, n_boot)
    by_cat: dict[str, list[Outcome]] = defaultdict(list)
    by_sub: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_cat[o.category].append(o)
        if o.subcategory:
            by_sub[o.subcategory].append(o)
    categories = [_row(c, by_cat[c], rng, n_boot) for c in _ordered(by_cat, order)]
    subcategories = []
    for cat in _ordered(by_cat, order):
        for sub in dict.fromkeys(o.subcategory for o in by_cat[cat] if o.subcategory):
            row = _row(sub, [o for o in by_cat[cat] if o.subcategory == sub], rng, n_boot)
            subcategories.append({**row, "category": cat})
    groups = by_sub if macro_over == "subcategory" and by_sub else by_cat
    group_scores = [[1.0 if o.verdict == "correct" else 0.0 for o in g if o.verdict != "error"] for g in groups.values()]
    group_scores = [g for g in group_scores if g]
    macro = round(float(np.mean([np.mean(g) for g in group_scores])), 6) if group_scores else None
    return {
        "n": overall["n"],
        "counts": {v: overall[v] for v in VERDICTS},
        "accuracy": overall["accuracy"],
        "accuracy_ci": overall["ci"],
        "macro_accuracy": macro,
        "macro_ci": bootstrap_macro(group_scores, rng, n_boot),
        "macro_over": macro_over if groups is by_sub else "category",
        "unparsed_rate": overall["unparsed_rate"],
        "error_rate": round(overall["error"] / overall["n"], 6) if overall["n"] else None,
        "categories": categories,
        "subcategories": subcategories,
    }


def paired_drop(
    base: dict[str, bool], other: dict[str, bool], *, rng: np.random.Generator, n_boot: int
) -> dict:
    """Accuracy of ``base`` minus ``other`` on the items both scored, with a paired interval."""
    ids = sorted(set(base) & set(other))
    if not ids:
        return {"n": 0, "drop": None, "ci": None}
    diff = np.array([float(base[i]) - float(other[i]) for i in ids])
    return {"n": len(ids), "drop": round(float(diff.mean()), 6), "ci": bootstrap_mean(diff, rng, n_boot)}


def correctness(outcomes: Iterable[Outcome], category: str | None = None) -> dict[str, bool]:
    """``id → correct`` over scored (non-error) items, optionally of one category."""
    return {
        o.id: o.verdict == "correct"
        for o in outcomes
        if o.verdict != "error" and (category is None or o.category == category)
    }

"""The light first pass of ``select``: read only the small columns, decide the caps globally.

Caps, balancing and a limit need the whole dataset at once, but never the images or the long
texts, so this pass reads six small columns shard by shard (``pyarrow.parquet.read_table(columns=…)``)
and keeps one compact entry per candidate. What it hands to the parallel rewrite pass is, per
input shard, only the rows that the caps drop; the per-sample rules are cheap and pure, so the
rewrite pass re-applies them instead of carrying their decisions around.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from finereason.io.store import DatasetError
from finereason.reward.score import unverifiable_reason
from finereason.select.caps import HOLDOUT, CapPolicy, holdout_key, order_key, plan_caps, plan_holdout
from finereason.select.subsets import Rules

PLAN_COLUMNS = ["id", "source", "domain", "pass_rate", "verdict", "flags", "answer", "answer_type"]
UNKNOWN_DOMAIN = "unknown"
NO_VERDICT = "none"  # the verdict count's name for samples verify never graded


@dataclass(frozen=True)
class ShardPlan:
    """One input shard: its row count (checked again when rewritten) and the rows caps drop."""

    path: Path
    rows: int
    capped: tuple[tuple[int, int], ...]  # (row, reason code in CAP_REASONS)


@dataclass
class SelectionPlan:
    shards: list[ShardPlan]
    before: dict[str, Counter[str]] = field(default_factory=dict)  # "source"/"domain" → counts
    after: dict[str, Counter[str]] = field(default_factory=dict)
    kept: int = 0
    held: int = 0

    def stats(self) -> dict[str, Any]:
        """The manifest's ``selection`` block: counts per source and domain before and after."""
        return {
            "planned_kept": self.kept,
            "planned_rl_holdout": self.held,
            "before": {k: dict(sorted(v.items())) for k, v in self.before.items()},
            "after": {k: dict(sorted(v.items())) for k, v in self.after.items()},
        }


def _read(path: Path, columns: list[str]) -> pa.Table:
    try:
        with pq.ParquetFile(path) as f:
            names = set(f.schema_arrow.names)
            return f.read(columns=[c for c in columns if c in names])
    except (OSError, pa.ArrowInvalid) as e:
        raise DatasetError(f"{path}: unreadable Parquet shard ({e})") from e


def _column(table: pa.Table, name: str) -> list[Any]:
    return table.column(name).to_pylist() if name in table.column_names else [None] * table.num_rows


def any_verdict(paths: list[Path]) -> bool:
    """Whether verification ran: some sample has a verdict (usually the first shard answers)."""
    for p in paths:
        table = _read(p, ["verdict"])
        if "verdict" in table.column_names and pc.count(table.column("verdict")).as_py() > 0:
            return True
    return False


class _Codes:
    """Group names → integer codes, renumbered in sorted-name order at the end."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def code(self, name: str) -> int:
        return self.index.setdefault(name, len(self.index))

    def sorted_remap(self) -> tuple[list[str], np.ndarray]:
        names = sorted(self.index)
        remap = np.empty(len(self.index), dtype=np.int64)
        for new, name in enumerate(names):
            remap[self.index[name]] = new
        return names, remap


def _concat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype=dtype)


def make_plan(
    paths: list[Path], rules: Rules, policy: CapPolicy, on_shard: Callable[[], None] | None = None
) -> SelectionPlan:
    """Read the small columns of every shard and decide which rule survivors the caps drop.

    ``rules.require_correct`` must already be resolved (see :func:`any_verdict`). Per candidate
    only an 8-byte key, two group codes and its position are kept (NumPy, per shard), so the
    plan of a few million samples stays in tens of MB. ``on_shard`` is called after each shard
    (a progress bar's advance).
    """
    sources, domains, verdict_codes = _Codes(), _Codes(), _Codes()
    before: dict[str, Counter[str]] = {"source": Counter(), "domain": Counter(), "verdict": Counter()}
    keys, src, dom, ver, shard_of, row_of, rl_keys, eligible = [], [], [], [], [], [], [], []
    rows_per_shard = []
    for shard, path in enumerate(paths):
        table = _read(path, PLAN_COLUMNS)
        if "id" not in table.column_names or "source" not in table.column_names:
            raise DatasetError(f"{path}: not a finereason shard (missing id or source column)")
        ids, source, domain = _column(table, "id"), _column(table, "source"), _column(table, "domain")
        rates, verdicts, flags = _column(table, "pass_rate"), _column(table, "verdict"), _column(table, "flags")
        answers, kinds = _column(table, "answer"), _column(table, "answer_type")
        rows_per_shard.append(table.num_rows)
        before["source"].update(source)
        before["domain"].update(d or UNKNOWN_DOMAIN for d in domain)
        before["verdict"].update(v or NO_VERDICT for v in verdicts)
        rows = [r for r in range(table.num_rows) if rules.reason(rates[r], verdicts[r], flags[r]) is None]
        keys.append(np.array([order_key(policy.seed, ids[r]) for r in rows], dtype=np.uint64))
        src.append(np.array([sources.code(source[r]) for r in rows], dtype=np.int32))
        dom.append(np.array([domains.code(domain[r] or UNKNOWN_DOMAIN) for r in rows], dtype=np.int32))
        ver.append(np.array([verdict_codes.code(verdicts[r] or NO_VERDICT) for r in rows], dtype=np.int32))
        shard_of.append(np.full(len(rows), shard, dtype=np.int32))
        row_of.append(np.array(rows, dtype=np.int32))
        if policy.rl_holdout:
            rl_keys.append(np.array([holdout_key(policy.seed, ids[r]) for r in rows], dtype=np.uint64))
            eligible.append(np.array([unverifiable_reason(answers[r], kinds[r]) is None for r in rows], dtype=bool))
        if on_shard is not None:
            on_shard()
    src_names, src_remap = sources.sorted_remap()
    dom_names, dom_remap = domains.sorted_remap()
    src_arr = src_remap[_concat(src, np.int64)]
    dom_arr = dom_remap[_concat(dom, np.int64)]
    ver_names, ver_remap = verdict_codes.sorted_remap()
    ver_arr = ver_remap[_concat(ver, np.int64)]
    all_keys = _concat(keys, np.uint64)
    reasons = np.zeros(len(all_keys), dtype=np.uint8)
    held = np.zeros(len(all_keys), dtype=bool)
    if policy.rl_holdout:  # drawn first, from the whole curated set; caps apply to the rest
        held = plan_holdout(_concat(rl_keys, np.uint64), _concat(eligible, bool), policy.rl_holdout)
        reasons[held] = HOLDOUT
    rest = ~held
    reasons[rest] = plan_caps(all_keys[rest], src_arr[rest], dom_arr[rest], policy)

    kept = reasons == 0
    after = {
        "source": _named_counts(src_arr[kept], src_names),
        "domain": _named_counts(dom_arr[kept], dom_names),
        "verdict": _named_counts(ver_arr[kept], ver_names),
    }
    capped: list[list[tuple[int, int]]] = [[] for _ in paths]
    shard_arr, row_arr = _concat(shard_of, np.int64), _concat(row_of, np.int64)
    for i in np.flatnonzero(~kept):
        capped[shard_arr[i]].append((int(row_arr[i]), int(reasons[i])))
    shards = [ShardPlan(p, n, tuple(c)) for p, n, c in zip(paths, rows_per_shard, capped)]
    return SelectionPlan(shards, before, after, int(kept.sum()), int(held.sum()))


def _named_counts(codes: np.ndarray, names: list[str]) -> Counter[str]:
    counts = np.bincount(codes, minlength=len(names))
    return Counter({names[c]: int(n) for c, n in enumerate(counts) if n})

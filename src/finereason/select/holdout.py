"""The record of an SFT/RL split: each side's ids hashed, written into both manifests.

The hash is sha256 of the sorted ids joined by newlines, read back from what was written, so
anyone can check a split (and that the two sides are disjoint) from the outputs alone.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from finereason.io.store import Dataset, DatasetError, atomic_write_json
from finereason.select.caps import CapPolicy


def dataset_ids(root: str | Path) -> list[str]:
    """Every sample id in a dataset's data shards (only the id column is read)."""
    return [i for p in Dataset(root).shard_paths() for i in pq.read_table(p, columns=["id"]).column("id").to_pylist()]


def ids_sha256(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def record_split(sft_out: str | Path, rl_out: str | Path, policy: CapPolicy) -> dict[str, Any]:
    """Hash both sides, refuse an overlap, and add the ``rl_holdout`` block to both manifests."""
    sft, rl = dataset_ids(sft_out), dataset_ids(rl_out)
    overlap = set(sft) & set(rl)
    if overlap:  # cannot happen from one plan; guards against a folder reused with other data
        raise DatasetError(f"{len(overlap)} ids are in both {sft_out} and {rl_out}, e.g. {sorted(overlap)[0]}")
    block = {"n": policy.rl_holdout, "seed": policy.seed, "sft_dataset": str(sft_out), "rl_dataset": str(rl_out),
             "sft_count": len(sft), "rl_count": len(rl), "sft_ids_sha256": ids_sha256(sft),
             "rl_ids_sha256": ids_sha256(rl)}
    for root in (sft_out, rl_out):
        ds = Dataset(root)
        atomic_write_json(ds.manifest_path, {**ds.manifest(), "rl_holdout": block})
    return block

"""Pass 3: rewrite each shard, moving the samples the grouping dropped to rejected/ with why."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from finereason.io.store import DatasetError, read_shard
from finereason.pipeline.stage import StageResult, Task
from finereason.schema import Rejection, Sample

STAGE = "dedup"
#: Bump when the same input and settings would drop different samples.
VERSION = "1"


@dataclass
class ShardBatch:
    """An input shard together with its position, which the drop table is keyed by."""

    index: int
    samples: list[Sample]

    def __len__(self) -> int:  # the engine counts a batch's records with len()
        return len(self.samples)


@dataclass(frozen=True)
class ShardWithIndex:
    """Loader for the engine: a class (not a lambda) so it pickles to worker processes."""

    index: int
    path: Path

    def __call__(self) -> ShardBatch:
        return ShardBatch(self.index, read_shard(self.path))


def rewrite_tasks(paths: list[Path]) -> list[Task]:
    return [Task(i, ShardWithIndex(i, p)) for i, p in enumerate(paths)]


@dataclass
class DedupRewrite:
    """Keeps every sample the drop table does not name; the rest become rejections."""

    drops_path: str
    run_settings: dict[str, Any] = field(default_factory=dict)
    name: str = STAGE
    version: str = VERSION

    def settings(self) -> dict[str, Any]:
        return self.run_settings

    def __call__(self, batch: ShardBatch) -> StageResult:
        table = pq.read_table(self.drops_path, filters=[("shard", "==", batch.index)])
        drops = {r["row"]: r for r in table.to_pylist()}
        if drops and max(drops) >= len(batch.samples):
            raise DatasetError(f"input shard {batch.index} has {len(batch.samples)} rows but the dedup plan "
                               f"drops row {max(drops)}: the input changed since this run began; use --overwrite")
        kept: list[Sample] = []
        rejected: list[Rejection] = []
        kinds: Counter[str] = Counter()
        for row, sample in enumerate(batch.samples):
            d = drops.get(row)
            if d is None:
                kept.append(sample)
                continue
            rejected.append(Rejection(stage=STAGE, reason=d["reason"], detail=d["detail"], sample=sample))
            kinds[f"{d['reason']}_{d['kind']}" if d["reason"] != "duplicate_exact" else d["reason"]] += 1
        return StageResult(kept, rejected, records_in=len(batch.samples), stats=dict(kinds))

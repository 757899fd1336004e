"""The rewrite pass of ``select``: per shard, apply the rules and the planned caps.

Each input shard becomes one output shard (so resume is a done-marker lookup); every sample
that leaves is written to ``rejected/`` with one reason and a readable detail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from finereason.io.store import DatasetError, read_shard
from finereason.pipeline.stage import StageResult
from finereason.schema import Rejection, Sample
from finereason.select.caps import CAP_REASONS, HOLDOUT, CapPolicy
from finereason.select.plan import ShardPlan
from finereason.select.subsets import Rules


@dataclass(frozen=True)
class SelectBatch:
    """An input shard's samples plus the rows the global plan caps (row → reason code)."""

    samples: list[Sample]
    capped: dict[int, int]

    def __len__(self) -> int:
        return len(self.samples)


@dataclass(frozen=True)
class PlannedShardLoader:
    """Task loader: a class (not a lambda) so it pickles to worker processes."""

    plan: ShardPlan

    def __call__(self) -> SelectBatch:
        samples = read_shard(self.plan.path)
        if len(samples) != self.plan.rows:
            raise DatasetError(
                f"{self.plan.path} changed while selecting ({self.plan.rows} rows planned, "
                f"{len(samples)} now); rerun select on a dataset nothing else is writing"
            )
        return SelectBatch(samples, dict(self.plan.capped))


@dataclass(frozen=True)
class SelectStage:
    """Keeps what the rules and the plan keep; rejects the rest with the reason that applied."""

    rules: Rules
    policy: CapPolicy
    name: str = "select"
    version: str = "1"

    def settings(self) -> dict[str, Any]:
        return {**self.rules.settings(), **self.policy.settings()}

    def __call__(self, batch: SelectBatch) -> StageResult:
        kept: list[Sample] = []
        rejected: list[Rejection] = []
        for row, s in enumerate(batch.samples):
            why = self.rules.reason(s.pass_rate, s.verdict, s.flags)
            if why is None and row in batch.capped:
                code = batch.capped[row]
                why = CAP_REASONS[code], self.policy.detail(code, s.source, s.domain)
            if why is None:
                kept.append(s)
            else:
                rejected.append(Rejection(self.name, why[0], why[1], s))
        return StageResult(kept, rejected)


@dataclass(frozen=True)
class HoldoutStage:
    """Writes only each shard's RL hold-out rows: the RL prompt dataset of ``select --rl-holdout``.

    Its records_in is the hold-out count: the other rows are accounted for in the SFT output
    (kept, or rejected with their reason), so nothing is lost and nothing is written twice.
    """

    policy: CapPolicy
    name: str = "select-rl-holdout"
    version: str = "1"

    def settings(self) -> dict[str, Any]:
        return self.policy.settings()

    def __call__(self, batch: SelectBatch) -> StageResult:
        kept = [s for row, s in enumerate(batch.samples) if batch.capped.get(row) == HOLDOUT]
        return StageResult(kept, records_in=len(kept))

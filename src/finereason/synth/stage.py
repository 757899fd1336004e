"""The synth stage: generation happens in each task's loader, so workers generate in parallel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from finereason.pipeline.stage import StageResult, Task
from finereason.schema import Sample
from finereason.synth import FAMILIES, generate


@dataclass(frozen=True)
class SynthChunk:
    """Generates samples ``start .. start+n-1`` in whichever worker process loads it."""

    n: int
    seed: int
    start: int
    families: tuple[str, ...] | None

    def __call__(self) -> list[Sample]:
        return list(generate(self.n, self.seed, self.families, start=self.start))


@dataclass(frozen=True)
class SynthStage:
    """Generation happens in the loader; the stage only hands the samples to the writer."""

    n: int
    seed: int
    families: tuple[str, ...] | None
    name: str = "synth"
    version: str = "1"

    def settings(self) -> dict[str, Any]:
        return {"n": self.n, "seed": self.seed, "families": list(self.families or FAMILIES)}

    def __call__(self, batch: list[Sample]) -> StageResult:
        return StageResult(kept=batch)


def synth_tasks(n: int, seed: int, families: tuple[str, ...] | None, shard_size: int) -> list[Task]:
    return [
        Task(i, SynthChunk(min(shard_size, n - start), seed, start, families))
        for i, start in enumerate(range(0, n, shard_size))
    ]

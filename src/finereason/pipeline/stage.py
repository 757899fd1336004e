"""What a stage is: a named, versioned, pure batch transform.

Stages own no parallelism, retries, progress or checkpoints; engines do. A stage is a picklable
object (so a process pool or Ray can ship it) that turns one batch into kept samples and
rejections. Model stages are the same with an ``async`` call, since their work is waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from finereason.io.store import read_shard
from finereason.schema import Rejection, Sample


@dataclass
class StageResult:
    kept: list[Sample]
    rejected: list[Rejection] = field(default_factory=list)
    records_in: int | None = None  # defaults to len(batch); readers count raw records instead
    extra: dict[str, Any] = field(default_factory=dict)  # summed over shards into the manifest


@runtime_checkable
class Stage(Protocol):
    name: str
    version: str

    def settings(self) -> dict[str, Any]:
        """Everything that changes the output; a rerun into the same folder must match it."""
        ...

    def __call__(self, batch: Any) -> StageResult: ...


@runtime_checkable
class AsyncStage(Protocol):
    name: str
    version: str

    def settings(self) -> dict[str, Any]: ...

    async def run(self, batch: list[Sample]) -> StageResult: ...


@dataclass(frozen=True)
class Task:
    """One unit of work: output shard ``index`` made from whatever ``load()`` returns."""

    index: int
    load: Callable[[], Any]


@dataclass(frozen=True)
class ShardLoader:
    """Loads an input Parquet shard; a class (not a lambda) so it pickles to worker processes."""

    path: Path

    def __call__(self) -> list[Sample]:
        return read_shard(self.path)


def shard_tasks(paths: list[Path]) -> list[Task]:
    """Input shard i becomes output shard i, so resume is a lookup of done-markers."""
    return [Task(i, ShardLoader(p)) for i, p in enumerate(paths)]

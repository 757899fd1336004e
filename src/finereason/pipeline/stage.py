"""What a stage is: a named, versioned, pure batch transform, and the result it returns.

Stages own no parallelism, retries, progress or checkpoints; engines do. A stage is a picklable
object (so a process pool or Ray can ship it) that turns one batch into a :class:`StageResult`.

Two kinds, both declared here so engines call methods, never probe for them:

- :class:`Stage` (CPU work): ``stage(batch) -> StageResult``.
- :class:`ModelStage` (waiting on models): ``await stage.run(batch)``, with a lifecycle the
  engine drives: ``open(context)`` once per process before any shard (a model that cannot serve
  fails there, before work), ``status()`` for the progress line, ``await aclose()`` at the end.
  The :class:`~finereason.models.session.RunContext` passed to ``open`` carries what the engine
  decides about model sessions (journal sharing, which backend answers); stages read no globals.

Ownership: **a stage owns the batch it is given.** It may change those samples in place and
return them, or return copies; callers must not reuse a batch after handing it over (engines
load a fresh batch per shard; :meth:`finereason.pipeline.step.Step.apply` copies for you).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from finereason.io.store import read_shard
from finereason.schema import Rejection, Sample

if TYPE_CHECKING:
    from finereason.models.session import RunContext


@dataclass
class StageResult:
    """One batch's outcome.

    ``failed``: samples whose model requests failed after retries. Engines treat a shard with
    failures as finished but not done, so a rerun redoes it (the journal makes every request
    that succeeded free). ``stats``: numbers summed over shards into the manifest's ``stats``.
    """

    kept: list[Sample]
    rejected: list[Rejection] = field(default_factory=list)
    records_in: int | None = None  # defaults to len(batch); readers count raw records instead
    failed: int = 0
    stats: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Stage(Protocol):
    name: str
    version: str

    def settings(self) -> dict[str, Any]:
        """Everything that changes the output; a rerun into the same folder must match it."""
        ...

    def __call__(self, batch: Any) -> StageResult: ...


@runtime_checkable
class ModelStage(Protocol):
    name: str
    version: str

    def settings(self) -> dict[str, Any]: ...

    def open(self, context: RunContext | None = None) -> None:
        """Open model clients in this process (idempotent); raise if a model cannot serve."""
        ...

    def status(self) -> str:
        """A short live text (tokens/s, in flight, failures) for the progress line."""
        ...

    async def run(self, batch: list[Sample]) -> StageResult: ...

    async def aclose(self) -> None:
        """Close what ``open`` opened (HTTP pools, weights, journals)."""
        ...


#: The name engines and older code use for a model stage.
AsyncStage = ModelStage


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

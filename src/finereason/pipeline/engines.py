"""Choosing an engine: the same stages over the same shards, on this machine or on a Ray cluster.

An engine runs a stage over tasks into a dataset folder and writes its manifest; stages never
know which one runs them. Both engines here write the same shard files, done-markers,
rejections and manifest, so a run started on one resumes on the other. Commands pick one with
``--engine local|ray [--address HOST:PORT]`` (:func:`engine_from_args`); a recipe with
``engine: ray`` passes the same flags. Library code calls :func:`get_engine`.

Ray is imported only when the Ray engine is chosen, so the local path never needs it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from finereason.errors import EngineError
from finereason.pipeline import engine as local
from finereason.pipeline.manifest import RunInfo
from finereason.pipeline.stage import ModelStage, Stage, Task

if TYPE_CHECKING:
    from finereason.models.session import RunContext

J = TypeVar("J")
R = TypeVar("R")

ENGINES = ("local", "ray")


class Engine(Protocol):
    """What a command needs from an engine; the signatures of :mod:`finereason.pipeline.engine`."""

    name: str
    workers: int | None  # CPU processes (local) or the CPUs of a Ray started here; None: all cores

    def run_stage(self, stage: Stage, tasks: Iterable[Task], out_dir: str | os.PathLike[str], info: RunInfo, *,
                  workers: int | None = None, total: int | None = None, overwrite: bool = False) -> dict[str, Any]:
        ...

    async def run_async_stage(self, stage: ModelStage, tasks: Iterable[Task], out_dir: str | os.PathLike[str],
                              info: RunInfo, *, shards_in_flight: int = 4, total: int | None = None,
                              overwrite: bool = False, context: RunContext | None = None) -> dict[str, Any]:
        """Open ``stage`` (with ``context``), run it over ``tasks``; the caller closes it."""
        ...

    def map(self, fn: Callable[[J], R], jobs: Sequence[J], *, description: str, total: int | None = None,
            already: int = 0, writes_to: str | os.PathLike[str] | None = None) -> list[R]:
        """``fn`` over ``jobs`` in parallel, results in job order; ``writes_to``: the folder the jobs
        write into (on Ray, checked to be visible from every node)."""
        ...


@dataclass
class LocalEngine:
    """This machine: a process pool for CPU stages, one event loop for model stages."""

    workers: int | None = None
    name: str = "local"

    def run_stage(self, stage: Stage, tasks: Iterable[Task], out_dir: str | os.PathLike[str], info: RunInfo, *,
                  workers: int | None = None, total: int | None = None, overwrite: bool = False) -> dict[str, Any]:
        return local.run_stage(stage, tasks, out_dir, info, workers=workers or self.workers, total=total,
                               overwrite=overwrite)

    async def run_async_stage(self, stage: ModelStage, tasks: Iterable[Task], out_dir: str | os.PathLike[str],
                              info: RunInfo, *, shards_in_flight: int = 4, total: int | None = None,
                              overwrite: bool = False, context: RunContext | None = None) -> dict[str, Any]:
        return await local.run_async_stage(stage, tasks, out_dir, info, shards_in_flight=shards_in_flight,
                                           total=total, overwrite=overwrite, context=context)

    def map(self, fn: Callable[[J], R], jobs: Sequence[J], *, description: str, total: int | None = None,
            already: int = 0, writes_to: str | os.PathLike[str] | None = None) -> list[R]:
        return local.map_jobs(fn, jobs, workers=self.workers, description=description, total=total, already=already)


def get_engine(name: str = "local", address: str | None = None, workers: int | None = None, *,
               gpus_per_actor: float = 0.0, ray_data_llm: bool = False) -> Engine:
    """The engine called ``name``.

    ``local``: ``workers`` processes (default: all cores). ``ray``: the cluster at ``address``
    (``HOST:PORT`` of its head, ``auto`` for the one this machine belongs to; default
    ``$RAY_ADDRESS``, else a Ray instance started here with ``workers`` CPUs). The Ray engine
    connects on first use, so choosing it costs nothing until a stage runs. ``gpus_per_actor``:
    GPUs each model-stage client actor reserves (0: one actor per node, for endpoints).
    ``ray_data_llm``: run in-job models (``vllm:``, ``hf:``) as Ray Data batch inference.
    """
    if name == "local":
        if address:
            raise EngineError("--address is for --engine ray (the local engine runs on this machine)")
        if ray_data_llm:
            raise EngineError("--ray-data-llm is for --engine ray (Ray Data runs the model on the cluster)")
        return LocalEngine(workers)
    if name == "ray":
        from finereason.pipeline.ray_engine import RayEngine

        return RayEngine(address=address or os.environ.get("RAY_ADDRESS") or None, workers=workers,
                         gpus_per_actor=gpus_per_actor, ray_data_llm=ray_data_llm)
    raise EngineError(f"unknown engine {name!r}; one of {', '.join(ENGINES)}")


def engine_from_args(args: argparse.Namespace) -> Engine:
    """The engine a command's ``--engine``/``--address``/``--workers``/``--gpus-per-actor``/``--ray-data-llm``
    flags ask for."""
    return get_engine(getattr(args, "engine", "local") or "local", getattr(args, "address", None),
                      getattr(args, "workers", None), gpus_per_actor=getattr(args, "gpus_per_actor", 0.0) or 0.0,
                      ray_data_llm=bool(getattr(args, "ray_data_llm", False)))

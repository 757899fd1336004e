"""A step: one stage's options (a pydantic model) and how to run that stage on a dataset or in memory.

A step is what a user composes (``Pipeline(Synth(n=8), [Clean(), Dedup(), ...])``), what a
recipe's ``stages`` entry validates into, and what ``finereason STAGE`` builds from its flags
(:mod:`~finereason.pipeline.flags` generates them from the same fields). So a command, a recipe
and the Python API run one code path with one set of option names.

Each step says how to run its stage over a dataset folder with an engine (:meth:`Step.run`,
which writes shards, rejections and a manifest and resumes like any command) and, where the
stage works batch by batch, how to run it on samples in memory (:meth:`Step.apply`).
"""

from __future__ import annotations

import asyncio
import copy
import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from finereason.io.store import Dataset, ShardCounts
from finereason.pipeline.engines import Engine, LocalEngine
from finereason.pipeline.manifest import RunInfo, write_manifest
from finereason.pipeline.stage import ModelStage, Stage, StageResult, Task, shard_tasks
from finereason.schema import Rejection, Sample, row_to_sample


class Step(BaseModel):
    """Options of one stage, checked on construction; unknown options are refused by name."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    #: The stage's command name, recipe key and manifest ``stage``.
    name: ClassVar[str]
    #: One line for ``--help`` listings.
    summary: ClassVar[str] = ""
    #: False for steps that write beside the data (export, report): the next step reads their input.
    makes_dataset: ClassVar[bool] = True

    def run(self, src: str | os.PathLike[str] | None, out: str | os.PathLike[str] | None,
            engine: Engine | None = None, *, overwrite: bool = False) -> dict[str, Any]:
        """Run over dataset folder ``src`` into ``out``, resumably; returns the manifest."""
        raise NotImplementedError

    def stage(self, out: str | None = None) -> Stage | ModelStage:
        """The batch transform these options configure (``out``: where journals go, if any)."""
        raise NotImplementedError(f"{self.name} has no batch transform to run in memory; use run(src, out)")

    def apply(self, samples: list[Sample]) -> StageResult:
        """This stage on samples in memory (copied first: the list given is left as it was)."""
        batch = copy.deepcopy(samples)
        stage = self.stage()
        if isinstance(stage, ModelStage):
            return asyncio.run(_run_model_batch(stage, batch))
        return stage(batch)

    def failure(self, manifest: dict[str, Any]) -> str | None:
        """Why a finished run still counts as failed for a pipeline (e.g. nothing exported), if it does."""
        return None


async def _run_model_batch(stage: ModelStage, batch: list[Sample]) -> StageResult:
    stage.open()
    try:
        return await stage.run(batch)
    finally:
        await stage.aclose()


def engine_or_local(engine: Engine | None) -> Engine:
    return engine if engine is not None else LocalEngine()


def run_batches(stage: Stage, tasks: list[Task], out: str | os.PathLike[str], info: RunInfo, engine: Engine | None,
                *, overwrite: bool) -> dict[str, Any]:
    """A CPU stage over ``tasks`` on ``engine`` (default: this machine's cores)."""
    return engine_or_local(engine).run_stage(stage, tasks, out, info, total=len(tasks), overwrite=overwrite)


def run_model_batches(stage: ModelStage, tasks: list[Task], out: str | os.PathLike[str], info: RunInfo,
                      engine: Engine | None, *, overwrite: bool, shards_in_flight: int = 4) -> dict[str, Any]:
    """A model stage over ``tasks`` on ``engine`` on one event loop, closed however it ends."""

    async def go() -> dict[str, Any]:
        try:
            return await engine_or_local(engine).run_async_stage(
                stage, tasks, out, info, shards_in_flight=shards_in_flight, total=len(tasks), overwrite=overwrite)
        finally:
            await stage.aclose()

    return asyncio.run(go())


def run_over_shards(stage: ModelStage, src: str | os.PathLike[str], out: str | os.PathLike[str],
                    engine: Engine | None, *, overwrite: bool, shards_in_flight: int = 4,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A model stage over dataset ``src``, input shard i to output shard i, the input's manifest
    kept upstream; ``extra`` goes into the manifest (prompts, model specs)."""
    source = Dataset(src)
    tasks = shard_tasks(source.shard_paths())
    info = RunInfo(stage.name, stage.version, stage.settings(), inputs=[str(source.root)],
                   upstream=source.manifest(), extra=extra or {})
    return run_model_batches(stage, tasks, out, info, engine, overwrite=overwrite, shards_in_flight=shards_in_flight)


def apply_through_folders(step: Step, samples: list[Sample]) -> StageResult:
    """``step.apply`` for stages that plan over a whole dataset (dedup, select): the samples are
    written to a temporary dataset, the step runs on this machine, and the result is read back."""
    with tempfile.TemporaryDirectory(prefix=f"finereason-{step.name}-") as tmp:
        src, out = Path(tmp) / "in", Path(tmp) / "out"
        given = Dataset(src)
        given.write_shard(0, samples, [], ShardCounts(0, len(samples), len(samples), {}, 0.0, {}))
        # a finished dataset, as a stage reads (one without a manifest is refused as interrupted)
        write_manifest(given, RunInfo("samples", "1", {}, []), given.done_counts(), 0.0)
        manifest = step.run(src, out, LocalEngine(1))
        result = Dataset(out)
        rejected = []
        table = result.rejected_table()
        for row in table.to_pylist() if table is not None else []:
            rejected.append(Rejection(row["reject_stage"], row["reject_reason"], row["reject_detail"] or "",
                                      row_to_sample(row), row["reject_ref"] or ""))
        return StageResult(list(result.iter_samples()), rejected, stats=manifest.get("stats", {}))

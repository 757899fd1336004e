"""``Synth``: built-in verifiable problems as a pipeline's source."""

from __future__ import annotations

import os
from typing import Any, ClassVar, Literal

from pydantic import Field

from finereason.pipeline.engines import Engine
from finereason.pipeline.manifest import RunInfo
from finereason.pipeline.step import Step, run_batches
from finereason.schema import Sample
from finereason.synth import FAMILIES, generate
from finereason.synth.stage import SynthStage, synth_tasks

Family = Literal[tuple(FAMILIES)]  # type: ignore[valid-type]


class Synth(Step):
    """Render problems with exact answers computed from what was drawn; the same seed gives the same bytes."""

    name: ClassVar[str] = "synth"
    summary: ClassVar[str] = "generate verifiable visual problems (charts, tables, clocks, counting, geometry, puzzles)"

    n: int = Field(gt=0, description="number of samples")
    seed: int = Field(0, description="random seed (default 0)")
    families: list[Family] | None = Field(  # type: ignore[valid-type]
        None, description="only these families", json_schema_extra={"metavar": "FAMILY", "nargs": "+"})
    shard_size: int = Field(500, ge=1, description="samples per output shard (default 500)",
                            json_schema_extra={"metavar": "N"})

    def run(self, src: str | os.PathLike[str] | None, out: str | os.PathLike[str] | None,
            engine: Engine | None = None, *, overwrite: bool = False) -> dict[str, Any]:
        assert out is not None
        families = tuple(self.families) if self.families else None
        stage = SynthStage(self.n, self.seed, families)
        tasks = synth_tasks(self.n, self.seed, families, self.shard_size)
        info = RunInfo(stage.name, stage.version, stage.settings(), inputs=[f"builtin:synth?seed={self.seed}"])
        return run_batches(stage, tasks, out, info, engine, overwrite=overwrite)

    def samples(self) -> list[Sample]:
        """The problems in memory, without writing a dataset."""
        return list(generate(self.n, self.seed, tuple(self.families) if self.families else None))

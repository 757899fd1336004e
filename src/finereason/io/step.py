"""``Ingest``: files in any supported format as a pipeline's source."""

from __future__ import annotations

import os
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from finereason.io.ingest import IngestStage, ingest
from finereason.io.readers import FORMATS, MAP_TARGETS, InputError, plan_input
from finereason.pipeline.engines import Engine
from finereason.pipeline.progress import say
from finereason.pipeline.step import Step

Format = Literal[tuple(FORMATS)]  # type: ignore[valid-type]


class Ingest(Step):
    """Read datasets into one canonical dataset folder; every record that cannot become a sample is
    rejected with its reason and ``file:line``."""

    name: ClassVar[str] = "ingest"
    summary: ClassVar[str] = "read the MMFineReason release, JSONL, Parquet, LLaVA or HF folders into a dataset"

    paths: list[str] = Field(min_length=1, description="data files or folders, read in the order given",
                             json_schema_extra={"positional": True, "metavar": "PATH"})
    format: Format = Field("auto", description="input format (default: auto)")  # type: ignore[valid-type]
    map: dict[str, str] = Field(default_factory=dict, description=(
        "read field SRC as DST (repeatable), e.g. --map prompt=question --map img=images"),
        json_schema_extra={"metavar": "SRC=DST"})
    source: str | None = Field(None, description="source name for records without one (default: the PATH's name)",
                               json_schema_extra={"metavar": "NAME"})
    image_root: str | None = Field(None, description=(
        "folder that relative image paths start from and must stay inside (default: the PATH's folder)"),
        json_schema_extra={"metavar": "DIR"})
    drop_multi_image: bool = Field(False, description="reject samples with more than one image")
    strict: bool = Field(False, description=(
        "stop at the first file that cannot be read (default: reject it as one bad_file record, read the rest)"))
    shard_size: int = Field(500, ge=1, description="samples per output shard (default 500)",
                            json_schema_extra={"metavar": "N"})

    @field_validator("map")
    @classmethod
    def _known_targets(cls, renames: dict[str, str]) -> dict[str, str]:
        for src, dst in renames.items():
            if dst not in MAP_TARGETS:
                raise ValueError(f"'{src}={dst}': unknown field {dst!r}; one of {', '.join(sorted(MAP_TARGETS))}")
        return renames

    def run(self, src: str | os.PathLike[str] | None, out: str | os.PathLike[str] | None,
            engine: Engine | None = None, *, overwrite: bool = False) -> dict[str, Any]:
        assert out is not None
        if self.image_root and not os.path.isdir(self.image_root):
            raise InputError(f"--image-root {self.image_root}: no such folder")
        plans = [plan_input(path, self.format, renames=self.map, source=self.source, image_root=self.image_root,
                            strict=self.strict)
                 for path in self.paths]
        for plan in plans:
            say(f"ingest: {plan.describe()}")
            for note in plan.notes:
                say(f"ingest: note: {note}")
        stage = IngestStage(self.map, drop_multi_image=self.drop_multi_image)
        return ingest(plans, out, stage=stage, shard_size=self.shard_size, workers=getattr(engine, "workers", None),
                      overwrite=overwrite, engine=engine)

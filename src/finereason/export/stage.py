"""The export stage: one input shard in, one training-format file out, rejections with reasons.

Unlike the other stages it writes its output itself (the format's file under ``data/``) and
returns no kept samples; the engine still gives it resumability (done markers), parallel
shards, progress, rejection records and the manifest, all under the hidden work folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finereason.export.card import summarize
from finereason.export.conversation import ExportRejection
from finereason.export.formats import ExportOptions, RowBuilder, write_rows
from finereason.io.store import read_shard
from finereason.pipeline.stage import StageResult
from finereason.schema import Rejection, Sample


@dataclass(frozen=True)
class ExportBatch:
    """An input shard's samples and the index its output file is named after."""

    index: int
    samples: list[Sample]

    def __len__(self) -> int:
        return len(self.samples)


@dataclass(frozen=True)
class ExportShardLoader:
    """Task loader: a class (not a lambda) so it pickles to worker processes."""

    index: int
    path: Path

    def __call__(self) -> ExportBatch:
        return ExportBatch(self.index, read_shard(self.path))


@dataclass(frozen=True)
class ExportStage:
    options: ExportOptions
    out_root: Path
    name: str = "export"
    version: str = "1"

    def settings(self) -> dict[str, Any]:
        return self.options.settings()

    def __call__(self, batch: ExportBatch) -> StageResult:
        build = RowBuilder(self.options, self.out_root)
        rows: list[dict[str, Any]] = []
        exported: list[Sample] = []
        rejected: list[Rejection] = []
        for s in batch.samples:
            try:
                rows.append(build(s))
            except ExportRejection as e:
                rejected.append(Rejection(self.name, e.reason, e.detail, s))
                continue
            exported.append(s)
        path = write_rows(self.options, self.out_root, batch.index, rows)
        extra = {"exported": len(rows), "data_files": int(path is not None), "summary": summarize(exported)}
        return StageResult([], rejected, stats=extra)

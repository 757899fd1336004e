"""``Dedup``: exact and near duplicates, and benchmark overlap, over a whole dataset."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from pydantic import Field

from finereason.dedup.run import run_dedup
from finereason.dedup.signatures import DedupSettings
from finereason.pipeline.engines import Engine, LocalEngine
from finereason.pipeline.stage import StageResult
from finereason.pipeline.step import Step, apply_through_folders
from finereason.schema import Sample


class Dedup(Step):
    """Drop duplicates (the first occurrence is kept) and samples that contain a benchmark item;
    every dropped sample is rejected naming its twin or the benchmark item."""

    name: ClassVar[str] = "dedup"
    summary: ClassVar[str] = "drop exact and near-duplicate samples, and samples overlapping benchmarks (--against)"

    against: list[str] = Field(default_factory=list, description=(
        "a benchmark dataset folder (e.g. from finereason ingest) to decontaminate against; repeatable"),
        json_schema_extra={"metavar": "BENCH"})
    text_threshold: float = Field(0.8, gt=0.0, le=1.0, description=(
        "MinHash Jaccard at or above which two questions are near-duplicates (default 0.8)"),
        json_schema_extra={"metavar": "J"})
    phash_distance: int = Field(4, ge=0, le=31, description=(
        "largest pHash Hamming distance (of 64 bits) for a near-identical image (default 4)"),
        json_schema_extra={"metavar": "D"})
    ngram: int = Field(8, ge=1, le=64, description="word n-gram size for benchmark text overlap (default 8, as Open-R1)",
                       json_schema_extra={"metavar": "N"})
    overlap_threshold: float = Field(0.5, ge=0.0, le=1.0, description=(
        "share of a sample's n-grams found in a benchmark question that counts as text overlap (default 0.5)"),
        json_schema_extra={"metavar": "F"})
    image_overlap_threshold: float = Field(0.5, ge=0.0, le=1.0, description=(
        "word overlap an image match also needs to count as contamination (default 0.5; 0 = any)"),
        json_schema_extra={"metavar": "F"})
    generic_df: int = Field(10, ge=2, le=1_000_000, description=(
        "benchmark n-grams and pictures shared by N or more benchmark items are templates, "
        "not evidence of contamination (default 10)"), json_schema_extra={"metavar": "N"})
    no_near: bool = Field(False, description="exact duplicates only (no MinHash; faster)")

    def dedup_settings(self) -> DedupSettings:
        return DedupSettings(
            text_threshold=self.text_threshold, phash_distance=self.phash_distance, ngram=self.ngram,
            overlap_threshold=self.overlap_threshold, image_overlap_threshold=self.image_overlap_threshold,
            generic_df=self.generic_df, near=not self.no_near,
        )

    def run(self, src: str | os.PathLike[str] | None, out: str | os.PathLike[str] | None,
            engine: Engine | None = None, *, overwrite: bool = False) -> dict[str, Any]:
        assert src is not None and out is not None
        engine = engine or LocalEngine()
        return run_dedup(str(src), str(out), self.dedup_settings(), against=self.against, workers=engine.workers,
                         overwrite=overwrite, engine=engine)

    def apply(self, samples: list[Sample]) -> StageResult:
        return apply_through_folders(self, samples)

"""``Verify``: extract each response's answer, grade it against the reference, flag format problems."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from pydantic import Field

from finereason.models.health import check_before_start
from finereason.pipeline.engines import Engine
from finereason.pipeline.step import Step, run_over_shards
from finereason.verify.quality import QualityConfig
from finereason.verify.stage import VerifyStage


class Verify(Step):
    """Grade every response by a cascade that records who decided; keeps every sample (select filters)."""

    name: ClassVar[str] = "verify"
    summary: ClassVar[str] = "extract answers, grade them against the ground truth, flag format and repetition problems"

    judge: str | None = Field(None, description="LLM judge model spec for the answers the rules leave undecided",
                              json_schema_extra={"metavar": "SPEC"})
    judge_unparsed: bool = Field(False, description=(
        "also send responses with no extractable answer to the judge (needs --judge)"))
    min_words: int = Field(100, ge=0, description="minimum response words (default 100, as the paper)")
    ngram: int = Field(50, ge=1, description="repetition window in words (default 50)")
    ngram_count: int = Field(3, ge=1, description="repetition count that flags (default 3)")
    language: str = Field("en", description="expected response language, or 'none' (default en)")
    no_think_required: bool = Field(False, description="do not require a <think> block")
    timeout: float = Field(5.0, gt=0.0, description="math-verify wall-clock limit per pair (s)")

    def stage(self, out: str | None = None) -> VerifyStage:
        quality = QualityConfig(
            require_think=not self.no_think_required,
            min_words=self.min_words,
            ngram_n=self.ngram,
            ngram_max_count=self.ngram_count,
            expected_language=None if self.language == "none" else self.language,
        )
        return VerifyStage(quality=quality, timeout_s=self.timeout, judge_spec=self.judge,
                           judge_unparsed=self.judge_unparsed,
                           journal_path=f"{out}/journal.sqlite" if self.judge and out else None)

    def run(self, src: str | os.PathLike[str] | None, out: str | os.PathLike[str] | None,
            engine: Engine | None = None, *, overwrite: bool = False) -> dict[str, Any]:
        assert src is not None and out is not None
        stage = self.stage(str(out))
        check_before_start(self.name, [self.judge])
        settings = stage.settings()
        extra = {"prompts": settings["prompts"], "models": {"judge": self.judge}} if self.judge else {}
        # One shard at a time: the verifier's math-verify pool already uses the cores.
        return run_over_shards(stage, src, out, engine, overwrite=overwrite, shards_in_flight=1, extra=extra)

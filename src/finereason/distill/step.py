"""``Caption`` and ``Distill``: the teacher stages, one journaled request per sample."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from pydantic import Field

from finereason.distill.dryrun import Estimate, estimate
from finereason.distill.stage import TeacherStage
from finereason.errors import UserError
from finereason.io.store import Dataset
from finereason.models.health import check_before_start
from finereason.models.types import SamplingParams
from finereason.pipeline.engines import Engine
from finereason.pipeline.step import Step, run_over_shards

#: Mean completion tokens the MMFineReason paper measured (Table 1 and §2), used by dry runs.
EXPECTED_TOKENS = {"caption": 610, "distill": 2910}


class TeacherStep(Step):
    """Options both teacher stages share; ``prompt`` and ``expected_tokens`` defaults differ."""

    teacher: str = Field(description=(
        "model spec: openai:<model>@<url>[,<url>…] | hf:<path> | builtin:smollm2 | vllm:<path>"),
        json_schema_extra={"metavar": "SPEC"})
    perception: str | None = Field(None, description=(
        "how a text-only teacher sees images: builtin:ocr, oracle (synthetic scene text), or a VLM spec"),
        json_schema_extra={"metavar": "SPEC"})
    concurrency: int | None = Field(None, ge=1, description="requests in flight (default: the backend's)")
    retries: int = Field(5, ge=0, description="retries per request on 429/5xx/timeouts/resets, with backoff (default 5)")
    max_tokens: int = Field(16384, ge=1, description="generation cap (default 16384: fits long reasoning)")
    temperature: float = Field(1.0, ge=0.0, description="default 1.0 (the paper's)")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="default 0.95 (sent; the public code dropped it)")
    samples: int = Field(1, ge=1, description="completions per sample (n); the first goes to the field")
    seed: int | None = Field(None, description="sampling seed, sent to the server")
    prompt: str = Field(description="prompt template name or file; needs a {question} placeholder",
                        json_schema_extra={"metavar": "NAME|FILE"})
    journal: str | None = Field(None, description="request journal (default OUT/journal.sqlite)",
                                json_schema_extra={"metavar": "FILE"})
    dry_run: bool = Field(False, description="print requests, estimated tokens and time, and spend nothing")
    tokens_per_s: float = Field(2000.0, gt=0.0, description=(
        "aggregate generation speed for the --dry-run time estimate (default 2000)"))
    expected_tokens: int = Field(ge=1, description="mean completion tokens for --dry-run")

    def stage(self, out: str | None = None) -> TeacherStage:
        params = SamplingParams(max_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p,
                                n=self.samples, seed=self.seed)
        journal = self.journal or (f"{out}/journal.sqlite" if out else None)
        return TeacherStage(self.name, self.teacher, params, self.prompt, journal_path=journal,
                            perception=self.perception, concurrency=self.concurrency, retries=self.retries)

    def estimate(self, src: str | os.PathLike[str]) -> Estimate:
        """Requests, tokens and time the run would take, spending nothing."""
        return estimate(Dataset(src), self.stage(), self.expected_tokens, self.tokens_per_s)

    def run(self, src: str | os.PathLike[str] | None, out: str | os.PathLike[str] | None,
            engine: Engine | None = None, *, overwrite: bool = False) -> dict[str, Any]:
        assert src is not None and out is not None
        if self.dry_run:
            raise UserError(f"{self.name}: dry_run writes nothing; call estimate() (or `finereason {self.name} "
                            "--dry-run`) instead of running it")
        stage = self.stage(str(out))
        template = stage.template()
        check_before_start(self.name, [stage.teacher, stage.perception])
        return run_over_shards(stage, src, out, engine, overwrite=overwrite, extra={
            "teacher_spec": stage.teacher,
            "prompt": {"id": template.id, "version": template.version, "sha256": template.sha256}})


class Caption(TeacherStep):
    """A dense caption of each sample's images into ``caption`` (for analysis and categories, not training)."""

    name: ClassVar[str] = "caption"
    summary: ClassVar[str] = "write a dense caption of each sample's images with a teacher model"

    prompt: str = Field("caption", description=(
        "prompt template name or file (default caption); needs a {question} placeholder"),
        json_schema_extra={"metavar": "NAME|FILE"})
    expected_tokens: int = Field(EXPECTED_TOKENS["caption"], ge=1, description=(
        f"mean completion tokens for --dry-run (default {EXPECTED_TOKENS['caption']}, the paper's mean)"))


class Distill(TeacherStep):
    """Long chain-of-thought from a teacher into ``response``; the teacher sees image(s) and question only."""

    name: ClassVar[str] = "distill"
    summary: ClassVar[str] = "distill long chain-of-thought from a teacher model into `response`"

    prompt: str = Field("distill", description=(
        "prompt template name or file (default distill); needs a {question} placeholder"),
        json_schema_extra={"metavar": "NAME|FILE"})
    expected_tokens: int = Field(EXPECTED_TOKENS["distill"], ge=1, description=(
        f"mean completion tokens for --dry-run (default {EXPECTED_TOKENS['distill']}, the paper's mean)"))

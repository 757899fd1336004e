"""``Clean``: rule-based cleaning of images, question text, options and answers, optionally then an LLM."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from finereason.clean.stage import CleanStage
from finereason.errors import UserError
from finereason.io.store import Dataset, DatasetError
from finereason.pipeline.engines import Engine
from finereason.pipeline.manifest import RunInfo
from finereason.pipeline.stage import ModelStage, shard_tasks
from finereason.pipeline.step import Step, run_batches, run_model_batches


class Clean(Step):
    """Images, question text, options and answers cleaned by rules; a sample that cannot be used is
    rejected with its reason. With ``llm``, each kept question also gets one LLM cleaning request."""

    name: ClassVar[str] = "clean"
    summary: ClassVar[str] = "clean images, question text, options and answers; reject unusable samples with a reason"

    max_side: int = Field(2048, ge=1, description=(
        "shrink images so the longest side is at most PX, keeping aspect (default 2048)"),
        json_schema_extra={"metavar": "PX"})
    max_aspect: float = Field(200.0, description=(
        "reject images whose long/short side ratio exceeds R; Qwen-VL processors fail above 200 (default 200; 0 = off)"),
        json_schema_extra={"metavar": "R"})
    max_text_chars: int = Field(100_000, ge=1, description=(
        "reject a sample whose question, an option or the answer is longer than N characters "
        "(text_too_long), before any other step; the longest question of the MMFineReason "
        "sample has 2,323 (default 100000)"),
        json_schema_extra={"metavar": "N"})
    llm: str | None = Field(None, description=(
        "also clean each question with this model (e.g. openai://host:8000/v1/<model>, hf:<path>)"),
        json_schema_extra={"metavar": "MODEL_SPEC"})
    llm_prompt: str = Field("clean", description=(
        "prompt template for --llm: a bundled name or a .txt file (default: clean)"),
        json_schema_extra={"metavar": "NAME|FILE"})
    llm_answers: bool = Field(False, description=(
        "with --llm: ask the model for the final answer of samples whose answer the rules "
        "cannot extract (prompt answer_extraction), instead of rejecting them"))
    journal: str | None = Field(None, description="request journal for --llm (default OUT/journal.sqlite)",
                                json_schema_extra={"metavar": "FILE"})
    concurrency: int | None = Field(None, ge=1, description="--llm requests in flight (default: the backend's)",
                                    json_schema_extra={"metavar": "N"})

    @field_validator("max_aspect")
    @classmethod
    def _aspect(cls, value: float) -> float:
        if value != 0 and value < 1:
            raise ValueError(f"must be 0 (off) or at least 1, got {value}")
        return value

    def rules(self) -> CleanStage:
        return CleanStage(max_side=self.max_side, max_aspect=self.max_aspect, max_text_chars=self.max_text_chars)

    def stage(self, out: str | None = None) -> CleanStage | ModelStage:
        """The rules; with ``llm``, the rules then the model as one model stage (journaled under ``out``)."""
        if self.llm_answers and not self.llm:
            raise UserError("--llm-answers needs --llm MODEL_SPEC (the model that extracts)")
        if not self.llm:
            return self.rules()
        try:
            from finereason.clean.llm import LLMClean, RulesThenLLM, SessionModel
            from finereason.clean.llm_answers import LLMAnswers
            from finereason.models import parse_spec
            from finereason.prompts import load_prompt
        except ImportError as e:
            raise UserError(f"--llm needs the model layer, which cannot be loaded ({e})") from e
        prompt = load_prompt(self.llm_prompt, expect=["question"])
        model_id = parse_spec(self.llm).model_id  # not the endpoints: moving hosts must not block a resume
        journal = self.journal or (f"{out}/journal.sqlite" if out else None)
        model = SessionModel(self.llm, journal, self.concurrency)
        answers = None
        if self.llm_answers:
            answer_prompt = load_prompt("answer_extraction", expect=["question", "solution"])
            answers = LLMAnswers(model, answer_prompt, model_id=model_id)
        return RulesThenLLM(self.rules(), LLMClean(model, prompt, model_id=model_id), answers)

    def run(self, src: str | os.PathLike[str] | None, out: str | os.PathLike[str] | None,
            engine: Engine | None = None, *, overwrite: bool = False) -> dict[str, Any]:
        assert src is not None and out is not None
        source = Dataset(src)
        paths = source.shard_paths()
        if not paths:
            raise DatasetError(f"{src}: no shards in data/ (nothing to clean)")
        inputs = [str(Path(src).resolve())]
        stage = self.stage(str(out))
        if isinstance(stage, CleanStage):
            info = RunInfo(stage.name, stage.version, stage.settings(), inputs, upstream=source.manifest())
            return run_batches(stage, shard_tasks(paths), out, info, engine, overwrite=overwrite)
        from finereason.models.health import check_before_start  # the model layer only with --llm

        check_before_start(self.name, [self.llm])
        # Rules then the LLM as one model stage: the journal opens once the output folder is checked,
        # so a rerun after a kill pays only for unfinished requests, and a shard with failures is redone.
        info = RunInfo(stage.name, stage.version, stage.settings(), inputs, upstream=source.manifest(),
                       extra={"prompts": _prompts(stage.settings()), "models": {"clean": self.llm}})
        return run_model_batches(stage, shard_tasks(paths), out, info, engine, overwrite=overwrite)


def _prompts(settings: dict[str, Any]) -> dict[str, str]:
    """The manifest's prompt references: the cleaning prompt, and answer extraction's with ``llm_answers``."""
    prompts = {"clean": settings["llm"]["prompt"]}
    if "llm_answers" in settings:
        prompts["answer_extraction"] = settings["llm_answers"]["prompt"]
    return prompts

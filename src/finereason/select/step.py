"""``Difficulty`` (pass rate of a small student over k samples) and ``Select`` (the training subset)."""

from __future__ import annotations

import os
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from finereason.distill.stage import TeacherStage
from finereason.io.store import Dataset
from finereason.models.health import check_before_start
from finereason.models.types import SamplingParams
from finereason.pipeline.engines import Engine
from finereason.pipeline.manifest import RunInfo
from finereason.pipeline.progress import StageProgress, say
from finereason.pipeline.stage import StageResult, Task
from finereason.pipeline.step import Step, apply_through_folders, run_batches, run_over_shards
from finereason.schema import Sample
from finereason.select.caps import GROUPINGS, CapPolicy
from finereason.select.difficulty import DifficultyStage
from finereason.select.holdout import record_split
from finereason.select.plan import any_verdict, make_plan
from finereason.select.stage import HoldoutStage, PlannedShardLoader, SelectStage
from finereason.select.subsets import DEFAULT_DROP_FLAGS, NAMED_SUBSETS, Rules, parse_interval

Subset = Literal[tuple(NAMED_SUBSETS)]  # type: ignore[valid-type]
Grouping = Literal[tuple(GROUPINGS)]  # type: ignore[valid-type]

#: ``verdict`` → the verdicts kept beside "correct" (see :class:`Rules`).
VERDICT_MODES: dict[str, tuple[str, ...]] = {
    "correct": ("unverifiable",),
    "correct+undecided": ("unverifiable", "undecided"),
    "any": (),
}


class Difficulty(Step):
    """Each sample asked k times of a student; each answer graded by the verify cascade; pass_rate =
    correct / graded. Failed requests are retried, never counted wrong."""

    name: ClassVar[str] = "difficulty"
    summary: ClassVar[str] = "score difficulty: a small student answers k times; pass rate = share graded correct"

    student: str = Field(description="student model spec", json_schema_extra={"metavar": "SPEC"})
    k: int = Field(4, ge=1, description="samples per question (default 4, as the paper)")
    perception: str | None = Field(None, description=(
        "how a text-only student sees: builtin:ocr, oracle, or a VLM spec"), json_schema_extra={"metavar": "SPEC"})
    max_tokens: int = Field(16384, ge=1, description=(
        "student budget (default 16384; the public code's 512 truncated thinking)"))
    temperature: float = Field(1.0, ge=0.0, description="default 1.0")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="default 0.95")
    seed: int | None = Field(None, description="sampling seed")
    concurrency: int | None = Field(None, ge=1, description="requests in flight")
    prompt: str = Field("student", description="student prompt (default 'student')",
                        json_schema_extra={"metavar": "NAME|FILE"})
    journal: str | None = Field(None, description="request journal (default OUT/journal.sqlite)",
                                json_schema_extra={"metavar": "FILE"})

    def stage(self, out: str | None = None) -> DifficultyStage:
        params = SamplingParams(max_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p,
                                n=self.k, seed=self.seed)
        journal = self.journal or (f"{out}/journal.sqlite" if out else None)
        student = TeacherStage("distill", self.student, params, self.prompt, journal_path=journal,
                               perception=self.perception, concurrency=self.concurrency, empty_is_failure=False)
        return DifficultyStage(student)

    def run(self, src: str | os.PathLike[str] | None, out: str | os.PathLike[str] | None,
            engine: Engine | None = None, *, overwrite: bool = False) -> dict[str, Any]:
        assert src is not None and out is not None
        check_before_start(self.name, [self.student, self.perception])
        return run_over_shards(self.stage(str(out)), src, out, engine, overwrite=overwrite)


class Select(Step):
    """Per sample: pass-rate range, then verdict, then flags (the first that applies is the reason);
    then over the whole dataset, reproducibly: caps, balance and a limit."""

    name: ClassVar[str] = "select"
    summary: ClassVar[str] = "pick a subset: pass-rate range, correct verdicts, clean flags, caps and balance"

    subset: Subset = Field("all", description=(  # type: ignore[valid-type]
        "named pass-rate subset: hard (== 0), medium+ (!= 1), all (no pass-rate filter; default)"),
        json_schema_extra={"group": "which"})
    pass_rate: list[str] | None = Field(None, description=(
        "keep pass rates in RANGE (repeat for a union): 0, 0:0.5, [0.25,0.75), (0,1]"),
        json_schema_extra={"group": "which", "metavar": "RANGE"})
    verdict: Literal["correct", "correct+undecided", "any"] = Field("correct", description=(
        "correct (default): keep samples whose verdict is 'correct' (and open-ended 'unverifiable' ones), "
        "rejecting others and unverified ones, whenever any sample has a verdict; correct+undecided: also keep "
        "'undecided'; any: ignore verdicts"))
    drop_flags: str = Field(",".join(DEFAULT_DROP_FLAGS), description=(
        f"drop samples with a flag starting with one of these (default: {','.join(DEFAULT_DROP_FLAGS)}; "
        "'' keeps all flagged samples)"), json_schema_extra={"metavar": "PREFIX,..."})
    require_clean: bool = Field(False, description="drop samples with any flag at all")
    cap_per_source: int | None = Field(None, ge=0, description="keep at most N samples per source",
                                       json_schema_extra={"metavar": "N"})
    cap_per_domain: int | None = Field(None, ge=0, description="keep at most N samples per domain",
                                       json_schema_extra={"metavar": "N"})
    balance: Grouping | None = Field(None, description=(  # type: ignore[valid-type]
        "even out sources or domains: with --limit, take samples round-robin over the groups; "
        "without, cut every group to the smallest group's size"))
    limit: int | None = Field(None, ge=0, description="keep at most N samples in total",
                              json_schema_extra={"metavar": "N"})
    seed: int = Field(0, description="seed of the order that caps, balance, limit and the RL hold-out use (default 0)")
    rl_holdout: int | None = Field(None, ge=0, description=(
        "hold N verifiable samples out of the output, uniformly at random, as RL prompts"),
        json_schema_extra={"metavar": "N"})
    rl_out: str | None = Field(None, description="where the RL hold-out goes (default: OUT-rl)",
                               json_schema_extra={"metavar": "DIR"})

    @field_validator("pass_rate")
    @classmethod
    def _ranges(cls, ranges: list[str] | None) -> list[str] | None:
        for text in ranges or []:
            parse_interval(text)  # RangeError (a ValueError) names what is wrong
        return ranges

    def run(self, src: str | os.PathLike[str] | None, out: str | os.PathLike[str] | None,
            engine: Engine | None = None, *, overwrite: bool = False) -> dict[str, Any]:
        assert src is not None and out is not None
        source = Dataset(src)
        paths = source.shard_paths()
        ranges = tuple(map(parse_interval, self.pass_rate)) if self.pass_rate else NAMED_SUBSETS[self.subset]
        verdicts = self.verdict != "any" and any_verdict(paths)
        prefixes = tuple(p.strip() for p in self.drop_flags.split(",") if p.strip())
        rules = Rules(ranges, verdicts, prefixes, self.require_clean, VERDICT_MODES[self.verdict])
        policy = CapPolicy(self.cap_per_source, self.cap_per_domain, self.balance, self.limit, self.seed,
                           self.rl_holdout or None)
        if self.verdict != "any" and not verdicts:
            say("select: no sample has a verdict (verify never ran), so the verdict filter is off")
        with StageProgress("select: plan", len(paths)) as bar:
            plan = make_plan(paths, rules, policy, on_shard=bar.advance)
        stage = SelectStage(rules, policy)
        settings = {
            "subset": None if self.pass_rate else self.subset,
            **stage.settings(),
            "input_shards": len(paths),
            "input_rows": sum(s.rows for s in plan.shards),
        }
        info = RunInfo(stage=stage.name, version=stage.version, settings=settings, inputs=[str(source.root)],
                       upstream=source.manifest(), extra={"selection": plan.stats()})
        tasks = [Task(i, PlannedShardLoader(s)) for i, s in enumerate(plan.shards)]
        manifest = run_batches(stage, tasks, out, info, engine, overwrite=overwrite)
        if not policy.rl_holdout:
            return manifest
        # The hold-out is a second dataset from the same plan, so the two sides are disjoint by construction.
        rl_out = self.rl_out or f"{str(out).rstrip('/')}-rl"
        held = HoldoutStage(policy)
        rl_info = RunInfo(stage=held.name, version=held.version, settings=settings, inputs=[str(source.root)],
                          upstream=source.manifest())
        rl_tasks = [Task(i, PlannedShardLoader(s)) for i, s in enumerate(plan.shards)]
        run_batches(held, rl_tasks, rl_out, rl_info, engine, overwrite=overwrite)
        return {**manifest, "rl_holdout": record_split(out, rl_out, policy)}

    def apply(self, samples: list[Sample]) -> StageResult:
        return apply_through_folders(self, samples)

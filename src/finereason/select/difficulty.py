"""``finereason difficulty``: pass rate of a small student over k samples, graded by the cascade.

MMFineReason's difficulty signal (Qwen3-VL-4B-Thinking, k=4): pass rate 0 gave the 123K subset
that matched the full 1.8M set. The public code capped its thinking student at 512 tokens and
counted failed requests as wrong; here the budget fits a reasoning model (default 16384), a
failed request is retried and never graded, and the raw student answers are kept in
``meta.student_responses`` / ``meta.student_verdicts``. A sample whose pass rate is 0 while the
teacher also disagrees with the ground truth is flagged ``likely_label_noise``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from finereason.distill.stage import TeacherStage
from finereason.io.store import Dataset
from finereason.models.types import SamplingParams
from finereason.pipeline.engines import engine_from_args
from finereason.pipeline.manifest import RunInfo
from finereason.models.health import check_before_start
from finereason.pipeline.options import EXIT_CODES, add_run_options, print_summary, report_failures
from finereason.pipeline.stage import StageResult, shard_tasks
from finereason.schema import Rejection, Sample
from finereason.verify.equivalence import Verifier, VerifyItem
from finereason.verify.extract import extract_answer
from finereason.verify.stage import answer_kind


@dataclass
class DifficultyStage:
    """Asks the student k times per sample (one request, n=k), grades each answer, stores the rate."""

    student: TeacherStage
    timeout_s: float = 5.0
    name: str = "difficulty"
    version: str = "1"
    _verifier: Verifier | None = field(default=None, repr=False)

    def settings(self) -> dict[str, Any]:
        return {**self.student.settings(), "k": self.student.params.n, "timeout_s": self.timeout_s}

    def open(self) -> None:
        self.student.open()

    def grade(self, answered: list[Sample]) -> None:
        if self._verifier is None:
            self._verifier = Verifier(timeout_s=self.timeout_s)
        items, owners = [], []
        for s in answered:
            for text in s.meta_get("student_responses"):
                found = extract_answer(text)
                items.append(VerifyItem(found.text if found else None, s.answer or "", s.options,
                                        answer_kind(s), s.question))
                owners.append(s)
        verdicts = self._verifier.verify_many(items)
        per: dict[str, list[str]] = {}
        for s, v in zip(owners, verdicts):
            per.setdefault(s.id, []).append(v.verdict)
        for s in answered:
            labels = per.get(s.id, [])
            graded = [x for x in labels if x != "error"]
            s.meta_set("student_verdicts", labels)
            s.pass_rate = sum(x == "correct" for x in graded) / len(graded) if graded else None
            s.flags = [f for f in s.flags if f not in ("likely_label_noise", "difficulty_grading_error")]
            if len(graded) < len(labels):
                s.flags.append("difficulty_grading_error")
            if s.pass_rate == 0 and s.verdict == "incorrect":
                s.flags.append("likely_label_noise")

    async def run(self, batch: list[Sample]) -> StageResult:
        kept: list[Sample] = []
        rejected: list[Rejection] = []
        no_answer = [s for s in batch if not s.answer]
        rejected += [Rejection(self.name, "missing_answer", "no ground truth to grade against", s) for s in no_answer]
        todo = [s for s in batch if s.answer]
        # The student writes into `response`; keep the teacher's response where it was.
        teacher = {s.id: (s.response, s.perception, dict(s.meta)) for s in todo}
        res = await self.student.run(todo)
        for s in res.kept:
            student_texts = s.meta_get("responses") or [s.response]
            s.response, s.perception, s.meta = teacher[s.id]
            s.meta_set("student_responses", student_texts)
            s.meta_set("student", self.student.teacher)
            kept.append(s)
        for r in res.rejected:
            assert r.sample is not None
            r.sample.response, r.sample.perception, r.sample.meta = teacher[r.sample.id]
            r.stage = self.name
        rejected += res.rejected
        await asyncio.to_thread(self.grade, kept)
        extra: Counter[str] = Counter(failed=res.extra.get("failed", 0),
                                      completion_tokens=res.extra.get("completion_tokens", 0))
        for s in kept:
            extra[f"pass_rate_{s.pass_rate}"] += 1
            extra["likely_label_noise"] += "likely_label_noise" in s.flags
        return StageResult(kept=kept, rejected=rejected, extra=dict(extra))

    def status(self) -> str:
        return self.student.status()

    async def aclose(self) -> None:
        if self._verifier is not None:
            self._verifier.close()
        await self.student.aclose()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "difficulty",
        help="score difficulty: a small student answers k times; pass rate = share graded correct",
        description=(
            "Each sample is asked k times (one request with n=k) of the student model, each answer is\n"
            "graded against the ground truth by the verify cascade, and pass_rate = correct / graded.\n"
            "Failed requests are retried and never counted wrong (rerun to retry what still failed).\n"
            "Raw answers go to meta.student_responses; pass rate 0 with an incorrect teacher verdict\n"
            "is flagged likely_label_noise. Then `finereason select --subset hard` (= 0) or medium+ (≠ 1).\n\n"
            "example: finereason difficulty runs/verified --student openai:Qwen/Qwen3-VL-4B-Thinking@http://gpu3:8000/v1 --k 4 --out runs/scored\n\n"
            + EXIT_CODES
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", metavar="DIR", help="input dataset folder (samples with an answer)")
    p.add_argument("--student", required=True, metavar="SPEC", help="student model spec")
    p.add_argument("--k", type=int, default=4, help="samples per question (default 4, as the paper)")
    p.add_argument("--perception", metavar="SPEC", help="how a text-only student sees: builtin:ocr, oracle, or a VLM spec")
    p.add_argument("--max-tokens", type=int, default=16384, help="student budget (default 16384; the public code's 512 truncated thinking)")
    p.add_argument("--temperature", type=float, default=1.0, help="default 1.0")
    p.add_argument("--top-p", type=float, default=0.95, help="default 0.95")
    p.add_argument("--seed", type=int, default=None, help="sampling seed")
    p.add_argument("--concurrency", type=int, default=None, help="requests in flight")
    p.add_argument("--prompt", default="student", metavar="NAME|FILE", help="student prompt (default 'student')")
    p.add_argument("--journal", metavar="FILE", help="request journal (default OUT/journal.sqlite)")
    add_run_options(p, models=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    src = Dataset(args.dir)
    params = SamplingParams(max_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p,
                            n=args.k, seed=args.seed)
    student = TeacherStage("distill", args.student, params, args.prompt,
                           journal_path=args.journal or f"{args.out}/journal.sqlite",
                           perception=args.perception, concurrency=args.concurrency)
    stage = DifficultyStage(student)
    tasks = shard_tasks(src.shard_paths())
    info = RunInfo(stage.name, stage.version, stage.settings(), inputs=[str(src.root)], upstream=src.manifest())

    check_before_start(stage.name, [args.student, args.perception])

    async def main() -> dict:
        try:
            return await engine_from_args(args).run_async_stage(
                stage, tasks, args.out, info, total=len(tasks), overwrite=args.overwrite, status=stage.status,
                start=stage.open)
        finally:
            await stage.aclose()

    manifest = asyncio.run(main())
    print_summary(manifest)
    return report_failures(manifest)

"""The difficulty stage: pass rate of a small student over k samples, graded by the cascade.

MMFineReason's difficulty signal (Qwen3-VL-4B-Thinking, k=4): pass rate 0 gave the 123K subset
that matched the full 1.8M set. The public code capped its thinking student at 512 tokens and
counted failed requests as wrong; here the budget fits a reasoning model (default 16384), a
failed request is retried and never graded, and the raw student answers are kept in
``meta.student_responses`` / ``meta.student_verdicts``. A sample whose pass rate is 0 while the
teacher also disagrees with the ground truth is flagged ``likely_label_noise``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from finereason.distill.stage import TeacherStage
from finereason.models.session import RunContext
from finereason.pipeline.stage import StageResult
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

    def open(self, context: RunContext | None = None) -> None:
        self.student.open(context)

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
        # Open-ended samples have no ground truth to score against: kept, unscored (no pass rate).
        unscored = [s for s in batch if not s.answer and s.answer_type == "open"]
        no_answer = [s for s in batch if not s.answer and s.answer_type != "open"]
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
        scored, kept = kept, unscored + kept
        stats: Counter[str] = Counter(completion_tokens=res.stats.get("completion_tokens", 0),
                                      open_unscored=len(unscored))
        for s in scored:
            stats[f"pass_rate_{s.pass_rate}"] += 1
            stats["likely_label_noise"] += "likely_label_noise" in s.flags
        return StageResult(kept=kept, rejected=rejected, failed=res.failed, stats=dict(stats))

    def status(self) -> str:
        return self.student.status()

    async def aclose(self) -> None:
        if self._verifier is not None:
            self._verifier.close()
        await self.student.aclose()

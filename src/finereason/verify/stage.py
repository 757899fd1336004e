"""The ``verify`` stage: extract each response's answer, grade it, flag format problems.

It keeps every sample: it writes ``pred_answer``, ``verdict``, ``verdict_by`` and quality
``flags``; ``select`` is what filters. The cheap cascade steps run in this process and the
math-verify step in the verifier's own killable worker pool, so the stage is run on the event
loop (like model stages) rather than in the engine's process pool: two pools would fight for
two cores, and an LLM judge needs the loop anyway.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from finereason.schema import Sample
from finereason.pipeline.stage import StageResult
from finereason.verify.equivalence import JUDGE_CALL_FAILED, Verdict, Verifier, VerifyItem
from finereason.verify.extract import extract_answer, split_think
from finereason.verify.quality import QualityConfig, check_caption, check_response

#: Our Sample.answer_type values → the verifier's three kinds (None lets it infer).
_KIND = {"choice": "choice", "integer": "math", "number": "math", "expression": "math",
         "text": "text", "yes_no": "text"}

#: Sources whose answers are free-form prose: the paper skips the <answer> check for them.
NO_ANSWER_TAG_SOURCES = ("VisualWebInstruct", "LLaVA-CoT", "AI2D")

#: The detail of an open-ended sample's verdict (no reference: neither rules nor a judge can grade).
OPEN_ENDED = "open-ended question: no reference answer to grade against"


def answer_kind(sample: Sample) -> str | None:
    return _KIND.get(sample.answer_type or "")


def _name_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.casefold())


def source_matches(source: str, names: tuple[str, ...]) -> bool:
    """Whether ``source`` names one of ``names``, however it is spelled.

    Case, punctuation and decoration are ignored and the name may sit anywhere in the source:
    ``FineVision-ai2d_merged`` is AI2D, ``FineVision-visualwebinstruct(filtered)`` is
    VisualWebInstruct, ``llava_cot`` is LLaVA-CoT.
    """
    key = _name_key(source)
    return any(_name_key(n) and _name_key(n) in key for n in names)


def flag_codes(flags: list[str]) -> list[str]:
    """``check_response`` returns "code: detail"; records keep the code (``select --drop-flags`` matches it)."""
    return [f.split(":", 1)[0] for f in flags]


@dataclass
class VerifyStage:
    """Grade ``response`` against ``answer``; ``judge`` (optional) is a callable used by the cascade."""

    quality: QualityConfig = field(default_factory=QualityConfig)
    timeout_s: float = 5.0
    judge_spec: str | None = None
    journal_path: str | None = None
    judge_max_tokens: int = 4096
    judge_unparsed: bool = False
    no_answer_tag_sources: tuple[str, ...] = NO_ANSWER_TAG_SOURCES
    name: str = "verify"
    version: str = "1"
    _verifier: Verifier | None = None
    _judge_client: Any = None
    _context: Any = None  # the engine's RunContext, for the judge's client

    def settings(self) -> dict[str, Any]:
        out = {"quality": asdict(self.quality), "timeout_s": self.timeout_s, "judge": self.judge_spec,
               "judge_max_tokens": self.judge_max_tokens, "judge_unparsed": self.judge_unparsed,
               "no_answer_tag_sources": list(self.no_answer_tag_sources)}
        if self.judge_spec:
            from finereason.verify.judge import judge_prompt

            out["prompts"] = {"judge": judge_prompt().ref}
        return out

    def _config_for(self, s: Sample) -> QualityConfig:
        if source_matches(s.source, self.no_answer_tag_sources):
            return QualityConfig(**{**asdict(self.quality), "require_answer": False})
        return self.quality

    def _open(self, loop: asyncio.AbstractEventLoop) -> Verifier:
        """The verifier, and the judge bridged to ``loop`` so its calls are journaled and retried."""
        if self._verifier is None:
            judge = None
            if self.judge_spec:
                from finereason.models.session import LazyClient, blocking_text_call
                from finereason.models.types import SamplingParams
                from finereason.verify.judge import prompt_judge

                # A judge that reasons needs room: the public code's 512-token cap truncated it.
                params = SamplingParams(max_tokens=self.judge_max_tokens, temperature=0.0, top_p=1.0)
                self._judge_client = LazyClient(self.judge_spec, self.journal_path, context=self._context)
                judge = prompt_judge(blocking_text_call(self._judge_client.get(), params, loop))
            self._verifier = Verifier(timeout_s=self.timeout_s, judge=judge, judge_unparsed=self.judge_unparsed)
        return self._verifier

    def grade(self, batch: list[Sample], verifier: Verifier) -> list[Sample]:
        """Blocking: run in a thread (the judge, if any, blocks on the event loop from there)."""
        items, todo = [], []
        for s in batch:
            previous = set(s.meta_get("verify_flags", []))  # a re-verify replaces its own flags only
            found = extract_answer(s.response) if s.response else None
            s.pred_answer = found.text if found else None
            finish = s.meta_get("finish_reason")
            mine = flag_codes(check_response(s.response, finish_reason=finish, config=self._config_for(s)))
            if s.caption is not None:
                mine += flag_codes(check_caption(s.caption))
            s.flags = [f for f in s.flags if f not in previous] + mine
            s.meta_set("verify_flags", mine)
            if not s.response:
                s.verdict, s.verdict_by = "unparsed", "none"
                continue
            if s.answer is None and s.answer_type == "open":
                s.verdict, s.verdict_by = "unverifiable", "none"
                s.meta_set("verify_detail", OPEN_ENDED)
                continue
            if s.answer is None:
                s.verdict, s.verdict_by = "error", "none"
                s.meta_set("verify_detail", "no reference answer")
                continue
            items.append(VerifyItem(s.pred_answer, s.answer, s.options, answer_kind(s), s.question,
                                    split_think(s.response).outside))
            todo.append(s)
        verdicts: list[Verdict] = verifier.verify_many(items)
        for s, v in zip(todo, verdicts):
            s.verdict, s.verdict_by = v.verdict, v.verdict_by
            if v.detail:
                s.meta_set("verify_detail", v.detail)
        return batch

    async def run(self, batch: list[Sample]) -> StageResult:
        verifier = self._open(asyncio.get_running_loop())
        kept = await asyncio.to_thread(self.grade, batch, verifier)
        counts: dict[str, Any] = {}
        for s in kept:
            counts[f"verdict_{s.verdict}"] = counts.get(f"verdict_{s.verdict}", 0) + 1
            counts[f"by_{s.verdict_by}"] = counts.get(f"by_{s.verdict_by}", 0) + 1
            for f in s.flags:
                counts[f"flag_{f}"] = counts.get(f"flag_{f}", 0) + 1
        # A judge request that failed counts as failed: the shard is redone on rerun.
        failed = sum(s.verdict_by == "judge" and s.verdict == "error"
                     and str(s.meta_get("verify_detail", "")).startswith(JUDGE_CALL_FAILED) for s in kept)
        return StageResult(kept=kept, failed=failed, stats=counts)

    def open(self, context: Any = None) -> None:
        """The verifier (and judge) open on first use, bound to the running loop; keep the context."""
        self._context = context

    def status(self) -> str:
        return ""

    async def aclose(self) -> None:
        if self._verifier is not None:
            self._verifier.close()
            self._verifier = None
        if self._judge_client is not None:
            await self._judge_client.aclose()

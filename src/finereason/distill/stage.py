"""The teacher stages: ``caption`` writes ``caption``, ``distill`` writes ``response``.

Both are one request per sample through the journaled client, so a rerun after a crash pays
only for requests that never completed. A request that fails after its retries becomes a
rejection with the reason and marks its shard unfinished, so a rerun retries exactly those.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from finereason.distill.messages import MissingScene, Seeing, open_seeing, question_text
from finereason.errors import UserError
from finereason.models.session import LazyClient, RunContext
from finereason.models.spec import parse_spec
from finereason.models.types import Completion, ModelError, SamplingParams
from finereason.pipeline.stage import StageResult
from finereason.prompts import Prompt, load_prompt
from finereason.schema import Rejection, Sample

#: What each stage writes, and the prompt it renders by default.
KINDS = {"caption": ("caption", "caption"), "distill": ("response", "distill")}


@dataclass
class TeacherStage:
    kind: str  # "caption" | "distill"
    teacher: str
    params: SamplingParams
    prompt: str  # a template name or a file path
    journal_path: str | None = None
    perception: str | None = None
    concurrency: int | None = None
    retries: int = 5
    version: str = "1"
    #: An empty completion is a failed, retried request (a response to keep must say something);
    #: the difficulty stage's student turns it off, since an empty answer there is a wrong one.
    empty_is_failure: bool = True
    _client: LazyClient | None = field(default=None, repr=False)
    _seeing: Seeing | None = field(default=None, repr=False)
    _prompt: Prompt | None = field(default=None, repr=False)
    _started: float = 0.0
    _finished: int = 0

    @property
    def name(self) -> str:
        return self.kind

    def template(self) -> Prompt:
        if self._prompt is None:
            self._prompt = load_prompt(self.prompt, expect=["question"])
        return self._prompt

    def settings(self) -> dict[str, Any]:
        """The model's identity, not its endpoints: a rerun may point at other servers."""
        return {"teacher": parse_spec(self.teacher).model_id, "sampling": self.params.as_dict(),
                "prompt": self.template().ref, "perception": self.perception}

    def open(self, context: RunContext | None = None) -> None:
        """Open the client and perceiver once per process; fails at start-up if the model can't see."""
        if self._client is None:
            self._started = time.monotonic()
            self._client = LazyClient(self.teacher, self.journal_path, self.concurrency, self.retries,
                                      empty_is_failure=self.empty_is_failure, context=context)
            self._seeing = open_seeing(self.perception, self.journal_path, self.concurrency, self.retries, context)
            model = self._client.get().model
            if not model.accepts_images and self.perception is None:
                raise UserError(
                    f"{self.teacher} is text-only: give --perception (builtin:ocr, oracle, or a VLM spec) "
                    "so it can see the images"
                )

    async def _one(self, s: Sample) -> Sample | Rejection:
        self.open()
        assert self._client is not None and self._seeing is not None
        client = self._client.get()
        text = self.template().render(question=question_text(s))
        try:
            messages, perception = await self._seeing.messages(client.model, s, text)
            completions: list[Completion] = await client.complete(messages, self.params)
        except MissingScene as e:
            return Rejection(self.kind, "no_oracle_scene", str(e), s)
        except ModelError as e:
            return Rejection(self.kind, f"request_failed:{e.reason}", e.detail[:500], s)
        first = completions[0]
        setattr(s, KINDS[self.kind][0], first.text)
        if perception is not None:
            s.perception = perception
        s.meta_set(f"{self.kind}_finish_reason", first.finish_reason)
        if self.kind == "distill":
            s.meta_set("finish_reason", first.finish_reason)
            s.meta_set("teacher", self.teacher)
            if len(completions) > 1:
                s.meta_set("responses", [c.text for c in completions])
        s.meta_set(f"{self.kind}_tokens", sum(c.completion_tokens for c in completions))
        s.meta_set(f"{self.kind}_prompt_tokens", first.prompt_tokens)
        return s

    async def _counted(self, s: Sample) -> Sample | Rejection:
        try:
            return await self._one(s)
        finally:
            self._finished += 1  # for the progress line: samples answered or failed so far

    async def run(self, batch: list[Sample]) -> StageResult:
        outcomes = await asyncio.gather(*(self._counted(s) for s in batch))
        kept = [o for o in outcomes if isinstance(o, Sample)]
        rejected = [o for o in outcomes if isinstance(o, Rejection)]
        stats: Counter[str] = Counter()
        for s in kept:
            stats["completion_tokens"] += s.meta_get(f"{self.kind}_tokens", 0)
            stats["prompt_tokens"] += s.meta_get(f"{self.kind}_prompt_tokens", 0)
            stats["truncated"] += s.meta_get(f"{self.kind}_finish_reason") == "length"
        failed = sum(r.reason.startswith("request_failed") for r in rejected)
        return StageResult(kept=kept, rejected=rejected, failed=failed, stats=dict(stats))

    def status(self) -> str:
        """Live text for the progress bar: tokens/s, requests in flight, retries, errors."""
        if self._client is None or self._client._client is None:
            return ""
        c = self._client._client
        u = c.usage
        rate = u.completion_tokens / max(time.monotonic() - self._started, 1e-9)
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(u.errors.items(), key=lambda kv: -kv[1]))
        return (f"{self._finished} samples done · {rate:.0f} tok/s · {c.in_flight} in flight · {u.cached} cached · "
                f"{u.retries} retries · {u.failed} failed" + (f" ({reasons})" if reasons else ""))

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        if self._seeing is not None:
            await self._seeing.aclose()


def default_prompt(kind: str) -> str:
    return KINDS[kind][1]

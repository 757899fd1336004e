"""LLM answer extraction (MMFineReason stage 1, optional): a ground truth from a worked solution.

Where a source has no explicit ground truth, the paper asks Qwen3-30B-A3B-Thinking (the cleaning
model) to extract one from the original solution with ``prompts/answer_extraction.txt``: the last
``\\boxed{}`` verbatim; else the explicitly final result, units dropped, ``%`` kept; several values
joined by ", "; words kept; nothing when no final answer is stated. The rules of
:mod:`finereason.clean.answers` apply the same conventions without a model and refuse what they
cannot find (``answer_unextracted``); ``finereason clean --llm … --llm-answers`` hands exactly
those samples to this pass. The public code shipped the prompt but never loaded it.

The reply is parsed strictly: outside any ``<think>`` block there must be one
``<answer>…</answer>``; an empty one means "no final answer" and the sample stays rejected
(``answer_unextracted``, the detail says the model found none). A truncated or unparseable reply,
or a failed request (counted as ``failed`` so a rerun redoes the shard), also leaves the rejection
in place with its reason. An extracted answer replaces the raw one (kept in
``meta["original_answer"]``) and the sample goes through the rule stage again, so it is
standardised and its images are cleaned like every other sample.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections import Counter
from typing import Any

from finereason.clean.llm import DEFAULT_PARAMS  # the same Qwen3 thinking model as the cleaner
from finereason.models.types import Message, ModelError, SamplingParams
from finereason.schema import Rejection, Sample

#: The rule stage's reason for a sample this pass may rescue.
RESCUABLE = "answer_unextracted"

_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)


class ExtractionError(ValueError):
    """A reply that does not follow the prompt's format."""


def parse_extraction(reply: str) -> str | None:
    """The extracted answer, or None when the model says the solution states none.

    Raises :class:`ExtractionError` when reasoning never closed, when there is no ``<answer>``
    tag outside it, or when there are several (the prompt asks for one).
    """
    if "</think>" in reply:
        reply = reply.rsplit("</think>", 1)[1]
    elif "<think>" in reply:
        raise ExtractionError("the reply ended inside <think>")
    tags = _ANSWER_RE.findall(reply)
    if not tags:
        raise ExtractionError("no <answer>…</answer> in the reply")
    if len(tags) > 1:
        raise ExtractionError(f"{len(tags)} <answer> tags in the reply")
    return tags[0].strip() or None


class LLMAnswers:
    """Ask a model for the final answer of each sample the rules could not standardise."""

    name = "llm_answers"
    version = "1"

    def __init__(self, model: Any, prompt: Any, params: SamplingParams = DEFAULT_PARAMS,
                 model_id: str | None = None) -> None:
        self.model = model
        self.prompt = prompt  # a loaded Prompt with placeholders question, solution
        self.params = params
        self.model_id = model_id or str(getattr(model, "spec", type(model).__name__))

    def settings(self) -> dict[str, Any]:
        return {"model": self.model_id, "prompt": self.prompt.ref, "params": self.params.as_dict()}

    async def rescue(self, rejected: list[Rejection], counts: Counter[str]) -> tuple[list[Sample], list[Rejection]]:
        """Samples with an extracted answer (to run through the rules again), and the rest, still rejected."""
        todo: list[Rejection] = []
        others: list[Rejection] = []
        for r in rejected:
            (todo if r.reason == RESCUABLE and r.sample is not None else others).append(r)
        results = await asyncio.gather(*(self._one(r, counts) for r in todo))
        return ([x for x in results if isinstance(x, Sample)],
                others + [x for x in results if isinstance(x, Rejection)])

    async def _one(self, rejection: Rejection, counts: Counter[str]) -> Sample | Rejection:
        sample = rejection.sample
        assert sample is not None
        text = self.prompt.render(question=sample.question, solution=sample.answer or "")
        messages: list[Message] = [{"role": "user", "content": text}]
        counts["llm_answer_requests"] += 1

        def still(detail: str) -> Rejection:
            return dataclasses.replace(rejection, detail=f"{rejection.detail}; LLM answer extraction: {detail}")

        try:
            completions = await self.model.complete(messages, self.params)
        except ModelError as e:
            counts["failed"] += 1  # RulesThenLLM moves it to StageResult.failed: a shard with failures is redone on rerun
            return still(f"request failed ({e})")
        if not completions or completions[0].truncated:
            counts["llm_answer_unparsed"] += 1
            return still("truncated reply" if completions else "no completion")
        try:
            answer = parse_extraction(completions[0].text)
        except ExtractionError as e:
            counts["llm_answer_unparsed"] += 1
            return still(str(e))
        if answer is None:
            counts["llm_answer_none"] += 1
            return still("the model found no final answer in the solution")
        counts["llm_answer_extracted"] += 1
        out = dataclasses.replace(sample, answer=answer, meta=dict(sample.meta), flags=list(sample.flags))
        if "original_answer" not in out.meta and sample.answer is not None:
            out.meta_set("original_answer", sample.answer)
        out.meta_set("answer_from", "llm")
        return out

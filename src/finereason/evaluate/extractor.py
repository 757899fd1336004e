"""``eval --extractor SPEC``: an LLM reads the answer out of replies the rules left unparsed.

MathVista scores every reply through GPT-4 with its few-shot extraction prompt; here the rules of
:mod:`finereason.evaluate.statements` go first and only what they cannot read is sent, with that
same published prompt (``prompts/mathvista_extract.txt``, id and hash in the summary). The
extraction is then scored by the benchmark's own rule like any reply, so an extraction that names
no option or no number stays ``unparsed``: the LLM reads, it never decides equivalence. Calls go
through the journaled client, so a rerun pays only for what was not yet extracted.
"""

from __future__ import annotations

import asyncio
from typing import Any

from finereason.errors import UserError
from finereason.evaluate.benchmarks import Benchmark
from finereason.evaluate.calls import ModelPool, call
from finereason.evaluate.items import EvalItem
from finereason.models.client import ModelClient
from finereason.models.types import SamplingParams
from finereason.prompts import load_prompt

PROMPT = "mathvista_extract"
#: Greedy and short: the extraction is one answer.
PARAMS = SamplingParams(max_tokens=64, temperature=0.0)


async def extract_unparsed(bench: Benchmark, items: list[EvalItem], records: dict[str, dict], spec: str,
                           pool: ModelPool, extra: dict[str, Any]) -> int:
    """Add ``extraction`` to the record of every item whose reply the rules leave unparsed; returns how many."""
    from finereason.evaluate.results import score_records

    scores = score_records(bench, items, records)
    todo = [item for item in items
            if scores[item.id].verdict == "unparsed" and (records[item.id].get("response") or "").strip()]
    prompt = load_prompt(PROMPT, expect={"query", "response"})
    extra["extractor"] = {"model": spec, "prompt": prompt.ref, "sent": len(todo)}
    if not todo:
        return 0
    client = pool.get(spec)
    if not isinstance(client, ModelClient):
        raise UserError(f"--extractor {spec} is not a text model")

    async def one(item: EvalItem) -> None:
        text = prompt.render(query=bench.question_text(item), response=records[item.id]["response"])
        done = await call(client, [{"role": "user", "content": text}], PARAMS)
        record = records[item.id]
        if done.error is not None:
            record["extraction_error"] = done.error
        else:
            record["extraction"] = (done.text or "").strip()

    await asyncio.gather(*(one(item) for item in todo))
    return len(todo)

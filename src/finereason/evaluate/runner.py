"""One evaluation run: load a benchmark, get an answer per item, score, and write the results.

Modes (the model that answers is the *answerer*):

* ``direct``: the VLM (``model``) answers from the image(s) and the question.
* ``decoupled``: a perceiver VLM describes each image (generic instruction, or query-specific
  "contents to observe" from an instruction model, cached), then a text-only reasoner answers
  from the descriptions, the question and its options, optionally thinking step by step.
* ``extract-think``: the same with the visual-extraction prompt and thinking on, under a
  thinking budget and optional word suppression (Downscaling §4).
* ``no_image``: the answerer gets the question alone (visual-reliance baseline).
* ``responses``: no model: recorded responses are scored.

Writes ``DIR/items.jsonl`` (one line per item: prompts, descriptions, raw output, parsed answer,
verdict, tokens, latency), ``DIR/summary.json`` and ``DIR/report.html``. Model requests are
journaled in ``DIR/journal.sqlite`` (or the grid's shared journal), so rerunning the same command
resumes: finished requests are read back instead of generated.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, replace
from typing import Any

from finereason.errors import UserError
from finereason.evaluate.benchmarks import Benchmark, get_benchmark
from finereason.evaluate.calls import ModelPool, usage_since
from finereason.evaluate.config import MODULES, EvalConfig, Mode, default_decoding
from finereason.evaluate.extractor import extract_unparsed
from finereason.evaluate.instructions import Instruction, ensure_instructions
from finereason.evaluate.items import BenchmarkError, EvalItem, ItemError
from finereason.evaluate.perception import DescriptionCache, describe_items, join_descriptions
from finereason.evaluate.progress import ItemProgress
from finereason.evaluate.responses import load_responses
from finereason.evaluate.results import write_results
from finereason.evaluate.thinking import generate, suppression_extra, suppression_for, thinking_extra
from finereason.models.client import ModelClient
from finereason.models.types import SamplingParams
from finereason.prompts import Prompt, load_prompt

__all__ = ["MODULES", "EvalConfig", "Mode", "default_decoding", "load_items", "perceive", "run_eval"]


# ---------------------------------------------------------------------------------- prompts
def answer_prompt_name(cfg: EvalConfig, item: EvalItem) -> str:
    stem = "direct" if cfg.mode == "direct" or cfg.no_image else "reason"
    return stem + ("" if item.is_choice else "_open") + ("_cot" if cfg.think else "")


def perception_prompt_name(cfg: EvalConfig) -> str:
    if cfg.instructions == "generic":
        return "describe_generic"
    return "extract" if cfg.mode == "extract-think" else "describe"


def perception_instruction(cfg: EvalConfig, prompt: Prompt, instruction: Instruction | None) -> tuple[str, str]:
    """The instruction text for one item, and where its contents came from."""
    if "contents" not in prompt.placeholders:
        return prompt.render(), "generic"
    if instruction is None or instruction.contents is None:
        return load_prompt("describe_generic").render(), "fallback_generic"
    return prompt.render(contents=instruction.contents.rstrip(".")), "query"


# ---------------------------------------------------------------------------------- the run
def load_items(bench: Benchmark, cfg: EvalConfig) -> list[EvalItem]:
    items = bench.load(cfg.data)
    if not items:
        raise BenchmarkError(f"{cfg.data}: no items")
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise BenchmarkError(f"{cfg.data}: item id {item.id!r} appears twice")
        seen.add(item.id)
    return items[: cfg.limit] if cfg.limit else items


async def run_eval(cfg: EvalConfig, pool: ModelPool | None = None) -> dict[str, Any]:
    """Run one evaluation end to end and return its summary (also written to ``DIR/summary.json``)."""
    started = time.monotonic()
    bench = get_benchmark(cfg.benchmark).with_protocol(cfg.protocol)
    items = load_items(bench, cfg)
    cfg.out.mkdir(parents=True, exist_ok=True)
    owns_pool = pool is None
    pool = pool or ModelPool(cfg.journal_path(), concurrency=cfg.concurrency)
    before = pool.usage()
    extra: dict[str, Any] = {}
    try:
        if cfg.responses is not None:
            records = _recorded(bench, items, cfg, extra)
        else:
            records = await _answer(bench, items, cfg, pool, extra)
        if cfg.extractor:
            await extract_unparsed(bench, items, records, cfg.extractor, pool, extra)
        usage = usage_since(before, pool.usage())
    finally:
        if owns_pool:
            await pool.aclose()
    return write_results(bench, items, records, cfg, extra, usage, time.monotonic() - started)


def _recorded(bench: Benchmark, items: list[EvalItem], cfg: EvalConfig, extra: dict[str, Any]) -> dict[str, dict]:
    assert cfg.responses is not None
    recorded = load_responses(cfg.responses, bench.id_fields)
    ids = {item.id for item in items}
    unknown = sorted(set(recorded.responses) - ids)
    extra["responses"] = {"file": str(cfg.responses), "problems": recorded.problems[:20],
                          "n_problems": len(recorded.problems), "unknown_ids": unknown[:20], "n_unknown_ids": len(unknown)}
    records = {}
    for item in items:
        text = recorded.responses.get(item.id)
        records[item.id] = {"response": text} if text is not None else {"error": "no_response: the file has no response for this id"}
    return records


async def _answer(bench: Benchmark, items: list[EvalItem], cfg: EvalConfig, pool: ModelPool,
                  extra: dict[str, Any]) -> dict[str, dict]:
    params = cfg.sampling()
    records: dict[str, dict] = {item.id: {} for item in items}
    live = [item for item in items if item.error is None]
    questions = {item.id: bench.question_text(item) for item in items}
    descriptions: dict[str, Any] = {}
    if cfg.mode != "direct" and not cfg.no_image:
        descriptions = await perceive(live, questions, cfg, pool, params, records, extra)
        live = [item for item in live if "error" not in records[item.id]]
    assert cfg.answerer is not None
    client = pool.get(cfg.answerer)
    if not isinstance(client, ModelClient):
        raise UserError(f"{cfg.answerer} cannot answer questions (it is a perceiver)")
    sees_images = cfg.mode == "direct" and not cfg.no_image
    if sees_images and not client.model.accepts_images:
        raise UserError(f"{cfg.answerer} is text-only: use it as --reasoning in --mode decoupled, or add --no-image")
    suppress = ()
    if cfg.suppress_words:
        suppression = await suppression_for(client, cfg.suppress_words)
        suppress = suppression_extra(client, suppression)
        extra["suppression"] = suppression.report()
    answer_params = replace(params["answer"], extra=params["answer"].extra + thinking_extra(client, cfg.think))
    prompts = {}
    with ItemProgress(f"answer ({cfg.answerer})", len(live)) as progress:

        async def one(item: EvalItem) -> None:
            prompt = load_prompt(answer_prompt_name(cfg, item))
            if prompt.id.startswith("reason"):
                text = prompt.render(description=join_descriptions(descriptions[item.id]), question=questions[item.id])
            else:
                text = prompt.render(question=questions[item.id])
            prompts[prompt.id] = prompt.ref
            record = records[item.id]
            record["prompt"] = text
            content: Any = text
            if sees_images:
                try:
                    images = item.load_images()
                except ItemError as err:
                    record["error"] = f"bad_image: {err}"
                    progress.advance()
                    return
                content = [*({"type": "image", "image": b} for b in images), {"type": "text", "text": text}]
            thought = await generate(client, [{"role": "user", "content": content}], answer_params,
                                     budget=cfg.budget(), suppress=suppress)
            done = thought.call
            record.update(
                response=done.text,
                finish_reason=done.finish_reason,
                tokens={"prompt": done.prompt_tokens, "completion": done.completion_tokens},
                latency_s=round(done.latency_s, 4),
                cached=done.cached,
            )
            if cfg.think_budget:
                record["think_budget"] = {"forced_close": thought.forced_close, "phase_tokens": list(thought.phase_tokens)}
            if done.error is not None:
                record["error"] = f"model_error: {done.error}"
            progress.advance()

        await asyncio.gather(*(one(item) for item in live))
    extra["prompts"] = {**extra.get("prompts", {}), "answer": sorted(prompts.values())}
    return records


async def perceive(items: list[EvalItem], questions: dict[str, str], cfg: EvalConfig, pool: ModelPool,
                   params: dict[str, SamplingParams], records: dict[str, dict], extra: dict[str, Any]) -> dict[str, Any]:
    """Instructions (if query-specific) and descriptions for ``items``; failures go into ``records``.

    Returns ``id → [Description]`` for the items that were described.
    """
    assert cfg.perception is not None
    prompt = load_prompt(perception_prompt_name(cfg))
    extra["prompts"] = {"perception": prompt.ref}
    instructions: dict[str, Instruction] = {}
    if cfg.uses_instructions:
        assert cfg.writer is not None
        cache_path = cfg.instructions_file or cfg.out / "instructions.json"
        instructions = await ensure_instructions(items, questions, cache_path=cache_path, model_spec=cfg.writer,
                                                 params=params["instruction"], pool=pool)
        extra["prompts"]["instruction"] = load_prompt("contents_to_observe").ref
        if cfg.writer not in (cfg.reasoning, cfg.perception):
            await pool.release(cfg.writer)
    texts, sources = {}, {}
    for item in items:
        instruction = instructions.get(item.id)
        texts[item.id], sources[item.id] = perception_instruction(cfg, prompt, instruction)
        if cfg.uses_instructions:  # "fallback_generic": the instruction model's reply was unusable or failed
            records[item.id]["instruction"] = {"contents": instruction.contents if instruction else None,
                                               "source": sources[item.id]}
    cache = DescriptionCache(cfg.descriptions_file or cfg.out / "descriptions.jsonl")
    described = await describe_items(items, texts, perceiver=cfg.perception, params=params["perception"], pool=pool,
                                     cache=cache)
    if cfg.perception != cfg.reasoning:
        await pool.release(cfg.perception)
    for item in items:
        result = described.get(item.id, "perception_failed: no description")
        if isinstance(result, str):
            records[item.id]["error"] = result
        else:
            records[item.id]["perception"] = [asdict(d) for d in result]
            records[item.id]["description_words"] = sum(len(d.text.split()) for d in result)
    return {k: v for k, v in described.items() if not isinstance(v, str)}



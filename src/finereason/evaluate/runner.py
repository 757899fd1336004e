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
import json
import os
import statistics
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from finereason.evaluate.benchmarks import Benchmark, Score, get_benchmark
from finereason.evaluate.calls import ModelPool, usage_since
from finereason.evaluate.instructions import Instruction, ensure_instructions
from finereason.evaluate.items import BenchmarkError, EvalItem, ItemError
from finereason.evaluate.perception import DescriptionCache, describe_items, join_descriptions
from finereason.evaluate.progress import ItemProgress
from finereason.evaluate.responses import load_responses
from finereason.evaluate.stats import Outcome, accuracy_table
from finereason.evaluate.thinking import Budget, generate, suppression_extra, suppression_for, thinking_extra
from finereason.models.client import ModelClient
from finereason.models.types import SamplingParams
from finereason.prompts import Prompt, load_prompt

Mode = Literal["direct", "decoupled", "extract-think"]
MODULES = ("instruction", "perception", "answer")


def default_decoding(think: bool) -> dict[str, SamplingParams]:
    """Defaults as in the Downscaling code: greedy perception with 1024 tokens; a sampled reasoner
    (thinking: T=0.6, top-p 0.95, 4096+1024 tokens; direct: T=0.7, top-p 0.8, 1024 tokens)."""
    answer = (SamplingParams(max_tokens=5120, temperature=0.6, top_p=0.95) if think
              else SamplingParams(max_tokens=1024, temperature=0.7, top_p=0.8))
    return {
        "instruction": SamplingParams(max_tokens=64, temperature=0.0, top_p=1.0),
        "perception": SamplingParams(max_tokens=1024, temperature=0.0, top_p=1.0),
        "answer": answer,
    }


@dataclass
class EvalConfig:
    """Everything a run needs; written into ``summary.json`` as its settings."""

    benchmark: str
    data: Path
    out: Path
    mode: Mode = "direct"
    model: str | None = None
    perception: str | None = None
    reasoning: str | None = None
    instruction_model: str | None = None
    instructions: Literal["generic", "query"] = "query"
    think: bool = False
    think_budget: int | None = None
    answer_tokens: int = 1024
    suppress_words: tuple[str, ...] = ()
    no_image: bool = False
    responses: Path | None = None
    limit: int | None = None
    seed: int = 0
    decoding: dict[str, dict[str, Any]] = field(default_factory=dict)
    instructions_file: Path | None = None
    descriptions_file: Path | None = None
    journal: Path | None = None
    concurrency: int | None = None
    n_boot: int = 1000
    label: str | None = None

    def __post_init__(self) -> None:
        self.data, self.out = Path(self.data), Path(self.out)
        if self.mode == "extract-think":
            self.think = True
        if self.mode not in ("direct", "decoupled", "extract-think"):
            raise ValueError(f"mode must be direct, decoupled or extract-think, got {self.mode!r}")
        if self.instructions not in ("generic", "query"):
            raise ValueError(f"instructions must be generic or query, got {self.instructions!r}")
        for module in self.decoding:
            if module not in MODULES:
                raise ValueError(f"decoding module {module!r} is not one of {', '.join(MODULES)}")
        if self.responses is not None:
            return
        if self.mode == "direct" and not self.model:
            raise ValueError("--mode direct needs --model SPEC (a VLM, or any model with --no-image)")
        if self.mode != "direct" and not self.reasoning:
            raise ValueError(f"--mode {self.mode} needs --reasoning SPEC")
        if self.mode != "direct" and not self.no_image and not self.perception:
            raise ValueError(f"--mode {self.mode} needs --perception SPEC (or --no-image)")
        if self.think_budget is not None and self.think_budget < 1:
            raise ValueError("--think-budget must be a positive number of tokens")

    @property
    def answerer(self) -> str | None:
        return self.model if self.mode == "direct" else self.reasoning

    @property
    def uses_instructions(self) -> bool:
        return self.mode != "direct" and not self.no_image and self.instructions == "query" and self.responses is None

    @property
    def writer(self) -> str | None:
        """The instruction model: given, else the reasoner (Prism's choice)."""
        return self.instruction_model or self.reasoning

    def sampling(self) -> dict[str, SamplingParams]:
        params = default_decoding(self.think)
        for module, overrides in self.decoding.items():
            params[module] = replace(params[module], **overrides)
        if params["answer"].temperature > 0:
            params["answer"] = replace(params["answer"], seed=self.seed)
        return params

    def budget(self) -> Budget | None:
        return Budget(self.think_budget, self.answer_tokens) if self.think_budget else None

    def journal_path(self) -> Path:
        return self.journal or self.out / "journal.sqlite"

    def settings(self) -> dict[str, Any]:
        out = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}
        out["suppress_words"] = list(self.suppress_words)
        out["sampling"] = {m: p.as_dict() for m, p in self.sampling().items()}
        return out


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
    bench = get_benchmark(cfg.benchmark)
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
        raise ValueError(f"{cfg.answerer} cannot answer questions (it is a perceiver)")
    sees_images = cfg.mode == "direct" and not cfg.no_image
    if sees_images and not client.model.accepts_images:
        raise ValueError(f"{cfg.answerer} is text-only: use it as --reasoning in --mode decoupled, or add --no-image")
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
        texts[item.id], sources[item.id] = perception_instruction(cfg, prompt, instructions.get(item.id))
        if item.id in instructions:
            records[item.id]["instruction"] = {"contents": instructions[item.id].contents, "source": sources[item.id]}
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


# ---------------------------------------------------------------------------------- scoring & files
def score_records(bench: Benchmark, items: list[EvalItem], records: dict[str, dict]) -> dict[str, Score]:
    scores: dict[str, Score] = {}
    todo = []
    for item in items:
        record = records.get(item.id, {})
        error = f"load_error: {item.error}" if item.error else record.get("error")
        if error:
            scores[item.id] = Score("error", "none", None, "none", error)
        elif record.get("response") is None:
            scores[item.id] = Score("error", "none", None, "none", "no response")
        else:
            todo.append(item)
    for item, score in zip(todo, bench.score_many(todo, [records[i.id]["response"] for i in todo]), strict=True):
        scores[item.id] = score
    return scores


def _error_reason(detail: str) -> str:
    """``"bad_image: item 3: …"`` → ``bad_image``: every error detail starts with its reason key."""
    head = detail.split(":", 1)[0].strip()
    return head if head and " " not in head else "error"


def write_results(bench: Benchmark, items: list[EvalItem], records: dict[str, dict], cfg: EvalConfig,
                  extra: dict[str, Any], usage: dict[str, Any], elapsed: float) -> dict[str, Any]:
    """Score, then write items.jsonl, summary.json and report.html; returns the summary."""
    from finereason.evaluate.report import write_run_report

    scores = score_records(bench, items, records)
    lines, outcomes = [], []
    for item in items:
        score, record = scores[item.id], records.get(item.id, {})
        outcomes.append(Outcome(item.id, item.category, item.subcategory, score.verdict))
        lines.append({
            "id": item.id, "category": item.category, "subcategory": item.subcategory,
            "question_type": item.question_type, "answer": item.answer,
            **{k: v for k, v in record.items() if k != "error"},
            "parsed": score.pred, "parse_method": score.method, "verdict": score.verdict,
            "verdict_by": score.verdict_by, "detail": score.detail,
            **({"error": score.detail} if score.verdict == "error" else {}),
        })
    table = accuracy_table(outcomes, macro_over=bench.macro_over, seed=cfg.seed, n_boot=cfg.n_boot,
                           order=bench.category_order)
    errors: dict[str, int] = {}
    for line in lines:
        if line["verdict"] == "error":
            reason = _error_reason(line["error"])
            errors[reason] = errors.get(reason, 0) + 1
    latencies = [line["latency_s"] for line in lines if isinstance(line.get("latency_s"), float) and not line.get("cached")]
    words = [line["description_words"] for line in lines if "description_words" in line]
    summary = {
        "benchmark": bench.name,
        "title": bench.title,
        "label": cfg.label,
        "data": str(cfg.data),
        "mode": "responses" if cfg.responses else cfg.mode,
        "models": {"model": cfg.model, "perception": cfg.perception, "reasoning": cfg.reasoning,
                   "instruction": cfg.writer if cfg.uses_instructions else None},
        **table,
        "errors": errors,
        "tokens": {"prompt": sum(line.get("tokens", {}).get("prompt", 0) for line in lines),
                   "completion": sum(line.get("tokens", {}).get("completion", 0) for line in lines)},
        "latency_s": {"mean": round(statistics.fmean(latencies), 4), "median": round(statistics.median(latencies), 4)}
        if latencies else None,
        "description_words": {"mean": round(statistics.fmean(words), 2), "max": max(words)} if words else None,
        "prompts": extra.get("prompts", {}),
        "settings": cfg.settings(),
        "usage": usage,
        **{k: v for k, v in extra.items() if k != "prompts"},
        "elapsed_s": round(elapsed, 2),
    }
    _write_jsonl(cfg.out / "items.jsonl", lines)
    _write_json(cfg.out / "summary.json", summary)
    write_run_report(summary, lines, cfg.out / "report.html")
    return summary


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    tmp.replace(path)

"""The perception × reasoning grid and its bottleneck attribution (Downscaling §3.3).

Every perceiver is paired with every reasoner on the same items. Work is ordered so nothing is
paid twice and big models do not share memory needlessly: instructions are written once (one
file for the whole grid); each perceiver describes every item once, then is unloaded; each
reasoner then answers from every perceiver's cached descriptions (and, with ``no_image``, from
the question alone), then is unloaded. All requests share one journal, so a killed grid resumes.

Attribution compares the baseline pair (large perceiver + large reasoner) with the pair where
only the perceiver shrinks and the pair where only the reasoner shrinks: the larger drop marks
the bottleneck. Drops are paired over the same items, per category, with bootstrap intervals;
the no-image gap (baseline minus the large reasoner with no description) measures how much the
task needs the image at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from finereason.errors import UserError
from finereason.evaluate.benchmarks import available, get_benchmark
from finereason.evaluate.calls import ModelPool
from finereason.evaluate.config import MODULES, EvalConfig
from finereason.evaluate.runner import load_items, perceive, run_eval
from finereason.evaluate.stats import Outcome, correctness, paired_drop
from finereason.evaluate.thinking import parse_words
from finereason.pipeline.progress import say


class GridConfigError(UserError):
    """A grid config that does not validate; the message names the file and the key."""


class Pair(BaseModel):
    model_config = ConfigDict(extra="forbid")
    perceiver: str
    reasoner: str


class Decoding(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)

    def overrides(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class GridConfig(BaseModel):
    """``finereason eval-grid`` config. Paths are relative to the config file."""

    model_config = ConfigDict(extra="forbid")
    benchmark: str
    data: Path
    out: Path | None = None
    mode: Literal["decoupled", "extract-think"] = "decoupled"
    instructions: Literal["generic", "query"] = "query"
    instruction_model: str | None = None
    think: bool = False
    think_budget: int | None = Field(None, ge=1)
    answer_tokens: int = Field(1024, ge=1)
    suppress_words: list[str] = []
    limit: int | None = Field(None, ge=1)
    seed: int = 0
    n_boot: int = Field(1000, ge=0)
    concurrency: int | None = Field(None, ge=1)
    perceivers: dict[str, str] = Field(min_length=1)
    reasoners: dict[str, str] = Field(min_length=1)
    large: Pair | None = None
    small: Pair | None = None
    no_image: bool = True
    decoding: dict[str, Decoding] = {}

    @field_validator("benchmark")
    @classmethod
    def _known_benchmark(cls, name: str) -> str:
        if name not in available():
            raise ValueError(f"unknown benchmark {name!r}; available: {', '.join(available())}")
        return name

    @field_validator("decoding")
    @classmethod
    def _known_modules(cls, decoding: dict[str, Decoding]) -> dict[str, Decoding]:
        unknown = set(decoding) - set(MODULES)
        if unknown:
            raise ValueError(f"unknown module(s) {', '.join(sorted(unknown))}; use {', '.join(MODULES)}")
        return decoding

    @model_validator(mode="after")
    def _pairs_name_models(self) -> GridConfig:
        if (self.large is None) != (self.small is None):
            raise ValueError("give both 'large' and 'small' (the pairs attribution compares) or neither")
        for which in ("large", "small"):
            pair = getattr(self, which)
            if pair is None:
                continue
            if pair.perceiver not in self.perceivers:
                raise ValueError(f"{which}.perceiver {pair.perceiver!r} is not a key of 'perceivers'")
            if pair.reasoner not in self.reasoners:
                raise ValueError(f"{which}.reasoner {pair.reasoner!r} is not a key of 'reasoners'")
        if self.large and self.small and (self.large.perceiver == self.small.perceiver
                                          or self.large.reasoner == self.small.reasoner):
            raise ValueError("'large' and 'small' must differ in both perceiver and reasoner")
        for name in (*self.perceivers, *self.reasoners):
            if not name or "/" in name or name.startswith("."):
                raise ValueError(f"model name {name!r} must be a plain folder name (no '/')")
        return self


def load_grid_config(path: Path) -> GridConfig:
    """Read and validate; errors name the file and the offending key."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise GridConfigError(f"{path}: cannot read ({err.strerror})") from err
    except yaml.YAMLError as err:
        raise GridConfigError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(raw, dict):
        raise GridConfigError(f"{path}: a grid config is a mapping (benchmark, data, perceivers, reasoners, …)")
    try:
        config = GridConfig.model_validate(raw)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            key = ".".join(str(p) for p in e["loc"]) or "(top level)"
            msg = {"extra_forbidden": "unknown key", "missing": "required key is missing"}.get(e["type"], e["msg"])
            problems.append(f"{key}: {msg}")
        raise GridConfigError(f"{path}: " + "; ".join(problems)) from None
    base = path.parent
    config.data = config.data if config.data.is_absolute() else base / config.data
    if config.out is not None and not config.out.is_absolute():
        config.out = base / config.out
    return config


def _eval_config(grid: GridConfig, out: Path, name: str, *, perceiver: str | None, reasoner: str) -> EvalConfig:
    return EvalConfig(
        benchmark=grid.benchmark,
        data=grid.data,
        out=out / "runs" / name,
        mode=grid.mode,
        perception=grid.perceivers[perceiver] if perceiver else None,
        reasoning=grid.reasoners[reasoner],
        instruction_model=grid.instruction_model,
        instructions=grid.instructions,
        think=grid.think,
        think_budget=grid.think_budget,
        answer_tokens=grid.answer_tokens,
        suppress_words=parse_words(",".join(grid.suppress_words)),
        no_image=perceiver is None,
        limit=grid.limit,
        seed=grid.seed,
        decoding={m: d.overrides() for m, d in grid.decoding.items()},
        instructions_file=out / "instructions.json",
        descriptions_file=out / "descriptions.jsonl",
        journal=out / "journal.sqlite",
        concurrency=grid.concurrency,
        n_boot=grid.n_boot,
        label=name,
    )


def _outcomes(run_dir: Path) -> list[Outcome]:
    lines = (json.loads(line) for line in (run_dir / "items.jsonl").read_text(encoding="utf-8").splitlines() if line)
    return [Outcome(line["id"], line["category"], line["subcategory"], line["verdict"]) for line in lines]


async def run_grid(grid: GridConfig, out: Path) -> dict[str, Any]:
    """Run every pair (and the no-image baselines), then attribute; writes ``grid.json`` and ``report.html``."""
    out.mkdir(parents=True, exist_ok=True)
    if grid.instructions == "query" and not grid.instruction_model:
        # One writer for every pair: the first reasoner (the large one when attribution is set).
        grid.instruction_model = grid.reasoners[grid.large.reasoner if grid.large else next(iter(grid.reasoners))]
    bench = get_benchmark(grid.benchmark)
    pool = ModelPool(out / "journal.sqlite", concurrency=grid.concurrency)
    first_reasoner = next(iter(grid.reasoners))
    try:
        for p in grid.perceivers:  # each perceiver describes every item once, then leaves memory
            cfg = _eval_config(grid, out, f"{p}__{first_reasoner}", perceiver=p, reasoner=first_reasoner)
            items = [item for item in load_items(bench, cfg) if item.error is None]
            records: dict[str, dict] = {item.id: {} for item in items}
            await perceive(items, {i.id: bench.question_text(i) for i in items}, cfg, pool, cfg.sampling(), records, {})
            await pool.release(cfg.perception or "")
        summaries: dict[tuple[str | None, str], dict] = {}
        for r in grid.reasoners:  # each reasoner answers for every perceiver, then leaves memory
            for p in [*grid.perceivers, *([None] if grid.no_image else [])]:
                name = f"{p or 'noimage'}__{r}"
                say(f"eval-grid: {name}")
                summaries[(p, r)] = await run_eval(_eval_config(grid, out, name, perceiver=p, reasoner=r), pool)
            await pool.release(grid.reasoners[r])
    finally:
        await pool.aclose()
    result = _grid_summary(grid, out, summaries)
    (out / "grid.json").write_text(json.dumps(result, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    from finereason.evaluate.report import write_grid_report  # matplotlib: only when a report is written

    write_grid_report(result, out / "report.html")
    return result


def _brief(summary: dict) -> dict[str, Any]:
    return {k: summary[k] for k in ("n", "accuracy", "accuracy_ci", "macro_accuracy", "macro_ci", "unparsed_rate")}


def _grid_summary(grid: GridConfig, out: Path, summaries: dict[tuple[str | None, str], dict]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "benchmark": grid.benchmark,
        "config": json.loads(grid.model_dump_json()),
        "perceivers": list(grid.perceivers),
        "reasoners": list(grid.reasoners),
        "matrix": {p: {r: _brief(summaries[(p, r)]) for r in grid.reasoners} for p in grid.perceivers},
        "no_image": {r: _brief(summaries[(None, r)]) for r in grid.reasoners} if grid.no_image else {},
        "runs": [{"name": f"{p or 'noimage'}__{r}", "perceiver": p, "reasoner": r,
                  "out": str(out / "runs" / f"{p or 'noimage'}__{r}"), "accuracy": s["accuracy"],
                  "unparsed_rate": s["unparsed_rate"], "errors": s["errors"]} for (p, r), s in summaries.items()],
    }
    if grid.large and grid.small:
        result["attribution"] = attribution(grid, out)
    return result


def attribution(grid: GridConfig, out: Path) -> dict[str, Any]:
    """Per category (and overall): drop when only the perceiver shrinks, when only the reasoner
    shrinks, and the no-image gap, each paired over shared items with a bootstrap interval."""
    assert grid.large and grid.small
    lp, lr, sp, sr = grid.large.perceiver, grid.large.reasoner, grid.small.perceiver, grid.small.reasoner
    runs = {key: _outcomes(out / "runs" / key) for key in (f"{lp}__{lr}", f"{sp}__{lr}", f"{lp}__{sr}")}
    if grid.no_image:
        runs["noimage"] = _outcomes(out / "runs" / f"noimage__{lr}")
    baseline = runs[f"{lp}__{lr}"]
    order = list(dict.fromkeys(o.category for o in baseline))
    rng = np.random.default_rng(grid.seed)
    rows = []
    for category in [None, *order]:
        base = correctness(baseline, category)
        row: dict[str, Any] = {
            "name": category or "all",
            "n": len(base),
            "baseline": round(sum(base.values()) / len(base), 6) if base else None,
            "perception_drop": paired_drop(base, correctness(runs[f"{sp}__{lr}"], category), rng=rng, n_boot=grid.n_boot),
            "reasoning_drop": paired_drop(base, correctness(runs[f"{lp}__{sr}"], category), rng=rng, n_boot=grid.n_boot),
        }
        if grid.no_image:
            row["no_image_gap"] = paired_drop(base, correctness(runs["noimage"], category), rng=rng, n_boot=grid.n_boot)
        p_drop, r_drop = row["perception_drop"]["drop"], row["reasoning_drop"]["drop"]
        row["bottleneck"] = (None if p_drop is None or r_drop is None or p_drop == r_drop
                             else "perception" if p_drop > r_drop else "reasoning")
        rows.append(row)
    return {"large_perceiver": lp, "large_reasoner": lr, "small_perceiver": sp, "small_reasoner": sr, "rows": rows}

"""Scoring a run's answers and writing its files: ``items.jsonl``, ``summary.json``, ``report.html``."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Any

from finereason.evaluate.benchmarks import Benchmark, Score
from finereason.evaluate.benchmarks.mathvista_official import LENIENT_METHODS
from finereason.evaluate.config import EvalConfig
from finereason.evaluate.items import EvalItem
from finereason.evaluate.stats import Outcome, accuracy_table


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
    # --extractor: an LLM's reading of a reply the rules left unparsed, scored by the same rule.
    extracted = [i for i in todo if scores[i.id].verdict == "unparsed" and records[i.id].get("extraction")]
    for item, score in zip(extracted, bench.score_extractions(extracted, [records[i.id]["extraction"] for i in extracted]),
                           strict=True):
        if score.verdict != "unparsed":
            scores[item.id] = Score(score.verdict, score.verdict_by, score.pred, "extractor", score.detail)
    return scores


def protocol_figures(scores: dict[str, Score]) -> dict[str, Any]:
    """Accuracy (errors not scored, as in the main table), correct and unparsed counts, and how many
    verdicts the official protocol's leniency decided (``official_snap``, ``official_empty``)."""
    verdicts = [s.verdict for s in scores.values()]
    n_scored = len(verdicts) - verdicts.count("error")
    lenient = {method: [s for s in scores.values() if s.method == method] for method in LENIENT_METHODS}
    return {
        "accuracy": round(verdicts.count("correct") / n_scored, 6) if n_scored else None,
        "correct": verdicts.count("correct"),
        "unparsed": verdicts.count("unparsed"),
        "snapped": len(lenient["official_snap"]),
        "snapped_correct": sum(s.verdict == "correct" for s in lenient["official_snap"]),
        "empty": len(lenient["official_empty"]),
        "empty_correct": sum(s.verdict == "correct" for s in lenient["official_empty"]),
    }


def _error_reason(detail: str) -> str:
    """``"bad_image: item 3: …"`` → ``bad_image``: every error detail starts with its reason key."""
    head = detail.split(":", 1)[0].strip()
    return head if head and " " not in head else "error"


def write_results(bench: Benchmark, items: list[EvalItem], records: dict[str, dict], cfg: EvalConfig,
                  extra: dict[str, Any], usage: dict[str, Any], elapsed: float) -> dict[str, Any]:
    """Score, then write items.jsonl, summary.json and report.html; returns the summary."""
    from finereason.evaluate.report import write_run_report

    scores = score_records(bench, items, records)
    # Under a lenient protocol the strict reading is kept beside it, per item and in the summary.
    strict = score_records(bench.with_protocol("strict"), items, records) if cfg.protocol != "strict" else scores
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
            **({"strict_verdict": strict[item.id].verdict} if strict is not scores else {}),
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
        "protocol": cfg.protocol,
        **({"strict": protocol_figures(strict), "official_protocol": protocol_figures(scores)}
           if cfg.protocol == "official" else {}),
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

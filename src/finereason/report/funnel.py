"""The stage funnel of a dataset: records in and out of every stage, why each rejection, and tokens and cost.

Everything comes from the manifest chain (a folder's manifest and its ``upstream`` manifests)
and from each stage's ``rejected/`` shards, read a few small columns at a time. A stage's own
folder is the input of the stage after it (the first entry of its ``inputs``), and the report's
folder for the newest stage. A folder that has moved since is reported as not found, never
guessed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from finereason.errors import UserError
from finereason.io.store import Dataset
from finereason.report.samples import TEXT_CAP, cap

#: Rejected samples shown per (stage, reason).
EXAMPLES_PER_REASON = 3
_MODEL_KEYS = ("teacher", "student", "llm", "judge", "model")
_REJECT_COLUMNS = ["id", "source", "question", "reject_reason", "reject_detail"]


@dataclass
class StageRow:
    """One stage of the funnel, newest last."""

    stage: str
    folder: str | None
    records_in: int
    records_out: int
    rejected: dict[str, int]
    elapsed_s: float | None
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    examples: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # reason -> rejected samples


def parse_prices(items: list[str]) -> dict[str, tuple[float, float]]:
    """``MODEL=IN/OUT`` (US dollars per million prompt / completion tokens) → ``{model: (in, out)}``."""
    prices = {}
    for item in items:
        model, eq, pair = item.rpartition("=")
        try:
            price_in, price_out = (float(x) for x in pair.split("/"))
        except ValueError:
            raise UserError(f"--price {item!r}: expected MODEL=IN/OUT, dollars per million tokens, "
                            "e.g. openai:Qwen/Qwen3-VL-235B-A22B-Thinking=0.3/1.5") from None
        if not eq or not model:
            raise UserError(f"--price {item!r}: expected MODEL=IN/OUT (the model as the manifest names it)")
        prices[model] = (price_in, price_out)
    return prices


def stage_model(manifest: dict[str, Any]) -> str | None:
    """The model a stage called, as its settings name it (``openai:<model>``), if it called one."""
    settings = manifest.get("settings") or {}
    return next((settings[k] for k in _MODEL_KEYS if isinstance(settings.get(k), str)), None)


def _price_for(model: str | None, prices: dict[str, tuple[float, float]]) -> tuple[float, float] | None:
    if model is None:
        return None
    name = model.partition(":")[2]
    return prices.get(model) or prices.get(name)


def _folder(path: str | None, root: Path) -> Path | None:
    if not path:
        return None
    for candidate in (Path(path), root.parent / Path(path).name):
        if (candidate / "manifest.json").is_file():
            return candidate
    return None


def rejected_examples(folder: Path, reasons: dict[str, int]) -> dict[str, list[dict[str, str]]]:
    """Up to :data:`EXAMPLES_PER_REASON` rejected samples of each reason, from ``folder/rejected``."""
    examples: dict[str, list[dict[str, str]]] = defaultdict(list)
    for path in Dataset(folder).rejected_paths():
        names = set(pq.ParquetFile(path).schema_arrow.names)
        table = pq.read_table(path, columns=[c for c in _REJECT_COLUMNS if c in names])
        for row in table.to_pylist():
            reason = row.get("reject_reason") or "?"
            if reason in reasons and len(examples[reason]) < EXAMPLES_PER_REASON:
                examples[reason].append({
                    "id": row.get("id") or "",
                    "source": row.get("source") or "",
                    "question": cap(row.get("question"), 400),
                    "detail": cap(row.get("reject_detail"), TEXT_CAP["detail"]),
                })
        if all(len(examples[r]) >= min(n, EXAMPLES_PER_REASON) for r, n in reasons.items()):
            break
    return dict(examples)


def funnel(root: str, chain: list[dict[str, Any]], prices: dict[str, tuple[float, float]] | None = None) -> list[StageRow]:
    """The stages of ``chain`` (newest first, as :func:`manifest_chain` gives it), oldest first."""
    prices = prices or {}
    here = Path(root)
    rows = []
    for i, manifest in enumerate(chain):
        folder = here if i == 0 else _folder((chain[i - 1].get("inputs") or [None])[0], here)
        stats = manifest.get("stats") or {}
        model = stage_model(manifest)
        row = StageRow(
            stage=str(manifest.get("stage", "?")),
            folder=str(folder) if folder else None,
            records_in=int(manifest.get("records_in") or 0),
            records_out=int(manifest.get("records_out") or 0),
            rejected=dict(manifest.get("rejected") or {}),
            elapsed_s=manifest.get("elapsed_s"),
            model=model,
            prompt_tokens=int(stats.get("prompt_tokens") or 0),
            completion_tokens=int(stats.get("completion_tokens") or 0),
        )
        price = _price_for(model, prices)
        if price is not None:
            row.cost_usd = (row.prompt_tokens * price[0] + row.completion_tokens * price[1]) / 1e6
        if folder is not None and row.rejected:
            row.examples = rejected_examples(folder, row.rejected)
        rows.append(row)
    return rows[::-1]

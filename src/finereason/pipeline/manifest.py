"""The manifest: what a run did, in numbers, and with what settings.

Keys that users' scripts rely on: ``stage``, ``version``, ``records_in``, ``records_out``,
``rejected`` (reason → count), ``elapsed_s``, ``inputs``. Stage-specific totals (tokens,
cache hits) sum over shards into ``stats``; the input dataset's manifest is kept under
``upstream`` so a chain of stages stays traceable from its last folder.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from finereason import __version__
from finereason.io.store import Dataset, ShardCounts, atomic_write_json
from finereason.schema import SCHEMA_VERSION


@dataclass
class RunInfo:
    stage: str
    version: str
    settings: dict[str, Any]
    inputs: list[str]
    upstream: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # prompts, models: reported, not compared

    def identity(self) -> dict[str, Any]:
        """What must match for a rerun to resume this run rather than mix two."""
        return {"stage": self.stage, "version": self.version, "settings": self.settings, "inputs": self.inputs}


def _sum_extra(counts: list[ShardCounts]) -> dict[str, Any]:
    total: Counter[str] = Counter()
    for c in counts:
        for k, v in c.extra.items():
            if isinstance(v, (int, float)):
                total[k] += v
    return dict(total)


def write_manifest(out: Dataset, info: RunInfo, counts: list[ShardCounts], elapsed_s: float, *,
                   model_stage: bool = False, stats: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``manifest.json``; a model stage's ``stats`` also say how many samples' requests ``failed``,
    and ``stats`` adds run-wide figures (retries by reason) to the shards' sums."""
    rejected: Counter[str] = Counter()
    for c in counts:
        rejected.update(c.rejected)
    manifest = {
        "stage": info.stage,
        "version": info.version,
        "finereason_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "records_in": sum(c.records_in for c in counts),
        "records_out": sum(c.records_out for c in counts),
        "rejected": dict(sorted(rejected.items())),
        "shards": len(counts),
        "elapsed_s": round(elapsed_s, 3),
        "shard_seconds": round(sum(c.elapsed_s for c in counts), 3),
        "inputs": info.inputs,
        "settings": info.settings,
        "stats": {**_sum_extra(counts), **({"failed": sum(c.failed for c in counts)} if model_stage else {}),
                  **(stats or {})},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **info.extra,
    }
    if info.upstream:
        manifest["upstream"] = info.upstream
    atomic_write_json(out.manifest_path, manifest)
    return manifest

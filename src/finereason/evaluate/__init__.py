"""Evaluation: benchmarks from their published files, direct / decoupled (Prism) / Extract+Think
runs through the model layer, each benchmark's own scoring, and perception-vs-reasoning attribution.

``run_eval(EvalConfig(...))`` runs one evaluation; ``run_grid(load_grid_config(path), out)`` the
perceiver × reasoner grid. Benchmarks live one per file in :mod:`finereason.evaluate.benchmarks`.
Names are imported on first use so that the CLI (which imports every command module) stays quick.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Benchmark": "benchmarks",
    "Score": "benchmarks",
    "available": "benchmarks",
    "get_benchmark": "benchmarks",
    "BenchmarkError": "items",
    "EvalItem": "items",
    "ImageRef": "items",
    "ItemError": "items",
    "EvalConfig": "config",
    "run_eval": "runner",
    "GridConfig": "grid",
    "GridConfigError": "grid",
    "load_grid_config": "grid",
    "run_grid": "grid",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)

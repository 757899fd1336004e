"""The benchmark registry: every module in this folder that defines ``BENCHMARK`` is one benchmark.

Adding a benchmark is one small file here: a :class:`~.base.Benchmark` subclass (loader, question
text, scorer) and ``BENCHMARK = MyBenchmark()``. Nothing else needs to change: the CLI's
``--benchmark`` choices, the grid config and the docs read :func:`available`.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from finereason.errors import UserError
from finereason.evaluate.benchmarks.base import Benchmark, Score


@cache
def registry() -> dict[str, Benchmark]:
    found: dict[str, Benchmark] = {}
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name.startswith("_") or module_info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        bench = getattr(module, "BENCHMARK", None)
        if isinstance(bench, Benchmark):
            if bench.name in found:
                raise RuntimeError(f"benchmark {bench.name!r} is defined twice ({module_info.name})")
            found[bench.name] = bench
    return dict(sorted(found.items()))


def available() -> list[str]:
    return list(registry())


def get_benchmark(name: str) -> Benchmark:
    try:
        return registry()[name]
    except KeyError:
        raise UserError(f"unknown benchmark {name!r}; available: {', '.join(available())}") from None


__all__ = ["Benchmark", "Score", "available", "get_benchmark", "registry"]

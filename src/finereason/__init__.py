"""finereason: build multimodal chain-of-thought data, verify it, select it, train and evaluate on it.

The Python API is a :class:`Pipeline` of steps over a source, run on an engine::

    from finereason import Clean, Dedup, Distill, Export, Local, Pipeline, Synth, Verify

    Pipeline(Synth(n=8), [Clean(), Dedup(), Distill(teacher="builtin:smollm2", perception="oracle"),
                          Verify(), Export(format="trl")], engine=Local()).run("runs/mine")

Each step also runs on samples in memory: ``Clean().apply(samples)`` returns a ``StageResult``.
Names are loaded on first use, so ``import finereason`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name → module that defines it (under another name for the engines).
_EXPORTS = {
    "Pipeline": ("finereason.pipeline.pipeline", "Pipeline"),
    "Synth": ("finereason.synth.step", "Synth"),
    "Ingest": ("finereason.io.step", "Ingest"),
    "Clean": ("finereason.clean.step", "Clean"),
    "Dedup": ("finereason.dedup.step", "Dedup"),
    "Caption": ("finereason.distill.step", "Caption"),
    "Distill": ("finereason.distill.step", "Distill"),
    "Verify": ("finereason.verify.step", "Verify"),
    "Difficulty": ("finereason.select.step", "Difficulty"),
    "Select": ("finereason.select.step", "Select"),
    "Export": ("finereason.export.step", "Export"),
    "Report": ("finereason.report.step", "Report"),
    "Local": ("finereason.pipeline.engines", "LocalEngine"),
    "Ray": ("finereason.pipeline.ray_engine", "RayEngine"),
    "Sample": ("finereason.schema", "Sample"),
    "StageResult": ("finereason.pipeline.stage", "StageResult"),
    "UserError": ("finereason.errors", "UserError"),
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'finereason' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

"""The one stage registry: each name maps to its step (the pydantic options model) and its stage class.

``finereason STAGE`` flags (:mod:`~finereason.pipeline.flags`), recipe keys and their checks
(:mod:`~finereason.pipeline.recipe`) and the recipe's JSON schema (:func:`recipe_schema`) are all
made from these entries, so a flag and its recipe key cannot drift. A new stage is one entry here
plus its step class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from finereason.clean.stage import CleanStage
from finereason.clean.step import Clean
from finereason.dedup.rewrite import DedupRewrite
from finereason.dedup.step import Dedup
from finereason.distill.stage import TeacherStage
from finereason.distill.step import Caption, Distill
from finereason.export.stage import ExportStage
from finereason.export.step import Export
from finereason.io.ingest import IngestStage
from finereason.io.step import Ingest
from finereason.pipeline.step import Step
from finereason.report.step import Report
from finereason.select.difficulty import DifficultyStage
from finereason.select.stage import SelectStage
from finereason.select.step import Difficulty, Select
from finereason.synth.stage import SynthStage
from finereason.synth.step import Synth
from finereason.verify.stage import VerifyStage
from finereason.verify.step import Verify


@dataclass(frozen=True)
class Entry:
    step: type[Step]  # the options model, and how to run the stage
    stage: type | None  # the batch transform it configures (None: the step writes files itself)


#: Where a pipeline's samples come from.
SOURCES: dict[str, Entry] = {
    "synth": Entry(Synth, SynthStage),
    "ingest": Entry(Ingest, IngestStage),
}

#: Stages a pipeline (and a recipe) may list, in pipeline order.
STAGES: dict[str, Entry] = {
    "clean": Entry(Clean, CleanStage),
    "dedup": Entry(Dedup, DedupRewrite),
    "caption": Entry(Caption, TeacherStage),
    "distill": Entry(Distill, TeacherStage),
    "verify": Entry(Verify, VerifyStage),
    "difficulty": Entry(Difficulty, DifficultyStage),
    "select": Entry(Select, SelectStage),
    "export": Entry(Export, ExportStage),
    "report": Entry(Report, None),
}

#: Recipe keys a stage entry may also give, to run that stage on another engine than the recipe's.
ENGINE_KEYS = ("workers", "engine", "address", "gpus_per_actor", "ray_data_llm")


def recipe_schema() -> dict[str, Any]:
    """A JSON schema of recipes, with every stage's options, for editors and documentation."""
    def options(entries: dict[str, Entry]) -> dict[str, Any]:
        return {name: e.step.model_json_schema(by_alias=True) for name, e in entries.items()}

    engine_keys = {"workers": {"type": "integer", "exclusiveMinimum": 0}, "engine": {"enum": ["local", "ray"]},
                   "address": {"type": "string"}, "gpus_per_actor": {"type": "number", "minimum": 0},
                   "ray_data_llm": {"type": "boolean"}}
    assert set(engine_keys) == set(ENGINE_KEYS)
    stages = options(STAGES)
    for schema in stages.values():  # a stage may also run on an engine of its own
        schema["properties"] = {**schema.get("properties", {}), **engine_keys}
    stage_items = [{"type": "object", "properties": {name: {"anyOf": [schema, {"type": "null"}]}},
                    "required": [name], "additionalProperties": False}
                   for name, schema in stages.items()]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "finereason recipe",
        "type": "object",
        "required": ["name", "out", "source", "stages"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string"},
            "out": {"type": "string"},
            "engine": {"enum": ["local", "ray"], "default": "local"},
            "address": {"type": ["string", "null"]},
            "workers": {"type": ["integer", "null"], "exclusiveMinimum": 0},
            "source": {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
                       "properties": options(SOURCES)},
            "stages": {"type": "array", "minItems": 1, "items": {"oneOf": stage_items}},
        },
    }

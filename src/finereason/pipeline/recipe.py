"""Recipes: a whole run as data, validated before anything runs, built into a :class:`~finereason.pipeline.pipeline.Pipeline`.

A recipe names a source (built-in synthetic problems or files to ingest) and an ordered list of
stages with their options. The keys are the registry's (:mod:`~finereason.pipeline.registry`):
a stage's recipe keys are its command's flags with ``_`` for ``-``, checked by the same pydantic
model, so a recipe and a shell script of commands give the same result. Every key is checked
up front, so a typo fails in the first second naming the key, not after hours of distillation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from finereason.errors import UserError
from finereason.io.step import Ingest
from finereason.pipeline.engines import Engine, get_engine
from finereason.pipeline.flags import flag_name
from finereason.pipeline.registry import ENGINE_KEYS, STAGES
from finereason.pipeline.step import Step
from finereason.synth.step import Synth

RECIPE_DIR = Path(__file__).resolve().parent.parent / "recipes"


class RecipeError(UserError):
    """A recipe that cannot run; the message names the file and the key."""


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    synth: Synth | None = None
    ingest: Ingest | None = None

    @model_validator(mode="after")
    def one_kind(self) -> Source:
        if (self.synth is None) == (self.ingest is None):
            raise ValueError("give exactly one of source.synth or source.ingest")
        return self

    def step(self) -> Step:
        step = self.synth if self.synth is not None else self.ingest
        assert step is not None
        return step


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    out: str
    engine: Literal["local", "ray"] = "local"
    address: str | None = None
    workers: int | None = Field(default=None, gt=0)
    source: Source
    stages: list[dict[str, dict[str, Any] | None]] = Field(min_length=1)

    @field_validator("stages")
    @classmethod
    def known_stages(cls, stages: list[dict[str, dict[str, Any] | None]]) -> list[dict[str, dict[str, Any] | None]]:
        for i, entry in enumerate(stages):
            if len(entry) != 1:
                raise ValueError(f"stages[{i}] must be one mapping 'stage: {{options}}', got keys {sorted(entry)}")
            (name,) = entry
            if name not in STAGES:
                raise ValueError(f"stages[{i}]: unknown stage {name!r}; known: {', '.join(STAGES)}")
        return stages

    def engine_for(self, overrides: dict[str, Any]) -> Engine:
        """The recipe's engine, with a stage's own ``workers``/``engine``/``address``/... if it gives them."""
        return get_engine(overrides.get("engine", self.engine), overrides.get("address", self.address),
                          overrides.get("workers", self.workers),
                          gpus_per_actor=float(overrides.get("gpus_per_actor", 0.0) or 0.0),
                          ray_data_llm=bool(overrides.get("ray_data_llm", False)))


def load_recipe(path: str | Path) -> Recipe:
    p = Path(path)
    if not p.exists() and (RECIPE_DIR / f"{path}.yaml").exists():
        p = RECIPE_DIR / f"{path}.yaml"
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise RecipeError(f"{p}: cannot read recipe ({e.strerror})") from e
    except yaml.YAMLError as e:
        raise RecipeError(f"{p}: not valid YAML ({e})") from e
    try:
        return Recipe.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(x) for x in first["loc"])
        raise RecipeError(f"{p}: {key}: {first['msg']} ({len(e.errors())} problem(s) in all)") from e


def build_step(name: str, options: dict[str, Any] | None, where: str) -> tuple[Step, dict[str, Any]]:
    """Stage ``name``'s step from its recipe options, and the engine keys it gives (checked by name)."""
    model = STAGES[name].step
    keys = {info.alias or field for field, info in model.model_fields.items()}
    options = dict(options or {})
    for key in options:
        if key in ("out", "overwrite"):
            raise RecipeError(f"{where}: stages.{name}.{key}: set by the run itself (recipe 'out')")
        if key not in keys and key not in ENGINE_KEYS:
            known = ", ".join(sorted(keys | set(ENGINE_KEYS)))
            raise RecipeError(f"{where}: stages.{name}.{key}: not an option of `finereason {name}` (known: {known})")
    engine = {k: options.pop(k) for k in ENGINE_KEYS if k in options}
    try:
        return model.model_validate(options), engine
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(x) for x in first["loc"])
        raise RecipeError(f"{where}: stages.{name}.{key} ({flag_name(key)}): {first['msg']}") from e

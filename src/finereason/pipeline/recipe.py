"""Recipes: a whole run as data, validated before anything runs.

A recipe names a source (built-in synthetic problems or files to ingest) and an ordered list of
stages with their options. Each stage runs as the very command a user would type (the options
become that command's flags), so a recipe and a shell script of commands give the same result
and there is one code path to trust. Every key is checked up front, against the recipe schema
(pydantic) and against the stage command's real flags, so a typo fails in the first second
naming the key, not after hours of distillation.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Literal

import yaml

from finereason.errors import UserError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

#: Stages a recipe may list, in pipeline order; each is a ``finereason`` command over DIR.
STAGES = ("clean", "dedup", "caption", "distill", "verify", "difficulty", "select", "export", "report")

RECIPE_DIR = Path(__file__).resolve().parent.parent / "recipes"


class RecipeError(UserError):
    """A recipe that cannot run; the message names the file and the key."""


class SynthSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int = Field(gt=0)
    seed: int = 0
    families: list[str] | None = None


class IngestSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paths: list[str] = Field(min_length=1)
    format: str = "auto"
    map: dict[str, str] = Field(default_factory=dict)
    source: str | None = None


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    synth: SynthSource | None = None
    ingest: IngestSource | None = None

    @model_validator(mode="after")
    def one_kind(self) -> Source:
        if (self.synth is None) == (self.ingest is None):
            raise ValueError("give exactly one of source.synth or source.ingest")
        return self


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


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def options_to_argv(options: dict[str, Any] | None) -> list[str]:
    """``{max_tokens: 256, against: [a, b], overwrite: true}`` → ``--max-tokens 256 --against a b --overwrite``."""
    argv: list[str] = []
    for key, value in (options or {}).items():
        if value is False or value is None:
            continue
        if value is True:
            argv.append(_flag(key))
        elif isinstance(value, list):
            argv += [_flag(key), *map(str, value)]
        elif isinstance(value, dict):
            for k, v in value.items():
                argv += [_flag(key), f"{k}={v}"]
        else:
            argv += [_flag(key), str(value)]
    return argv


def check_options(parser: argparse.ArgumentParser, stage: str, options: dict[str, Any] | None, where: str) -> None:
    """Every option must be one of the stage command's flags (named in the error if not)."""
    sub = _subparser(parser, stage)
    known = {s for a in sub._actions for s in a.option_strings}
    for key in options or {}:
        if _flag(key) not in known:
            flags = sorted(k[2:].replace("-", "_") for k in known if k.startswith("--") and k not in ("--help", "--out"))
            raise RecipeError(f"{where}: stages.{stage}.{key}: not an option of `finereason {stage}` (known: {', '.join(flags)})")
        if key in ("out", "overwrite"):
            raise RecipeError(f"{where}: stages.{stage}.{key}: set by the run itself (recipe 'out')")


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            return action.choices[name]
    raise RecipeError(f"stage {name!r} is not available in this installation")

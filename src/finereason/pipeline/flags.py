"""Command-line flags generated from a stage's options model, so a flag and its recipe key cannot drift.

Each field of a :class:`~finereason.pipeline.step.Step` becomes ``--field-name`` with the field's
type, default and description as help. Field ``json_schema_extra`` may say how it is spelled on
the command line: ``metavar``; ``positional`` (an argument, not a flag); ``nargs: "+"`` (a list
given after one flag; otherwise a list flag is repeated); ``group`` (fields of one group are
mutually exclusive on the command line).

Values are checked by the model itself, one flag at a time, while argparse parses, so a bad value
fails with argparse's usual one line and exit code 2 whether it came from a flag or a recipe.
argparse has no way to take its arguments from a pydantic model, hence this module.
"""

from __future__ import annotations

import argparse
import types
from collections.abc import Callable
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo


def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def _extra(info: FieldInfo) -> dict[str, Any]:
    extra = info.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _message(err: ValidationError) -> str:
    first = err.errors()[0]
    return str(first["msg"]).removeprefix("Value error, ")


def _checked(model: type[BaseModel], name: str, convert: Callable[[str], Any], wrap: Callable[[Any], Any]) -> Callable[[str], Any]:
    """An argparse ``type`` that converts the text, then validates it as field ``name`` of ``model``."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from e
        try:
            model.__pydantic_validator__.validate_assignment(model.model_construct(), name, wrap(value))
        except ValidationError as e:
            raise argparse.ArgumentTypeError(_message(e)) from e
        return value

    parse.__name__ = name  # argparse names the type in "invalid <name> value" messages
    return parse


def _pair(text: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq or not key or not value:
        raise ValueError(f"{text!r}: expected SRC=DST, e.g. prompt=question")
    return key, value


def add_flags(parser: argparse.ArgumentParser, model: type[BaseModel]) -> None:
    """Add one argument per field of ``model`` to ``parser``."""
    groups: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        extra = _extra(info)
        annotation = _unwrap_optional(info.annotation)
        origin = get_origin(annotation)
        kwargs: dict[str, Any] = {"help": info.description}
        if extra.get("metavar"):
            kwargs["metavar"] = extra["metavar"]
        if annotation is bool:
            kwargs["action"] = "store_true"
        elif origin is list:
            (item,) = get_args(annotation)
            kwargs.update(_scalar(model, name, item, lambda v: [v]))
            if extra.get("nargs") or extra.get("positional"):
                kwargs["nargs"] = extra.get("nargs", "+")
            else:
                kwargs["action"] = "append"
        elif origin is dict:
            kwargs["action"] = "append"
            kwargs["type"] = _checked(model, name, _pair, lambda kv: dict([kv]))
        else:
            kwargs.update(_scalar(model, name, annotation, lambda v: v))
        if extra.get("positional"):
            kwargs.pop("action", None)
            parser.add_argument(name, **kwargs)
            continue
        if info.is_required():
            kwargs["required"] = True
        else:
            default = info.get_default(call_default_factory=True)
            kwargs["default"] = [] if kwargs.get("action") == "append" and default in ({}, []) else default
        target: Any = parser
        if extra.get("group"):
            if extra["group"] not in groups:
                groups[extra["group"]] = parser.add_mutually_exclusive_group()
            target = groups[extra["group"]]
        target.add_argument(flag_name(info.alias or name), dest=name, **kwargs)


def _scalar(model: type[BaseModel], name: str, annotation: Any, wrap: Callable[[Any], Any]) -> dict[str, Any]:
    if get_origin(annotation) is Literal:
        choices = list(get_args(annotation))
        return {"choices": choices, "type": type(choices[0])}
    base = annotation if annotation in (int, float, str) else str
    return {"type": _checked(model, name, base, wrap)}


def options_from_args(model: type[BaseModel], args: argparse.Namespace) -> Any:
    """The model built from parsed arguments (a repeated ``K=V`` flag becomes a mapping)."""
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        value = getattr(args, name, None)
        if get_origin(_unwrap_optional(info.annotation)) is dict:
            value = dict(value or [])
        if value is None and not info.is_required():
            continue
        values[name] = value
    return model.model_validate(values)


def options_to_argv(options: BaseModel) -> list[str]:
    """The arguments that give ``options`` on the command line (fields left at their default are omitted)."""
    argv: list[str] = []
    positional: list[str] = []
    for name, info in type(options).model_fields.items():
        value = getattr(options, name)
        if _extra(info).get("positional"):
            positional += map(str, value) if isinstance(value, list) else [str(value)]
            continue
        if not info.is_required() and value == info.get_default(call_default_factory=True):
            continue
        flag = flag_name(info.alias or name)
        if value is True:
            argv.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, list):
            if _extra(info).get("nargs"):
                argv += [flag, *map(str, value)]
            else:
                argv += [x for v in value for x in (flag, str(v))]
        elif isinstance(value, dict):
            argv += [x for k, v in value.items() for x in (flag, f"{k}={v}")]
        else:
            argv += [flag, str(value)]
    return positional + argv

"""Typed access to a raw record's fields.

Sources disagree about types (ids as numbers, answers as numbers, pass rates as strings), so
each accessor accepts what is unambiguous and turns anything else into a :class:`RecordError`
that names the field and the type it found, instead of storing a wrong value.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from finereason.io.readers.base import RecordError
from finereason.schema import SAMPLE_VERDICTS


def type_name(value: Any) -> str:
    """The JSON word for a Python value, as people reading a data file know it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "bytes"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def bad_field(name: str, expected: str, value: Any) -> RecordError:
    return RecordError("bad_field", f"{name}: expected {expected}, got {type_name(value)}")


def question(data: dict[str, Any], name: str = "question") -> str:
    """A non-blank string, else ``missing_question`` (absent/blank) or ``bad_field`` (wrong type)."""
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordError("missing_question", f"no '{name}'" if value is None else f"'{name}' is blank")
    if not isinstance(value, str):
        raise bad_field(name, "a string", value)
    return value


def answer(data: dict[str, Any], name: str = "answer") -> str:
    """A non-blank string; plain numbers are accepted as their text (many sources store 42)."""
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordError("missing_answer", f"no '{name}'" if value is None else f"'{name}' is blank")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return str(value)
    if not isinstance(value, str):
        raise bad_field(name, "a string", value)
    return value


#: ``answer_type`` of an open-ended record: an image and a question, no ground truth.
OPEN_ANSWER = "open"


def answer_or_open(data: dict[str, Any], has_images: bool, name: str = "answer") -> str | None:
    """The answer, or None for an open-ended record: one with images but no (or a blank) answer.

    MMFineReason keeps such items (FineVision-ai2d, VisualWebInstruct) and trains on their
    responses when the format checks pass, so ingest keeps them as ``answer_type: "open"``. A
    text-only record without an answer is still ``missing_answer``; a wrongly typed answer is
    still ``bad_field``.
    """
    value = data.get(name)
    if has_images and (value is None or (isinstance(value, str) and not value.strip())):
        return None
    return answer(data, name)


def opt_str(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None or isinstance(value, str):
        return value
    raise bad_field(name, "a string", value)


def opt_rate(data: dict[str, Any], name: str) -> float | None:
    """A share in [0, 1] (pass rates); strings and booleans are refused, not guessed at."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad_field(name, "a number in [0, 1]", value)
    if not 0.0 <= value <= 1.0:  # NaN fails this too
        raise RecordError("bad_field", f"{name}: expected a number in [0, 1], got {value!r}")
    return float(value)


def opt_bool(data: dict[str, Any], name: str) -> bool | None:
    value = data.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise bad_field(name, "a boolean", value)


def opt_str_list(data: dict[str, Any], name: str) -> list[str]:
    value = data.get(name)
    if value is None:
        return []
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise bad_field(name, "a list of strings", value)


def opt_verdict(data: dict[str, Any], name: str = "verdict") -> str | None:
    value = opt_str(data, name)
    if value is not None and value not in SAMPLE_VERDICTS:
        raise RecordError("bad_field", f"{name}: expected one of {', '.join(SAMPLE_VERDICTS)}, got {value!r}")
    return value


def record_id(data: dict[str, Any], name: str = "id") -> str | None:
    """The source's own id as text (ids are often numbers); ``None`` when there is none."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return str(value)
    raise bad_field(name, "a string or an integer", value)


def _jsonable(value: Any) -> Any:
    # Binary columns keep every byte (base64) rather than being dropped from meta.
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    return str(value)


def meta_json(value: Any) -> str:
    """Encode one meta value the way :meth:`Sample.meta_set` does, for any column type."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=_jsonable)

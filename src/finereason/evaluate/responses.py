"""Recorded responses (``--responses FILE``): score outputs some other run produced, with no model.

Accepted shapes, keyed by the benchmark's item id (MathVista ``pid``, MMStar ``index``, MMMU
``id``; ``id`` always works):

* a JSON object ``{id: "response text"}`` (MMMU's own output format), or ``{id: {...}}`` with
  the text under ``response`` (MathVista's output file; its ``extraction`` is used when there is no
  ``response``), ``prediction``, ``output`` or ``text``;
* a JSON array, or JSONL, of objects holding an id field and one of those text fields; lmms-eval
  ``--log_samples`` lines work too (the id is read from their ``doc``, the text from
  ``filtered_resps``/``resps``), and so does our own ``items.jsonl``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finereason.evaluate.items import BenchmarkError

#: Never ``answer``: in MathVista's and our own output files that field is the gold answer.
TEXT_FIELDS = ("response", "prediction", "output", "text", "extraction")


@dataclass
class Recorded:
    """Responses by item id, and what in the file could not be used (reported in the summary)."""

    responses: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value:  # lmms-eval: filtered_resps ["..."], resps [["..."]]
        return _text(value[0])
    return None


def _record_text(record: dict) -> str | None:
    for key in TEXT_FIELDS + ("filtered_resps", "resps"):
        if key in record:
            text = _text(record[key])
            if text is not None:
                return text
    return None


def _record_id(record: dict, id_fields: Sequence[str]) -> str | None:
    for source in (record, record.get("doc") if isinstance(record.get("doc"), dict) else {}):
        for key in (*id_fields, "id"):
            if source.get(key) is not None:
                return str(source[key])
    return None


def load_responses(path: Path, id_fields: Sequence[str]) -> Recorded:
    """Read a responses file; raises :class:`BenchmarkError` only when the file as a whole is unusable."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as err:
        raise BenchmarkError(f"{path}: cannot read responses: {err}") from err
    out = Recorded()
    records: list[tuple[str, Any]] = []
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        data = None
        for line_no, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append((f"line {line_no}", json.loads(line)))
            except json.JSONDecodeError as err:
                out.problems.append(f"{path}:{line_no}: not JSON ({err.msg})")
        if not records and out.problems:
            raise BenchmarkError(f"{path}: neither JSON nor JSONL ({out.problems[0]})") from None
    if isinstance(data, dict):
        for key, value in data.items():
            text = _text(value) if not isinstance(value, dict) else _record_text(value)
            if text is None:
                out.problems.append(f"{path}: id {key}: no response text (fields tried: {', '.join(TEXT_FIELDS)})")
            else:
                out.responses[str(key)] = text
        return out
    if isinstance(data, list):
        records = [(f"entry {i}", r) for i, r in enumerate(data)]
    elif data is not None:
        raise BenchmarkError(f"{path}: expected a JSON object, a JSON array or JSONL of responses")
    for where, record in records:
        if not isinstance(record, dict):
            out.problems.append(f"{path}: {where}: not an object")
            continue
        item_id, text = _record_id(record, id_fields), _record_text(record)
        if item_id is None or text is None:
            missing = "an id field (" + "/".join((*id_fields, "id")) + ")" if item_id is None else "a response text"
            out.problems.append(f"{path}: {where}: no {missing}")
            continue
        out.responses[item_id] = text
    return out

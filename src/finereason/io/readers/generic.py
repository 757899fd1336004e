"""Generic records (JSON Lines, Parquet, HF datasets) whose fields are named like Sample's.

After ``--map SRC=DST`` renames, fields named like :class:`~finereason.schema.Sample` fields
fill them (``question``, ``answer``, ``image``/``images``, ``options``, ``caption``,
``response``, ``pass_rate``, ``verdict``…); ``id`` is kept as ``meta["source_id"]``; every
other field goes to ``meta`` unchanged, so nothing a source brings is lost.
"""

from __future__ import annotations

from typing import Any

from finereason.io.readers import fields as F
from finereason.io.readers.base import Draft
from finereason.io.readers.image_refs import image_values

_TEXT = ("domain", "answer_type", "caption", "response", "pred_answer", "verdict_by", "perception")

#: Field names this mapping understands (the targets ``--map`` may name).
KNOWN = frozenset(
    {"id", "source", "question", "answer", "image", "images", "options", "pass_rate", "verdict", "flags", "meta",
     *_TEXT}
)


def map_record(data: dict[str, Any], key: str, default_source: str) -> list[Draft]:
    source_id = F.record_id(data)
    fields: dict[str, Any] = {name: F.opt_str(data, name) for name in _TEXT}
    fields.update(
        options=F.opt_str_list(data, "options"),
        flags=F.opt_str_list(data, "flags"),
        pass_rate=F.opt_rate(data, "pass_rate"),
        verdict=F.opt_verdict(data),
    )
    meta: dict[str, Any] = {}
    if source_id is not None:
        meta["source_id"] = data["id"]
    extra = data.get("meta")
    if isinstance(extra, dict):
        meta.update(extra)
    elif extra is not None:
        meta["meta"] = extra
    meta.update({k: v for k, v in data.items() if k not in KNOWN and v is not None})
    question = F.question(data)
    images = image_values(data)
    answer = F.answer_or_open(data, bool(images))
    if answer is None:
        fields["answer_type"] = F.OPEN_ANSWER
    return [
        Draft(
            key=source_id or key,
            source=F.opt_str(data, "source") or default_source,
            question=question,
            answer=answer,
            images=images,
            fields=fields,
            meta=meta,
        )
    ]

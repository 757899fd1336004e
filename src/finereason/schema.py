"""The one record that flows through every stage, and its Arrow schema.

A :class:`Sample` is plain data: stages receive lists of them and return lists of them. Images
travel inside the record as encoded bytes (like the HF ``Image`` feature) with the facts later
stages need without decoding again: sha256, width, height and a perceptual hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any

import pyarrow as pa

#: Bump when the on-disk schema changes incompatibly; recorded in every manifest.
SCHEMA_VERSION = "1"

VERDICTS = ("correct", "incorrect", "unparsed", "error")
#: What ``verify`` may write on a sample: the above, plus "undecided" (the rules could not tell and
#: no judge did) and "unverifiable" (an open-ended item with no reference answer).
SAMPLE_VERDICTS = (*VERDICTS, "undecided", "unverifiable")

IMAGE_TYPE = pa.struct(
    [
        ("bytes", pa.binary()),
        ("path", pa.string()),
        ("sha256", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("phash", pa.string()),
    ]
)


@dataclass
class Image:
    """An encoded image; ``path`` is where it came from (informational, never re-read)."""

    bytes: bytes
    path: str | None = None
    sha256: str = ""
    width: int = 0
    height: int = 0
    phash: str | None = None

    def __post_init__(self) -> None:
        if not self.sha256:
            self.sha256 = hashlib.sha256(self.bytes).hexdigest()


@dataclass
class Sample:
    """One visual-QA item, from ingestion through distillation, verification and selection.

    ``meta`` holds whatever a source brings beyond these fields, as JSON-encoded strings so the
    Arrow type stays ``map<string, string>`` whatever the source.
    """

    id: str
    source: str
    question: str
    answer: str | None = None
    images: list[Image] = field(default_factory=list)
    domain: str | None = None
    options: list[str] = field(default_factory=list)
    answer_type: str | None = None
    caption: str | None = None
    response: str | None = None
    pred_answer: str | None = None
    verdict: str | None = None
    verdict_by: str | None = None
    pass_rate: float | None = None
    flags: list[str] = field(default_factory=list)
    perception: str | None = None
    meta: dict[str, str] = field(default_factory=dict)

    def meta_get(self, key: str, default: Any = None) -> Any:
        """Decode one ``meta`` value (stored JSON-encoded)."""
        raw = self.meta.get(key)
        return default if raw is None else json.loads(raw)

    def meta_set(self, key: str, value: Any) -> None:
        self.meta[key] = json.dumps(value, ensure_ascii=False, sort_keys=True)


SAMPLE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("domain", pa.string()),
        ("images", pa.list_(IMAGE_TYPE)),
        ("question", pa.string()),
        ("options", pa.list_(pa.string())),
        ("answer", pa.string()),
        ("answer_type", pa.string()),
        ("caption", pa.string()),
        ("response", pa.string()),
        ("pred_answer", pa.string()),
        ("verdict", pa.string()),
        ("verdict_by", pa.string()),
        ("pass_rate", pa.float64()),
        ("flags", pa.list_(pa.string())),
        ("perception", pa.string()),
        ("meta", pa.map_(pa.string(), pa.string())),
    ]
)

#: A rejected sample keeps every field (so nothing is lost) plus why, where and against what.
REJECT_SCHEMA = SAMPLE_SCHEMA.append(pa.field("reject_stage", pa.string())).append(
    pa.field("reject_reason", pa.string())
).append(pa.field("reject_detail", pa.string())).append(pa.field("reject_ref", pa.string()))

_FIELD_NAMES = [f.name for f in fields(Sample)]


@dataclass
class Rejection:
    """A sample (or, for unreadable input, only a reference to it) that a stage refused.

    ``reason`` is a short key that manifests count; ``detail`` is for people (the twin's id, the
    decoder's message); ``ref`` locates raw input that never became a sample (``file:line``).
    """

    stage: str
    reason: str
    detail: str = ""
    sample: Sample | None = None
    ref: str = ""


def stable_id(*parts: str | bytes | None) -> str:
    """A content hash id: the same content always gets the same id, across runs and machines."""
    h = hashlib.sha256()
    for p in parts:
        b = p if isinstance(p, bytes) else ("" if p is None else str(p)).encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()[:20]


def sample_to_row(s: Sample) -> dict[str, Any]:
    row = {name: getattr(s, name) for name in _FIELD_NAMES}
    row["images"] = [
        {"bytes": im.bytes, "path": im.path, "sha256": im.sha256, "width": im.width,
         "height": im.height, "phash": im.phash}
        for im in s.images
    ]
    row["meta"] = list(s.meta.items())
    return row


def row_to_sample(row: dict[str, Any]) -> Sample:
    kw = {name: row.get(name) for name in _FIELD_NAMES}
    kw["images"] = [Image(**im) for im in (row.get("images") or [])]
    kw["options"] = list(row.get("options") or [])
    kw["flags"] = list(row.get("flags") or [])
    meta = row.get("meta") or []
    kw["meta"] = dict(meta) if not isinstance(meta, dict) else meta
    return Sample(**kw)


def samples_to_table(samples: list[Sample]) -> pa.Table:
    return pa.Table.from_pylist([sample_to_row(s) for s in samples], schema=SAMPLE_SCHEMA)


def table_to_samples(table: pa.Table) -> list[Sample]:
    return [row_to_sample(r) for r in table.to_pylist()]


def rejections_to_table(rejections: list[Rejection]) -> pa.Table:
    rows = []
    for r in rejections:
        row = sample_to_row(r.sample) if r.sample is not None else {n: None for n in _FIELD_NAMES}
        if r.sample is None:
            row.update(images=[], options=[], flags=[], meta=[])
        row.update(reject_stage=r.stage, reject_reason=r.reason, reject_detail=r.detail,
                   reject_ref=r.ref)
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=REJECT_SCHEMA)

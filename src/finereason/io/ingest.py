"""The ingest stage: raw records from any reader → canonical :class:`Sample` records.

The main process streams each input into fixed-size chunks of raw records (chunk i is output
shard i on every run, which is what makes resume a lookup of done-markers); the stage, in
worker processes, parses each record, maps its fields, reads and decodes every image with
:func:`~finereason.io.images.make_image` (sha256, size, pHash), and gives each sample a stable
id. Anything wrong with one record is a rejection with a reason key and its ``file:line``;
the rest of the input is unaffected.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finereason.io.images import ImageDecodeError, make_image
from finereason.io.readers import (
    BAD_FILE, MAPPERS, Draft, InputPlan, RawRecord, RecordError, count_records, iter_records,
)
from finereason.io.readers.fields import meta_json, type_name
from finereason.io.readers.image_refs import load_image
from finereason.io.readers.jsonlines import parse_line
from finereason.pipeline.engines import Engine, LocalEngine
from finereason.pipeline.manifest import RunInfo
from finereason.pipeline.stage import StageResult, Task
from finereason.schema import Image, Rejection, Sample, stable_id

STAGE = "ingest"
VERSION = "1"


@dataclass(frozen=True)
class RawChunk:
    """A chunk of raw records shipped to a worker (a class, not a lambda, so it pickles)."""

    records: tuple[RawRecord, ...]

    def __call__(self) -> list[RawRecord]:
        return list(self.records)


class IngestStage:
    """Raw records → samples. ``renames`` are ``--map`` (source field → Sample field)."""

    name = STAGE
    version = VERSION

    def __init__(self, renames: dict[str, str] | None = None, drop_multi_image: bool = False) -> None:
        self.renames = dict(renames or {})
        self.drop_multi_image = drop_multi_image

    def settings(self) -> dict[str, Any]:
        return {"map": self.renames, "drop_multi_image": self.drop_multi_image}

    def __call__(self, batch: list[RawRecord]) -> StageResult:
        kept: list[Sample] = []
        rejected: list[Rejection] = []
        # Corrupt files make Pillow warn before it fails; the failure is what gets recorded.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
            for rec in batch:
                for out in self._safe_convert(rec):
                    if isinstance(out, Sample):
                        kept.append(out)
                    else:
                        rejected.append(out)
        extra = {
            "images": sum(len(s.images) for s in kept),
            "text_only": sum(1 for s in kept if not s.images),
            "multi_image": sum(1 for s in kept if len(s.images) > 1),
        }
        return StageResult(kept, rejected, records_in=len(kept) + len(rejected), stats=extra)

    def _reject(self, rec: RawRecord, reason: str, detail: str, sample: Sample | None = None) -> Rejection:
        return Rejection(STAGE, reason, detail, sample=sample, ref=rec.ref)

    def _safe_convert(self, rec: RawRecord) -> list[Sample | Rejection]:
        """:meth:`_convert`, with any exception it did not foresee made this record's rejection
        (``record_error`` with the exception's type), so no record can stop the run."""
        try:
            return list(self._convert(rec))
        except Exception as e:  # noqa: BLE001 - whatever it is, it is this record's alone
            return [self._reject(rec, "record_error", f"{type(e).__name__}: {str(e)[:300]}")]

    def _convert(self, rec: RawRecord) -> Iterator[Sample | Rejection]:
        if rec.error is not None:
            yield self._reject(rec, *rec.error)
            return
        try:
            data = parse_line(rec.line) if rec.line is not None else rec.data
            if not isinstance(data, dict):
                raise RecordError("bad_json", f"expected a JSON object, got {type_name(data)}")
            if self.renames:
                data = {self.renames.get(k, k): v for k, v in data.items()}
            drafts = MAPPERS[rec.mapper](data, rec.key, rec.source)
        except RecordError as e:
            yield self._reject(rec, e.reason, e.detail)
            return
        for draft in drafts:
            if isinstance(draft, RecordError):
                yield self._reject(rec, draft.reason, draft.detail)
                continue
            yield self._build(rec, draft)

    def _build(self, rec: RawRecord, draft: Draft) -> Sample | Rejection:
        images: list[Image] = []
        problem: tuple[str, str] | None = None
        shas: list[str] = []
        for i, value in enumerate(draft.images):
            where = f"image {i + 1} of {len(draft.images)}: " if len(draft.images) > 1 else ""
            try:
                data, path = load_image(value, rec.base, rec.root)
                shas.append(hashlib.sha256(data).hexdigest())
                images.append(make_image(data, path))
            except (RecordError, ImageDecodeError) as e:
                problem = problem or (e.reason, where + e.detail)
        meta = {k: meta_json(v) for k, v in draft.meta.items()}
        meta["ref"] = meta_json(rec.key)
        sample = Sample(
            id=stable_id(draft.source, draft.key, draft.question, draft.answer, *shas),
            source=draft.source,
            question=draft.question,
            answer=draft.answer,
            images=images,
            meta=meta,
            **{k: v for k, v in draft.fields.items() if v is not None},
        )
        if problem is not None:
            return self._reject(rec, *problem, sample=sample)
        if self.drop_multi_image and len(images) > 1:
            return self._reject(rec, "multi_image", f"{len(images)} images", sample=sample)
        return sample


def chunk_tasks(plans: list[InputPlan], shard_size: int,
                bad_files: list[dict[str, str]] | None = None) -> Iterator[Task]:
    """Chunk i of the concatenated inputs becomes task (and output shard) i, lazily.

    Each file refused whole is appended to ``bad_files`` (path and why) as it is met.
    """
    records = itertools.chain.from_iterable(iter_records(p) for p in plans)
    if bad_files is not None:
        records = _noting_bad_files(records, bad_files)
    for index in itertools.count():
        chunk = tuple(itertools.islice(records, shard_size))
        if not chunk:
            return
        yield Task(index, RawChunk(chunk))


def _noting_bad_files(records: Iterator[RawRecord], into: list[dict[str, str]]) -> Iterator[RawRecord]:
    for rec in records:
        if rec.error is not None and rec.error[0] == BAD_FILE:
            into.append({"path": rec.ref, "reason": rec.error[1]})
        yield rec


def ingest(
    plans: list[InputPlan],
    out: str | os.PathLike[str],
    *,
    stage: IngestStage,
    shard_size: int = 500,
    workers: int | None = None,
    overwrite: bool = False,
    engine: Engine | None = None,
) -> dict[str, Any]:
    """Read ``plans`` into the dataset folder ``out`` (resuming it) and return the manifest.

    ``engine`` runs the chunks (default: the local engine with ``workers`` processes).
    """
    if shard_size < 1:
        raise ValueError("shard_size must be at least 1")
    n = count_records(plans)
    info = RunInfo(
        stage=STAGE,
        version=VERSION,
        settings={
            **stage.settings(),
            "formats": {os.path.abspath(p.path): p.format for p in plans},
            "source": {os.path.abspath(p.path): p.source for p in plans},
            "image_root": plans[0].image_root if plans else None,
            "shard_size": shard_size,
        },
        inputs=[os.path.abspath(p.path) for p in plans],
        # Filled while the inputs are read, before the manifest is written at the end.
        extra={"input_formats": [p.describe() for p in plans], "rejected_files": (bad_files := [])},
    )
    total = None if n is None else -(-n // shard_size)
    manifest = (engine or LocalEngine(workers)).run_stage(stage, chunk_tasks(plans, shard_size, bad_files), out, info,
                                                          workers=workers, total=total, overwrite=overwrite)
    # Inputs without records still make a dataset (empty), so the next stage reads it.
    (Path(out) / "data").mkdir(parents=True, exist_ok=True)
    return manifest


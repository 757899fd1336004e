"""Helpers for ingest tests: image bytes of every kind, JSONL and Arrow writers, CLI results."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from PIL import Image as PILImage

from finereason.io.store import Dataset
from finereason.schema import Sample

from fixture_dir import FIXTURE_DIR as FIXTURE


def encode(im: PILImage.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def png(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (48, 32)) -> bytes:
    """A small RGB PNG whose colour makes its bytes (and sha256) distinct."""
    im = PILImage.new("RGB", size, color)
    im.putpixel((0, 0), (color[2], color[0], color[1]))
    return encode(im)


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@dataclass
class Run:
    rc: int
    out: Path
    stdout: str
    stderr: str

    @property
    def samples(self) -> list[Sample]:
        return list(Dataset(self.out).iter_samples())

    @property
    def rejected(self) -> list[dict[str, Any]]:
        table = Dataset(self.out).rejected_table()
        return [] if table is None else table.to_pylist()

    @property
    def manifest(self) -> dict[str, Any]:
        return Dataset(self.out).manifest()

    def reasons(self) -> dict[str, str]:
        """reject_ref → reject_reason."""
        return {r["reject_ref"]: r["reject_reason"] for r in self.rejected}


def arrow_stream(path: Path, table: pa.Table) -> None:
    """Write ``table`` as an Arrow IPC stream, the format ``datasets.save_to_disk`` uses."""
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=7)

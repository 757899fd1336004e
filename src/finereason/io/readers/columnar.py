"""Parquet files and Arrow IPC files (what ``datasets.save_to_disk`` writes), row by row.

Rows are read a record batch at a time, so memory holds one batch whatever the file's size.
Arrow files are read with pyarrow's IPC reader (stream format, as ``datasets`` writes it; the
file format too), so a saved Hugging Face dataset is readable without installing ``datasets``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from finereason.io.readers.base import InputError

_BATCH_ROWS = 256


def _parquet(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as e:
        raise InputError(f"{path}: unreadable Parquet file ({e})") from e


def _arrow_batches(path: Path) -> Iterator[pa.RecordBatch]:
    try:
        source = pa.memory_map(str(path))
        try:
            stream: pa.ipc.RecordBatchStreamReader | None = pa.ipc.open_stream(source)
        except pa.ArrowInvalid:
            stream = None
        if stream is not None:
            yield from stream
        else:
            source.seek(0)
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i)
    except (OSError, pa.ArrowException) as e:
        raise InputError(f"{path}: unreadable Arrow file ({e})") from e


def _batches(path: Path, container: str) -> Iterator[pa.RecordBatch]:
    if container == "parquet":
        pf = _parquet(path)
        try:
            yield from pf.iter_batches(batch_size=_BATCH_ROWS)
        except (OSError, pa.ArrowException) as e:
            raise InputError(f"{path}: unreadable Parquet file ({e})") from e
    else:
        yield from _arrow_batches(path)


def iter_rows(path: Path, container: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(row number from 0, row as a dict)``; Image structs come out as ``{"bytes", "path"}``."""
    row = 0
    for batch in _batches(path, container):
        for record in batch.to_pylist():
            yield row, record
            row += 1


def first_fields(path: Path, container: str) -> set[str] | None:
    """Column names (``None`` for a file without rows, which holds no records to map)."""
    if container == "parquet":
        pf = _parquet(path)
        return set(pf.schema_arrow.names) if pf.metadata.num_rows else None
    for batch in _arrow_batches(path):
        if batch.num_rows:
            return set(batch.schema.names)
    return None


def count_rows(path: Path, container: str) -> int:
    if container == "parquet":
        return _parquet(path).metadata.num_rows
    return sum(b.num_rows for b in _arrow_batches(path))

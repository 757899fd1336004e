"""A dataset on disk: Parquet shards of samples, shards of rejections, done-markers, a manifest.

Layout of ``DIR``::

    data/part-00000.parquet       kept samples (SAMPLE_SCHEMA)
    rejected/part-00000.parquet   rejected samples with stage, reason, detail, ref (REJECT_SCHEMA)
    .done/part-00000.json         written last: the shard is finished, with its counts
    manifest.json                 the run: stage, version, counts, reasons, settings, inputs

Every file is written under a temporary name and renamed, and the done-marker comes last, so a
shard is either complete or absent after a crash; that is what makes a rerun redo only
unfinished shards.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from finereason.errors import UserError
from finereason.schema import Rejection, Sample, rejections_to_table, samples_to_table, table_to_samples


class DatasetError(UserError):
    """A directory that is not a finereason dataset, or one whose files are damaged."""


#: In ``.done/``: the identity of the run that writes the folder (stage, settings, inputs).
RUN_FILE = "_run.json"
_TMP_GLOB = ".*.tmp-*"


def shard_name(index: int) -> str:
    return f"part-{index:05d}"


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with _naming(path):
        tmp.write_bytes(data)
    os.replace(tmp, path)


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """Give an ``OSError`` without a file name (pyarrow's, a full disk's) the path being written,
    so the one line the CLI prints says where."""
    try:
        yield
    except OSError as e:
        if e.filename is None:
            raise OSError(e.errno, e.strerror or str(e), str(path)) from e
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # backslashreplace: a path with undecodable bytes is written as a \udcNN escape, still valid JSON and UTF-8.
    text = json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    _atomic_write_bytes(path, text.encode("utf-8", "backslashreplace"))


def _atomic_write_table(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    # Images are already compressed: zstd on the rest, and row groups small enough to stream.
    with _naming(path):
        pq.write_table(table, tmp, compression="zstd", row_group_size=256)
    os.replace(tmp, path)


@dataclass
class ShardCounts:
    """What one shard took in and gave out; summed into the manifest."""

    index: int
    records_in: int
    records_out: int
    rejected: dict[str, int]
    elapsed_s: float
    extra: dict[str, Any]  # the stage's stats for this shard
    failed: int = 0  # samples whose model requests failed: the shard is redone on rerun


class Dataset:
    """Read access to a dataset directory, and the shard-level writes stages make into one."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    # ---- reading -------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def check(self) -> None:
        """Fail with one clear line if ``root`` is not a finished dataset.

        A run writes ``manifest.json`` last, after every shard, so a folder without one is an
        interrupted run (or not ours): reading it would pass on a part of the data as if whole.
        """
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: no such dataset directory")
        if not (self.root / "data").is_dir():
            raise DatasetError(f"{self.root}: not a finereason dataset (expected a data/ folder of Parquet shards)")
        if not self.manifest_path.is_file():
            run = self.root / ".done" / RUN_FILE
            try:
                stage = json.loads(run.read_text()).get("stage") if run.is_file() else None
            except (OSError, ValueError, AttributeError):
                stage = None
            made_by = f"`finereason {stage}`" if isinstance(stage, str) else "the stage that made it"
            raise DatasetError(
                f"{self.root}: an unfinished dataset (no manifest.json: the run that writes it was interrupted); "
                f"rerun {made_by} with the same arguments to finish it, then read it"
            )

    def shard_paths(self) -> list[Path]:
        self.check()
        return sorted((self.root / "data").glob("part-*.parquet"))

    def rejected_paths(self) -> list[Path]:
        return sorted((self.root / "rejected").glob("part-*.parquet"))

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {}
        return json.loads(self.manifest_path.read_text())

    def iter_samples(self, columns: list[str] | None = None) -> Iterator[Sample]:
        for p in self.shard_paths():
            yield from read_shard(p)

    def count(self) -> int:
        return sum(pq.ParquetFile(p).metadata.num_rows for p in self.shard_paths())

    def rejected_table(self) -> pa.Table | None:
        paths = self.rejected_paths()
        return pa.concat_tables([pq.read_table(p) for p in paths]) if paths else None

    # ---- writing -------------------------------------------------------------------------
    def begin(self) -> None:
        """Mark the folder as being (re)written: no finished manifest, no temporary files.

        A temporary file left by a killed writer is never committed by anyone (its name holds a
        dead process's id), so a new run removes them; an old manifest would let the next stage
        read the folder before this run has finished.
        """
        self.manifest_path.unlink(missing_ok=True)
        for tmp in self.root.rglob(_TMP_GLOB):  # shards, markers, and stages' work folders (dedup's)
            if tmp.is_file():
                tmp.unlink(missing_ok=True)

    def is_done(self, index: int) -> bool:
        return (self.root / ".done" / f"{shard_name(index)}.json").exists()

    def done_counts(self) -> list[ShardCounts]:
        out = []
        for p in sorted((self.root / ".done").glob("part-*.json")):
            fields = json.loads(p.read_text())
            if "failed" not in fields:  # markers written before ``failed`` had its own field
                fields["failed"] = int(fields.get("extra", {}).pop("failed", 0) or 0)
            out.append(ShardCounts(**fields))
        return out

    def write_shard(self, index: int, kept: list[Sample], rejected: list[Rejection], counts: ShardCounts) -> None:
        """Write rejections, then samples, then the done-marker (the commit point)."""
        name = shard_name(index)
        rejected_path = self.root / "rejected" / f"{name}.parquet"
        if rejected:
            _atomic_write_table(rejected_path, rejections_to_table(rejected))
        else:  # a redone shard may have had rejections the first time
            rejected_path.unlink(missing_ok=True)
        _atomic_write_table(self.root / "data" / f"{name}.parquet", samples_to_table(kept))
        atomic_write_json(self.root / ".done" / f"{name}.json", counts.__dict__)


def read_shard(path: str | os.PathLike[str]) -> list[Sample]:
    """Load one shard, naming the file if it is not readable Parquet of our schema."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as e:
        raise DatasetError(f"{path}: unreadable Parquet shard ({e})") from e
    missing = {"id", "source", "question"} - set(table.column_names)
    if missing:
        raise DatasetError(f"{path}: not a finereason shard (missing columns: {', '.join(sorted(missing))})")
    return table_to_samples(table)

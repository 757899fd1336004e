"""Pass 1: per-shard signatures, small enough that the global grouping can hold them all.

For each sample, in its shard's row order:

``exact``    64 bits of a hash of the normalised question + options and the images' sha256s
``answer``   32-bit key of the normalised answer, a choice letter read as its option's text
             (0: none), so near-duplicates must agree on it
``numbers``  32-bit key of the question's numbers, so "AB = 3" and "AB = 5" never merge
``phashes``  the informative image hashes (uint64); ``n_images`` counts all images
``sig4``     the low 4 bits of each of the 128 MinHash values, two to a byte (b-bit MinHash):
             64 bytes instead of 512 for a Jaccard estimate with about the same spread
``bandNN``   one 32-bit key per LSH band (the band's MinHash rows and ``numbers``; 0 = no text)
``contam_*`` the benchmark match, if ``--against`` was given (decided here: it is per sample)

Only the small columns of the input are read (never the image bytes), so this pass costs the
MinHash of the text and little else. The MinHash is datasketch's (``affine32`` scheme,
``update_batch``, see :mod:`finereason.dedup.minhash`); only its hash values are kept, so no
MinHash or LeanMinHash object outlives its sample.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datasketch import MinHashLSH

from finereason.dedup.contamination import BenchmarkIndex
from finereason.dedup.minhash import band_keys, minhash, pack_low_bits
from finereason.dedup.phash import chunk_spans, informative
from finereason.dedup.text import answer_key, char_shingles, hash64, numbers_key, question_words
from finereason.io.store import DatasetError, atomic_write_json, shard_name

#: The columns of an input shard the signature pass needs (nested paths: no image bytes).
LIGHT_COLUMNS = ["id", "question", "options", "answer", "images.list.element.sha256",
                 "images.list.element.phash"]


@dataclass(frozen=True)
class DedupSettings:
    """Everything that changes which samples are dropped; recorded in the manifest."""

    text_threshold: float = 0.8
    phash_distance: int = 4
    ngram: int = 8
    overlap_threshold: float = 0.5
    image_overlap_threshold: float = 0.5
    generic_df: int = 10
    near: bool = True
    num_perm: int = 128
    shingle: int = 5
    bands: int = 0
    rows: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.text_threshold <= 1.0:
            raise ValueError(f"text threshold must be in (0, 1], got {self.text_threshold}")
        for name in ("overlap_threshold", "image_overlap_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name.replace('_', ' ')} must be in [0, 1], got {getattr(self, name)}")
        if self.num_perm < 2 or self.num_perm % 2:
            raise ValueError(f"num_perm must be even (two 4-bit values a byte), got {self.num_perm}")
        if self.generic_df < 2:
            raise ValueError(f"generic df must be at least 2, got {self.generic_df}")
        if self.ngram < 1:
            raise ValueError(f"ngram must be at least 1, got {self.ngram}")
        chunk_spans(self.phash_distance)  # validates the distance
        if self.bands == 0:
            # datasketch's optimiser, weighting misses 9× over false candidates: every candidate
            # is checked against the Jaccard estimate, so false candidates only cost a compare.
            # At 0.8 this gives 14 bands of 9 rows: found with p=0.87 at J=0.8, 0.98 at J=0.85.
            lsh = MinHashLSH(threshold=self.text_threshold, num_perm=self.num_perm, weights=(0.1, 0.9))
            object.__setattr__(self, "bands", lsh.b)
            object.__setattr__(self, "rows", lsh.r)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def signature_schema(settings: DedupSettings) -> pa.Schema:
    fields = [
        ("id", pa.string()),
        ("exact", pa.uint64()),
        ("answer", pa.uint32()),
        ("numbers", pa.uint32()),
        ("n_images", pa.int32()),
        ("phashes", pa.list_(pa.uint64())),
        ("has_text", pa.bool_()),
        ("sig4", pa.binary(settings.num_perm // 2)),
    ]
    fields += [(band_column(i), pa.uint32()) for i in range(settings.bands)]
    fields += [("contam_kind", pa.string()), ("contam_detail", pa.string())]
    return pa.schema(fields)


def band_column(i: int) -> str:
    return f"band{i:02d}"


@lru_cache(maxsize=2)
def _index(path: str, settings: DedupSettings) -> BenchmarkIndex:
    """One index per worker process, loaded on its first shard."""
    return BenchmarkIndex.load(path, ngram=settings.ngram, phash_distance=settings.phash_distance,
                               overlap_threshold=settings.overlap_threshold,
                               image_overlap_threshold=settings.image_overlap_threshold,
                               generic_df=settings.generic_df)


def read_light(path: str | os.PathLike[str]) -> dict[str, list[Any]]:
    """The light columns of an input shard as Python lists."""
    try:
        table = pq.ParquetFile(path).read(columns=LIGHT_COLUMNS)
    except (OSError, pa.ArrowInvalid, KeyError) as e:
        raise DatasetError(f"{path}: unreadable or not a finereason shard ({e})") from e
    return {name: table.column(name).to_pylist() for name in table.column_names}


def sign_rows(cols: dict[str, list[Any]], settings: DedupSettings, index: BenchmarkIndex | None) -> pa.Table:
    """Signatures of one shard's rows (see module docstring)."""
    n = len(cols["id"])
    out: dict[str, Any] = {name: [] for name in ("exact", "answer", "numbers", "n_images", "phashes",
                                                  "contam_kind", "contam_detail")}
    values = np.full((n, settings.num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    has_text = np.zeros(n, bool)
    for i in range(n):
        images = cols["images"][i] or []
        ws = question_words(cols["question"][i], cols["options"][i])
        norm = " ".join(ws)
        shas = [im["sha256"] or "" for im in images]
        hashes = [v for v in (informative(im["phash"]) for im in images) if v is not None]
        out["exact"].append(hash64(norm + "\x00" + ",".join(sorted(shas))))
        out["answer"].append(answer_key(cols["answer"][i], cols["options"][i]))
        out["numbers"].append(numbers_key(ws))
        out["n_images"].append(len(images))
        out["phashes"].append(hashes)
        if settings.near and norm:
            values[i] = minhash(char_shingles(norm, settings.shingle), settings.num_perm)
            has_text[i] = True
        hit = index.match(ws, hashes, shas) if index is not None else None
        out["contam_kind"].append(hit.kind if hit else None)
        out["contam_detail"].append(hit.detail() if hit else None)
    schema = signature_schema(settings)
    arrays = {name: pa.array(col, type=schema.field(name).type) for name, col in out.items()}
    arrays["id"] = pa.array(cols["id"], type=pa.string())
    arrays["has_text"] = pa.array(has_text)
    arrays["sig4"] = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(settings.num_perm // 2), n, [None, pa.py_buffer(pack_low_bits(values).tobytes())])
    keys = band_keys(values, settings.bands, settings.rows, np.asarray(out["numbers"], dtype=np.uint32))
    keys[~has_text] = 0
    for b in range(settings.bands):
        arrays[band_column(b)] = pa.array(keys[:, b], type=pa.uint32())
    return pa.Table.from_arrays([arrays[name] for name in schema.names], schema=schema)


@dataclass(frozen=True)
class SignShard:
    """Picklable job for the pool: sign input shard ``index`` into ``sig_dir``, then mark it done."""

    settings: DedupSettings
    sig_dir: str
    index_path: str | None

    def __call__(self, job: tuple[int, str]) -> int:
        index, path = job
        bench = _index(self.index_path, self.settings) if self.index_path else None
        table = sign_rows(read_light(path), self.settings, bench)
        root = Path(self.sig_dir)
        root.mkdir(parents=True, exist_ok=True)
        name = shard_name(index)
        tmp = root / f".{name}.parquet.tmp-{os.getpid()}"
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, root / f"{name}.parquet")
        atomic_write_json(root / ".done" / f"{name}.json", {"index": index, "rows": table.num_rows,
                                                            "input": str(path)})
        return table.num_rows


def signature_done(sig_dir: Path, index: int) -> bool:
    return (sig_dir / ".done" / f"{shard_name(index)}.json").exists()


def signature_rows(sig_dir: Path, index: int) -> int:
    return int(json.loads((sig_dir / ".done" / f"{shard_name(index)}.json").read_text())["rows"])

"""Benchmark decontamination: does a training sample contain a benchmark item?

The rule (also in ``finereason dedup --help``). For a sample S and a benchmark item B:

* **text overlap** = shared word 8-grams / S's distinct 8-grams, over the normalised question
  and options (Open-R1's convention); a question under 8 words has no 8-grams and instead
  scores 1 when its normalised text equals B's, else 0.
* **image match** = an image of S within ``phash_distance`` bits (default 4) of an image of B,
  or byte-identical to one. Only informative hashes take part in the pHash comparison: flat
  images are skipped by their hash and mostly blank benchmark images by how little is drawn
  (:mod:`finereason.dedup.phash`), since all blank pages look alike to a pHash.
* **word overlap** = shared content words (stopwords and exam boilerplate removed) over the
  smaller set, which survives rewording: "What is the measure of angle ABC?" and "Find ∠ABC."
  share {angle, abc}.

S is contaminated by B when

  (text overlap ≥ 0.5 AND (S has no image OR B has no image OR an image matches))   kind text/both
  OR (an image matches AND word overlap ≥ 0.5)                                        kind image

so the same question on the same picture is caught (both), so is the same picture asked in
other words (image), and so is a copied text-only problem (text). A generic phrase ("what is
the value of x in the figure below") shared with a benchmark question over a different picture
is not: two pictured items need their pictures to agree before text alone counts. Nor is a
different question about a look-alike picture (a template chart, a blank page): a pHash match
is weak evidence on its own (synthetic pie charts of one style fall within 4 bits of each
other a fifth of the time), so the image branch also wants the question to be about the same
things. A blank image matches only a byte-identical copy, and does not count as "no image".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from finereason.dedup.phash import chunk_spans, distances, informative, mostly_blank, span_values
from finereason.dedup.text import content_words, hash64, ngram_hashes, question_words, word_overlap
from finereason.io.store import Dataset, DatasetError, read_shard

#: One row per benchmark item, written once per run into the output folder's work area.
INDEX_SCHEMA = pa.schema(
    [
        ("bench", pa.string()),
        ("id", pa.string()),
        ("words", pa.string()),  # normalised words joined by one space
        ("n_images", pa.int32()),
        ("phashes", pa.list_(pa.uint64())),  # informative images only
        ("shas", pa.list_(pa.string())),  # every image: a byte-identical copy matches even if blank
    ]
)


@dataclass(frozen=True)
class Contamination:
    """Why a sample was judged to contain a benchmark item; ``detail`` is what rejected/ shows."""

    bench: str
    item: str
    kind: str  # "text", "image" or "both"
    ngram_overlap: float
    word_overlap: float
    distance: int | None

    def detail(self) -> str:
        dist = "none" if self.distance is None else str(self.distance)
        return (f"benchmark={self.bench} item={self.item} kind={self.kind} "
                f"ngram_overlap={self.ngram_overlap:.2f} word_overlap={self.word_overlap:.2f} "
                f"phash_distance={dist}")


def index_benchmark_shard(bench: str, path: Path) -> pa.Table:
    """Index rows for one shard of a benchmark dataset (decodes its images for the blank check)."""
    rows: dict[str, list[Any]] = {name: [] for name in INDEX_SCHEMA.names}
    for s in read_shard(path):
        hashes = []
        for im in s.images:
            value = informative(im.phash)
            if value is not None and not mostly_blank(im.bytes):
                hashes.append(value)
        rows["bench"].append(bench)
        rows["id"].append(s.id)
        rows["words"].append(" ".join(question_words(s.question, s.options)))
        rows["n_images"].append(len(s.images))
        rows["phashes"].append(hashes)
        rows["shas"].append([im.sha256 for im in s.images])
    return pa.Table.from_pydict(rows, schema=INDEX_SCHEMA)


def benchmark_shards(folders: list[str]) -> list[tuple[str, Path]]:
    """(benchmark name, shard path) for every shard of every ``--against`` folder."""
    out = []
    for folder in folders:
        ds = Dataset(folder)
        try:
            paths = ds.shard_paths()
        except DatasetError as e:
            raise DatasetError(f"--against {folder}: {e}") from e
        if not paths:
            raise DatasetError(f"--against {folder}: no shards in data/ (an empty benchmark)")
        name = str(Path(folder).resolve())
        out.extend((name, p) for p in paths)
    return out


class BenchmarkIndex:
    """Benchmark questions and images arranged for lookups that never scan every item.

    8-grams live in one sorted uint64 array (binary search, 12 bytes an entry), images in one
    sorted array per pigeonhole span; so checking a sample costs a few searches whatever the
    benchmarks' size.
    """

    def __init__(self, table: pa.Table, *, ngram: int, phash_distance: int, overlap_threshold: float,
                 image_overlap_threshold: float) -> None:
        self.n = ngram
        self.distance = phash_distance
        self.t_text = overlap_threshold
        self.t_image = image_overlap_threshold
        self.bench = table.column("bench").to_pylist()
        self.ids = table.column("id").to_pylist()
        texts = table.column("words").to_pylist()
        self.has_images = np.asarray(table.column("n_images").to_numpy(zero_copy_only=False)) > 0
        self.words = [t.split() for t in texts]
        self._content: dict[int, frozenset[str]] = {}
        grams: list[int] = []
        owners: list[int] = []
        self.short: dict[int, list[int]] = {}
        for k, ws in enumerate(self.words):
            if len(ws) >= self.n:
                hs = ngram_hashes(ws, self.n)
                grams.extend(hs)
                owners.extend([k] * len(hs))
            elif ws:
                self.short.setdefault(hash64(" ".join(ws)), []).append(k)
        order = np.argsort(np.asarray(grams, dtype=np.uint64), kind="stable")
        self.grams = np.asarray(grams, dtype=np.uint64)[order]
        self.gram_items = np.asarray(owners, dtype=np.int32)[order]
        phashes = table.column("phashes")
        flat = phashes.combine_chunks().flatten().to_numpy(zero_copy_only=False).astype(np.uint64)
        lengths = phashes.combine_chunks().value_lengths().to_numpy(zero_copy_only=False)
        self.image_hashes = flat
        self.image_items = np.repeat(np.arange(len(self.ids), dtype=np.int32), lengths)
        self.spans = chunk_spans(phash_distance)
        self.span_index: list[tuple[np.ndarray, np.ndarray]] = []
        for span in self.spans:
            values = span_values(flat, span)
            order = np.argsort(values, kind="stable")
            self.span_index.append((values[order], order.astype(np.int64)))
        self.by_sha: dict[str, list[int]] = {}
        for k, shas in enumerate(table.column("shas").to_pylist()):
            for sha in shas:
                self.by_sha.setdefault(sha, []).append(k)

    @classmethod
    def load(cls, path: str | os.PathLike[str], **settings: Any) -> BenchmarkIndex:
        return cls(pq.read_table(path), **settings)

    def __len__(self) -> int:
        return len(self.ids)

    def content(self, k: int) -> frozenset[str]:
        if k not in self._content:
            self._content[k] = content_words(self.words[k])
        return self._content[k]

    def _text_overlaps(self, ws: list[str]) -> dict[int, float]:
        if len(ws) < self.n:
            return {k: 1.0 for k in self.short.get(hash64(" ".join(ws)), [])} if ws else {}
        mine = np.fromiter(ngram_hashes(ws, self.n), dtype=np.uint64)
        lo = np.searchsorted(self.grams, mine, "left")
        hi = np.searchsorted(self.grams, mine, "right")
        hit = hi > lo
        if not hit.any():
            return {}
        lo, hi = lo[hit], hi[hit]
        # Concatenate the ranges [lo, hi) of the matching grams' postings without a Python loop.
        sizes = hi - lo
        starts = np.repeat(lo - np.concatenate(([0], np.cumsum(sizes)[:-1])), sizes)
        items = self.gram_items[starts + np.arange(sizes.sum())]
        found, counts = np.unique(items, return_counts=True)
        return {int(k): c / len(mine) for k, c in zip(found, counts)}

    def _image_matches(self, phashes: list[int], shas: list[str]) -> dict[int, int]:
        best: dict[int, int] = {k: 0 for sha in shas for k in self.by_sha.get(sha, ())}
        if not phashes or len(self.image_hashes) == 0:
            return best
        for value in phashes:
            q = np.asarray([value], dtype=np.uint64)
            rows: set[int] = set()
            for span, (values, order) in zip(self.spans, self.span_index):
                v = span_values(q, span)
                lo, hi = np.searchsorted(values, v, "left")[0], np.searchsorted(values, v, "right")[0]
                rows.update(order[lo:hi].tolist())
            if not rows:
                continue
            cand = np.fromiter(sorted(rows), dtype=np.int64)
            d = distances(self.image_hashes[cand], np.full(len(cand), value, dtype=np.uint64))
            for row, dist in zip(cand[d <= self.distance], d[d <= self.distance]):
                k = int(self.image_items[row])
                best[k] = min(best.get(k, 64), int(dist))
        return best

    def match(self, ws: list[str], phashes: list[int], shas: list[str]) -> Contamination | None:
        """The strongest benchmark item a sample contains under the module's rule, or None.

        ``ws``: the sample's normalised words; ``phashes``: its informative image hashes;
        ``shas``: the sha256 of all its images.
        """
        n_images = len(shas)
        overlaps = self._text_overlaps(ws)
        images = self._image_matches(phashes, shas)
        candidates = {k for k, o in overlaps.items() if o >= self.t_text} | set(images)
        if not candidates:
            return None
        mine = content_words(ws)
        found: list[tuple[tuple[Any, ...], Contamination]] = []
        for k in sorted(candidates):
            o = overlaps.get(k, 0.0)
            dist = images.get(k)
            w = word_overlap(mine, self.content(k))
            text_hit = o >= self.t_text and (n_images == 0 or not self.has_images[k] or dist is not None)
            image_hit = dist is not None and w >= self.t_image
            if not (text_hit or image_hit):
                continue
            kind = "both" if dist is not None and o >= self.t_text else ("text" if text_hit else "image")
            c = Contamination(self.bench[k], self.ids[k], kind, o, w, dist)
            rank = ({"both": 0, "text": 1, "image": 2}[kind], -o, -w, 64 if dist is None else dist, k)
            found.append((rank, c))
        return min(found, key=lambda rc: rc[0])[1] if found else None

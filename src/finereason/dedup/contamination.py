"""Benchmark decontamination: does a training sample contain a benchmark item?

The rule (also in ``finereason dedup --help``). A sample S is contaminated by a benchmark
item B when

  (text overlap ≥ 0.5 AND (S has no image OR B has no image OR an image matches))   kind text/both
  OR (an image matches AND word overlap ≥ 0.5)                                        kind image

* **text overlap** = S's word 8-grams also in B / S's distinct 8-grams, over the normalised
  question and options (Open-R1's convention); a question under 8 words has no 8-grams and
  instead scores 1 when its normalised text equals B's, else 0.
* **image match** = an image of S within ``phash_distance`` bits (default 4) of an image of B,
  or byte-identical to one. Only informative hashes take part in the pHash comparison: flat
  images are skipped by their hash and mostly blank benchmark images by how little is drawn
  on them (:mod:`finereason.dedup.phash`), since all blank pages look alike to a pHash. A
  blank image thus matches only a byte-identical copy, and does not count as "no image".
* **word overlap** = shared content words over the smaller set, or 0 if fewer than two are
  shared (one common number is chance, not evidence). Content words are what is left after
  stopwords, exam boilerplate ("find", "figure", "shown") and words that ``generic_df`` or
  more benchmark items use; so it survives rewording ("What is the measure of ∠PQR formed by
  the tangents from T?" and "Determine angle PQR which the tangents from T make" share
  {pqr, tangents}), while a question made only of template vocabulary ("What time does the
  clock show?") has no content words and never confirms an image match.
* **templates are not evidence**: an 8-gram (or a whole short question) that ``generic_df``
  (default 10) or more benchmark items share, such as MathVista's "Hint: Please answer the
  question and provide the correct option letter…", is left out of both sides of the text
  overlap; a benchmark picture that ``generic_df`` or more items show, counting pictures
  within ``phash_distance`` as the same (one chart style, one diagram layout), is not indexed
  (:func:`drop_common_images`).

So the same question on the same picture is caught (both), so is the same picture asked in
other words (image), and so is a copied text-only problem (text). A generic phrase ("what is
the value of x in the figure below") shared with a benchmark question over a different picture
is not: two pictured items need their pictures to agree before text alone counts; nor are
different questions about a blank page.

Why the care about templates: a 64-bit pHash cannot tell apart two pictures drawn from one
template (synthetic pie charts of one style fall within 4 bits of each other a fifth of the
time, clocks and geometry figures a few percent), and with thousands of training pictures
some always land near a benchmark one. Against 1,000 problems of another seed of the same
generator, 5,000 synthetic problems were 27 % "contaminated" under plain 8-gram and word
overlap; under the rule above 0.24 % (12: template questions that share specific numbers or
names, on look-alike pictures), while every planted copy in ``tests/dedup`` is still caught.
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
    out: list[tuple[str, Path]] = []
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


def drop_common_images(table: pa.Table, *, phash_distance: int, generic_df: int) -> tuple[pa.Table, int]:
    """Remove from the index the benchmark pictures that are templates, not fingerprints.

    A pHash match is evidence only if the picture is distinctive among the benchmark's own:
    a picture that ``generic_df`` or more items show, counting every picture within
    ``phash_distance`` as the same (one chart style, one diagram layout), matches any training
    picture of that style too. Likewise a file that ``generic_df`` or more items share.
    Returns the table with such hashes and sha256s removed, and how many hashes were removed.
    """
    hashes = table.column("phashes").combine_chunks()
    flat = hashes.flatten().to_numpy(zero_copy_only=False).astype(np.uint64)
    lengths = hashes.value_lengths().to_numpy(zero_copy_only=False)
    owner = np.repeat(np.arange(table.num_rows, dtype=np.int64), lengths)
    spans = chunk_spans(phash_distance)
    index = []
    for span in spans:
        values = span_values(flat, span)
        order = np.argsort(values, kind="stable")
        index.append((values[order], order))
    common = np.zeros(len(flat), bool)
    for i in range(len(flat)):
        parts = []
        for span, (values, order) in zip(spans, index):
            v = span_values(flat[i : i + 1], span)[0]
            parts.append(order[np.searchsorted(values, v, "left") : np.searchsorted(values, v, "right")])
        cand = np.unique(np.concatenate(parts))
        if len(cand) < generic_df:  # too few candidates to reach generic_df items
            continue
        near = cand[distances(flat[cand], np.full(len(cand), flat[i], np.uint64)) <= phash_distance]
        common[i] = len(np.unique(owner[near])) >= generic_df  # items showing it, its own included
    kept_hashes: list[list[int]] = [[] for _ in range(table.num_rows)]
    for h, k, c in zip(flat.tolist(), owner.tolist(), common.tolist()):
        if not c:
            kept_hashes[k].append(h)
    shas = table.column("shas").to_pylist()
    df: dict[str, int] = {}
    for item in shas:
        for sha in set(item):
            df[sha] = df.get(sha, 0) + 1
    kept_shas = [[sha for sha in item if df[sha] < generic_df] for item in shas]
    table = table.set_column(table.schema.get_field_index("phashes"), "phashes",
                             pa.array(kept_hashes, type=pa.list_(pa.uint64())))
    table = table.set_column(table.schema.get_field_index("shas"), "shas",
                             pa.array(kept_shas, type=pa.list_(pa.string())))
    return table, int(common.sum())


class BenchmarkIndex:
    """Benchmark questions and images arranged for lookups that never scan every item.

    8-grams live in one sorted uint64 array (binary search, 12 bytes an entry), images in one
    sorted array per pigeonhole span; so checking a sample costs a few searches whatever the
    benchmarks' size.
    """

    def __init__(self, table: pa.Table, *, ngram: int, phash_distance: int, overlap_threshold: float,
                 image_overlap_threshold: float, generic_df: int) -> None:
        self.n = ngram
        self.distance = phash_distance
        self.t_text = overlap_threshold
        self.t_image = image_overlap_threshold
        self.bench = table.column("bench").to_pylist()
        self.ids = table.column("id").to_pylist()
        texts = table.column("words").to_pylist()
        self.has_images = np.asarray(table.column("n_images").to_numpy(zero_copy_only=False)) > 0
        self.words = [t.split() for t in texts]
        # Content words of each item, less those generic_df or more items use (the vocabulary
        # of a chart or geometry template): what is left names *this* problem's things.
        contents = [content_words(ws) for ws in self.words]
        word_df: dict[str, int] = {}
        for c in contents:
            for w in c:
                word_df[w] = word_df.get(w, 0) + 1
        self.common_words = frozenset(w for w, c in word_df.items() if c >= generic_df)
        self.contents = [c - self.common_words for c in contents]
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
        # Template phrases (shared by generic_df or more items) are not evidence: drop them from
        # the postings and remember them, so they leave the sample's denominator too.
        self.short = {h: ks for h, ks in self.short.items() if len(ks) < generic_df}
        all_grams = np.asarray(grams, dtype=np.uint64)
        order = np.argsort(all_grams, kind="stable")
        all_grams, gram_items = all_grams[order], np.asarray(owners, dtype=np.int32)[order]
        unique, counts = np.unique(all_grams, return_counts=True)  # an item's grams are a set: counts = df
        self.generic = unique[counts >= generic_df]
        keep = np.repeat(counts < generic_df, counts)
        self.grams, self.gram_items = all_grams[keep], gram_items[keep]
        phashes = table.column("phashes")
        flat = phashes.combine_chunks().flatten().to_numpy(zero_copy_only=False).astype(np.uint64)
        lengths = phashes.combine_chunks().value_lengths().to_numpy(zero_copy_only=False)
        self.image_items = np.repeat(np.arange(len(self.ids), dtype=np.int32), lengths)
        # Pigeonhole lookup: per span, the span's value → image rows. Template pictures are
        # already out of the index, so the lists are short and plain dicts beat numpy here.
        self.spans = [(shift, (1 << width) - 1) for shift, width in chunk_spans(phash_distance)]
        self.image_list: list[int] = flat.tolist()
        self.span_rows: list[dict[int, list[int]]] = [{} for _ in self.spans]
        for row, value in enumerate(self.image_list):
            for (shift, mask), rows in zip(self.spans, self.span_rows):
                rows.setdefault((value >> shift) & mask, []).append(row)
        self.by_sha: dict[str, list[int]] = {}
        for k, shas in enumerate(table.column("shas").to_pylist()):
            for sha in shas:
                self.by_sha.setdefault(sha, []).append(k)

    @classmethod
    def load(cls, path: str | os.PathLike[str], **settings: Any) -> BenchmarkIndex:
        return cls(pq.read_table(path), **settings)

    def __len__(self) -> int:
        return len(self.ids)

    def _text_overlaps(self, ws: list[str]) -> dict[int, float]:
        if len(ws) < self.n:
            return {k: 1.0 for k in self.short.get(hash64(" ".join(ws)), [])} if ws else {}
        mine = np.fromiter(ngram_hashes(ws, self.n), dtype=np.uint64)
        if len(self.generic):
            pos = np.minimum(np.searchsorted(self.generic, mine), len(self.generic) - 1)
            mine = mine[self.generic[pos] != mine]
        if not len(mine):
            return {}
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
        """Benchmark item → smallest distance to one of its images (0 for a byte-identical file)."""
        best: dict[int, int] = {k: 0 for sha in shas for k in self.by_sha.get(sha, ())}
        for value in phashes:
            rows = {r for (shift, mask), index in zip(self.spans, self.span_rows)
                    for r in index.get((value >> shift) & mask, ())}
            for row in rows:
                dist = (value ^ self.image_list[row]).bit_count()
                if dist <= self.distance:
                    k = int(self.image_items[row])
                    best[k] = min(best.get(k, dist), dist)
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
        mine = content_words(ws) - self.common_words
        found: list[tuple[tuple[Any, ...], Contamination]] = []
        for k in sorted(candidates):
            o = overlaps.get(k, 0.0)
            dist = images.get(k)
            w = word_overlap(mine, self.contents[k])
            text_hit = o >= self.t_text and (n_images == 0 or not self.has_images[k] or dist is not None)
            image_hit = dist is not None and w >= self.t_image
            if not (text_hit or image_hit):
                continue
            kind = "both" if dist is not None and o >= self.t_text else ("text" if text_hit else "image")
            c = Contamination(self.bench[k], self.ids[k], kind, o, w, dist)
            rank = ({"both": 0, "text": 1, "image": 2}[kind], -o, -w, 64 if dist is None else dist, k)
            found.append((rank, c))
        return min(found, key=lambda rc: rc[0])[1] if found else None

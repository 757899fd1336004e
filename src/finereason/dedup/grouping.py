"""Pass 2: the global decision, in the main process, over the compact signatures only.

Memory is about 100 bytes a sample, held as numpy arrays: 64 (``sig4``) + 8 (exact key) + 4
(answer) + 4 (numbers) + 4 (image count) + 12 per informative image + 2 flags; the band keys
are read one band at a time, and the sort of one pass adds ~40 bytes a row. Nothing compares
all pairs:

1. **contaminated** samples (decided in pass 1) leave first, so every twin named later is a
   kept sample;
2. **exact** duplicates: the first occurrence (shard, row order) of each exact key is kept;
3. **near** duplicates among the rest. Candidates are samples that share a key: for pictured
   samples (band key, pHash span value) for each LSH band and each pigeonhole span of the
   hash, so a pair is a candidate only if its texts share a band *and* two of its images share
   a span (true for every pair within ``phash_distance`` bits); for samples with no image at
   all, the band key alone. Within a key's run (samples in input order) each sample is paired
   with the run's first and its ``WINDOW`` predecessors, which bounds the work of template
   questions that fill a whole bucket. A candidate pair is a near-duplicate when the b-bit
   Jaccard estimate ≥ ``text_threshold``, the pHash distance ≤ ``phash_distance`` (pictured),
   the numbers agree and the answers agree where both exist (a choice letter read as its
   option's text). Samples whose images are all
   uninformative (blank) are never near-duplicates of anything.
4. Greedy in input order: a sample is dropped if it is a near-duplicate of an earlier sample
   that is kept; its twin is the first such sample. So the result is the same on every run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from finereason.dedup.minhash import jaccard_estimate
from finereason.dedup.phash import chunk_spans, distances, span_values
from finereason.dedup.signatures import DedupSettings, band_column

#: Predecessors in a key's run each sample is compared with (besides the run's first).
WINDOW = 4
#: Candidate pairs verified per numpy block (bounds the pairs × num_perm/2 temporary).
BLOCK = 1 << 13

DROP_SCHEMA = pa.schema(
    [
        ("shard", pa.int32()),
        ("row", pa.int32()),
        ("reason", pa.string()),
        ("kind", pa.string()),
        ("detail", pa.string()),
    ]
)


@dataclass
class Signatures:
    """All samples' compact signatures, indexed by global position (shard order, then row)."""

    paths: list[Path]
    offsets: np.ndarray  # first global index of each shard, plus the total at the end
    exact: np.ndarray
    answer: np.ndarray
    numbers: np.ndarray
    n_images: np.ndarray
    has_text: np.ndarray
    contaminated: np.ndarray
    sig4: np.ndarray | None  # (n × num_perm/2) packed low bits, see minhash.pack_low_bits
    image_hashes: np.ndarray  # informative hashes, flattened
    image_owner: np.ndarray  # global index of each hash's sample

    @property
    def n(self) -> int:
        return int(self.offsets[-1])

    def nbytes(self) -> int:
        arrays = [self.exact, self.answer, self.numbers, self.n_images, self.has_text, self.contaminated,
                  self.image_hashes, self.image_owner]
        return sum(a.nbytes for a in arrays) + (self.sig4.nbytes if self.sig4 is not None else 0)


def _col(table: pa.Table, name: str, dtype: Any) -> np.ndarray:
    return table.column(name).combine_chunks().to_numpy(zero_copy_only=False).astype(dtype, copy=False)


def load(paths: list[Path], counts: list[int], settings: DedupSettings) -> Signatures:
    """Read the small columns of every signature shard into preallocated arrays."""
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    n = int(offsets[-1])
    exact = np.empty(n, np.uint64)
    answer = np.empty(n, np.uint32)
    numbers = np.empty(n, np.uint32)
    n_images = np.empty(n, np.int32)
    has_text = np.empty(n, bool)
    contaminated = np.empty(n, bool)
    width = settings.num_perm // 2
    sig4 = np.empty((n, width), np.uint8) if settings.near else None
    hashes: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    columns = ["exact", "answer", "numbers", "n_images", "has_text", "phashes", "contam_kind"]
    columns += ["sig4"] if settings.near else []
    for shard, path in enumerate(paths):
        t = pq.read_table(path, columns=columns)
        lo, hi = int(offsets[shard]), int(offsets[shard + 1])
        if t.num_rows != hi - lo:
            raise ValueError(f"{path}: {t.num_rows} rows, expected {hi - lo}")
        exact[lo:hi] = _col(t, "exact", np.uint64)
        answer[lo:hi] = _col(t, "answer", np.uint32)
        numbers[lo:hi] = _col(t, "numbers", np.uint32)
        n_images[lo:hi] = _col(t, "n_images", np.int32)
        has_text[lo:hi] = _col(t, "has_text", bool)
        contaminated[lo:hi] = t.column("contam_kind").combine_chunks().is_valid().to_numpy(zero_copy_only=False)
        ph = t.column("phashes").combine_chunks()
        hashes.append(ph.flatten().to_numpy(zero_copy_only=False).astype(np.uint64))
        owners.append(np.repeat(np.arange(lo, hi, dtype=np.int32),
                                 ph.value_lengths().to_numpy(zero_copy_only=False)))
        if sig4 is not None and hi > lo:
            raw = t.column("sig4").combine_chunks()
            buf = np.frombuffer(raw.buffers()[1], dtype=np.uint8)
            start = raw.offset * width
            sig4[lo:hi] = buf[start : start + (hi - lo) * width].reshape(hi - lo, width)
    return Signatures(paths, offsets, exact, answer, numbers, n_images, has_text, contaminated, sig4,
                      np.concatenate(hashes) if hashes else np.empty(0, np.uint64),
                      np.concatenate(owners) if owners else np.empty(0, np.int32))


def _band(sigs: Signatures, b: int) -> np.ndarray:
    out = np.empty(sigs.n, np.uint32)
    for shard, path in enumerate(sigs.paths):
        lo, hi = int(sigs.offsets[shard]), int(sigs.offsets[shard + 1])
        out[lo:hi] = _col(pq.read_table(path, columns=[band_column(b)]), band_column(b), np.uint32)
    return out


def candidate_pairs(keys: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (earlier, later) of ``items`` (ascending) that share a key, bounded per run.

    Each item is paired with the first item of its run and its ``WINDOW`` predecessors there.
    ``keys`` is consumed (pass a temporary: it is freed as soon as it is sorted).
    """
    if len(keys) < 2:
        return items[:0], items[:0]
    order = np.argsort(keys, kind="stable").astype(np.int32)  # stable: runs stay in item order
    k = keys[order]
    del keys
    first = np.empty(len(k), bool)
    first[0] = True
    np.not_equal(k[1:], k[:-1], out=first[1:])
    del k
    starts = np.flatnonzero(first).astype(np.int32)[np.cumsum(first, dtype=np.int32) - 1]
    del first
    later = np.flatnonzero(np.arange(len(order), dtype=np.int32) > starts).astype(np.int32)
    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    for w in range(1, WINDOW + 1):
        sel = later[later - w >= starts[later]]
        left.append(order[sel - w])
        right.append(order[sel])
    sel = later[later - starts[later] > WINDOW]
    left.append(order[starts[sel]])
    right.append(order[sel])
    return items[np.concatenate(left)], items[np.concatenate(right)]


def _verify(sigs: Signatures, a: np.ndarray, b: np.ndarray, settings: DedupSettings,
            image_ok: np.ndarray | None) -> np.ndarray:
    keep = a != b
    if image_ok is not None:
        keep &= image_ok
    keep &= sigs.numbers[a] == sigs.numbers[b]
    keep &= (sigs.answer[a] == sigs.answer[b]) | (sigs.answer[a] == 0) | (sigs.answer[b] == 0)
    idx = np.flatnonzero(keep)
    ok = np.zeros(len(a), bool)
    assert sigs.sig4 is not None
    for s in range(0, len(idx), BLOCK):
        blk = idx[s : s + BLOCK]
        ok[blk] = jaccard_estimate(sigs.sig4, a[blk], b[blk]) >= settings.text_threshold
    return ok


def near_edges(sigs: Signatures, active: np.ndarray, settings: DedupSettings, stats: Counter[str]) -> np.ndarray:
    """Verified near-duplicate pairs among ``active`` samples, as unique (earlier, later) rows."""
    # Pictured samples: one row per informative image of an active sample with text.
    rows = np.flatnonzero(active[sigs.image_owner] & sigs.has_text[sigs.image_owner]).astype(np.int32)
    owner = sigs.image_owner[rows]
    hashes = sigs.image_hashes[rows]
    del rows
    positions = np.arange(len(owner), dtype=np.int32)
    text_only = np.flatnonzero(active & sigs.has_text & (sigs.n_images == 0)).astype(np.int32)
    found: list[np.ndarray] = []
    for b in range(settings.bands):
        band = _band(sigs, b)
        for span in chunk_spans(settings.phash_distance):
            # key = band key (high 32 bits) | the hash's bits in this span (≤ 32 bits)
            ra, rb = candidate_pairs((band[owner].astype(np.uint64) << np.uint64(32)) | span_values(hashes, span),
                                     positions)
            stats["candidate_pairs"] += len(ra)
            image_ok = distances(hashes[ra], hashes[rb]) <= settings.phash_distance
            first, later = owner[ra], owner[rb]
            ok = _verify(sigs, first, later, settings, image_ok)
            found.append(np.stack([first[ok], later[ok]], axis=1))
        first, later = candidate_pairs(band[text_only], text_only)
        stats["candidate_pairs"] += len(first)
        ok = _verify(sigs, first, later, settings, None)
        found.append(np.stack([first[ok], later[ok]], axis=1))
        del band
    edges = np.concatenate(found).astype(np.int64) if found else np.empty((0, 2), np.int64)
    edges = np.sort(edges, axis=1)  # (earlier, later): two images of one pair can come either way
    edges = np.unique(edges, axis=0) if len(edges) else edges
    stats["near_pairs"] += len(edges)
    return edges


def greedy(edges: np.ndarray, n: int) -> np.ndarray:
    """twin[j] = the first kept earlier sample j duplicates, or -1; processed in input order."""
    twin = np.full(n, -1, np.int64)
    if not len(edges):
        return twin
    order = np.lexsort((edges[:, 0], edges[:, 1]))  # by later, then earlier
    for a, b in edges[order].tolist():
        if twin[b] < 0 and twin[a] < 0:
            twin[b] = a
    return twin


def _hashes_of(sigs: Signatures, g: int) -> np.ndarray:
    lo, hi = np.searchsorted(sigs.image_owner, [g, g + 1])  # owners ascend: built in input order
    return sigs.image_hashes[lo:hi]


def _min_distance(sigs: Signatures, a: int, b: int) -> int | None:
    ha, hb = _hashes_of(sigs, a), _hashes_of(sigs, b)
    if not len(ha) or not len(hb):
        return None
    return int(distances(ha[:, None], hb[None, :]).min())


def _ids(sigs: Signatures, wanted: np.ndarray) -> dict[int, str]:
    """Ids of the given global indices, reading only the shards that hold them."""
    out: dict[int, str] = {}
    wanted = np.unique(wanted)
    shard_of = np.searchsorted(sigs.offsets, wanted, side="right") - 1
    for shard in np.unique(shard_of):
        ids = pq.read_table(sigs.paths[shard], columns=["id"]).column("id").to_pylist()
        for g in wanted[shard_of == shard]:
            out[int(g)] = ids[int(g - sigs.offsets[shard])]
    return out


def group(paths: list[Path], counts: list[int], settings: DedupSettings) -> tuple[pa.Table, dict[str, Any]]:
    """Decide every drop; returns the drop table (one row a dropped sample) and statistics."""
    stats: Counter[str] = Counter()
    sigs = load(paths, counts, settings)
    n = sigs.n
    stats["samples"] = n
    stats["signature_bytes"] = sigs.nbytes()
    reason = np.zeros(n, np.int8)  # 0 kept, 1 benchmark, 2 exact, 3 near
    twin = np.full(n, -1, np.int64)
    reason[sigs.contaminated] = 1
    active = ~sigs.contaminated
    idx = np.flatnonzero(active)
    if len(idx):
        # return_index gives each key's first occurrence, return_inverse each sample's key.
        _, first_pos, inverse = np.unique(sigs.exact[idx], return_index=True, return_inverse=True)
        firsts = idx[first_pos][inverse]
        dup = firsts != idx
        reason[idx[dup]] = 2
        twin[idx[dup]] = firsts[dup]
    active = reason == 0
    if settings.near and active.any():
        near_twin = greedy(near_edges(sigs, active, settings, stats), n)
        hit = near_twin >= 0
        reason[hit] = 3
        twin[hit] = near_twin[hit]
    dropped = np.flatnonzero(reason > 0)
    names = _ids(sigs, twin[twin >= 0])
    details = _details(sigs, dropped, reason, twin, names, stats)
    shard = np.searchsorted(sigs.offsets, dropped, side="right") - 1
    table = pa.Table.from_pydict(
        {"shard": shard.astype(np.int32), "row": (dropped - sigs.offsets[shard]).astype(np.int32),
         "reason": [d[0] for d in details], "kind": [d[1] for d in details], "detail": [d[2] for d in details]},
        schema=DROP_SCHEMA,
    )
    return table, dict(stats)


def _details(sigs: Signatures, dropped: np.ndarray, reason: np.ndarray, twin: np.ndarray,
             names: dict[int, str], stats: Counter[str]) -> list[tuple[str, str, str]]:
    """(reason, kind, detail) of each dropped sample, counting each kind into ``stats``."""
    out: list[tuple[str, str, str]] = []
    contam: dict[int, tuple[str, str]] = {}
    need = dropped[reason[dropped] == 1]
    shard_of = np.searchsorted(sigs.offsets, need, side="right") - 1
    for shard in np.unique(shard_of):
        t = pq.read_table(sigs.paths[shard], columns=["contam_kind", "contam_detail"])
        kinds, texts = t.column("contam_kind").to_pylist(), t.column("contam_detail").to_pylist()
        for g in need[shard_of == shard]:
            r = int(g - sigs.offsets[shard])
            contam[int(g)] = (kinds[r], texts[r])
    for g in dropped.tolist():
        if reason[g] == 1:
            kind, text = contam[g]
            out.append(("benchmark_overlap", kind, text))
            stats[f"benchmark_overlap_{kind}"] += 1
        elif reason[g] == 2:
            out.append(("duplicate_exact", "exact", f"twin={names[int(twin[g])]}"))
            stats["duplicate_exact"] += 1
        else:
            t = int(twin[g])
            assert sigs.sig4 is not None
            j = float(jaccard_estimate(sigs.sig4, np.asarray([g]), np.asarray([t]))[0])
            dist = _min_distance(sigs, g, t)
            kind = "text_only" if dist is None else "text_image"
            extra = "no images" if dist is None else f"phash_distance={dist}"
            out.append(("near_duplicate", kind, f"twin={names[t]} text_jaccard~{j:.2f} {extra}"))
            stats[f"near_duplicate_{kind}"] += 1
    return out

"""The samples the report's browser shows: a seeded, stratified pick, bounded whatever the dataset's size.

How the size stays bounded: the report embeds at most ``limit`` samples (default 200), each
with thumbnails of at most 4 images (JPEG, ≤ 240 px) and its text cut at a few thousand
characters, so report.html stays a few MB for 100 or 100k samples. The pick is seeded (the
same dataset and seed give the same page) and stratified: the first up to 3 samples, in seeded
order, of every source, verdict and flag come first, so every filter value has something to
show, and the rest of the budget is a seeded random sample. Choosing reads only the small
columns of each shard; full rows (images included) are read only for the chosen shards.
"""

from __future__ import annotations

import base64
import io
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq
from PIL import Image as PILImage

from finereason.io.store import Dataset

_KEY_COLUMNS = ["source", "verdict", "flags"]
_THINK = re.compile(r"<think>(.*?)(?:</think>|$)(.*)", re.S)
#: Per shown sample: how many images get a thumbnail, their longest side, and text caps.
MAX_THUMBNAILS = 4
THUMB_SIDE = 240
TEXT_CAP = {"question": 3000, "think": 6000, "answer_text": 3000, "caption": 3000, "option": 300, "detail": 300}
PER_VALUE = 3


@dataclass(frozen=True)
class Pick:
    """Which samples were shown, out of how many, chosen how."""

    rows: list[dict[str, Any]]
    total: int
    seed: int
    limit: int


def cap(text: str | None, limit: int) -> str:
    """``text`` cut at ``limit`` characters, saying how much was left out."""
    if not text or len(text) <= limit:
        return text or ""
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


def thumbnail(data: bytes) -> str | None:
    """A small JPEG data URI of an image, or None if it cannot be decoded (the browser says so)."""
    try:
        with PILImage.open(io.BytesIO(data)) as im:
            im.draft("RGB", (THUMB_SIDE, THUMB_SIDE))  # JPEG: decode at reduced size
            small = im.convert("RGB")
            small.thumbnail((THUMB_SIDE, THUMB_SIDE))
            buf = io.BytesIO()
            small.save(buf, format="JPEG", quality=75)
    except (OSError, ValueError, PILImage.DecompressionBombError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def split_response(response: str | None) -> tuple[str, str]:
    """``(reasoning, rest)``: the ``<think>`` block (collapsed in the page) and what follows it."""
    if not response:
        return "", ""
    m = _THINK.search(response)
    if not m:
        return "", response
    return m.group(1).strip(), (response[: m.start()] + m.group(2)).strip()


def choose(refs: list[tuple[int, int, dict[str, Any]]], limit: int, seed: int) -> list[tuple[int, int]]:
    """Seeded stratified choice of ``(shard, row)`` refs: every source, verdict and flag first, then at random."""
    order = list(range(len(refs)))
    random.Random(seed).shuffle(order)
    seen: dict[tuple[str, str], int] = defaultdict(int)
    first, rest = [], []
    for i in order:
        keys = refs[i][2]
        values = [("source", keys["source"] or "?"), ("verdict", keys["verdict"] or "none")]
        values += [("flag", f) for f in keys["flags"] or []]
        if any(seen[v] < PER_VALUE for v in values):
            for v in values:
                seen[v] += 1
            first.append(i)
        else:
            rest.append(i)
    picked = (first + rest)[:limit]
    return sorted((refs[i][0], refs[i][1]) for i in picked)


def pick_samples(root: str, limit: int = 200, seed: int = 0) -> Pick:
    """The rows the browser shows, ready for JSON (thumbnails as data URIs, long text capped)."""
    paths = Dataset(root).shard_paths()
    refs: list[tuple[int, int, dict[str, Any]]] = []
    for shard, path in enumerate(paths):
        names = set(pq.ParquetFile(path).schema_arrow.names)
        table = pq.read_table(path, columns=[c for c in _KEY_COLUMNS if c in names])
        for row, keys in enumerate(table.to_pylist()):
            refs.append((shard, row, {c: keys.get(c) for c in _KEY_COLUMNS}))
    chosen = choose(refs, limit, seed)
    by_shard: dict[int, list[int]] = defaultdict(list)
    for shard, row in chosen:
        by_shard[shard].append(row)
    rows = []
    for shard, wanted in sorted(by_shard.items()):
        table = pq.read_table(paths[shard]).take(wanted)
        rows += [shown(r) for r in table.to_pylist()]
    return Pick(rows, len(refs), seed, limit)


def shown(row: dict[str, Any]) -> dict[str, Any]:
    """One sample as the browser needs it."""
    think, rest = split_response(row.get("response"))
    images = row.get("images") or []
    return {
        "id": row.get("id"),
        "source": row.get("source") or "?",
        "domain": row.get("domain"),
        "question": cap(row.get("question"), TEXT_CAP["question"]),
        "options": [cap(o, TEXT_CAP["option"]) for o in row.get("options") or []],
        "answer": row.get("answer"),
        "caption": cap(row.get("caption"), TEXT_CAP["caption"]),
        "think": cap(think, TEXT_CAP["think"]),
        "answer_text": cap(rest, TEXT_CAP["answer_text"]),
        "has_response": bool(row.get("response")),
        "pred_answer": row.get("pred_answer"),
        "verdict": row.get("verdict"),
        "verdict_by": row.get("verdict_by"),
        "pass_rate": row.get("pass_rate"),
        "flags": list(row.get("flags") or []),
        "images": [thumbnail(im["bytes"]) for im in images[:MAX_THUMBNAILS] if im.get("bytes")],
        "more_images": max(0, len(images) - MAX_THUMBNAILS),
    }

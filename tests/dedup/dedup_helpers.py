"""Datasets built in the test: Pillow-drawn images, samples, shards written with the store."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow.parquet as pq
from PIL import Image as PILImage
from PIL import ImageDraw

from finereason.io.images import image_from_pil
from finereason.io.store import Dataset, ShardCounts
from finereason.schema import Image, Sample
from finereason.pipeline.manifest import RunInfo, write_manifest


def drawing(seed: int, size: tuple[int, int] = (320, 240)) -> PILImage.Image:
    """A distinct picture per seed: a few filled shapes and lines in random places."""
    rng = random.Random(seed)
    im = PILImage.new("RGB", size, "white")
    d = ImageDraw.Draw(im)
    w, h = size
    for _ in range(6):
        x0, y0 = rng.randrange(w - 60), rng.randrange(h - 60)
        x1, y1 = x0 + rng.randrange(30, 120), y0 + rng.randrange(30, 120)
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            d.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            d.ellipse((x0, y0, x1, y1), fill=colour)
    for _ in range(3):
        d.line([(rng.randrange(w), rng.randrange(h)) for _ in range(2)], fill="black", width=3)
    return im


def image(seed: int, fmt: str = "PNG") -> Image:
    return image_from_pil(drawing(seed), fmt)


def blank(colour: str = "white", size: tuple[int, int] = (320, 240)) -> Image:
    return image_from_pil(PILImage.new("RGB", size, colour))


def sample(sid: str, question: str, images: list[Image] | None = None, answer: str | None = "1",
           options: list[str] | None = None) -> Sample:
    return Sample(id=sid, source="test", question=question, answer=answer, images=list(images or []),
                  options=list(options or []))


def write_dataset(root: Path, shards: list[list[Sample]]) -> Path:
    ds = Dataset(root)
    for i, samples in enumerate(shards):
        ds.write_shard(i, samples, [], ShardCounts(i, len(samples), len(samples), {}, 0.0, {}))
    write_manifest(ds, RunInfo("test", "1", {}, []), ds.done_counts(), 0.0)  # a finished dataset, as stages read
    return root


def kept_ids(root: Path) -> list[str]:
    return [s.id for s in Dataset(root).iter_samples()]


def rejections(root: Path) -> dict[str, tuple[str, str]]:
    """Rejected sample id → (reason, detail)."""
    out = {}
    for p in Dataset(root).rejected_paths():
        for r in pq.read_table(p, columns=["id", "reject_reason", "reject_detail"]).to_pylist():
            out[r["id"]] = (r["reject_reason"], r["reject_detail"])
    return out

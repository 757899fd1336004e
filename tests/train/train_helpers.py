"""Helpers for the training tests: toy samples, exports through the real command, small recipes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from finereason.cli import main
from finereason.io.images import make_image
from finereason.io.store import Dataset, ShardCounts
from finereason.schema import Sample, stable_id
from finereason.pipeline.manifest import RunInfo, write_manifest

COLORS = ["red", "green", "blue", "yellow", "purple", "orange", "black", "gray"]


def png(color: str, size: tuple[int, int] = (80, 60)) -> bytes:
    image = Image.new("RGB", size, color)
    ImageDraw.Draw(image).rectangle([4, 4, size[0] // 3, size[1] // 3], fill="white")
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def toy_samples(n: int = 8) -> list[Sample]:
    """Colour questions with thinking responses; images of different sizes (so rows differ in length)."""
    out = []
    for i in range(n):
        color = COLORS[i % len(COLORS)]
        question = f"What colour is the background of picture {i}?"
        response = f"<think>The background looks {color}.</think>The background is {color}. <answer>{color}</answer>"
        out.append(Sample(id=stable_id(question), source="toy", question=question, answer=color, response=response,
                          images=[make_image(png(color, (56 + 12 * i, 48)))]))
    return out


def write_dataset(root: Path, samples: list[Sample]) -> Path:
    ds = Dataset(root)
    ds.write_shard(0, samples, [], ShardCounts(0, len(samples), len(samples), {}, 0.0, {}))
    write_manifest(ds, RunInfo("test", "1", {}, []), ds.done_counts(), 0.0)  # a finished dataset, as stages read
    return root


def export(canonical: Path, out: Path, fmt: str) -> Path:
    assert main(["export", str(canonical), "--format", fmt, "--out", str(out), "--workers", "1"]) == 0
    return out


def recipe(model: Path, export_dir: Path, out: Path, **sections: dict[str, Any] | None) -> dict[str, Any]:
    """A small CPU recipe as a dict; ``sections`` update the defaults section by section."""
    config: dict[str, Any] = {
        "model": {"name_or_path": str(model)},
        "data": {"train": str(export_dir), "max_length": 512, "image_max_pixels": 112 * 112},
        "train": {"max_steps": 2, "learning_rate": 1e-3, "global_batch_size": 2, "per_device_batch_size": 1,
                  "gradient_checkpointing": False, "warmup_ratio": 0.0},
        "output": {"dir": str(out), "save_steps": 1000, "logging_steps": 1},
    }
    for name, values in sections.items():
        if values is None:
            config[name] = None
        else:
            config.setdefault(name, {}).update(values)
    return config


def losses(summary: dict[str, Any]) -> list[float]:
    return [h["loss"] for h in summary["log_history"] if "loss" in h]


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())

"""Training examples from a ``finereason export --format trl`` folder.

The export is Parquet: ``messages`` whose content is a list of parts ``{"type": "image"}`` /
``{"type": "text", "text": …}`` (the assistant turn keeps ``<think>…</think>``) and ``images``, a
list of HF ``Image`` structs with the encoded bytes. Here a row becomes an :class:`Example`:
messages ready for a chat template, and images decoded through the bomb-guarded codec and scaled
into the recipe's pixel bounds.

Two access paths, both bounded in memory:

* :func:`iter_file` streams one Parquet file by row group (the preflight reads every row once);
* :class:`ExampleStore` gives random access for training (shuffled order) through a
  memory-mapped HF ``datasets`` Arrow cache written once under ``OUTPUT/cache``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from PIL import Image as PILImage

from finereason.errors import UserError
from finereason.io.images import ImageDecodeError, decode, to_rgb

TRL_COLUMNS = ("messages", "images")


class DataError(UserError):
    """An export folder that cannot be trained on as a whole (wrong format, no files)."""


class SampleError(ValueError):
    """One example that cannot be trained on; ``reason`` is a short key counted in the preflight report."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class PixelBounds:
    """Images are scaled (aspect kept) so that ``min_pixels <= width × height <= max_pixels``."""

    min_pixels: int | None = None
    max_pixels: int | None = None

    def fit(self, image: PILImage.Image) -> PILImage.Image:
        w, h = image.size
        area = w * h
        if self.max_pixels and area > self.max_pixels:
            scale = math.sqrt(self.max_pixels / area)
        elif self.min_pixels and area < self.min_pixels:
            scale = math.sqrt(self.min_pixels / area)
        else:
            return image
        # floor when shrinking and ceil when growing, so the bound really holds after rounding
        rnd = math.floor if scale < 1 else math.ceil
        size = (max(1, rnd(w * scale)), max(1, rnd(h * scale)))
        return image.resize(size, PILImage.Resampling.BICUBIC)


@dataclass
class Example:
    """A conversation ready for ``apply_chat_template`` and its images, in order of appearance."""

    messages: list[dict[str, Any]]
    images: list[bytes]

    def target(self) -> str:
        """The text of the last assistant turn (what the loss is computed on)."""
        return _text_of(self.messages[-1]["content"])


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text") or "" for p in content if p.get("type") == "text")


def _part(part: Any) -> dict[str, Any]:
    if not isinstance(part, dict) or part.get("type") not in ("image", "text"):
        raise SampleError("bad_row", f"content part {part!r} is neither an image nor a text part")
    if part["type"] == "image":
        return {"type": "image"}
    return {"type": "text", "text": part.get("text") or ""}


def example_from_row(row: dict[str, Any]) -> Example:
    """Check a TRL row's shape and turn it into an :class:`Example` (images still encoded)."""
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        raise SampleError("bad_row", "no messages")
    out = []
    n_image_parts = 0
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
            raise SampleError("bad_row", f"message {i} has no system/user/assistant role")
        content = m.get("content")
        if isinstance(content, str):
            parts = [{"type": "text", "text": content}]
        elif isinstance(content, list):
            parts = [_part(p) for p in content]
        else:
            raise SampleError("bad_row", f"message {i} content is {type(content).__name__}")
        n_image_parts += sum(p["type"] == "image" for p in parts)
        out.append({"role": m["role"], "content": parts})
    if out[-1]["role"] != "assistant" or not _text_of(out[-1]["content"]).strip():
        raise SampleError("no_target", "the conversation does not end with a non-empty assistant turn")
    images = [im.get("bytes") if isinstance(im, dict) else None for im in (row.get("images") or [])]
    if any(not b for b in images):
        raise SampleError("image_undecodable", "an image entry carries no bytes (paths are not read)")
    if n_image_parts != len(images):
        raise SampleError("image_tag_mismatch", f"{n_image_parts} image part(s) in the messages for "
                                                f"{len(images)} image(s)")
    return Example(out, images)  # type: ignore[arg-type]


def load_images(example: Example, bounds: PixelBounds) -> list[PILImage.Image]:
    """Decode (bomb-guarded), convert to RGB and scale into ``bounds``."""
    out = []
    for i, data in enumerate(example.images):
        try:
            out.append(bounds.fit(to_rgb(decode(data))))
        except ImageDecodeError as e:
            raise SampleError("image_undecodable", f"image {i}: {e}") from e
    return out


def export_files(root: str | Path) -> list[Path]:
    """The Parquet files of a TRL export, after checking that the folder is one."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such export folder")
    manifest = root / "manifest.json"
    if manifest.is_file():
        fmt = json.loads(manifest.read_text()).get("format")
        if fmt != "trl":
            raise DataError(f"{root} is a {fmt!r} export; SFT reads `finereason export --format trl` folders")
    files = sorted((root / "data").glob("*.parquet"))
    if not files:
        raise DataError(f"{root}: no data/*.parquet files (expected a `finereason export --format trl` folder)")
    missing = set(TRL_COLUMNS) - set(pq.read_schema(files[0]).names)
    if missing:
        raise DataError(f"{files[0]}: missing column(s) {', '.join(sorted(missing))} of the TRL export format")
    return files


def iter_file(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of one Parquet file, one row group in memory at a time."""
    pf = pq.ParquetFile(path)
    for g in range(pf.num_row_groups):
        yield from pf.read_row_group(g, columns=list(TRL_COLUMNS)).to_pylist()


def file_rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


class ExampleStore:
    """Random access to the rows of an export, memory-mapped; picklable for dataloader workers."""

    def __init__(self, files: list[Path], cache_dir: Path, limit: int | None = None) -> None:
        import datasets

        ds = datasets.Dataset.from_parquet([str(f) for f in files], cache_dir=str(cache_dir),
                                           columns=list(TRL_COLUMNS))
        # keep the encoded bytes: decoding goes through our guarded codec, not PIL defaults
        ds = ds.cast_column("images", datasets.List(datasets.Image(decode=False)))
        self.dataset = ds.select(range(min(limit, len(ds)))) if limit else ds

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Example:
        return example_from_row(self.dataset[int(index)])

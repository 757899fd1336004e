"""The perception half of a decoupled run: one description per image, cached per perceiver.

A description depends only on the perceiver, the instruction, the image and the decoding
settings, never on the reasoner. So descriptions go to a JSONL cache keyed by exactly those, and
every reasoner (each grid cell, each rerun) reads them from there; the perceiver model is not
even loaded when every description it would write is already cached. Multi-image items are
described image by image (Prism), and the reasoner reads them as "Image i: …".
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from finereason.errors import UserError
from finereason.evaluate.calls import ModelPool, call
from finereason.evaluate.items import EvalItem, ItemError
from finereason.evaluate.progress import ItemProgress
from finereason.models.client import ModelClient
from finereason.models.perceiver import strip_think
from finereason.models.types import SamplingParams


@dataclass
class Description:
    """What a perceiver wrote about one image of an item."""

    image: str
    instruction: str
    text: str
    finish_reason: str = "stop"
    completion_tokens: int = 0
    latency_s: float = 0.0
    cached: bool = False


def description_key(perceiver: str, instruction: str, image_sha256: str, params: SamplingParams) -> str:
    blob = json.dumps([perceiver, instruction, image_sha256, params.as_dict()], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class DescriptionCache:
    """Append-only JSONL of descriptions by key; a line is written as soon as its description exists,
    so a killed run keeps everything described so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self.entries[entry["key"]] = entry
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a line cut by a kill: that description is simply made again

    def get(self, key: str) -> dict[str, Any] | None:
        return self.entries.get(key)

    def add(self, entry: dict[str, Any]) -> None:
        self.entries[entry["key"]] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")


def join_descriptions(descriptions: list[Description]) -> str:
    """One description as is; several as "Image 1: …" blocks (MMMU's labels as "image_2" → "Image 2")."""
    if len(descriptions) == 1:
        return descriptions[0].text
    blocks = []
    for i, d in enumerate(descriptions, 1):
        label = d.image.replace("_", " ").capitalize() if d.image.startswith("image_") else f"Image {i}"
        blocks.append(f"{label}: {d.text}")
    return "\n\n".join(blocks)


async def describe_items(
    items: list[EvalItem],
    instructions: dict[str, str],
    *,
    perceiver: str,
    params: SamplingParams,
    pool: ModelPool,
    cache: DescriptionCache,
) -> dict[str, list[Description] | str]:
    """Descriptions for every image of every item, or an error message for the item."""
    out: dict[str, list[Description] | str] = {}
    todo: list[tuple[EvalItem, list[bytes], list[str]]] = []
    for item in items:
        try:
            images = item.load_images()
        except ItemError as err:
            out[item.id] = f"bad_image: {err}"
            continue
        keys = [description_key(perceiver, instructions[item.id], hashlib.sha256(b).hexdigest(), params) for b in images]
        if all(cache.get(k) is not None for k in keys):
            out[item.id] = [_from_cache(cache.get(k), ref.name) for k, ref in zip(keys, item.images)]
        else:
            todo.append((item, images, keys))
    if not todo:
        return out
    model = pool.get(perceiver)
    if isinstance(model, ModelClient) and not model.model.accepts_images:
        raise UserError(f"perception model {perceiver} does not accept images; give a VLM (or builtin:ocr)")
    with ItemProgress(f"perception ({perceiver})", len(todo)) as progress:

        async def one(item: EvalItem, images: list[bytes], keys: list[str]) -> None:
            done = await asyncio.gather(*(
                _describe(model, perceiver, data, instructions[item.id], params, key, ref.name, cache)
                for data, key, ref in zip(images, keys, item.images)
            ))
            errors = [d for d in done if isinstance(d, str)]
            out[item.id] = errors[0] if errors else list(done)  # type: ignore[arg-type]
            progress.advance()

        await asyncio.gather(*(one(*t) for t in todo))
    return {item.id: out[item.id] for item in items if item.id in out}


def _from_cache(entry: dict[str, Any], image: str) -> Description:
    return Description(image, entry["instruction"], entry["text"], entry.get("finish_reason", "stop"),
                       entry.get("completion_tokens", 0), entry.get("latency_s", 0.0), cached=True)


async def _describe(
    model: Any, perceiver: str, data: bytes, instruction: str, params: SamplingParams, key: str, image: str,
    cache: DescriptionCache,
) -> Description | str:
    if cache.get(key) is not None:  # the same image twice in one item, or in two items
        return _from_cache(cache.get(key), image)  # type: ignore[arg-type]
    if isinstance(model, ModelClient):
        messages = [{"role": "user", "content": [{"type": "image", "image": data}, {"type": "text", "text": instruction}]}]
        done = await call(model, messages, params)
        if done.error is not None:
            return f"perception_failed: {done.error}"
        desc = Description(image, instruction, strip_think(done.text or ""), done.finish_reason,
                           done.completion_tokens, round(done.latency_s, 4), done.cached)
    else:  # a perceiver object (builtin:ocr): describe() is its whole interface
        started = time.monotonic()
        try:
            text = await model.describe(data, instruction)
        except Exception as err:  # noqa: BLE001 - any perceiver failure fails this item only
            return f"perception_failed: {type(err).__name__}: {err}"
        desc = Description(image, instruction, text, latency_s=round(time.monotonic() - started, 4))
    entry = {"key": key, "perceiver": perceiver, "image_sha256": hashlib.sha256(data).hexdigest(), **asdict(desc)}
    entry.pop("image"), entry.pop("cached")
    cache.add(entry)
    return desc

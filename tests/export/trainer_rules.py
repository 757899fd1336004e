"""The documented input rules of LLaMA-Factory and ms-swift, as validators (neither is installed here).

LLaMA-Factory (data/README.md and src/llamafactory/data/{parser,loader,converter,mm_plugin}.py):
  * ``dataset_info.json`` in ``dataset_dir``; an entry with ``file_name`` (a file or a folder in
    ``dataset_dir``), ``formatting: sharegpt``, ``columns.messages``/``columns.images`` and ``tags``
    naming the role/content keys and the user/assistant/system values;
  * a folder's files are all loaded and must share one file type (json/jsonl, parquet, …);
  * a leading system message is taken as the system prompt; then user (or observation) at even
    positions and assistant (or function) at odd ones, an even number of turns;
  * image paths are joined to ``media_dir`` (default ``dataset_dir``); the number of ``<image>``
    placeholders in all messages must equal ``len(images)`` (same for ``<video>``/``<audio>``).
ms-swift (docs/source_en/Customization/Custom-dataset.md):
  * ``messages`` with optional leading ``system``, then user/assistant turns, ``images`` paths
    (absolute recommended), one ``<image>`` tag per image.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from PIL import Image as PILImage

FILEEXT2TYPE = {"arrow": "arrow", "csv": "csv", "json": "json", "jsonl": "json", "parquet": "parquet", "txt": "text"}


def _rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return pq.read_table(path).to_pylist()


def _open_image(image: Any, media_dir: Path) -> PILImage.Image:
    if isinstance(image, dict):  # an embedded HF Image struct
        assert image["bytes"], "embedded image without bytes"
        return PILImage.open(io.BytesIO(image["bytes"]))
    path = Path(image) if os.path.isabs(image) else media_dir / image
    assert path.is_file(), f"image {image} not found under {media_dir}"
    return PILImage.open(path)


def _check_turns(messages: list[dict], role: str, content: str, user: str, assistant: str, system: str) -> None:
    if messages and messages[0][role] == system:
        messages = messages[1:]
    assert messages and len(messages) % 2 == 0, f"odd number of turns: {messages}"
    for i, m in enumerate(messages):
        assert m[role] == (user if i % 2 == 0 else assistant), f"turn {i} has role {m[role]!r}"
        assert isinstance(m[content], str) and m[content], f"turn {i} has empty content"


def _check_media(messages: list[dict], content: str, images: list[Any], media_dir: Path) -> None:
    text = "".join(m[content] for m in messages)
    assert text.count("<image>") == len(images), f"{text.count('<image>')} <image> tags for {len(images)} images"
    assert "<video>" not in text and "<audio>" not in text
    for image in images:
        with _open_image(image, media_dir) as im:
            im.load()


def validate_llamafactory(dataset_dir: Path, name: str) -> int:
    """Check a dataset as LLaMA-Factory would load it; return its number of rows."""
    info = json.loads((dataset_dir / "dataset_info.json").read_text())
    entry = info[name]
    assert entry["formatting"] == "sharegpt"
    columns, tags = entry["columns"], entry["tags"]
    assert set(columns) <= {"messages", "images", "system", "tools", "videos", "audios"}
    assert set(tags) <= {"role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag",
                         "function_tag", "system_tag"}
    local = dataset_dir / entry["file_name"]
    files = sorted(local.iterdir()) if local.is_dir() else [local]
    assert files, f"{local} is empty"
    types = {FILEEXT2TYPE.get(f.name.split(".")[-1]) for f in files}
    assert len(types) == 1 and None not in types, f"file types should be identical: {[f.name for f in files]}"
    rows = 0
    for f in files:
        for row in _rows(f):
            messages, images = row[columns["messages"]], row.get(columns["images"]) or []
            _check_turns(messages, tags["role_tag"], tags["content_tag"], tags["user_tag"],
                         tags["assistant_tag"], tags["system_tag"])
            _check_media(messages, tags["content_tag"], images, media_dir=dataset_dir)
            rows += 1
    return rows


def validate_swift(files: list[Path], cwd: Path) -> int:
    """Check ms-swift ``messages`` + ``images`` JSONL; relative paths resolve against ``cwd``."""
    rows = 0
    for f in files:
        for row in _rows(f):
            messages = row["messages"]
            _check_turns(messages, "role", "content", "user", "assistant", "system")
            _check_media(messages, "content", row.get("images") or [], media_dir=cwd)
            rows += 1
    return rows

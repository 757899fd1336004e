"""The four export formats: one row builder and one shard writer each.

==============  ======================================================  ==========================
format          row                                                     file
==============  ======================================================  ==========================
llamafactory    ``{"messages": [{role, content: "<image>Q…"}, …],``    ``data/train-NNNNN.jsonl``
swift           ``"images": ["images/ab/ab12….png"]}``                  (or ``.parquet`` with
                                                                        ``--images embed``)
trl             ``messages`` with content parts ``{"type": "image"}``   ``data/train-NNNNN.parquet``
                / ``{"type": "text", "text": …}``, ``images``: HF Image
hf              the canonical Sample fields, ``images``: HF Image,      ``data/train-NNNNN.parquet``
                ``meta`` as a JSON string
verl            RL prompts in verl's RLHF layout (:mod:`.rl`): data_    ``data/train-NNNNN.parquet``
                source, prompt, images, ability, reward_model, extra_info
trl-rl          RL prompts for TRL's GRPOTrainer: prompt (parts),       ``data/train-NNNNN.parquet``
                images, answer, answer_type, options, question, id
==============  ======================================================  ==========================

Parquet files carry the HF ``datasets`` feature metadata (schema metadata key ``huggingface``),
so ``datasets.load_dataset("parquet", …)`` decodes ``images`` as a list of PIL images. The
features are written in the list-literal notation (``[{"_type": "Image"}]``) that both
datasets 2.x/3.x and 4.x/5.x read, because LLaMA-Factory still pins older ``datasets``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from finereason.export.conversation import ExportRejection, build_conversation, part_messages, tagged_messages
from finereason.export.media import hf_image, write_image_file
from finereason.export.rl import RL_FORMATS, trl_rl_row, verl_row
from finereason.schema import Sample

FORMATS = ("llamafactory", "swift", "trl", "hf", *RL_FORMATS)
DATA_DIR = "data"
#: The run's own bookkeeping (done markers, rejected/, temporary files), hidden from loaders.
WORK_DIR = ".finereason"

HF_IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
_IMAGES = pa.list_(HF_IMAGE)
_TAGGED = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
_PARTS = pa.list_(pa.struct([
    ("role", pa.string()),
    ("content", pa.list_(pa.struct([("type", pa.string()), ("text", pa.string())]))),
]))

_S = {"dtype": "string", "_type": "Value"}
_IMAGE_FEATURE = [{"_type": "Image"}]
_TAGGED_FEATURE = [{"role": _S, "content": _S}]
_PARTS_FEATURE = [{"role": _S, "content": [{"type": _S, "text": _S}]}]

_HF_COLUMNS: list[tuple[str, pa.DataType, Any]] = [
    ("id", pa.string(), _S), ("source", pa.string(), _S), ("domain", pa.string(), _S),
    ("question", pa.string(), _S), ("options", pa.list_(pa.string()), [_S]),
    ("answer", pa.string(), _S), ("answer_type", pa.string(), _S), ("caption", pa.string(), _S),
    ("response", pa.string(), _S), ("pred_answer", pa.string(), _S), ("verdict", pa.string(), _S),
    ("verdict_by", pa.string(), _S), ("pass_rate", pa.float64(), {"dtype": "float64", "_type": "Value"}),
    ("flags", pa.list_(pa.string()), [_S]), ("perception", pa.string(), _S), ("meta", pa.string(), _S),
    ("images", _IMAGES, _IMAGE_FEATURE),
]


def _schema(columns: list[tuple[str, pa.DataType, Any]]) -> pa.Schema:
    features = {name: feature for name, _, feature in columns}
    meta = {"huggingface": json.dumps({"info": {"features": features}})}
    return pa.schema([(name, dtype) for name, dtype, _ in columns], metadata=meta)


TAGGED_SCHEMA = _schema([("messages", _TAGGED, _TAGGED_FEATURE), ("images", _IMAGES, _IMAGE_FEATURE)])
PARTS_SCHEMA = _schema([("messages", _PARTS, _PARTS_FEATURE), ("images", _IMAGES, _IMAGE_FEATURE)])
HF_SCHEMA = _schema(_HF_COLUMNS)
_STRINGS = (pa.list_(pa.string()), [_S])
VERL_SCHEMA = _schema([
    ("data_source", pa.string(), _S), ("prompt", _TAGGED, _TAGGED_FEATURE), ("images", _IMAGES, _IMAGE_FEATURE),
    ("ability", pa.string(), _S),
    ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())]),
     {"style": _S, "ground_truth": _S}),
    ("extra_info", pa.struct([("index", pa.int64()), ("id", pa.string()), ("answer_type", pa.string()),
                              ("options", _STRINGS[0]), ("question", pa.string())]),
     {"index": {"dtype": "int64", "_type": "Value"}, "id": _S, "answer_type": _S, "options": _STRINGS[1],
      "question": _S}),
])
TRL_RL_SCHEMA = _schema([
    ("prompt", _PARTS, _PARTS_FEATURE), ("images", _IMAGES, _IMAGE_FEATURE), ("answer", pa.string(), _S),
    ("answer_type", pa.string(), _S), ("options", *_STRINGS), ("question", pa.string(), _S),
    ("id", pa.string(), _S), ("source", pa.string(), _S),
])


@dataclass(frozen=True)
class ExportOptions:
    """Everything that changes the exported bytes (so a resumed run must match it)."""

    format: str
    images: str = "files"  # files: image files + paths; embed: bytes inside Parquet
    image_paths: str = "relative"  # for files: relative to the export folder, or absolute
    system: str | None = None
    max_images: int | None = None

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"unknown export format {self.format!r}; choose one of {', '.join(FORMATS)}")
        if self.images not in ("files", "embed"):
            raise ValueError(f"images must be 'files' or 'embed', got {self.images!r}")
        if self.format in ("trl", "hf", *RL_FORMATS) and self.images != "embed":
            raise ValueError(f"--format {self.format} embeds images in Parquet; --images files is for JSONL formats")
        if self.format == "swift" and self.images != "files":
            raise ValueError("ms-swift reads image paths from JSONL; use --images files with --format swift")

    def settings(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def suffix(self) -> str:
        return "jsonl" if self.images == "files" else "parquet"


def data_file(out_root: Path, index: int, suffix: str) -> Path:
    return out_root / DATA_DIR / f"train-{index:05d}.{suffix}"


class RowBuilder:
    """Turns a Sample into its format's row, writing image files as a side effect when needed.

    Raises :class:`~finereason.export.conversation.ExportRejection` for samples that cannot be rows.
    """

    def __init__(self, options: ExportOptions, out_root: Path) -> None:
        self.options = options
        self.out_root = out_root
        self.tmp_dir = out_root / WORK_DIR / "tmp"

    def __call__(self, sample: Sample) -> dict[str, Any]:
        o = self.options
        if o.format == "hf":
            return self._canonical(sample)
        if o.format in RL_FORMATS:
            conv = build_conversation(sample, system=o.system, max_images=o.max_images, require_response=False)
            return verl_row(sample, conv) if o.format == "verl" else trl_rl_row(sample, conv)
        conv = build_conversation(sample, system=o.system, max_images=o.max_images)
        if o.format == "trl":
            return {"messages": part_messages(conv), "images": [hf_image(im) for im in conv.images]}
        if o.images == "embed":
            return {"messages": tagged_messages(conv), "images": [hf_image(im) for im in conv.images]}
        paths = [write_image_file(self.out_root, self.tmp_dir, im) for im in conv.images]
        if o.image_paths == "absolute":
            paths = [str(self.out_root / p) for p in paths]
        return {"messages": tagged_messages(conv), "images": paths}

    def _canonical(self, s: Sample) -> dict[str, Any]:
        if not s.response or not s.response.strip():
            raise ExportRejection("no_response", "the sample has no teacher response to train on")
        row = {name: getattr(s, name) for name, _, _ in _HF_COLUMNS if name not in ("meta", "images")}
        row["meta"] = json.dumps(s.meta, ensure_ascii=False, sort_keys=True) if s.meta else None
        row["images"] = [hf_image(im) for im in s.images]
        return row


def _atomic(path: Path, tmp_dir: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / f"{path.name}.{os.getpid()}"
    write(tmp)
    os.replace(tmp, path)


def write_rows(options: ExportOptions, out_root: Path, index: int, rows: list[dict[str, Any]]) -> Path | None:
    """Write one shard's rows (nothing for an empty shard: loaders choke on empty JSONL files).

    The temporary file lives in the hidden work folder, not in ``data/``: LLaMA-Factory loads every
    file of the data folder and refuses mixed extensions, so a leftover ``.tmp`` there would break it.
    """
    if not rows:
        return None
    path = data_file(out_root, index, options.suffix)
    tmp_dir = out_root / WORK_DIR / "tmp"
    if options.suffix == "jsonl":
        def write(tmp: Path) -> None:
            with open(tmp, "w", encoding="utf-8") as f:
                for row in rows:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        schema = {"trl": PARTS_SCHEMA, "hf": HF_SCHEMA, "verl": VERL_SCHEMA,
                  "trl-rl": TRL_RL_SCHEMA}.get(options.format, TAGGED_SCHEMA)

        def write(tmp: Path) -> None:
            # Images are already compressed; small row groups keep streaming readers' memory low.
            pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp, compression="zstd", row_group_size=100)
    _atomic(path, tmp_dir, write)
    return path

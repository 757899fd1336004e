"""Rows of examples → one model batch: right-padded, or packed with per-sample positions.

Unpacked rows (one example each) are right-padded with an attention mask, as any trainer does.

Packed rows concatenate their examples and pass **no attention mask** but position ids that
restart at 0 for every example: transformers then builds a block-diagonal causal mask from the
restarts (``masking_utils.find_packed_sequence_indices``; varlen kernels with FlashAttention), so
no example attends to another, whatever the attention backend. Per family:

* Qwen2-VL / 2.5-VL / 3-VL use M-RoPE: each example's 3-row (temporal, height, width) positions
  come from the model's own ``get_rope_index``; a fourth, leading row of plain text positions
  is what the mask is built from (the ``[4, batch, length]`` form those models accept);
* Idefics3 (SmolVLM) has plain 1-D positions.

Vision inputs are merged in row-major order, the order in which the models scatter image
features into image-token positions: Qwen's flat patch lists and grids are concatenated;
Idefics3's per-image tiles are stacked into ``(batch, images, 3, H, W)`` with all-zero padding
tiles (which the model drops) and a matching ``pixel_attention_mask``. The first token of every
example is excluded from the loss, so an example is never asked to predict its neighbour.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from finereason.train.data import SampleError
from finereason.train.encode import IGNORE, Encoded, Encoder
from finereason.train.families import Family


class Collator:
    """Called by the trainer's dataloader with rows ``{"members": [example indices]}``."""

    def __init__(self, encoder: Encoder, store: Any, family: Family, *, packed: bool,
                 rope_index: Callable[..., Any] | None = None) -> None:
        self.encoder = encoder
        self.store = store
        self.family = family
        self.packed = packed
        self.rope_index = rope_index
        self.pad_id = encoder.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = encoder.tokenizer.eos_token_id
        if packed and family.name.startswith("qwen") and rope_index is None:
            raise ValueError("packing a Qwen-VL family needs the model's get_rope_index")
        #: real tokens, and batch slots including padding, emitted by this collator (throughput measurements)
        self.tokens = 0
        self.slots = 0

    def _encode(self, index: int) -> Encoded:
        try:
            return self.encoder.encode(self.store[index])
        except SampleError as e:  # the preflight passed it: the data or settings changed under us
            raise RuntimeError(f"example {index} no longer encodes ({e}); rerun to redo the preflight") from e

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        encoded = [[self._encode(i) for i in row["members"]] for row in rows]
        if not self.packed and any(len(row) != 1 for row in encoded):
            raise ValueError("unpacked rows hold exactly one example")
        batch = self._packed(encoded) if self.packed else self._padded([row[0] for row in encoded])
        self.tokens += sum(e.length for row in encoded for e in row)
        self.slots += batch["input_ids"].numel()
        return batch

    # ---- batches ------------------------------------------------------------------------------
    def _padded(self, encs: list[Encoded]) -> dict[str, torch.Tensor]:
        width = max(e.length for e in encs)
        batch = {
            "input_ids": _stack([e.input_ids for e in encs], width, self.pad_id),
            "labels": _stack([e.labels for e in encs], width, IGNORE),
            "attention_mask": _stack([torch.ones(e.length, dtype=torch.long) for e in encs], width, 0),
        }
        if all(e.mm_token_type_ids is not None for e in encs):
            batch["mm_token_type_ids"] = _stack([e.mm_token_type_ids for e in encs], width, 0)  # type: ignore[misc]
        batch.update(self._vision([[e] for e in encs]))
        return batch

    def _packed(self, rows: list[list[Encoded]]) -> dict[str, torch.Tensor]:
        ids, labels, positions = [], [], []
        for row in rows:
            ids.append(torch.cat([e.input_ids for e in row]))
            row_labels = []
            for e in row:
                lab = e.labels.clone()
                lab[0] = IGNORE
                row_labels.append(lab)
            labels.append(torch.cat(row_labels))
            positions.append(torch.cat([self._positions(e) for e in row], dim=-1))
        width = max(t.shape[0] for t in ids)
        batch = {
            "input_ids": _stack(ids, width, self.pad_id),
            "labels": _stack(labels, width, IGNORE),
            "position_ids": _stack_positions(positions, width),
        }
        batch.update(self._vision(rows))
        return batch

    def _positions(self, e: Encoded) -> torch.Tensor:
        text = torch.arange(e.length)
        if not self.family.name.startswith("qwen"):
            return text
        grid = e.vision.get("image_grid_thw")
        if grid is None:  # text-only example: all three M-RoPE rows are the text positions
            return text.expand(4, -1)
        mm = e.mm_token_type_ids if e.mm_token_type_ids is not None else torch.zeros_like(e.input_ids)
        rope, _ = self.rope_index(input_ids=e.input_ids[None], mm_token_type_ids=mm[None], image_grid_thw=grid)
        return torch.cat([text[None], rope[:, 0]], dim=0)

    # ---- vision inputs ----------------------------------------------------------------------
    def _vision(self, rows: list[list[Encoded]]) -> dict[str, torch.Tensor]:
        flat = [e for row in rows for e in row if e.vision]
        if not flat:
            return {}
        if "image_grid_thw" in flat[0].vision:  # Qwen-VL: flat patch lists, one grid per image
            return {
                "pixel_values": torch.cat([e.vision["pixel_values"] for e in flat]),
                "image_grid_thw": torch.cat([e.vision["image_grid_thw"] for e in flat]),
            }
        if "pixel_attention_mask" in flat[0].vision:  # Idefics3: (1, tiles, 3, H, W) per example
            return _stack_tiles(rows)
        if len(flat) == 1:
            return dict(flat[0].vision)
        merged = {}
        for key in flat[0].vision:
            parts = [e.vision[key] for e in flat]
            if any(p.shape[1:] != parts[0].shape[1:] for p in parts):
                raise ValueError(f"cannot batch {key} of family {self.family.name}; use train.per_device_batch_size: 1")
            merged[key] = torch.cat(parts)
        return merged


def _stack(seqs: list[torch.Tensor], width: int, fill: int) -> torch.Tensor:
    out = torch.full((len(seqs), width), fill, dtype=seqs[0].dtype)
    for i, s in enumerate(seqs):
        out[i, : s.shape[0]] = s
    return out


def _stack_positions(positions: list[torch.Tensor], width: int) -> torch.Tensor:
    """``(batch, width)`` or ``(4, batch, width)``; padding restarts at 0 (its own, unlabelled segment)."""
    rows = []
    for p in positions:
        pad = torch.arange(width - p.shape[-1])
        if p.ndim == 2:
            pad = pad.expand(p.shape[0], -1)
        rows.append(torch.cat([p, pad], dim=-1))
    return torch.stack(rows, dim=-2)


def _stack_tiles(rows: list[list[Encoded]]) -> dict[str, torch.Tensor]:
    per_row = []
    for row in rows:
        tiles = [(e.vision["pixel_values"][0], e.vision["pixel_attention_mask"][0]) for e in row if e.vision]
        per_row.append(tiles)
    all_tiles = [t for row in per_row for t in row]
    height = max(pv.shape[-2] for pv, _ in all_tiles)
    width = max(pv.shape[-1] for pv, _ in all_tiles)
    n = max(sum(pv.shape[0] for pv, _ in row) for row in per_row)
    channels, dtype = all_tiles[0][0].shape[1], all_tiles[0][0].dtype
    pixels = torch.zeros(len(rows), n, channels, height, width, dtype=dtype)
    mask = torch.zeros(len(rows), n, height, width, dtype=all_tiles[0][1].dtype)
    for b, row in enumerate(per_row):
        k = 0
        for pv, pm in row:
            pixels[b, k : k + pv.shape[0], :, : pv.shape[-2], : pv.shape[-1]] = pv
            mask[b, k : k + pm.shape[0], : pm.shape[-2], : pm.shape[-1]] = pm
            k += pv.shape[0]
    return {"pixel_values": pixels, "pixel_attention_mask": mask}

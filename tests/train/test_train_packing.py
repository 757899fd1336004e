"""Packing: rows never overflow, and a packed example sees exactly what it would see alone."""

from __future__ import annotations

import random

import pytest
import torch

from finereason.train.collate import Collator
from finereason.train.data import ExampleStore, PixelBounds, export_files
from finereason.train.families import FAMILIES
from finereason.train.packing import fill_ratio, pack
from finereason.train.preflight import EncoderSpec


def test_best_fit_packing_keeps_every_example_once_and_never_overflows():
    rng = random.Random(0)
    lengths = [rng.randint(1, 100) for _ in range(500)]
    indices = [i for i in range(500) if i % 7]  # the preflight may have dropped some
    rows = pack(indices, lengths, 128)
    assert sorted(i for row in rows for i in row) == indices
    assert all(sum(lengths[i] for i in row) <= 128 for row in rows)
    assert fill_ratio(rows, lengths, 128) > 0.9
    assert rows == pack(indices, lengths, 128)  # deterministic


def test_an_example_longer_than_a_row_is_an_error():
    with pytest.raises(ValueError, match="capacity"):
        pack([0], [10], 5)


@pytest.mark.parametrize("family", ["idefics3", "qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
def test_packed_rows_give_each_example_the_logits_it_has_alone(family, tiny, toy_export, tmp_path):
    from transformers import AutoModelForImageTextToText

    encoder = EncoderSpec(str(tiny[family]), family, PixelBounds(None, 112 * 112), None).build()
    store = ExampleStore(export_files(toy_export), tmp_path / "cache")
    model = AutoModelForImageTextToText.from_pretrained(tiny[family]).eval()
    rope = getattr(model.model, "get_rope_index", None)
    alone = Collator(encoder, store, FAMILIES[family], packed=False)
    packed = Collator(encoder, store, FAMILIES[family], packed=True, rope_index=rope)
    with torch.no_grad():
        singles = [model(**alone([{"members": [i]}]), use_cache=False).logits[0] for i in (2, 5, 1)]
        batch = packed([{"members": [2, 5, 1]}, {"members": [3]}])  # two rows: the second is padded
        assert "attention_mask" not in batch
        out = model(**batch, use_cache=False).logits
        row3 = model(**alone([{"members": [3]}]), use_cache=False).logits[0]
    start = 0
    for single in singles:
        n = single.shape[0]
        torch.testing.assert_close(out[0, start:start + n], single, atol=1e-5, rtol=1e-4)
        start += n
    torch.testing.assert_close(out[1, :row3.shape[0]], row3, atol=1e-5, rtol=1e-4)
    labels = batch["labels"][0]
    assert labels[0] == -100 and labels[singles[0].shape[0]] == -100  # no example predicts its neighbour's start


def test_unpacked_batches_pad_to_the_longest_example(tiny, toy_export, tmp_path):
    encoder = EncoderSpec(str(tiny["idefics3"]), "idefics3", PixelBounds(), None).build()
    store = ExampleStore(export_files(toy_export), tmp_path / "cache")
    batch = Collator(encoder, store, FAMILIES["idefics3"], packed=False)([{"members": [0]}, {"members": [7]}])
    lengths = batch["attention_mask"].sum(1)
    assert batch["input_ids"].shape[1] == lengths.max() and lengths[0] != lengths[1]
    assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()
    assert batch["pixel_values"].shape[:2] == (2, 1)

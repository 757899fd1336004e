"""The preflight: exact lengths, labels on the target only, and bad samples reported one by one
before any weight is loaded."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from finereason.export.formats import PARTS_SCHEMA
from finereason.train.config import load_config
from finereason.train.data import PixelBounds, example_from_row, export_files
from finereason.train.encode import IGNORE
from finereason.train.preflight import EncoderSpec, run_preflight
from finereason.train.sft import PreflightFailed, prepare, run_sft
from train_helpers import png, read_json, recipe

TARGET = "<think>It is plainly red.</think>The answer is red."


def _row(question: str, images: int, image_parts: int | None = None, answer: str = TARGET) -> dict:
    parts = [{"type": "image", "text": None}] * (images if image_parts is None else image_parts)
    return {
        "messages": [{"role": "user", "content": [*parts, {"type": "text", "text": question}]},
                     {"role": "assistant", "content": [{"type": "text", "text": answer}]}],
        "images": [{"bytes": png("red"), "path": f"{i}.png"} for i in range(images)],
    }


def _export(root: Path, rows: list[dict]) -> Path:
    (root / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=PARTS_SCHEMA), root / "data" / "train-00000.parquet")
    return root


@pytest.fixture
def bad_export(tmp_path: Path) -> Path:
    return _export(tmp_path / "bad", [
        _row("What colour is it?", 1),                                   # 0 fine
        _row("Compare the two pictures.", 1, image_parts=2),             # 1 two image parts, one image
        _row("What is <|image_pad|> here?", 1),                          # 2 a stray image token in the text
        _row("Describe it. " + "Very long question. " * 200, 1),         # 3 too long after tokenizing
        _row("And this one?", 1, answer="   "),                          # 4 nothing to learn
        _row("What colour is it again?", 1),                             # 5 fine
    ])


def _preflight(tiny, family: str, export: Path, tmp_path: Path, max_length: int = 256):
    spec = EncoderSpec(str(tiny[family]), family, PixelBounds(None, 112 * 112), None)
    return run_preflight(export_files(export), spec, max_length=max_length, cache_dir=tmp_path / "pf")


def test_every_bad_sample_is_reported_with_its_reason_and_place(tiny, bad_export, tmp_path):
    result = _preflight(tiny, "qwen2_vl", bad_export, tmp_path)
    reasons = {p.index: p.reason for p in result.problems}
    assert reasons == {1: "image_tag_mismatch", 2: "image_tag_mismatch", 3: "too_long", 4: "no_target"}
    assert result.ok == [0, 5]
    too_long = next(p for p in result.problems if p.reason == "too_long")
    assert too_long.ref == "train-00000.parquet row 3" and "> data.max_length 256" in too_long.detail
    assert "image tokens" in too_long.detail


def test_idefics3_counts_its_image_tokens_too(tiny, bad_export, tmp_path):
    result = _preflight(tiny, "idefics3", bad_export, tmp_path)
    assert {p.index: p.reason for p in result.problems}[1] == "image_tag_mismatch"
    assert all(result.image_tokens[i] == 4 for i in result.ok)  # image_seq_len of the tiny model


def test_preflight_results_are_cached_and_redone_when_settings_change(tiny, toy_export, tmp_path):
    first = _preflight(tiny, "qwen2_vl", toy_export, tmp_path)
    cached = list((tmp_path / "pf").glob("*.parquet"))
    assert cached and first.ok == list(range(8))
    mtime = cached[0].stat().st_mtime_ns
    again = _preflight(tiny, "qwen2_vl", toy_export, tmp_path)
    assert again.lengths == first.lengths and cached[0].stat().st_mtime_ns == mtime
    spec = EncoderSpec(str(tiny["qwen2_vl"]), "qwen2_vl", PixelBounds(None, 56 * 56), None)
    smaller = run_preflight(export_files(toy_export), spec, max_length=256, cache_dir=tmp_path / "pf")
    assert sum(smaller.image_tokens) < sum(first.image_tokens)  # new pixel bounds: re-encoded


def test_labels_cover_exactly_the_target_and_its_end_of_turn(tiny):
    spec = EncoderSpec(str(tiny["qwen3_vl"]), "qwen3_vl", PixelBounds(), None)
    encoder = spec.build()
    enc = encoder.encode(example_from_row(_row("What colour is it?", 1)))
    learned = enc.labels[enc.labels != IGNORE]
    assert encoder.tokenizer.decode(learned) == TARGET + "<|im_end|>\n"
    assert enc.input_ids[-learned.shape[0]:].tolist() == learned.tolist()
    assert enc.image_tokens == int(enc.vision["image_grid_thw"].prod()) // 4


def test_pixel_bounds_scale_images_both_ways():
    from PIL import Image

    bounds = PixelBounds(32 * 32, 64 * 64)
    big, small = bounds.fit(Image.new("RGB", (400, 200))), bounds.fit(Image.new("RGB", (10, 5)))
    assert big.width * big.height <= 64 * 64 and abs(big.width / big.height - 2) < 0.1
    assert small.width * small.height >= 32 * 32 and abs(small.width / small.height - 2) < 0.2


def test_a_template_that_drops_think_is_reported(tiny, tmp_path, toy_export):
    template = tmp_path / "nothink.jinja"
    template.write_text(
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% for p in m['content'] %}"
        "{% if p['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
        "{% else %}{{ p['text'].split('</think>')[-1] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    spec = EncoderSpec(str(tiny["qwen2_vl"]), "qwen2_vl", PixelBounds(), template.read_text())
    result = run_preflight(export_files(toy_export), spec, max_length=512, cache_dir=tmp_path / "pf")
    assert {p.reason for p in result.problems} == {"think_dropped"} and not result.ok


def test_bad_samples_stop_the_run_before_the_model_loads(tiny, bad_export, tmp_path, monkeypatch):
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError("the model must not load when the preflight fails")

    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", refuse)
    config = load_config(recipe(tiny["qwen2_vl"], bad_export, tmp_path / "out", data={"max_length": 256}))
    with pytest.raises(PreflightFailed, match="4 train sample"):
        run_sft(config)
    report = read_json(tmp_path / "out" / "preflight" / "train" / "report.json")
    assert report["ok"] == 2 and report["rejected"] == {"image_tag_mismatch": 2, "too_long": 1, "no_target": 1}
    assert [p["index"] for p in report["problems"]] == [1, 2, 3, 4]


def test_skip_policy_trains_on_the_good_samples_only(tiny, bad_export, tmp_path):
    config = load_config(recipe(tiny["qwen2_vl"], bad_export, tmp_path / "out",
                                data={"max_length": 256, "on_bad_sample": "skip"}))
    prepared = prepare(config)
    assert prepared.rows["train"] == [[0], [5]]

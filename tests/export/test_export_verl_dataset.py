"""The verl export loaded by verl's own ``RLHFDataset``, when verl is importable.

verl is not part of our stack (its dependencies pin their own torch and Ray), so this test runs
only where verl can be imported; elsewhere tests/export/test_export_rl.py checks the same layout
against verl's source. To run it beside the shared venv without touching it:

    pip download verl==0.9.1 --no-deps -d /tmp/verl && unzip -q /tmp/verl/verl-*.whl -d /tmp/verl-src
    pip install --no-deps --target /tmp/verl-deps omegaconf antlr4-python3-runtime==4.9.3 \\
        tensordict codetiming pyvers cloudpickle importlib_metadata orjson
    PYTHONPATH=src:/tmp/verl-src:/tmp/verl-deps python -m pytest tests/export/test_export_verl_dataset.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

rl_dataset = pytest.importorskip("verl.utils.dataset.rl_dataset")

from omegaconf import DictConfig  # noqa: E402  (verl's dependency)
from transformers import AutoProcessor  # noqa: E402

from finereason.cli import main  # noqa: E402
from finereason.io.images import make_image  # noqa: E402
from finereason.io.store import Dataset, ShardCounts, atomic_write_json  # noqa: E402
from finereason.testing.tinyvlm import build_tiny_vlm  # noqa: E402
from finereason.reward import compute_score  # noqa: E402
from finereason.schema import Sample, stable_id  # noqa: E402

from fixture_dir import FIXTURE_DIR, read_release_records  # noqa: E402


def test_verl_rlhf_dataset_reads_the_export_and_the_reward_grades_its_rows(tmp_path: Path) -> None:
    records = read_release_records()[:20]
    samples = []
    for r in records:
        images = [make_image((FIXTURE_DIR / r["image"]).read_bytes(), r["image"])] if r.get("image") else []
        samples.append(Sample(id=stable_id(r["source"], str(r["id"])), source=r["source"], question=r["question"],
                              answer=r["answer"], images=images, response=r["qwen3vl_235b_thinking_response"]))
    src = tmp_path / "in"
    Dataset(src).write_shard(0, samples, [], ShardCounts(0, len(samples), len(samples), {}, 0.0, {}))
    atomic_write_json(src / "manifest.json", {"stage": "select-rl-holdout"})
    out = tmp_path / "verl"
    assert main(["export", str(src), "--format", "verl", "--out", str(out), "--workers", "1"]) == 0

    model = build_tiny_vlm("idefics3", tmp_path / "model")
    processor = AutoProcessor.from_pretrained(model)
    config = DictConfig({"cache_dir": str(tmp_path / "cache"), "max_prompt_length": 100000,
                         "filter_overlong_prompts": False, "image_key": "images"})
    files = sorted(str(p) for p in (out / "data").glob("*.parquet"))
    ds = rl_dataset.RLHFDataset(data_files=files, tokenizer=processor.tokenizer, config=config, processor=processor)
    assert len(ds) > 0
    by_id = {s.id: s for s in samples}
    graded = 0
    for i in range(len(ds)):
        row = ds[i]
        s = by_id[row["extra_info"]["id"]]
        parts = [p for m in row["raw_prompt"] for p in m["content"]]
        assert sum(p["type"] == "image" for p in parts) == len(s.images)  # verl matched every <image>
        assert all(p["image"].size == (im.width, im.height)
                   for p, im in zip((p for p in parts if p["type"] == "image"), s.images))
        assert row["index"] == row["extra_info"]["index"]
        assert row["reward_model"]["ground_truth"] == s.answer.strip()
        score = compute_score(row["data_source"], s.response, row["reward_model"]["ground_truth"], row["extra_info"])
        assert score in (0.0, 1.0)
        graded += score == 1.0
    assert graded > 0

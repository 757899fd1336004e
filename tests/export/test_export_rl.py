"""``export --format verl`` and ``--format trl-rl`` on the real MMFineReason records: the layouts
verl's RLHFDataset and TRL's GRPOTrainer read, and the reward reading those rows back.

verl is not installed beside our stack, so the verl layout is checked against the contract read
from verl's source (verl/utils/dataset/rl_dataset.py, vision_utils.py, reward managers): prompt
messages with string content split on ``<image>``, images as ``{"bytes", "path"}`` dicts or PIL,
``extra_info["index"]``, and ``reward_model["ground_truth"]`` + ``extra_info`` passed to
``compute_score``.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from pathlib import Path

import pytest

from finereason.cli import main
from finereason.io.images import make_image
from finereason.io.store import Dataset, ShardCounts, atomic_write_json
from finereason.reward import RewardConfig, RewardTask, TrlReward, compute_score, score_many
from finereason.schema import Sample, stable_id
from finereason.verify import Verifier

from fixture_dir import FIXTURE_DIR, read_release_records

datasets = pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    """The 70 records; 2 lose their answer, 2 become 'open', 3 lose their response (RL needs none)."""
    out = []
    for i, r in enumerate(read_release_records()):
        images = [make_image((FIXTURE_DIR / r["image"]).read_bytes(), r["image"])] if r.get("image") else []
        s = Sample(id=stable_id(r["source"], str(r["id"])), source=r["source"], domain="Math", question=r["question"],
                   answer=r["answer"], images=images, response=r["qwen3vl_235b_thinking_response"],
                   verdict="correct" if r["is_consistent"] else "incorrect", pass_rate=r["pass_rate"])
        if i < 2:
            s = dataclasses.replace(s, answer=" ")
        elif i < 4:
            s = dataclasses.replace(s, answer_type="open")
        elif i < 7:
            s = dataclasses.replace(s, response=None)
        out.append(s)
    return out


@pytest.fixture(scope="module")
def src(samples: list[Sample], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rl-export") / "in"
    ds = Dataset(root)
    for i in range(0, len(samples), 25):
        chunk = samples[i:i + 25]
        ds.write_shard(i // 25, chunk, [], ShardCounts(i // 25, len(chunk), len(chunk), {}, 0.0, {}))
    atomic_write_json(root / "manifest.json", {"stage": "select-rl-holdout"})
    return root


def _export(src: Path, out: Path, fmt: str) -> tuple[list[dict], Counter[str]]:
    assert main(["export", str(src), "--format", fmt, "--out", str(out), "--workers", "1"]) == 0
    rows = list(datasets.load_dataset("parquet", data_files=str(out / "data" / "train-*.parquet"), split="train"))
    rejected = Dataset(out / ".finereason").rejected_table()
    return rows, Counter(rejected.column("reject_reason").to_pylist())


def test_verl_layout_and_reward_round_trip(samples: list[Sample], src: Path, tmp_path: Path) -> None:
    rows, rejected = _export(src, tmp_path / "verl", "verl")
    # 10 release questions carry more <image> tags than images: rejected as in the SFT formats
    assert rejected == {"no_verifiable_answer": 4, "image_tag_mismatch": 10}
    assert len(rows) == 56
    by_id = {s.id: s for s in samples}
    scores, direct = [], []
    for row in rows:
        assert set(row) == {"data_source", "prompt", "images", "ability", "reward_model", "extra_info"}
        s = by_id[row["extra_info"]["id"]]
        assert row["data_source"] == s.source and row["ability"] == "math"
        assert [m["role"] for m in row["prompt"]] == ["user"]  # the policy writes the reply
        # RLHFDataset._build_messages: split string content on <image>; one image part per image
        parts = [seg for m in row["prompt"] for seg in re.split("(<image>|<video>)", m["content"])]
        assert parts.count("<image>") == len(row["images"]) == len(s.images)
        assert all(im.size == (i.width, i.height) for im, i in zip(row["images"], s.images))  # decoded by datasets
        assert row["reward_model"] == {"style": "rule", "ground_truth": s.answer.strip()}
        extra = row["extra_info"]
        assert isinstance(extra["index"], int) and extra["answer_type"] == s.answer_type
        assert extra["options"] == s.options and extra["question"] == s.question
        if s.response:  # grade the teacher's reply the way verl's reward manager would call us
            scores.append(compute_score(row["data_source"], s.response, row["reward_model"]["ground_truth"], extra))
            direct.append(RewardTask(s.response, s.answer, s.answer_type, s.options, s.question))
    assert len({r["extra_info"]["index"] for r in rows}) == len(rows)
    # the row carries everything the reward reads: same scores as grading the Sample itself
    with Verifier(workers=1) as v:
        assert scores == [r.score for r in score_many(direct, v, RewardConfig())]
    assert 0.6 * len(scores) <= sum(scores) < len(scores)  # the release teacher is mostly, not always, right


def test_trl_rl_columns_feed_the_trl_reward(samples: list[Sample], src: Path, tmp_path: Path) -> None:
    rows, rejected = _export(src, tmp_path / "trl", "trl-rl")
    assert rejected == {"no_verifiable_answer": 4, "image_tag_mismatch": 10} and len(rows) == 56
    by_id = {s.id: s for s in samples}
    for row in rows:
        assert [m["role"] for m in row["prompt"]] == ["user"]
        assert sum(p["type"] == "image" for p in row["prompt"][0]["content"]) == len(row["images"])
        assert row["answer"] == by_id[row["id"]].answer.strip()
    with_response = [r for r in rows if by_id[r["id"]].response]
    fn = TrlReward()
    scores = fn(prompts=[r["prompt"] for r in with_response],
                completions=[[{"role": "assistant", "content": by_id[r["id"]].response}] for r in with_response],
                **{k: [r[k] for r in with_response] for k in ("answer", "answer_type", "options", "question")})
    assert 0.6 * len(scores) <= sum(scores) < len(scores)
    assert sum(fn.counts.snapshot().values()) == len(with_response)

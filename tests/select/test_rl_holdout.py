"""``select --rl-holdout N --seed S`` on the real MMFineReason records: a uniform split of
verifiable prompts into their own dataset, excluded from the SFT output, both recorded by hash."""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from finereason.cli import main
from finereason.io.images import make_image
from finereason.io.store import Dataset, ShardCounts, atomic_write_json
from finereason.schema import Sample, stable_id
from finereason.select.caps import holdout_key, plan_holdout

from fixture_dir import FIXTURE_DIR, read_release_records

UNVERIFIABLE = 5  # the first 3 lose their answer, the next 2 become 'open'


def _samples() -> list[Sample]:
    out = []
    for i, r in enumerate(read_release_records()):
        images = [make_image((FIXTURE_DIR / r["image"]).read_bytes(), r["image"])] if r.get("image") else []
        s = Sample(id=stable_id(r["source"], str(r["id"])), source=r["source"], question=r["question"],
                   answer=r["answer"], images=images, response=r["qwen3vl_235b_thinking_response"],
                   verdict="correct" if r["is_consistent"] else "incorrect", pass_rate=r["pass_rate"])
        if i < 3:
            s = dataclasses.replace(s, answer=None)
        elif i < UNVERIFIABLE:
            s = dataclasses.replace(s, answer_type="open")
        out.append(s)
    return out


def _write(samples: list[Sample], root: Path, shard_size: int) -> Path:
    ds = Dataset(root)
    for i in range(0, len(samples), shard_size):
        chunk = samples[i:i + shard_size]
        ds.write_shard(i // shard_size, chunk, [], ShardCounts(i // shard_size, len(chunk), len(chunk), {}, 0.0, {}))
    atomic_write_json(root / "manifest.json", {"stage": "verify"})
    return root


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return _samples()


def _ids(root: Path) -> list[str]:
    return [s.id for s in Dataset(root).iter_samples()]


def test_holdout_split_is_disjoint_verifiable_and_hashed(samples: list[Sample], tmp_path: Path) -> None:
    src = _write(samples, tmp_path / "in", shard_size=16)
    out = tmp_path / "sft"
    assert main(["select", str(src), "--out", str(out), "--verdict", "any", "--rl-holdout", "20",
                 "--seed", "3", "--workers", "1"]) == 0
    rl_out = tmp_path / "sft-rl"
    sft, rl = _ids(out), _ids(rl_out)
    assert len(rl) == 20 and len(sft) == 50
    assert set(sft).isdisjoint(rl) and set(sft) | set(rl) == {s.id for s in samples}
    unverifiable = {s.id for s in samples[:UNVERIFIABLE]}
    assert unverifiable.isdisjoint(rl) and unverifiable <= set(sft)
    reasons = Counter(Dataset(out).rejected_table().column("reject_reason").to_pylist())
    assert reasons == {"rl_holdout": 20}
    for root in (out, rl_out):
        block = Dataset(root).manifest()["rl_holdout"]
        assert block["sft_ids_sha256"] == hashlib.sha256("\n".join(sorted(sft)).encode()).hexdigest()
        assert block["rl_ids_sha256"] == hashlib.sha256("\n".join(sorted(rl)).encode()).hexdigest()
        assert (block["n"], block["seed"], block["rl_count"], block["sft_count"]) == (20, 3, 20, 50)
    assert Dataset(rl_out).manifest()["records_out"] == 20
    full = {s.id: s for s in samples}
    for s in Dataset(rl_out).iter_samples():  # written whole, images included
        assert s.answer == full[s.id].answer and [i.sha256 for i in s.images] == [i.sha256 for i in full[s.id].images]

    # the same seed picks the same prompts however the input is sharded; another seed, others
    src2 = _write(samples, tmp_path / "in2", shard_size=7)
    assert main(["select", str(src2), "--out", str(tmp_path / "b"), "--verdict", "any", "--rl-holdout", "20",
                 "--seed", "3", "--workers", "2"]) == 0
    assert set(_ids(tmp_path / "b-rl")) == set(rl)
    assert main(["select", str(src), "--out", str(tmp_path / "c"), "--rl-out", str(tmp_path / "c-prompts"),
                 "--verdict", "any", "--rl-holdout", "20", "--seed", "4", "--workers", "1"]) == 0
    assert set(_ids(tmp_path / "c-prompts")) != set(rl)


def test_holdout_is_drawn_before_caps_and_asks_for_no_more_than_exists(samples, tmp_path, capsys) -> None:
    src = _write(samples, tmp_path / "in", shard_size=32)
    assert main(["select", str(src), "--out", str(tmp_path / "o"), "--verdict", "any", "--rl-holdout", "10",
                 "--limit", "30", "--workers", "1"]) == 0
    assert len(_ids(tmp_path / "o-rl")) == 10 and len(_ids(tmp_path / "o")) == 30
    assert main(["select", str(src), "--out", str(tmp_path / "x"), "--verdict", "any",
                 "--rl-holdout", "66", "--workers", "1"]) == 2
    assert "only 65 samples pass the rules with a verifiable answer" in capsys.readouterr().err


def test_holdout_draw_is_uniform_over_eligible_samples() -> None:
    """Each eligible id is drawn with probability n/eligible over seeds; ineligible ones never."""
    ids = [f"id{i}" for i in range(400)]
    eligible = np.array([i % 10 != 0 for i in range(400)])  # 360 eligible
    hits = np.zeros(400)
    seeds = 300
    for seed in range(seeds):
        keys = np.array([holdout_key(seed, i) for i in ids], dtype=np.uint64)
        held = plan_holdout(keys, eligible, 36)
        assert held.sum() == 36 and not held[~eligible].any()
        hits += held
    rate = hits[eligible] / seeds  # expected 0.1 each; binomial sd ~0.017
    assert abs(rate.mean() - 0.1) < 1e-9
    assert rate.min() > 0.1 - 5 * 0.0174 and rate.max() < 0.1 + 5 * 0.0174

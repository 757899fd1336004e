"""A real dataset for export tests: the 70 MMFineReason records of the shared fixture as Samples.

(The same mapping as tests/select/conftest.py; pytest cannot share a conftest between sibling
folders without a package, and a root conftest is not this folder's to own.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finereason.io.images import make_image
from finereason.io.store import Dataset, ShardCounts, atomic_write_json
from finereason.schema import Sample, stable_id

FIXTURE_DIR = Path("/work/shared/fixtures/mmfinereason-sample")
DOMAINS = {
    "Euclid30K": "Math", "MMR1": "Math", "WeMath2-Standard": "Math", "FineVision-scienceqa": "Science",
    "GameQA-140K": "Puzzle", "FineVision-raven": "Puzzle", "LLaVA-CoT": "General",
}


@pytest.fixture(scope="session")
def records() -> list[dict]:
    path = FIXTURE_DIR / "records.jsonl"
    if not path.exists():
        pytest.skip(f"real-data fixture not found at {path}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def samples(records: list[dict]) -> list[Sample]:
    """is_consistent → verdict, the teacher's reply → response, the image file → an Image."""
    out = []
    for r in records:
        images = [make_image((FIXTURE_DIR / r["image"]).read_bytes(), r["image"])] if r.get("image") else []
        out.append(Sample(
            id=stable_id(r["source"], str(r["id"])), source=r["source"], domain=DOMAINS[r["source"]],
            question=r["question"], answer=r["answer"], images=images, caption=r.get("caption"),
            response=r.get("qwen3vl_235b_thinking_response"),
            verdict="correct" if r["is_consistent"] else "incorrect", pass_rate=r["pass_rate"],
        ))
    return out


def _write_dataset(samples: list[Sample], root: Path, shard_size: int, manifest: dict | None = None) -> Path:
    ds = Dataset(root)
    for i in range(0, max(len(samples), 1), shard_size):
        chunk = samples[i:i + shard_size]
        ds.write_shard(i // shard_size, chunk, [], ShardCounts(i // shard_size, len(chunk), len(chunk), {}, 0.0, {}))
    atomic_write_json(root / "manifest.json", manifest or {
        "stage": "select", "rejected": {"verdict_not_correct": 16},
        "upstream": {"stage": "verify", "rejected": {"answer_missing": 3}},
    })
    return root


@pytest.fixture(scope="session")
def write_dataset():
    return _write_dataset

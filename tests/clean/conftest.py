"""The real release records for the clean tests (skipped where the fixture is not present)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixture_dir import FIXTURE_DIR


@pytest.fixture(scope="session")
def release_records() -> list[dict]:
    path = FIXTURE_DIR / "records.jsonl"
    if not path.exists():
        pytest.skip(f"real-data fixture not found at {path}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

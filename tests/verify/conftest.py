"""Shared fixtures: one verifier (one worker pool) for the whole test session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from finereason.verify import Verifier

from fixture_dir import FIXTURE_DIR

FIXTURE = FIXTURE_DIR / "records.jsonl"


@pytest.fixture(scope="session")
def verifier() -> Iterator[Verifier]:
    with Verifier(timeout_s=10.0, workers=2) as v:
        yield v


@pytest.fixture(scope="session")
def records() -> list[dict]:
    if not FIXTURE.exists():
        pytest.skip(f"real-data fixture not found at {FIXTURE}")
    return [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]

"""Shared fixtures: one verifier (one worker pool) for the whole test session."""

from __future__ import annotations

from typing import Iterator

import pytest

from finereason.verify import Verifier

from fixture_dir import read_release_records


@pytest.fixture(scope="session")
def verifier() -> Iterator[Verifier]:
    with Verifier(timeout_s=10.0, workers=2) as v:
        yield v


@pytest.fixture(scope="session")
def records() -> list[dict]:
    return read_release_records()

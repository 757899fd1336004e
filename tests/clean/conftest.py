"""The real release records for the clean tests."""

from __future__ import annotations

import pytest

from fixture_dir import read_release_records


@pytest.fixture(scope="session")
def release_records() -> list[dict]:
    return read_release_records()

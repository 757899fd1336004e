"""Fixtures for ingest tests: the CLI run in-process, the real release sample."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fixture_dir import read_release_records
from ingest_helpers import Run

from finereason.cli import main


@pytest.fixture
def ingest_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """``ingest_cli(*args, out=None)`` runs ``finereason ingest`` in-process and returns a Run."""
    counter = iter(range(1000))

    def run(*args: str, out: Path | None = None, workers: int = 1) -> Run:
        out = out or tmp_path / f"out{next(counter)}"
        rc = main(["ingest", *map(str, args), "--out", str(out), "--workers", str(workers)])
        captured = capsys.readouterr()
        return Run(rc, out, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def release_records() -> list[dict[str, Any]]:
    return read_release_records()

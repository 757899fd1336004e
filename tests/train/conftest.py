"""Fixtures for the training tests: tiny VLMs of every family and a small real-format TRL export.

Everything is built offline in well under a second per model; exports go through the real
``finereason export`` command so the trainer reads exactly what users will give it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

from finereason.testing.tinyvlm import FAMILIES, build_tiny_lm, build_tiny_vlm  # noqa: E402
from train_helpers import export, toy_samples, write_dataset  # noqa: E402


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-models")
    dirs = {family: build_tiny_vlm(family, root / family) for family in FAMILIES}
    dirs["lm"] = build_tiny_lm(root / "lm")
    return dirs


@pytest.fixture(scope="session")
def toy_export(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy")
    return export(write_dataset(root / "canonical", toy_samples()), root / "trl", "trl")



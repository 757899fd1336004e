"""Smoke test of bench/agreement_release.py: it runs on the fixture and prints its tables
(figures are printed, not asserted beyond their presence; nothing is timed)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "agreement_release.py"


def test_main_prints_in_sample_and_leave_one_source_out(capsys) -> None:
    spec = importlib.util.spec_from_file_location("agreement_release", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["agreement_release"] = module
    spec.loader.exec_module(module)
    assert module.main(["--show-disagreements"]) == 0
    out = capsys.readouterr().out
    assert "in sample" in out and "leave one source out" in out and "ALL (pooled left-out)" in out
    assert "DISAGREE Euclid30K:23546" in out  # the release's own mistake, listed with the rest
    assert module.main(["--records", "/nonexistent.jsonl"]) == 2

"""``finereason dedup`` from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from dedup_helpers import image, kept_ids, sample, write_dataset

from finereason.cli import main


def test_cli_runs_and_prints_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_dataset(tmp_path / "in", [[sample("a", "Same question?", [image(1)])],
                                          [sample("b", "same QUESTION", [image(1)])]])
    rc = main(["dedup", str(src), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert rc == 0
    assert "dedup: 2 in → 1 out" in capsys.readouterr().out
    assert kept_ids(tmp_path / "out") == ["a"]


def test_cli_refuses_a_dataset_checked_against_itself(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_dataset(tmp_path / "in", [[sample("a", "Q?")]])
    rc = main(["dedup", str(src), "--out", str(tmp_path / "out"), "--against", str(src)])
    assert rc == 2 and "against itself" in capsys.readouterr().err


def test_cli_names_a_missing_benchmark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_dataset(tmp_path / "in", [[sample("a", "Q?")]])
    rc = main(["dedup", str(src), "--out", str(tmp_path / "out"), "--against", str(tmp_path / "nope")])
    assert rc == 2 and "--against" in capsys.readouterr().err


def test_cli_rejects_a_threshold_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["dedup", str(tmp_path), "--out", str(tmp_path / "o"), "--text-threshold", "1.5"])


def test_help_teaches_the_rule_and_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["dedup", "--help"])
    text = capsys.readouterr().out
    assert "benchmark_overlap" in text and "--against bench/mathvista" in text and "word overlap" in text

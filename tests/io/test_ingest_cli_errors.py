"""A wrong --format or an unreadable input stops with ONE line naming the file and what was expected."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ingest_helpers import FIXTURE, write_jsonl

from finereason.cli import main


def _one_error_line(run) -> str:
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.rc == 2, run.stderr
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("finereason: error: ")
    assert not (run.out / "data").exists()  # nothing half-written
    return lines[0]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    qa = write_jsonl(tmp_path / "qa.jsonl", [{"question": "q", "answer": "a"}])
    pq.write_table(pa.table({"question": ["q"], "answer": ["a"]}), tmp_path / "qa.parquet")
    llava = tmp_path / "llava.json"
    llava.write_text(json.dumps([{"id": 1, "conversations": [{"from": "human", "value": "q"}]}]))
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("hello")
    bad_parquet = tmp_path / "broken.parquet"
    bad_parquet.write_bytes(b"PAR1" + b"\x00" * 64)
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n not json\nstill not json\n")
    return {"qa": qa, "parquet": tmp_path / "qa.parquet", "llava": llava, "plain": plain,
            "bad_parquet": bad_parquet, "garbage": garbage}


@pytest.mark.parametrize(
    ("key", "fmt", "expect"),
    [
        ("qa", "parquet", "this is JSON Lines, but --format parquet expects Parquet files"),
        ("parquet", "jsonl", "this is Parquet, but --format jsonl expects JSON Lines"),
        ("qa", "hf", "expects a Hugging Face datasets folder"),
        ("plain", "hf", "not a Hugging Face datasets folder"),
        ("plain", "jsonl", "no data files (.json, .jsonl, .ndjson) in this folder"),
        ("qa", "llava", "not LLaVA conversations: the first record has no 'conversations'"),
        ("qa", "mmfinereason", "not the MMFineReason release format"),
        ("llava", "jsonl", "use --format llava"),
        ("bad_parquet", "parquet", "unreadable Parquet file"),
        ("garbage", "auto", "not JSON Lines with one object per line"),
    ],
)
def test_wrong_format_is_one_clear_line(ingest_cli, files, key, fmt, expect):
    line = _one_error_line(ingest_cli(files[key], "--format", fmt))
    assert str(files[key]) in line and expect in line


def test_release_read_as_llava_names_the_file(ingest_cli):
    line = _one_error_line(ingest_cli(FIXTURE / "records.jsonl", "--format", "llava"))
    assert "records.jsonl: not LLaVA conversations" in line


def test_missing_path(ingest_cli, tmp_path: Path):
    line = _one_error_line(ingest_cli(tmp_path / "nope.jsonl"))
    assert line.endswith("nope.jsonl: no such file or folder")


def test_bad_map_and_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["ingest", "x.jsonl", "--out", "o", "--map", "prompt"])
    assert e.value.code == 2 and "expected SRC=DST" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["ingest", "x.jsonl", "--out", "o", "--map", "prompt=questoin"])
    assert "unknown field 'questoin'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["ingest", "--help"])
    assert e.value.code == 0
    help_text = capsys.readouterr().out
    assert "examples:" in help_text and "--drop-multi-image" in help_text and "path_outside_dataset" in help_text

"""Readers stream: a large JSON Lines file or JSON array is never held in memory whole, and the
chunks (shards) are the same records on every run."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

from finereason.io.ingest import chunk_tasks
from finereason.io.readers import iter_records, plan_input
from finereason.io.readers.jsonlines import iter_array

RECORD = {"question": "q" * 2000, "answer": "a", "conversations": None}


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_jsonl_streams(tmp_path: Path):
    path = tmp_path / "big.jsonl"
    line = (json.dumps(RECORD) + "\n").encode()
    path.write_bytes(line * 12_000)  # ~24 MB
    plan = plan_input(str(path), "jsonl")
    count = 0

    def read() -> None:
        nonlocal count
        for _ in iter_records(plan):
            count += 1

    peak = _peak(read)
    assert count == 12_000
    assert peak < 2_000_000, peak  # one line at a time


def test_json_array_streams(tmp_path: Path):
    path = tmp_path / "big.json"
    path.write_text(json.dumps([RECORD] * 12_000))
    count = 0

    def read() -> None:
        nonlocal count
        for _, obj in iter_array(path):
            assert obj["answer"] == "a"
            count += 1

    peak = _peak(read)
    assert count == 12_000
    assert peak < 12_000_000, peak  # a window of a few MB, not the 24 MB file


def test_chunks_are_deterministic(tmp_path: Path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"question": f"q{i}", "answer": "a"}) + "\n" for i in range(25)))
    plan = plan_input(str(path), "jsonl")
    tasks = list(chunk_tasks([plan], 10))
    assert [t.index for t in tasks] == [0, 1, 2]
    assert [len(t.load()) for t in tasks] == [10, 10, 5]
    assert [r.ref for r in tasks[1].load()][:2] == [f"{path}:11", f"{path}:12"]
    assert [r.line for t in chunk_tasks([plan], 10) for r in t.load()] == [r.line for t in tasks for r in t.load()]


def test_overlong_line_is_skipped_not_held(ingest_cli, tmp_path: Path, monkeypatch):
    from finereason.io.readers import jsonlines

    monkeypatch.setattr(jsonlines, "MAX_LINE_BYTES", 1000)
    path = tmp_path / "d.jsonl"
    good = json.dumps({"question": "q", "answer": "a"}) + "\n"
    path.write_text(good + json.dumps({"question": "x" * 5000, "answer": "a"}) + "\n" + good)
    run = ingest_cli(path)
    assert len(run.samples) == 2
    assert run.reasons() == {f"{path}:2": "record_too_large"}

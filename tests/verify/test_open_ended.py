"""Open-ended release records (image + question, no ground truth) from ingest to export.

The release keeps such items (FineVision-ai2d, visualwebinstruct) and trains on their responses;
ingest used to reject them as ``missing_answer``. Built from a real fixture record with an image,
its ground truth blanked and its source spelled as the release spells AI2D.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from finereason.cli import main
from finereason.io.store import Dataset

from fixture_dir import FIXTURE_DIR, read_release_records


def _cli(*args: str) -> None:
    assert main([*args, "--workers", "1"]) == 0


def test_open_ended_record_survives_to_export(tmp_path: Path) -> None:
    record = next(r for r in read_release_records() if r["image"] and r["source"] == "LLaVA-CoT")
    marker = "This description is the open-ended copy."
    open_record = {**record, "id": "open-1", "source": "FineVision-ai2d_merged", "answer": "", "is_consistent": None,
                   "qwen3vl_235b_thinking_response": record["qwen3vl_235b_thinking_response"] + "\n\n" + marker}
    answered = {**record, "id": "answered-1"}
    raw = tmp_path / "release"
    (raw / "images").mkdir(parents=True)
    shutil.copy(FIXTURE_DIR / record["image"], raw / record["image"])
    (raw / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (open_record, answered)))

    _cli("ingest", str(raw / "records.jsonl"), "--format", "mmfinereason", "--out", str(tmp_path / "in"))
    ingested = {s.meta_get("source_id"): s for s in Dataset(tmp_path / "in").iter_samples()}
    assert ingested["open-1"].answer is None and ingested["open-1"].answer_type == "open"

    _cli("clean", str(tmp_path / "in"), "--out", str(tmp_path / "clean"))
    _cli("verify", str(tmp_path / "clean"), "--out", str(tmp_path / "verified"))
    verified = {s.meta_get("source_id"): s for s in Dataset(tmp_path / "verified").iter_samples()}
    assert verified["open-1"].verdict == "unverifiable"
    assert not [f for f in verified["open-1"].flags if f.startswith(("think_", "answer_", "truncated", "repetition"))]

    _cli("select", str(tmp_path / "verified"), "--out", str(tmp_path / "selected"))
    selected = {s.meta_get("source_id") for s in Dataset(tmp_path / "selected").iter_samples()}
    assert "open-1" in selected

    _cli("export", str(tmp_path / "selected"), "--format", "llamafactory", "--out", str(tmp_path / "export"))
    exported = (tmp_path / "export").rglob("*.json*")
    text = "".join(p.read_text() for p in exported if p.is_file())
    assert marker in text

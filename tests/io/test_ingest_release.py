"""Acceptance on the real MMFineReason sample: fields, images, stable ids, resume."""

from __future__ import annotations

import json
from pathlib import Path

from ingest_helpers import FIXTURE


def test_all_records_ingest_with_release_fields(ingest_cli, release_records):
    run = ingest_cli(FIXTURE, "--format", "mmfinereason", "--shard-size", "16", workers=2)
    assert run.rc == 0, run.stderr
    samples = run.samples
    assert len(samples) == 70 and run.rejected == []
    assert run.manifest["records_in"] == 70 and run.manifest["records_out"] == 70
    assert run.manifest["shards"] == 5  # ceil(70 / 16)
    by_key = {(s.source, s.meta_get("source_id")): s for s in samples}
    assert len(by_key) == 70
    for rec in release_records:
        s = by_key[(rec["source"], rec["id"])]
        assert s.question == rec["question"] and s.answer == rec["answer"]
        assert s.caption == rec["caption"]
        assert s.response == rec["qwen3vl_235b_thinking_response"]
        assert s.pass_rate == rec["pass_rate"]
        assert s.verdict == ("correct" if rec["is_consistent"] else "incorrect")
        assert s.verdict_by == "release"
        assert s.meta_get("consistency_analysis") == rec["consistency_analysis"]
        assert s.meta_get("original_answer") == rec["original_answer"]
    assert {s.domain for s in samples} == {"math", "science", "puzzle", "general"}
    assert "ingest: " in run.stderr and "mmfinereason" in run.stderr


def test_one_record_exactly(ingest_cli, release_records):
    run = ingest_cli(FIXTURE / "records.jsonl")  # auto, a file rather than the folder
    rec = next(r for r in release_records if r["source"] == "Euclid30K" and r["id"] == 23544)
    s = next(s for s in run.samples if s.meta_get("source_id") == 23544)
    assert s.source == "Euclid30K" and s.domain == "math"
    assert s.question.startswith("<image>A certain type of vegetable is sold in three quality grades")
    assert s.question == rec["question"]  # the leading <image> tag is kept at ingest
    assert s.answer == "$$4.4$$" and s.pass_rate == 1.0 and s.verdict == "correct"
    assert s.caption.startswith("### Image 1: Table / Matrix")
    assert s.response.startswith("<think>Okay, let's see.") and s.response == rec["qwen3vl_235b_thinking_response"]
    assert s.meta_get("ori_question") == rec["ori_question"]
    assert s.meta_get("ref") == "records.jsonl:1"
    (im,) = s.images
    assert im.path == "images/Euclid30K_0000.jpg"
    assert (im.width, im.height) == (341, 119)
    assert im.bytes == (FIXTURE / "images/Euclid30K_0000.jpg").read_bytes()
    assert len(im.phash) == 16


def test_images_decoded_and_identical_to_files(ingest_cli, release_records):
    run = ingest_cli(FIXTURE)
    with_image = [s for s in run.samples if s.images]
    assert len(with_image) == 60
    assert len([s for s in run.samples if not s.images]) == 10  # text-only, not errors
    expected = {(r["source"], r["id"]): r["image"] for r in release_records}
    for s in with_image:
        (im,) = s.images
        assert im.path == expected[(s.source, s.meta_get("source_id"))]
        assert im.bytes == (FIXTURE / im.path).read_bytes()
        assert im.width > 0 and im.height > 0 and im.phash
    assert run.manifest["stats"] == {"images": 60, "text_only": 10, "multi_image": 0}


def test_ids_and_counts_identical_across_runs(ingest_cli):
    a = ingest_cli(FIXTURE, "--shard-size", "16", workers=2)
    b = ingest_cli(FIXTURE, "--shard-size", "16")
    assert [s.id for s in a.samples] == [s.id for s in b.samples]
    assert len(set(s.id for s in a.samples)) == 70
    counts = [(m["records_in"], m["records_out"], m["rejected"]) for m in (a.manifest, b.manifest)]
    assert counts[0] == counts[1] == (70, 70, {})


def test_rerun_redoes_only_the_lost_shard(ingest_cli, tmp_path: Path):
    out = tmp_path / "resume"
    first = ingest_cli(FIXTURE, "--shard-size", "16", out=out)
    ids = [s.id for s in first.samples]
    shards = sorted((out / "data").glob("part-*.parquet"))
    assert len(shards) == 5
    before = {p.name: p.stat().st_mtime_ns for p in shards}
    # A kill during shard 2: its data and done-marker never got written.
    (out / ".done" / "part-00002.json").unlink()
    (out / "data" / "part-00002.parquet").unlink()
    again = ingest_cli(FIXTURE, "--shard-size", "16", out=out)
    assert again.rc == 0
    after = {p.name: p.stat().st_mtime_ns for p in sorted((out / "data").glob("part-*.parquet"))}
    assert {n for n in after if after[n] != before.get(n)} == {"part-00002.parquet"}
    assert [s.id for s in again.samples] == ids
    assert again.manifest["records_out"] == 70
    done = json.loads((out / ".done" / "part-00002.json").read_text())
    assert done["records_in"] == 16


def test_rerun_with_other_settings_is_refused(ingest_cli, tmp_path: Path):
    out = tmp_path / "o"
    assert ingest_cli(FIXTURE, "--shard-size", "16", out=out).rc == 0
    run = ingest_cli(FIXTURE, "--shard-size", "32", out=out)
    assert run.rc == 2 and "different 'settings'" in run.stderr and "--overwrite" in run.stderr

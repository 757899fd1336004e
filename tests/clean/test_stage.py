"""The clean stage and command on a generated corpus of good and bad samples, two shards."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import pytest
from clean_corpus import image_bytes, make_sample
from PIL import Image as PILImage

from finereason.clean.stage import CleanStage
from finereason.cli import main
from finereason.io.store import Dataset, ShardCounts
from finereason.schema import Sample
from finereason.pipeline.manifest import RunInfo, write_manifest

GOOD_IMAGES = ["rgb_png", "rgb_jpeg", "palette", "la", "rgba", "cmyk", "i16", "gif", "huge", "tiny"]
BAD_IMAGES = {
    "zero_bytes": "image_empty",
    "corrupt": "image_undecodable",
    "truncated": "image_truncated",
    "bomb": "image_too_large",
    "sliver": "image_extreme_aspect",
}


def corpus() -> tuple[list[list[Sample]], dict[str, str], set[str]]:
    """Two shards mixing good and bad samples; returns shards, {bad id: reason}, good ids."""
    good: list[Sample] = [make_sample(f"Image kind {k}: what is shown?", "12", [image_bytes(k)]) for k in GOOD_IMAGES]
    good += [
        make_sample("<image>\n3. Find x (5 points). Source: https://example.com/q/3", "x = 4 cm"),
        make_sample("Which is largest? A. 3 B. 5 C. 4", "5"),
        make_sample("Two views.", "C", [image_bytes("rgb_png"), image_bytes("rgb_jpeg"), image_bytes("huge")]),
        make_sample("No picture, just text: 2+2?", "$$4$$", []),
    ]
    bad: dict[str, str] = {}
    rejects: list[Sample] = []
    for kind, reason in BAD_IMAGES.items():
        s = make_sample(f"Bad image {kind}?", "1", [image_bytes(kind)])
        rejects.append(s)
        bad[s.id] = reason
    three = [image_bytes("rgb_png"), image_bytes("truncated"), image_bytes("tiny")]
    multi = make_sample("One bad of three", "2", three)
    rejects.append(multi)
    bad[multi.id] = "image_truncated"
    for question, answer, reason in [
        ("", "3", "missing_question"),
        ("<image> (5 points)", "3", "missing_question"),
        ("What is x?", None, "missing_answer"),
        ("What is y?", "   ", "missing_answer"),
        ("What is z?", "We first look.\nThen we think about it.", "answer_unextracted"),
    ]:
        s = make_sample(question, answer)
        rejects.append(s)
        bad[s.id] = reason
    mixed = good + rejects
    shards = [mixed[0::2], mixed[1::2]]
    return shards, bad, {s.id for s in good}


def write_dataset(root: Path, shards: list[list[Sample]]) -> None:
    ds = Dataset(root)
    for i, shard in enumerate(shards):
        ds.write_shard(i, shard, [], ShardCounts(i, len(shard), len(shard), {}, 0.0, {}))
    write_manifest(ds, RunInfo("test", "1", {}, []), ds.done_counts(), 0.0)  # a finished dataset, as stages read


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], set[str], list[list[Sample]]]:
    """One run of the real command with two worker processes, shared by the tests that read it."""
    root = tmp_path_factory.mktemp("clean")
    shards, bad, good = corpus()
    write_dataset(root / "raw", shards)
    assert main(["clean", str(root / "raw"), "--out", str(root / "clean"), "--workers", "2"]) == 0
    return root, bad, good, shards


def test_bad_samples_rejected_with_reasons_good_ones_survive(cleaned) -> None:
    root, bad, good, shards = cleaned
    out = Dataset(root / "clean")
    kept = {s.id: s for s in out.iter_samples()}
    assert set(kept) == good
    table = out.rejected_table()
    assert table is not None
    rows = {r["id"]: r for r in table.to_pylist()}
    assert {i: r["reject_reason"] for i, r in rows.items()} == bad
    assert all(r["reject_stage"] == "clean" for r in rows.values())
    # The rejected sample is kept whole and unmodified, bad bytes included.
    originals = {s.id: s for shard in shards for s in shard}
    for sample_id, row in rows.items():
        assert [im["bytes"] for im in row["images"]] == [im.bytes for im in originals[sample_id].images]
        assert row["question"] == originals[sample_id].question


def test_one_bad_image_rejects_the_whole_multi_image_sample(cleaned) -> None:
    root, bad, _, _ = cleaned
    rows = [r for r in Dataset(root / "clean").rejected_table().to_pylist() if r["question"] == "One bad of three"]
    assert len(rows) == 1 and len(rows[0]["images"]) == 3
    assert rows[0]["reject_reason"] == "image_truncated"
    assert rows[0]["reject_detail"].startswith("image 2 of 3:")


def test_kept_samples_are_clean(cleaned) -> None:
    root, _, _, _ = cleaned
    for s in Dataset(root / "clean").iter_samples():
        for im in s.images:
            pil = PILImage.open(io.BytesIO(im.bytes))
            pil.load()
            assert pil.mode == "RGB" and pil.format in ("PNG", "JPEG")
            assert (im.width, im.height) == pil.size and max(pil.size) <= 2048
            assert im.phash and len(im.sha256) == 64
        assert "<image>" not in s.question and s.answer and s.answer_type


def test_text_answer_and_options_cleaning_is_recorded(cleaned) -> None:
    root, _, _, _ = cleaned
    kept = {s.question: s for s in Dataset(root / "clean").iter_samples()}
    noisy = kept["Find x. Source:"]
    assert noisy.answer == "4" and noisy.answer_type == "integer"
    assert noisy.meta_get("original_question").startswith("<image>\n3. Find x (5 points)")
    assert noisy.meta_get("original_answer") == "x = 4 cm"
    assert noisy.meta_get("clean_edits") == [
        "question:image_tag", "question:url", "question:score_tag", "question:question_number", "answer:as_given",
    ]
    choice = kept["Which is largest? A. 3 B. 5 C. 4"]
    assert choice.options == ["3", "5", "4"]
    assert (choice.answer, choice.answer_type) == ("B", "choice")
    assert choice.meta_get("original_answer") == "5"
    multi = kept["Two views."]
    assert [im.width for im in multi.images] == [64, 64, 2048]
    assert kept["No picture, just text: 2+2?"].answer == "4"


def test_manifest_counts(cleaned) -> None:
    root, bad, good, _ = cleaned
    m = json.loads((root / "clean" / "manifest.json").read_text())
    assert m["stage"] == "clean" and m["shards"] == 2
    assert m["records_in"] == len(bad) + len(good) and m["records_out"] == len(good)
    expected: dict[str, int] = {}
    for reason in bad.values():
        expected[reason] = expected.get(reason, 0) + 1
    assert m["rejected"] == expected
    assert m["settings"] == {"max_side": 2048, "max_aspect": 200.0, "max_pixels": 64_000_000, "max_text_chars": 100_000}
    stats = m["stats"]
    assert stats["images_resized"] == 2 and stats["images_converted_rgb"] == 6
    assert stats["options_parsed"] == 1 and stats["question_url"] == 1


def test_rerun_resumes_and_changed_settings_are_refused(cleaned, capsys) -> None:
    root, _, _, _ = cleaned
    before = json.loads((root / "clean" / "manifest.json").read_text())
    assert main(["clean", str(root / "raw"), "--out", str(root / "clean"), "--workers", "1"]) == 0
    after = json.loads((root / "clean" / "manifest.json").read_text())
    assert (after["records_in"], after["records_out"], after["rejected"]) == (
        before["records_in"], before["records_out"], before["rejected"])
    assert main(["clean", str(root / "raw"), "--out", str(root / "clean"), "--max-side", "512"]) == 2
    assert "max_side" in capsys.readouterr().err


def test_missing_or_empty_input_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["clean", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "no such dataset directory" in capsys.readouterr().err
    (tmp_path / "empty" / "data").mkdir(parents=True)
    assert main(["clean", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "unfinished dataset (no manifest.json" in capsys.readouterr().err
    write_dataset(tmp_path / "empty", [])
    assert main(["clean", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "no shards" in capsys.readouterr().err


def test_bad_option_values_are_refused_by_the_parser(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["clean", str(tmp_path), "--out", str(tmp_path / "o"), "--max-side", "0"])


def test_cleaning_twice_changes_nothing() -> None:
    shards, _, _ = corpus()
    stage = CleanStage()
    once = stage([s for shard in shards for s in shard]).kept
    twice = stage(once)
    assert not twice.rejected
    for a, b in zip(once, twice.kept, strict=True):
        assert (a.question, a.answer, a.answer_type, a.options) == (b.question, b.answer, b.answer_type, b.options)
        assert [im.bytes for im in a.images] == [im.bytes for im in b.images]
        assert a.meta == b.meta


def test_source_fields_are_respected() -> None:
    """Options and types a source supplied, and an original answer ingest recorded, stay."""
    s = make_sample("Pick the larger: A. 1 B. 2", "B", options=["one", "two"], answer_type="choice")
    s.meta_set("original_answer", "Answer: (B) two")
    out = CleanStage()([s]).kept[0]
    assert out.options == ["one", "two"] and out.answer_type == "choice"
    assert out.meta_get("original_answer") == "Answer: (B) two"
    typed = make_sample("How many?", "7", answer_type="count")
    assert CleanStage()([typed]).kept[0].answer_type == "count"


def test_stage_is_picklable_and_versioned() -> None:
    stage = CleanStage(max_side=1024)
    clone = pickle.loads(pickle.dumps(stage))
    assert clone == stage and clone.name == "clean" and clone.version
    assert clone.settings()["max_side"] == 1024


def test_a_full_disk_is_one_line_naming_the_file(tmp_path: Path, capsys, monkeypatch) -> None:
    """ENOSPC is one error line with the path, no traceback. The error is pyarrow's own, as it
    raised it writing to /dev/full (errno 28, no file name); raised here because pyarrow reports
    it for /dev/full only for some tables."""
    import finereason.io.store as store

    def full(table, where, **kw):
        raise OSError(28, "Error writing bytes to file. Detail: [errno 28] No space left on device")

    write_dataset(tmp_path / "raw", [[make_sample("What is 1+1?", "2")]])
    monkeypatch.setattr(store.pq, "write_table", full)
    assert main(["clean", str(tmp_path / "raw"), "--out", str(tmp_path / "out"), "--workers", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("finereason: error: no space left on device writing ")
    assert str(tmp_path / "out" / "data" / "part-00000.parquet") in err[0]


def test_open_ended_samples_pass_without_an_answer() -> None:
    """An open-ended sample (image + question, no ground truth) is kept unchanged in its answer;
    a sample that lost its answer otherwise is still missing_answer."""
    open_ended = make_sample("Describe the food web.", None, answer_type="open")
    lost = make_sample("How many?", None)
    result = CleanStage()([open_ended, lost])
    [kept] = result.kept
    assert kept.answer is None and kept.answer_type == "open"
    assert [r.reason for r in result.rejected] == ["missing_answer"]
    assert result.stats["open_ended"] == 1

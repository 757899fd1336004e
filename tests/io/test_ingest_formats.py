"""Every input format: release as Parquet, HF folders, LLaVA, generic JSONL with --map,
multi-image samples, inline images; and auto-detection saying what it chose."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ingest_helpers import FIXTURE, arrow_stream, png, write_jsonl

IMAGE_STRUCT = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def _release_table(records: list[dict], paper_names: bool = False) -> pa.Table:
    """The fixture as the HF release ships it: images embedded as HF Image structs."""
    rows = []
    for r in records:
        row = dict(r)
        row["image"] = (
            {"bytes": (FIXTURE / r["image"]).read_bytes(), "path": Path(r["image"]).name} if r["image"] else None
        )
        if paper_names:
            row["qwen3vl_235b_instruct_caption"] = row.pop("caption")
            row["qwen3vl_4b_pass_rate"] = row.pop("pass_rate")
            row["original_question"] = row.pop("ori_question")
        rows.append(row)
    table = pa.Table.from_pylist(rows)
    return table.set_column(table.schema.get_field_index("image"), pa.field("image", IMAGE_STRUCT),
                            pa.array([r["image"] for r in rows], IMAGE_STRUCT))


@pytest.mark.parametrize("paper_names", [False, True])
def test_release_as_parquet_matches_the_jsonl(ingest_cli, release_records, tmp_path: Path, paper_names):
    path = tmp_path / "release" / "train-00000-of-00001.parquet"
    path.parent.mkdir()
    pq.write_table(_release_table(release_records, paper_names), path)
    from_parquet = ingest_cli(path.parent)  # auto
    assert "mmfinereason (Parquet" in from_parquet.stderr
    from_jsonl = ingest_cli(FIXTURE)
    a = {s.id: s for s in from_parquet.samples}
    b = {s.id: s for s in from_jsonl.samples}
    assert len(a) == 70 and a.keys() == b.keys()  # same ids: same source, release id, text and image bytes
    for sid, s in a.items():
        t = b[sid]
        assert (s.caption, s.response, s.pass_rate, s.verdict, s.domain) == (t.caption, t.response, t.pass_rate,
                                                                            t.verdict, t.domain)
        assert [im.bytes for im in s.images] == [im.bytes for im in t.images]
        assert s.meta_get("ori_question") == t.meta_get("ori_question")


def _qa_table(n: int = 20) -> tuple[pa.Table, list[bytes]]:
    images = [png((i * 10 % 256, 50, 100)) for i in range(n)]
    table = pa.table({
        "question": [f"<image>What colour is shape {i}?" for i in range(n)],
        "answer": [str(i) for i in range(n)],
        "image": pa.array([{"bytes": b, "path": None} for b in images], IMAGE_STRUCT),
        "difficulty": list(range(n)),
    })
    return table, images


def _save_to_disk(folder: Path, table: pa.Table) -> None:
    """The layout ``datasets.Dataset.save_to_disk`` writes, by hand."""
    folder.mkdir(parents=True)
    half = table.num_rows // 2
    arrow_stream(folder / "data-00000-of-00002.arrow", table.slice(0, half))
    arrow_stream(folder / "data-00001-of-00002.arrow", table.slice(half))
    (folder / "dataset_info.json").write_text(json.dumps({"features": {"image": {"_type": "Image"}}}))
    (folder / "state.json").write_text(json.dumps({
        "_data_files": [{"filename": "data-00000-of-00002.arrow"}, {"filename": "data-00001-of-00002.arrow"}],
        "_fingerprint": "x", "_split": "train",
    }))


@pytest.mark.parametrize("fmt", ["hf", "auto"])
def test_hf_save_to_disk_folder(ingest_cli, tmp_path: Path, fmt):
    table, images = _qa_table()
    _save_to_disk(tmp_path / "saved", table)
    run = ingest_cli(tmp_path / "saved", "--format", fmt, "--shard-size", "6")
    assert run.rc == 0, run.stderr
    assert "→ hf (Arrow; 2 files" in run.stderr
    samples = run.samples
    assert [s.answer for s in samples] == [str(i) for i in range(20)]  # file order from state.json
    assert [s.images[0].bytes for s in samples] == images
    assert all(s.images[0].width == 48 and s.images[0].phash for s in samples)
    assert samples[3].meta_get("difficulty") == 3 and samples[3].source == "saved"
    assert samples[0].meta_get("ref") == "data-00000-of-00002.arrow:0"


def test_hf_dataset_dict_and_parquet_export(ingest_cli, tmp_path: Path):
    table, _ = _qa_table(8)
    root = tmp_path / "dd"
    _save_to_disk(root / "train", table.slice(0, 5))
    _save_to_disk(root / "test", table.slice(5))
    (root / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}))
    assert [s.answer for s in ingest_cli(root, "--format", "hf").samples] == [str(i) for i in range(8)]
    export = tmp_path / "export"
    (export / "data").mkdir(parents=True)
    pq.write_table(table.slice(0, 4), export / "data" / "train-00000-of-00002.parquet")
    pq.write_table(table.slice(4), export / "data" / "train-00001-of-00002.parquet")
    run = ingest_cli(export)  # auto: a data/ folder of Parquet is an HF export
    assert "→ hf (Parquet; 2 files" in run.stderr
    assert [s.answer for s in run.samples] == [str(i) for i in range(8)]
    assert ingest_cli(export, "--format", "hf").rc == 0


def test_real_datasets_save_to_disk(ingest_cli, tmp_path: Path):
    datasets = pytest.importorskip("datasets")
    images = [png((i, 100, 200)) for i in range(3)]
    ds = datasets.Dataset.from_dict({
        "question": ["a?", "b?", "c?"], "answer": ["1", "2", "3"],
        "images": [[{"bytes": b, "path": None}] for b in images],
    }).cast_column("images", datasets.Sequence(datasets.Image()))
    ds.save_to_disk(str(tmp_path / "saved"))
    run = ingest_cli(tmp_path / "saved")
    assert [s.images[0].bytes for s in run.samples] == images


def _llava(tmp_path: Path) -> tuple[list[dict], dict[str, bytes]]:
    imgs = {"a.png": png((1, 2, 3)), "b.png": png((4, 5, 6)), "c.png": png((7, 8, 9))}
    for name, data in imgs.items():
        (tmp_path / "img" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "img" / name).write_bytes(data)
    conversations = [
        {"id": "conv-1", "image": "a.png", "conversations": [
            {"from": "human", "value": "<image>\nWhat is this?"}, {"from": "gpt", "value": "A square."},
            {"from": "human", "value": "What colour is it?"}, {"from": "gpt", "value": "Dark."}]},
        {"id": "conv-2", "image": ["b.png", "c.png"], "conversations": [
            {"from": "human", "value": "<image>\n<image>\nSame?"}, {"from": "gpt", "value": "No."}]},
        {"id": "conv-3", "conversations": [
            {"from": "system", "value": "Be brief."},
            {"from": "human", "value": "Text only?"}, {"from": "gpt", "value": "Yes."},
            {"from": "human", "value": "No answer follows"}]},
    ]
    return conversations, imgs


@pytest.mark.parametrize("layout", ["array", "jsonl"])
def test_llava_one_sample_per_pair(ingest_cli, tmp_path: Path, layout):
    conversations, imgs = _llava(tmp_path)
    if layout == "array":
        path = tmp_path / "llava.json"
        path.write_text(json.dumps(conversations, indent=1))
    else:
        path = write_jsonl(tmp_path / "llava.jsonl", conversations)
    run = ingest_cli(path, "--format", "llava", "--image-root", tmp_path / "img", "--source", "llava-test")
    assert run.rc == 0, run.stderr
    samples = run.samples
    assert [(s.meta_get("conversation_id"), s.meta_get("turn")) for s in samples] == [
        ("conv-1", 0), ("conv-1", 1), ("conv-2", 0), ("conv-3", 0)]
    assert samples[1].question == "What colour is it?" and samples[1].answer == "Dark."
    assert samples[0].images[0].bytes == samples[1].images[0].bytes == imgs["a.png"]  # image kept with each pair
    assert [im.bytes for im in samples[2].images] == [imgs["b.png"], imgs["c.png"]]
    assert samples[3].images == [] and all(s.source == "llava-test" for s in samples)
    assert len({s.id for s in samples}) == 4
    (rej,) = run.rejected
    assert rej["reject_reason"] == "missing_answer" and rej["reject_detail"].startswith("turn 1")
    ref = f"{path}[2]" if layout == "array" else f"{path}:3"
    assert rej["reject_ref"] == ref
    assert ingest_cli(path, "--image-root", tmp_path / "img").samples[0].question.startswith("<image>")  # auto


def test_llava_array_broken_tail_keeps_the_head(ingest_cli, tmp_path: Path):
    path = tmp_path / "llava.json"
    good = {"id": "1", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    path.write_bytes(json.dumps([good, good]).encode()[:-1] + b', {"id": "3", "conversations": [')
    run = ingest_cli(path, "--format", "llava")
    assert len(run.samples) == 2
    assert list(run.reasons().values()) == ["bad_json"]


def test_multi_image_kept_or_dropped(ingest_cli, tmp_path: Path):
    for name, color in (("x.png", (1, 1, 1)), ("y.png", (2, 2, 2))):
        (tmp_path / name).write_bytes(png(color))
    path = write_jsonl(tmp_path / "d.jsonl", [
        {"question": "two", "answer": "a", "images": ["x.png", "y.png"]},
        {"question": "one", "answer": "b", "images": ["x.png"]},
    ])
    kept = ingest_cli(path)
    assert [len(s.images) for s in kept.samples] == [2, 1]
    assert kept.manifest["stats"]["multi_image"] == 1
    dropped = ingest_cli(path, "--drop-multi-image")
    assert [s.question for s in dropped.samples] == ["one"]
    (rej,) = dropped.rejected
    assert rej["reject_reason"] == "multi_image" and len(rej["images"]) == 2 and rej["question"] == "two"


def test_map_renames_fields_and_keeps_the_rest_in_meta(ingest_cli, tmp_path: Path):
    data_uri = "data:image/png;base64," + base64.b64encode(png((3, 4, 5))).decode()
    path = write_jsonl(tmp_path / "qa.jsonl", [
        {"uid": 7, "prompt": "How many?", "solution": 3, "img": [data_uri], "level": "hard", "options": ["3", "4"]},
    ])
    run = ingest_cli(path, "--format", "jsonl", "--map", "prompt=question", "--map", "solution=answer",
                     "--map", "img=images", "--map", "uid=id")
    (s,) = run.samples
    assert (s.question, s.answer, s.options) == ("How many?", "3", ["3", "4"])
    assert s.images[0].bytes == png((3, 4, 5)) and s.images[0].path is None
    assert s.meta_get("level") == "hard" and s.meta_get("source_id") == 7
    unmapped = ingest_cli(path, "--format", "jsonl")
    assert unmapped.rc == 2 and "no 'question' field" in unmapped.stderr and "--map" in unmapped.stderr


def test_generic_parquet_with_bytes_and_ids_stable(ingest_cli, tmp_path: Path):
    table, images = _qa_table(5)
    table = table.set_column(2, "image", pa.array(images, pa.binary()))  # raw bytes column
    pq.write_table(table, tmp_path / "qa.parquet")
    first = ingest_cli(tmp_path / "qa.parquet", "--format", "parquet")
    assert "→ parquet (Parquet" in first.stderr
    assert [s.images[0].bytes for s in first.samples] == images
    assert first.samples[0].meta_get("ref") == "qa.parquet:0"
    # Ids do not depend on how the path is spelled or where the input lives.
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (tmp_path / "qa.parquet").rename(moved / "qa.parquet")
    again = ingest_cli(moved / "qa.parquet", "--format", "parquet")
    assert [s.id for s in again.samples] == [s.id for s in first.samples]


@pytest.mark.parametrize("fmt", ["hf", "auto"])
def test_release_saved_as_hf_folder(ingest_cli, release_records, tmp_path: Path, fmt):
    _save_to_disk(tmp_path / "release", _release_table(release_records[:12]))
    run = ingest_cli(tmp_path / "release", "--format", fmt)
    assert f"→ {'hf' if fmt == 'hf' else 'mmfinereason'} (Arrow" in run.stderr
    samples = run.samples
    assert [s.meta_get("source_id") for s in samples] == [r["id"] for r in release_records[:12]]
    assert all(s.verdict_by == "release" and s.caption and s.response for s in samples)

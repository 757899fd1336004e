"""Loaders read each benchmark's published format; bad input fails clearly, per file or per item."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from bench_fixtures import MATHVISTA, MMMU_ROWS, write_mathvista, write_mmmu, write_mmstar_parquet

from finereason.evaluate.benchmarks import available, get_benchmark
from finereason.evaluate.benchmarks.mmstar import TAXONOMY
from finereason.evaluate.items import BenchmarkError, ItemError
from finereason.pipeline.manifest import RunInfo, write_manifest


def test_registry_lists_every_benchmark_file():
    assert available() == ["canonical", "mathvista", "mmmu", "mmstar"]
    with pytest.raises(ValueError, match="unknown benchmark 'mmbench'.*mmstar"):
        get_benchmark("mmbench")


def test_mmstar_taxonomy_has_six_categories_of_three():
    assert len(TAXONOMY) == 6 and all(len(v) == 3 for v in TAXONOMY.values())
    assert len({s for v in TAXONOMY.values() for s in v}) == 18


def test_mmstar_parquet_and_tsv_read_the_same_items(bench_files):
    bench = get_benchmark("mmstar")
    hf, tsv = bench.load(bench_files["mmstar"]), bench.load(bench_files["mmstar_tsv"])
    assert [i.id for i in hf] == [i.id for i in tsv] == ["0", "1", "2", "3"]
    for a, b in zip(hf, tsv):
        assert a.options == b.options and a.answer == b.answer
        assert (a.category, a.subcategory) == (b.category, b.subcategory)
    assert hf[0].options == {"A": "red", "B": "green", "C": "blue", "D": "yellow"}
    assert hf[1].category == "fine-grained perception" and hf[1].subcategory == "object counting"
    # options written inside the question are not repeated; TSV options (columns) are appended
    assert bench.question_text(hf[0]).count("green") == 1
    assert bench.question_text(tsv[0]).endswith("A. red\nB. green\nC. blue\nD. yellow")
    assert hf[0].load_images()[0].startswith(b"\x89PNG")


def test_mmstar_broken_image_fails_only_its_item_naming_file_and_item(bench_files):
    items = get_benchmark("mmstar").load(bench_files["mmstar_tsv"])
    assert items[0].load_images()
    with pytest.raises(ItemError, match=r"item 2: image image in .*MMStar\.tsv does not decode"):
        items[2].load_images()


def test_mmstar_missing_columns_is_a_file_error(tmp_path):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"index": [0], "question": ["q"], "answer": ["A"]}), path)
    with pytest.raises(BenchmarkError, match=r"bad\.parquet: not the published MMStar format: missing column\(s\) "
                                             r"category, l2_category/l2-category, image"):
        get_benchmark("mmstar").load(path)


def test_mmstar_malformed_options_and_gold_are_item_errors(tmp_path):
    rows = [
        (0, "Which one?\nOptions: just pick", "A", "math", "geometry", "red"),
        (1, "Which one?\nOptions: A: x, B: y", "C", "math", "geometry", "red"),
        (2, "Which one?\nOptions: A: x, B: y", "B", "math", "geometry", "red"),
    ]
    items = get_benchmark("mmstar").load(write_mmstar_parquet(tmp_path / "m.parquet", rows))
    assert "item 0: options are malformed" in items[0].error and "m.parquet" in items[0].error
    assert "gold answer 'C' is not one of the options" in items[1].error
    assert items[2].error is None


def test_mathvista_json_with_image_files(bench_files):
    bench = get_benchmark("mathvista")
    items = {i.id: i for i in bench.load(bench_files["mathvista"])}
    assert list(items) == ["1", "2", "3", "4"]
    assert items["1"].options == {"A": "red", "B": "green", "C": "blue"} and items["1"].answer == "green"
    assert items["3"].precision == 1 and items["3"].unit == "cm" and items["3"].question_type == "open"
    assert items["2"].category == "visual question answering" and items["2"].subcategory == "synthetic scene"
    assert "(Unit: cm)" in bench.question_text(items["3"]) and "1 decimal place" in bench.question_text(items["3"])
    assert "integer" in bench.question_text(items["2"])
    assert bench.question_text(items["1"]).endswith("A. red\nB. green\nC. blue")
    assert items["2"].load_images()[0].startswith(b"\x89PNG")


def test_mathvista_missing_image_file_is_fine_until_the_image_is_needed(tmp_path):
    items = get_benchmark("mathvista").load(write_mathvista(tmp_path, images=False))
    assert all(i.error is None for i in items)
    with pytest.raises(ItemError, match=r"item 1: image .*images/1\.png cannot be read"):
        items[0].load_images()


def test_mathvista_bad_items_are_item_errors(tmp_path):
    problems = {
        "1": {**MATHVISTA["1"], "choices": "red, green"},
        "2": {k: v for k, v in MATHVISTA["2"].items() if k != "answer"},
        "3": {**MATHVISTA["1"], "answer": "purple"},
        "4": MATHVISTA["4"],
    }
    items = get_benchmark("mathvista").load(write_mathvista(tmp_path, problems))
    errors = {i.id: i.error for i in items}
    assert "item 1: choices are malformed" in errors["1"] and "testmini.json" in errors["1"]
    assert "item 2: missing field(s) answer" in errors["2"]
    assert "answer 'purple' is not one of the choices" in errors["3"]
    assert errors["4"] is None


def test_mathvista_not_json_is_a_file_error(tmp_path):
    (tmp_path / "testmini.json").write_text("{not json")
    with pytest.raises(BenchmarkError, match="testmini.json: not valid JSON"):
        get_benchmark("mathvista").load(tmp_path)


def test_mmmu_folder_of_subject_parquets(bench_files):
    bench = get_benchmark("mmmu")
    items = {i.id: i for i in bench.load(bench_files["mmmu"])}
    assert set(items) == {"validation_Math_1", "validation_Math_2", "validation_Art_Theory_1"}
    math1, math2, art = items["validation_Math_1"], items["validation_Math_2"], items["validation_Art_Theory_1"]
    assert math1.options == {"A": "4", "B": "8", "C": "16", "D": "32"} and math1.answer == "C"
    assert (math1.category, math1.subcategory) == ("Science", "Math")
    assert (art.category, art.subcategory) == ("Art and Design", "Art_Theory")
    assert math2.question_type == "open" and math2.options == {} and len(math2.images) == 2
    assert [r.name for r in math2.images] == ["image_1", "image_2"]
    assert "<image 1>" in bench.question_text(math1)


def test_mmmu_options_are_parsed_as_literals_only(tmp_path):
    rows = {"Math": [
        {**MMMU_ROWS["Math"][0], "id": "validation_Math_1", "options": "__import__('os').system('echo hi')"},
        {**MMMU_ROWS["Math"][0], "id": "validation_Math_2", "options": "['only one']"},
        {**MMMU_ROWS["Math"][0], "id": "validation_Math_3", "question": "See <image 2>.", "images": ["red"]},
        {**MMMU_ROWS["Math"][0], "id": "validation_Math_4"},
    ]}
    items = {i.id: i for i in get_benchmark("mmmu").load(write_mmmu(tmp_path, rows))}
    assert "options is not a list literal" in items["validation_Math_1"].error
    assert "validation-00000-of-00001.parquet" in items["validation_Math_1"].error
    assert "with 1 option(s)" in items["validation_Math_2"].error
    assert "<image 2> is referenced but image_2 is empty" in items["validation_Math_3"].error
    assert items["validation_Math_4"].error is None


def test_mmmu_missing_columns_is_a_file_error(tmp_path):
    pq.write_table(pa.table({"id": ["validation_Math_1"], "question": ["q"]}), tmp_path / "validation-0.parquet")
    with pytest.raises(BenchmarkError, match="missing column.*options, answer, question_type"):
        get_benchmark("mmmu").load(tmp_path)


def test_canonical_dataset_folder(tmp_path):
    from finereason.io.images import image_from_pil
    from finereason.io.store import Dataset, ShardCounts
    from finereason.schema import Sample
    from PIL import Image

    image = image_from_pil(Image.new("RGB", (8, 8), "red"))
    samples = [
        Sample(id="s1", source="synth", domain="math", question="What is 2+3?", answer="5", images=[image]),
        Sample(id="s2", source="synth", domain="math", question="Pick one", answer="B", options=["x", "y"]),
        Sample(id="s3", source="synth", domain="science", question="No answer here"),
    ]
    ds = Dataset(tmp_path)
    ds.write_shard(0, samples, [], ShardCounts(0, 3, 3, {}, 0.0, {}))
    write_manifest(ds, RunInfo("test", "1", {}, []), ds.done_counts(), 0.0)
    items = {i.id: i for i in get_benchmark("canonical").load(tmp_path)}
    assert items["s1"].question_type == "open" and items["s1"].images[0].load("s1") == image.bytes
    assert items["s2"].options == {"A": "x", "B": "y"} and items["s2"].is_choice
    assert "no reference answer" in items["s3"].error
    with pytest.raises(BenchmarkError, match="no such dataset directory"):
        get_benchmark("canonical").load(tmp_path / "nowhere")


def test_responses_file_shapes(tmp_path):
    from finereason.evaluate.responses import load_responses

    mv = tmp_path / "mv.json"
    mv.write_text(json.dumps({"1": {"response": "Answer: B", "answer": "gold!"}, "2": {"extraction": "4"}, "3": {}}))
    got = load_responses(mv, ("pid",))
    assert got.responses == {"1": "Answer: B", "2": "4"}
    assert len(got.problems) == 1 and "id 3" in got.problems[0]
    lines = tmp_path / "r.jsonl"
    lines.write_text(
        '{"doc_id": 0, "doc": {"index": 7}, "filtered_resps": ["B"], "resps": [["B."]]}\n'
        '{"pid": "9", "prediction": "C"}\n'
        "not json\n"
        '{"nothing": 1}\n'
    )
    got = load_responses(lines, ("index", "pid"))
    assert got.responses == {"7": "B", "9": "C"}
    assert len(got.problems) == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{broken")
    with pytest.raises(BenchmarkError, match="neither JSON nor JSONL"):
        load_responses(bad, ("id",))

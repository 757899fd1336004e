"""End to end: planted duplicates are found, near-misses are kept, and runs are deterministic."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from dedup_helpers import blank, image, kept_ids, rejections, sample, write_dataset

from finereason.dedup import DedupSettings, run_dedup
from finereason.io.images import phash_distance
from finereason.io.store import Dataset

GARDEN = ("A rectangular garden is surrounded by a path of uniform width. Using the measurements "
          "marked on the diagram, determine the total area covered by the path around the garden "
          "in square metres.")
FUNCTION = ("Let f be a function defined for all real numbers such that f(x) + 2f(1 - x) = 3x^2 "
            "holds for every real x. Find the value of f at the point shown and explain each step.")
TEMPLATE = "What is the value of x in the figure below? Give your answer as an integer."
TRIANGLE = ("In triangle ABC shown in the figure, AB = {a} cm, BC = {b} cm and angle B is a right "
            "angle. What is the length of AC in centimetres?")
RECIPE = ("The bar chart shows the number of books read by each student in the class last month. "
          "How many more books did the top reader read than the student who read the fewest?")

# A long shared preamble, as ScienceQA's "Lecture:" questions have (seen in the release sample).
LECTURE = ("Lecture: Every living thing needs food to stay alive. Living things get their food in "
           "different ways. A food chain shows how living things in an ecosystem get their food. "
           "Producers make their own food. Many producers use carbon dioxide, water, and sunlight to "
           "make sugar. This sugar is food for the producer. Consumers eat other living things. "
           "Consumers cannot make their own food. Question: ")
EATS, MAKES = "It eats another living thing.", "It makes its own food."


def planted() -> list[list]:
    img_a, img_b, img_g = image(1), image(2), image(3)
    shard0 = [
        sample("A", "What is the area of the shaded region?", [img_a]),
        sample("B", GARDEN, [img_b], answer="24"),
        sample("T", FUNCTION, [], answer="2"),
        sample("C1", TEMPLATE, [image(31)]),
        sample("D1", "How many circles are drawn in the figure?", [image(40)]),
        sample("E1", "What colour is the background of this image?", [blank("white")]),
        sample("L1", LECTURE + "In this food chain, the scorpion is a consumer. Why?", [image(70)],
               answer="B", options=[MAKES, EATS]),
    ]
    shard1 = [
        sample("B_near", GARDEN.replace("determine", "compute"), [image(2, "JPEG")], answer="24"),
        sample("C2", TEMPLATE, [image(32)]),
        sample("D2", "Which shape has the largest area in the figure?", [image(40)]),
        sample("E2", "What colour is the background of this image?", [blank("#f0f0f0")]),
        sample("F1", TRIANGLE.format(a=3, b=4), [image(50)], answer=None),
        sample("G1", RECIPE, [img_g], answer="12"),
        # one picture, one preamble, another question: the same letter picks another option
        sample("L2", LECTURE + "In this food chain, the Mojave yucca is a producer. Why?", [image(70)],
               answer="B", options=[EATS, MAKES]),
    ]
    shard2 = [
        sample("A_exact", "  what IS the area of the SHADED region?? <image>", [img_a]),
        sample("T_near", FUNCTION.replace("Find", "Determine"), [], answer="2"),
        sample("E3", "Is there anything drawn in this picture?", [blank("white")]),
        sample("F2", TRIANGLE.format(a=6, b=8), [image(50)], answer=None),
        sample("G2", RECIPE, [image(3, "JPEG")], answer="15"),
        sample("K", "An unrelated question about something else entirely.", [image(60)]),
        # L1 again with its options shuffled: a duplicate
        sample("L1_shuffled", LECTURE + "In this food chain, the scorpion is a consumer. Why?", [image(70)],
               answer="A", options=[EATS, MAKES]),
    ]
    return [shard0, shard1, shard2]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("src") / "in", planted())


@pytest.fixture(scope="module")
def deduped(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out") / "dedup"
    run_dedup(str(source), str(out), DedupSettings(), workers=1)
    return out


def test_planted_images_are_what_the_test_assumes() -> None:
    assert phash_distance(image(2).phash, image(2, "JPEG").phash) <= 2  # re-encode: near-identical
    assert phash_distance(image(31).phash, image(32).phash) > 10  # different drawings: far apart
    assert image(2).sha256 != image(2, "JPEG").sha256


def test_planted_duplicates_are_dropped_naming_their_twin(deduped: Path) -> None:
    rej = rejections(deduped)
    assert set(rej) == {"A_exact", "B_near", "T_near", "L1_shuffled"}
    reason, detail = rej["A_exact"]
    assert reason == "duplicate_exact" and detail == "twin=A"
    reason, detail = rej["B_near"]
    assert reason == "near_duplicate" and detail.startswith("twin=B ")
    m = re.search(r"text_jaccard~([\d.]+) phash_distance=(\d+)", detail)
    assert m and float(m.group(1)) >= 0.8 and int(m.group(2)) <= 4
    reason, detail = rej["T_near"]
    assert reason == "near_duplicate" and detail.startswith("twin=T ") and "no images" in detail
    assert rej["L1_shuffled"][0] == "near_duplicate" and rej["L1_shuffled"][1].startswith("twin=L1 ")


def test_near_misses_are_kept(deduped: Path) -> None:
    kept = kept_ids(deduped)
    # same template, other picture; two questions on one picture (short, or behind one long
    # preamble); blank pictures; other numbers on one picture; other answer on a re-encoded one
    for sid in ("C1", "C2", "D1", "D2", "E1", "E2", "E3", "F1", "F2", "G1", "G2", "K", "L1", "L2"):
        assert sid in kept
    assert kept[:3] == ["A", "B", "T"]  # input order preserved, first occurrences kept


def test_manifest_counts_each_kind(deduped: Path) -> None:
    m = Dataset(deduped).manifest()
    assert m["stage"] == "dedup" and m["records_in"] == 21 and m["records_out"] == 17
    assert m["rejected"] == {"duplicate_exact": 1, "near_duplicate": 3}
    assert m["stats"] == {"duplicate_exact": 1, "near_duplicate_text_image": 2, "near_duplicate_text_only": 1}
    assert m["settings"]["text_threshold"] == 0.8 and m["settings"]["against"] == []
    assert m["dedup"]["samples"] == 21
    assert m["dedup"]["signature_bytes"] / 21 <= 200


def test_same_input_same_result_with_more_workers(source: Path, deduped: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    run_dedup(str(source), str(out), DedupSettings(), workers=2)
    assert kept_ids(out) == kept_ids(deduped)
    assert rejections(out) == rejections(deduped)


def test_resume_redoes_only_a_missing_shard(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "resume"
    run_dedup(str(source), str(out), DedupSettings(), workers=1)
    before = kept_ids(out), rejections(out)
    plan = out / ".dedup" / "plan.json"
    planned_at = plan.stat().st_mtime_ns
    untouched = (out / "data" / "part-00000.parquet").stat().st_mtime_ns
    (out / ".done" / "part-00002.json").unlink()
    (out / "data" / "part-00002.parquet").unlink()
    run_dedup(str(source), str(out), DedupSettings(), workers=1)
    assert (kept_ids(out), rejections(out)) == before
    assert plan.stat().st_mtime_ns == planned_at  # the grouping was not redone
    assert (out / "data" / "part-00000.parquet").stat().st_mtime_ns == untouched
    assert json.loads((out / "manifest.json").read_text())["records_out"] == 17


def test_resume_after_a_kill_during_signatures(source: Path, tmp_path: Path) -> None:
    """Signature files already done are reused; the result is the same as an uninterrupted run."""
    out = tmp_path / "killed"
    run_dedup(str(source), str(out), DedupSettings(), workers=1)
    expected = kept_ids(out), rejections(out)
    # Simulate a kill after pass 1 finished one shard: only its signature files remain.
    import shutil

    shutil.rmtree(out)
    from finereason.dedup.signatures import SignShard
    from finereason.pipeline.engine import prepare_output
    from finereason.pipeline.manifest import RunInfo

    settings = DedupSettings()
    info = RunInfo("dedup", "1", {**settings.as_dict(), "against": []}, [str(source.resolve())],
                   upstream=Dataset(source).manifest())
    prepare_output(Dataset(out), info, overwrite=False)
    SignShard(settings, str(out / ".dedup" / "signatures"), None)((1, str(source / "data" / "part-00001.parquet")))
    run_dedup(str(source), str(out), settings, workers=1)
    assert (kept_ids(out), rejections(out)) == expected


def test_a_changed_input_is_not_resumed_with_a_stale_plan(tmp_path: Path) -> None:
    from finereason.io.store import DatasetError

    src = write_dataset(tmp_path / "in", planted())
    out = tmp_path / "out"
    run_dedup(str(src), str(out), DedupSettings(), workers=1)
    write_dataset(src, [[sample("new", "A sample added after the run.")], *planted()])
    (out / ".done" / "part-00000.json").unlink()
    with pytest.raises(DatasetError, match="input changed"):
        run_dedup(str(src), str(out), DedupSettings(), workers=1)


def test_other_settings_do_not_mix_into_a_run(source: Path, deduped: Path) -> None:
    from finereason.io.store import DatasetError

    with pytest.raises(DatasetError, match="settings"):
        run_dedup(str(source), str(deduped), DedupSettings(text_threshold=0.9), workers=1)


def test_no_near_drops_exact_duplicates_only(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "exact"
    run_dedup(str(source), str(out), DedupSettings(near=False), workers=1)
    assert rejections(out) == {"A_exact": ("duplicate_exact", "twin=A")}


def test_a_lower_threshold_or_wider_distance_finds_more(source: Path, tmp_path: Path) -> None:
    """The numbers and answer guards hold whatever the thresholds: F2 and G2 stay."""
    out = tmp_path / "loose"
    run_dedup(str(source), str(out), DedupSettings(text_threshold=0.5, phash_distance=8), workers=1)
    rej = rejections(out)
    assert {"A_exact", "B_near", "T_near", "L1_shuffled"} <= set(rej)
    assert not {"F2", "G2", "C2", "D2"} & set(rej)

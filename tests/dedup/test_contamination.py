"""Decontamination against benchmark folders: what is caught, what is not, and what is said."""

from __future__ import annotations

from pathlib import Path

import pytest
from dedup_helpers import blank, image, kept_ids, rejections, sample, write_dataset

from finereason.dedup import DedupSettings, run_dedup
from finereason.io.store import Dataset

COPIED = ("A ladder leans against a vertical wall so that its foot is some distance from the wall. "
          "Using the lengths marked in the figure, how high up the wall does the ladder reach?")
ANGLE = "In the figure, find the measure of angle ABC formed by the two tangent lines drawn from point P."
REWORDED = "Determine angle ABC, which the two tangent lines from point P make, as shown."
TEXT_ONLY = ("A train leaves the station at noon travelling at a constant speed and a second train "
             "leaves one hour later on a parallel track. When does the second train catch up?")
GENERIC = "What is the value of x in the figure below? Give your answer as an integer."


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bench") / "mathbench"
    return write_dataset(root, [[
        sample("bx", COPIED, [image(100)]),
        sample("by", ANGLE, [image(101)]),
        sample("bt", TEXT_ONLY, []),
        sample("bg", GENERIC, [image(102)]),
    ], [
        sample("bblank", "How many apples are in the basket shown in the picture?", [blank("white")]),
        sample("bshort", "What is 12 times 13?", []),
    ]])


@pytest.fixture(scope="module")
def result(bench: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("train")
    src = write_dataset(tmp / "train", [[
        sample("s_both", COPIED, [image(100, "JPEG")]),        # same question, same picture re-encoded
        sample("s_reworded", REWORDED, [image(101)]),           # same picture, other words
        sample("s_text", TEXT_ONLY, []),                        # copied text-only problem
        sample("s_text_pictured", TEXT_ONLY, [image(105)]),     # benchmark item has no picture
    ], [
        sample("s_generic", GENERIC, [image(103)]),             # generic phrase, another picture
        sample("s_otherq", "How many triangles can you count?", [image(101)]),  # same picture, other question
        sample("s_blank", "What is the total weight of the fruit on the scale?", [blank("white")]),
        sample("s_blank_near", "How many apples are in the basket?", [blank("#fdfdfd")]),
        sample("s_short", "what is 12 times 13", []),
        sample("s_clean", "A cyclist rides 12 km north and then 5 km east. How far is she from the start?",
               [image(106)]),
    ]])
    out = tmp / "out"
    run_dedup(str(src), str(out), DedupSettings(), against=[str(bench)], workers=1)
    return out


def _detail(detail: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in detail.split())


def test_contaminated_samples_are_caught_with_their_kind(result: Path, bench: Path) -> None:
    rej = rejections(result)
    assert set(rej) == {"s_both", "s_reworded", "s_text", "s_text_pictured", "s_short"}
    kinds = {sid: _detail(d)["kind"] for sid, (reason, d) in rej.items() if reason == "benchmark_overlap"}
    assert kinds == {"s_both": "both", "s_reworded": "image", "s_text": "text", "s_text_pictured": "text",
                     "s_short": "text"}
    both = _detail(rej["s_both"][1])
    assert both["benchmark"] == str(bench.resolve()) and both["item"] == "bx"
    assert float(both["ngram_overlap"]) == 1.0 and int(both["phash_distance"]) <= 4
    reworded = _detail(rej["s_reworded"][1])
    assert reworded["item"] == "by" and float(reworded["ngram_overlap"]) < 0.5
    assert float(reworded["word_overlap"]) >= 0.5 and reworded["phash_distance"] == "0"
    assert _detail(rej["s_text"][1])["phash_distance"] == "none"
    assert _detail(rej["s_short"][1])["item"] == "bshort"


def test_near_misses_are_not_caught(result: Path) -> None:
    kept = kept_ids(result)
    assert kept == ["s_generic", "s_otherq", "s_blank", "s_blank_near", "s_clean"]


def test_manifest_counts_each_kind(result: Path) -> None:
    m = Dataset(result).manifest()
    assert m["rejected"] == {"benchmark_overlap": 5}
    assert m["stats"] == {"benchmark_overlap_both": 1, "benchmark_overlap_image": 1, "benchmark_overlap_text": 3}
    assert m["dedup"]["benchmark_images"] == 4
    assert m["dedup"]["benchmark_images_indexed"] == 3  # the blank one is not indexed by pHash


def test_an_image_threshold_of_zero_catches_any_question_on_a_benchmark_picture(bench: Path, tmp_path: Path) -> None:
    src = write_dataset(tmp_path / "train", [[sample("s_otherq", "How many triangles can you count?", [image(101)])]])
    out = tmp_path / "out"
    run_dedup(str(src), str(out), DedupSettings(image_overlap_threshold=0.0), against=[str(bench)], workers=1)
    assert _detail(rejections(out)["s_otherq"][1])["kind"] == "image"


def test_a_byte_identical_blank_picture_with_the_same_question_is_caught(bench: Path, tmp_path: Path) -> None:
    src = write_dataset(tmp_path / "train", [[
        sample("copy", "How many apples are in the basket shown in the picture?", [blank("white")]),
        sample("other", "What is the total weight of the fruit on the scale?", [blank("white")]),
    ]])
    out = tmp_path / "out"
    run_dedup(str(src), str(out), DedupSettings(), against=[str(bench)], workers=1)
    assert set(rejections(out)) == {"copy"}


def test_duplicates_of_a_contaminated_sample_name_a_kept_twin(bench: Path, tmp_path: Path) -> None:
    """Contaminated samples leave first, so a duplicate's twin is always a sample that stays."""
    src = write_dataset(tmp_path / "train", [
        [sample("c1", COPIED, [image(100)]), sample("k1", "An unrelated question about prime numbers below fifty.")],
        [sample("c2", COPIED, [image(100)]), sample("k2", "an unrelated question about PRIME numbers below fifty")],
    ])
    out = tmp_path / "out"
    run_dedup(str(src), str(out), DedupSettings(), against=[str(bench)], workers=1)
    rej = rejections(out)
    assert rej["c1"][0] == rej["c2"][0] == "benchmark_overlap"
    assert rej["k2"] == ("duplicate_exact", "twin=k1")


HINT = ("Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, "
        "at the end. Question: ")


def test_boilerplate_and_template_pictures_shared_by_many_items_are_not_evidence(tmp_path: Path) -> None:
    """With --generic-df 3: MathVista-style hint boilerplate in every benchmark item, and a
    picture that three benchmark items show, no longer make a training sample contaminated;
    a copied question still does."""
    shared_picture = image(200)
    items = [sample(f"b{i}", HINT + q, [shared_picture if i < 3 else image(210 + i)])
             for i, q in enumerate([
                 "Which planet in the diagram is closest to the sun?",
                 "How many moons orbit the largest planet shown?",
                 "Which layer of the atmosphere is labelled X?",
                 "What is the perimeter of the hexagon drawn with side 7 cm?",
             ])]
    bench = write_dataset(tmp_path / "bench", [items])
    src = write_dataset(tmp_path / "train", [[
        sample("hint_only", HINT + "What fraction of the circle is shaded in the picture?", []),
        sample("template_pic", "Which planet in the diagram has the most moons?", [shared_picture]),
        sample("copy", HINT + "What is the perimeter of the hexagon drawn with side 7 cm?", [image(213, "JPEG")]),
    ]])
    out = tmp_path / "out"
    m = run_dedup(str(src), str(out), DedupSettings(generic_df=3), against=[str(bench)], workers=1)
    assert set(rejections(out)) == {"copy"}
    assert m["dedup"]["benchmark_images_common"] == 3
    # With the default (10) neither is a template among 4 items: the text-only sample is mostly
    # boilerplate 8-grams and counts as copied; the shared picture with {planet, moons} counts.
    out10 = tmp_path / "out10"
    run_dedup(str(src), str(out10), DedupSettings(), against=[str(bench)], workers=1)
    assert set(rejections(out10)) == {"hint_only", "template_pic", "copy"}

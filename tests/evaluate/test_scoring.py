"""Scoring end to end with recorded responses (no model): hand-checked verdicts, counts, files, stats."""

from __future__ import annotations

import asyncio
import json

import pytest
from bench_fixtures import write_mathvista

from finereason.cli import main
from finereason.evaluate.runner import EvalConfig, run_eval
from finereason.evaluate.stats import Outcome, accuracy_table, paired_drop
from finereason.pipeline.manifest import RunInfo, write_manifest


def approx(value: float):
    return pytest.approx(value, abs=1e-6)  # summaries round to 6 decimals


def _score(tmp_path, benchmark, data, responses, name="out", **kw):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(responses))
    out = tmp_path / name
    summary = asyncio.run(run_eval(EvalConfig(benchmark=benchmark, data=data, out=out, responses=path, **kw)))
    lines = {line["id"]: line for line in map(json.loads, (out / "items.jsonl").read_text().splitlines())}
    return summary, lines, out


def test_mmstar_letter_match_counts_macro_and_files(tmp_path, bench_files):
    summary, lines, out = _score(tmp_path, "mmstar", bench_files["mmstar_tsv"], {
        "0": "Answer: A",
        "1": "The answer is (C) because A is wrong",
        "2": "I don't know.",  # its image is broken: irrelevant when scoring recorded text
    })
    assert {k: lines[k]["verdict"] for k in lines} == {"0": "correct", "1": "incorrect", "2": "unparsed", "3": "error"}
    assert lines["1"]["parsed"] == "C" and lines["0"]["parse_method"] == "answer_line"
    assert lines["3"]["error"].startswith("no_response")
    assert summary["counts"] == {"correct": 1, "incorrect": 1, "unparsed": 1, "error": 1}
    assert summary["accuracy"] == approx(1 / 3) and summary["unparsed_rate"] == approx(1 / 3)
    assert summary["errors"] == {"no_response": 1} and summary["error_rate"] == 0.25
    # macro over the subcategories that have scored items: (1 + 0 + 0) / 3
    assert summary["macro_over"] == "subcategory" and summary["macro_accuracy"] == approx(1 / 3)
    cats = {row["name"]: row for row in summary["categories"]}
    assert list(cats) == ["coarse perception", "fine-grained perception", "math"]  # the benchmark's order
    assert cats["coarse perception"]["accuracy"] == 1.0 and cats["fine-grained perception"]["accuracy"] == 0.0
    assert cats["math"]["accuracy"] is None and cats["math"]["error"] == 1
    assert len(summary["subcategories"]) == 4 and summary["mode"] == "responses"
    lo, hi = summary["accuracy_ci"]
    assert 0 <= lo <= summary["accuracy"] <= hi <= 1
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "coarse perception" in html and "<script" not in html


def test_mathvista_answer_types_and_precision(tmp_path):
    data = write_mathvista(tmp_path / "mv", images=False).parent  # images are not needed to score
    summary, lines, _ = _score(tmp_path, "mathvista", data, {
        "1": {"response": "Answer: (A) red"},
        "2": {"response": "Answer: 5"},
        "3": {"response": "<think>it is 1.3</think> AB is about 1.24 cm.\nAnswer: 1.24 cm"},
        "4": {"response": "Answer: [2, 3]"},
    })
    assert {k: (v["verdict"], v["parsed"]) for k, v in lines.items()} == {
        "1": ("incorrect", "red"), "2": ("incorrect", "5"), "3": ("correct", "1.2"), "4": ("correct", "[2, 3]")}
    _, lines, _ = _score(tmp_path, "mathvista", data, {
        "1": "green", "2": "There are 4 objects.", "3": "Answer: 1.26", "4": "Answer: 2 and 3"}, name="again")
    assert {k: v["verdict"] for k, v in lines.items()} == {
        "1": "correct",  # the exact text of a choice
        "2": "correct",  # a number stated in a sentence is the answer (MathVista's extractor reads it so)
        "3": "incorrect",  # 1.26 rounds to 1.3 at precision 1
        "4": "correct",
    }


def test_mmmu_own_rules_with_cascade(tmp_path, bench_files):
    summary, lines, _ = _score(tmp_path, "mmmu", bench_files["mmmu"], {
        "validation_Math_1": "Both A and C could be right.",  # MMMU's scan: the last one mentioned
        "validation_Math_2": "Adding 3 and 4 sides gives 7.",  # open: a candidate number equals the gold
        "validation_Art_Theory_1": "",
    })
    assert lines["validation_Math_1"]["verdict"] == "correct" and lines["validation_Math_1"]["parse_method"] == "scan"
    assert lines["validation_Math_2"]["verdict"] == "correct" and lines["validation_Math_2"]["verdict_by"] == "mmmu_open"
    assert lines["validation_Art_Theory_1"]["verdict"] == "unparsed"
    assert {r["name"]: r["accuracy"] for r in summary["categories"]} == {"Art and Design": 0.0, "Science": 1.0}
    _, lines, _ = _score(tmp_path, "mmmu", bench_files["mmmu"], {
        "validation_Math_2": "The answer is \\frac{14}{2}",  # MMMU's rule misses it; math-verify does not
    }, name="cascade")
    assert lines["validation_Math_2"]["verdict"] == "correct"
    assert lines["validation_Math_2"]["verdict_by"] in ("numeric", "math_verify")


def test_canonical_set_uses_the_verification_cascade(tmp_path):
    from finereason.io.store import Dataset, ShardCounts
    from finereason.schema import Sample

    samples = [
        Sample(id="s1", source="synth", domain="math", question="What is 1/2 + 1/2?", answer="1"),
        Sample(id="s2", source="synth", domain="math", question="Pick one", answer="B", options=["cat", "dog"]),
        Sample(id="s3", source="synth", domain="logic", question="Which?", answer="A", options=["p", "q"]),
    ]
    ds = Dataset(tmp_path / "ds")
    ds.write_shard(0, samples, [], ShardCounts(0, 3, 3, {}, 0.0, {}))
    write_manifest(ds, RunInfo("test", "1", {}, []), ds.done_counts(), 0.0)
    _, lines, _ = _score(tmp_path, "canonical", tmp_path / "ds",
                         {"s1": "Answer: 1.0", "s2": "Answer: dog", "s3": "hmm"})
    assert {k: v["verdict"] for k, v in lines.items()} == {"s1": "correct", "s2": "correct", "s3": "unparsed"}
    assert lines["s2"]["parsed"] == "B"  # the option text was read as its letter


def test_rescoring_our_own_items_jsonl_and_seeded_intervals(tmp_path, bench_files):
    first, lines, out = _score(tmp_path, "mmstar", bench_files["mmstar"],
                               {"0": "A", "1": "B", "2": "Answer: D", "3": "B"}, n_boot=500, seed=3)
    again = asyncio.run(run_eval(EvalConfig(benchmark="mmstar", data=bench_files["mmstar"], out=tmp_path / "re",
                                            responses=out / "items.jsonl", n_boot=500, seed=3)))
    assert again["counts"] == first["counts"] == {"correct": 3, "incorrect": 1, "unparsed": 0, "error": 0}
    assert again["accuracy_ci"] == first["accuracy_ci"] and again["macro_ci"] == first["macro_ci"]


def test_cli_scores_responses_and_reports_bad_input(tmp_path, bench_files, capsys):
    responses = tmp_path / "r.json"
    responses.write_text(json.dumps({"0": "Answer: A", "42": "Answer: B"}))
    code = main(["eval", "--benchmark", "mmstar", "--data", str(bench_files["mmstar"]), "--out",
                 str(tmp_path / "o"), "--responses", str(responses), "--limit", "2"])
    assert code == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["n"] == 2 and summary["responses"]["unknown_ids"] == ["42"]
    assert "accuracy 100.0%" in capsys.readouterr().out
    code = main(["eval", "--benchmark", "mmmu", "--data", str(bench_files["mmstar"]), "--out", str(tmp_path / "x"),
                 "--responses", str(responses)])
    assert code == 2 and "not the published MMMU format" in capsys.readouterr().err
    code = main(["eval", "--benchmark", "mmstar", "--data", str(bench_files["mmstar"]), "--out", str(tmp_path / "y"),
                 "--mode", "decoupled", "--reasoning", "builtin:smollm2"])
    assert code == 2 and "needs --perception" in capsys.readouterr().err
    code = main(["eval", "--benchmark", "mmstar", "--data", str(bench_files["mmstar"]), "--out", str(tmp_path / "y"),
                 "--model", "hf:x", "--decoding", "answer.depth=3"])
    assert code == 2 and "MODULE.KEY=VALUE" in capsys.readouterr().err


def test_accuracy_table_definitions():
    outcomes = [Outcome(str(i), "c1" if i < 4 else "c2", f"s{i % 2}", v) for i, v in enumerate(
        ["correct", "correct", "incorrect", "unparsed", "correct", "error"])]
    table = accuracy_table(outcomes, macro_over="category", seed=0, n_boot=200)
    assert table["accuracy"] == approx(3 / 5)  # errors are not scored
    assert table["unparsed_rate"] == approx(1 / 5) and table["error_rate"] == approx(1 / 6)
    assert table["macro_accuracy"] == approx((2 / 4 + 1 / 1) / 2)
    assert [r["name"] for r in table["categories"]] == ["c1", "c2"]
    same = accuracy_table(outcomes, macro_over="category", seed=0, n_boot=200)
    assert same["accuracy_ci"] == table["accuracy_ci"]  # seeded


def test_paired_drop_is_on_shared_items():
    rng = __import__("numpy").random.default_rng(0)
    base = {"a": True, "b": True, "c": False, "d": True}
    other = {"a": False, "b": True, "c": False, "e": True}
    drop = paired_drop(base, other, rng=rng, n_boot=300)
    assert drop["n"] == 3 and drop["drop"] == approx(1 / 3)
    lo, hi = drop["ci"]
    assert lo <= drop["drop"] <= hi
    assert paired_drop({}, other, rng=rng, n_boot=10) == {"n": 0, "drop": None, "ci": None}


@pytest.mark.slow
def test_mathvista_extractor_reads_only_unparsed_replies_and_is_journaled(tmp_path, smollm2):
    """--extractor with the real SmolLM2: only the reply the rules cannot read is sent, with MathVista's
    prompt; its extraction is scored by the same rule; a rerun is answered by the journal."""
    data = write_mathvista(tmp_path / "mv", images=False).parent
    responses = {"1": "Answer: (A) red", "2": "The model has 4 dots divided into 2 equal groups, with 2 dots each.",
                 "3": "Answer: 1.24", "4": "Answer: [2, 3]"}
    summary, lines, out = _score(tmp_path, "mathvista", data, responses, extractor=smollm2)
    assert summary["extractor"]["sent"] == 1 and summary["extractor"]["prompt"].startswith("mathvista_extract")
    assert "extraction" in lines["2"] and all("extraction" not in lines[k] for k in ("1", "3", "4"))
    assert lines["1"]["parse_method"] == "answer_line"  # decided by rules, untouched
    assert (out / "journal.sqlite").exists()
    again, lines_again, _ = _score(tmp_path, "mathvista", data, responses, name="out", extractor=smollm2)
    assert lines_again["2"]["extraction"] == lines["2"]["extraction"]
    assert again["extractor"]["sent"] == 1

"""``eval --protocol official``: the deterministic steps of MathVista's own scorer, one test per rule.

Every case is a real reply (or, for the extractor, the real GPT-4 extraction) from the MathVista
development set (../shared/fixtures/mathvista-dev), quoted with its model and pid; the items'
choices, answers and precisions are testmini's. The expected outcome is what the official code
(lupantech/MathVista evaluation/extract_answer.py, calculate_score.py) computes from that reply,
which is not always the fixture's recorded verdict: where they differ the test says why.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from bench_fixtures import MATHVISTA, write_mathvista

from finereason.cli import main
from finereason.evaluate import commands
from finereason.evaluate.benchmarks import get_benchmark
from finereason.evaluate.benchmarks.mathvista import MathVista
from finereason.evaluate.benchmarks.mathvista_official import most_similar, normalize, rule_extraction
from finereason.evaluate.config import PROTOCOLS
from finereason.evaluate.items import EvalItem, option_letters
from finereason.evaluate.runner import EvalConfig, run_eval

STRICT, OFFICIAL = MathVista(), MathVista(protocol="official")


def choice_item(pid: str, choices: list[str], answer: str) -> EvalItem:
    return EvalItem(id=pid, question="", answer=answer, options=dict(zip(option_letters(len(choices)), choices)))


def free_item(pid: str, answer: str, answer_type: str, precision: int | None = None) -> EvalItem:
    return EvalItem(id=pid, question="", answer=answer, question_type="open", answer_type=answer_type,
                    precision=precision)


# ---------------------------------------------------------------------------------- empty reply
def test_empty_reply_is_extracted_as_empty_and_snaps_to_the_shortest_choice():
    # instruct_blip2_vicuna_13b 82 and 140 replied "". extract_answer returns "" for an empty
    # response; "" is no letter, so get_most_similar picks the shortest choice, the first on a tie
    # ('3' before '6'). (The fixture's verdicts for this model came from GPT-4 reading the empty
    # reply, "B" for both: the current code no longer asks it, and this protocol follows the code.)
    pid82 = choice_item("82", ["3", "3 \\sqrt 2", "6", "6 \\sqrt 2"], "6")
    pid140 = choice_item("140", ["soup", "water", "sandwich", "buns"], "soup")
    assert STRICT.score(pid82, "").verdict == "unparsed"
    s82, s140 = OFFICIAL.score(pid82, ""), OFFICIAL.score(pid140, "")
    assert (s82.verdict, s82.pred, s82.method) == ("incorrect", "3", "official_empty")
    assert (s140.verdict, s140.pred, s140.method) == ("correct", "soup", "official_empty")


def test_empty_reply_to_a_free_form_question_is_incorrect():
    # instruct_blip2_vicuna_13b 19 (integer), 93 (float), 506 (list) replied "": int(float("")) and
    # float("") fail, so the prediction is None; a list's str("") is not the answer.
    for item in (free_item("19", "400", "integer"), free_item("93", "197.3", "float", 1),
                 free_item("506", "[2014, 2016]", "list")):
        score = OFFICIAL.score(item, "")
        assert (score.verdict, score.method) == ("incorrect", "official_empty"), item.id
    assert OFFICIAL.score(free_item("19", "400", "integer"), "").pred is None


def test_whitespace_is_not_an_empty_reply():
    # The official check is response == "": a blank reply goes to GPT-4, whose reading is not guessed.
    assert rule_extraction(" \n", choice_item("82", ["3", "6"], "6")) is None
    assert OFFICIAL.score(choice_item("82", ["3", "3 \\sqrt 2", "6", "6 \\sqrt 2"], "6"), " \n").verdict == "unparsed"


# ---------------------------------------------------------------------------------- rule extraction paths
def test_bare_numbers_are_read_by_the_official_int_and_float_paths():
    # instruct_blip2_vicuna_13b 67 "16" (integer, gold 16); 84 "90" (float, precision 1, gold 130.9):
    # str(float("90")) = "90.0"; 74 "0.1" (float, gold 47.6).
    assert rule_extraction("16", free_item("67", "16", "integer")) == "16"
    assert rule_extraction("90", free_item("84", "130.9", "float", 1)) == "90.0"
    for item, reply, verdict, pred in ((free_item("67", "16", "integer"), "16", "correct", "16"),
                                       (free_item("84", "130.9", "float", 1), "90", "incorrect", "90.0"),
                                       (free_item("74", "47.6", "float", 1), "0.1", "incorrect", "0.1")):
        score = OFFICIAL.score(item, reply)
        assert (score.verdict, score.pred, score.method) == (verdict, pred, "official_exact")
    # instruct_blip2_vicuna_13b 245 "13.00" for an integer: int("13.00") fails, so the official path is
    # GPT-4's; our rules read 13.00 and the normalisation makes it "13" (gold 24).
    assert rule_extraction("13.00", free_item("245", "24", "integer")) is None
    assert OFFICIAL.score(free_item("245", "24", "integer"), "13.00").pred == "13"


def test_a_reply_that_is_exactly_a_choice_is_its_own_extraction():
    # No dev reply is exactly a choice; the text is the GPT-4 extraction for chatgpt 117's item
    # ("[0, 2]" is its first choice), used as a reply to show the path.
    item = choice_item("117", ["[0, 2]", "[3, 2]", "[2, 4]", "[-3, 4]"], "[0, 2]")
    assert rule_extraction("[0, 2]", item) == "[0, 2]"
    assert rule_extraction("[0, 2] ", item) is None  # the official test is exact membership
    score = OFFICIAL.score(item, "[0, 2]")
    assert (score.verdict, score.method) == ("correct", "official_exact")


# ---------------------------------------------------------------------------------- normalisation
def test_integers_are_truncated_as_int_of_float():
    # instruct_blip2_vicuna_13b 175 replied "0.75" to an integer question (gold 24): str(int(float)) → "0".
    item = free_item("175", "24", "integer")
    assert normalize("0.75", item).prediction == "0"
    assert OFFICIAL.score(item, "0.75").pred == "0"


def test_floats_are_rounded_to_the_item_precision_as_str_of_round():
    # chatgpt 268 concludes "$3.25" (float, precision 1, gold 10.4): str(round(3.25, 1)) = "3.2".
    item = free_item("268", "10.4", "float", 1)
    reply = ("1.3 kg * $2.5/kg = $3.25\n\nTherefore, Colton will spend $3.25 on English muffins.")
    assert normalize("3.25", item).prediction == "3.2"
    score = OFFICIAL.score(item, reply)
    assert (score.verdict, score.pred, score.method) == ("incorrect", "3.2", "conclusion")
    assert normalize("3.25", free_item("268", "10.4", "float", None)).prediction is None  # int(None) fails


def test_a_bracketed_letter_becomes_its_choice():
    # instruct_blip2_vicuna_13b 176: GPT-4's extraction was "(B)" → "B" → the second choice "1" (gold 2).
    item = choice_item("176", ["0.5", "1", "1.5", "2"], "2")
    assert normalize("(B)", item).prediction == "1" and not normalize("(B)", item).snapped
    assert normalize("(b) 1", item).prediction == "1"  # the official rule upper-cases the letter


def test_most_similar_is_levenshtein_with_the_first_choice_on_a_tie():
    # chatgpt 181 "(D) None of the above" for choices A, B, C: "D" is one edit from each → "A" (gold C).
    assert most_similar("D", ["A", "B", "C"]) == ("A", 1)
    # llama_adapter_v2 674 "The perimeter of polygon ABCDE is 10." for 4…8: "10" is two edits from each → "4".
    assert most_similar("10", ["4", "5", "6", "7", "8"]) == ("4", 2)
    assert most_similar("kitten", ["sitting", "mitten"]) == ("mitten", 1)


# ---------------------------------------------------------------------------------- the snap of our readings
def test_a_cued_letter_that_is_no_option_is_snapped():
    # chatgpt 181: strict reading abstains (a letter that is no option); the official extraction was
    # "D" too, snapped to "A": both say incorrect.
    item = choice_item("181", ["A", "B", "C"], "C")
    assert STRICT.score(item, "(D) None of the above").verdict == "unparsed"
    score = OFFICIAL.score(item, "(D) None of the above")
    assert (score.verdict, score.pred, score.method) == ("incorrect", "A", "official_snap")
    assert "'D'" in score.detail and "edit distance 1" in score.detail


def test_a_stated_number_that_is_no_option_is_snapped():
    # llama_adapter_v2 674 (official extraction "10", snapped to "4", gold "5").
    item = choice_item("674", ["4", "5", "6", "7", "8"], "5")
    score = OFFICIAL.score(item, "The perimeter of polygon ABCDE is 10.")
    assert (score.verdict, score.pred, score.method) == ("incorrect", "4", "official_snap")


def test_an_answer_text_that_names_no_option_is_snapped():
    # chatgpt 117: "… the correct answer is not provided." GPT-4 extracted "Not provided", snapped to
    # "[0, 2]", officially correct; our answer text "not provided" snaps there too.
    item = choice_item("117", ["[0, 2]", "[3, 2]", "[2, 4]", "[-3, 4]"], "[0, 2]")
    reply = ("Since the question does not provide the function, it is impossible to determine the range. "
             "Therefore, the correct answer is not provided.")
    assert STRICT.score(item, reply).verdict == "unparsed"
    score = OFFICIAL.score(item, reply)
    assert (score.verdict, score.pred, score.method) == ("correct", "[0, 2]", "official_snap")


def test_an_echo_of_the_choices_stays_unparsed():
    # instruct_blip2_vicuna_13b 24 "(C) yes\n(D) no": GPT-4 extracted "B" (officially correct) from a reply
    # that names two letters; no rule reads one, and an unknown extraction is not snapped.
    item = choice_item("24", ["yes", "no"], "no")
    assert OFFICIAL.score(item, "(C) yes\n(D) no").verdict == "unparsed"


def test_a_reply_our_rules_cannot_read_stays_unparsed():
    # chatgpt 108 (float): a refusal; GPT-4 extracted "N/A" (None → incorrect), which is not guessed here.
    reply = ("To find the average of the bottom two countries, we need the values of the countries. Since the "
             "values are not provided, it is not possible to calculate the average.")
    assert OFFICIAL.score(free_item("108", "51.04", "float", 2), reply).verdict == "unparsed"


def test_readings_of_the_rules_keep_their_verdict_and_method():
    # llama_adapter_v2 19 "The highest amount this class measures is 400 ml." (integer, gold 400)
    item = free_item("19", "400", "integer")
    strict, lenient = STRICT.score(item, "The highest amount this class measures is 400 ml."), \
        OFFICIAL.score(item, "The highest amount this class measures is 400 ml.")
    assert strict.verdict == lenient.verdict == "correct" and strict.method == lenient.method == "stated"


# ---------------------------------------------------------------------------------- the extractor's text
def test_the_extractors_text_is_normalised_as_the_official_extraction():
    # The real GPT-4 extractions of instruct_blip2_vicuna_13b 176 ("(B)") and chatgpt 108 ("N/A"), as an
    # --extractor would return them: the official normalisation decides, a non-number is None → incorrect.
    mc, num = choice_item("176", ["0.5", "1", "1.5", "2"], "2"), free_item("108", "51.04", "float", 2)
    letter, none = OFFICIAL.score_extractions([mc, num], ["(B)", "N/A"])
    assert (letter.verdict, letter.pred, letter.method) == ("incorrect", "1", "extractor")
    assert (none.verdict, none.pred, none.method) == ("incorrect", None, "extractor")
    # chatgpt 59's GPT-4 extraction "None of the above (90°)" names no choice: snapped (gold 64°)
    snapped = OFFICIAL.score_extractions([choice_item("59", ["26°", "74°", "64°", "54°"], "64°")],
                                         ["None of the above (90°)"])[0]
    assert snapped.method == "official_snap" and snapped.pred in ("26°", "74°", "64°", "54°")
    # strict: the same texts are read like replies; nothing is snapped
    assert [s.verdict for s in STRICT.score_extractions([mc, num], ["(B)", "N/A"])] == ["incorrect", "unparsed"]


# ---------------------------------------------------------------------------------- the run and the CLI
def test_official_run_keeps_both_accuracies_and_marks_lenient_verdicts(tmp_path):
    problems = {**MATHVISTA, **{pid: {**MATHVISTA["1"], "choices": choices, "answer": answer} for pid, choices, answer in (
        ("674", ["4", "5", "6", "7", "8"], "5"), ("117", ["[0, 2]", "[3, 2]", "[2, 4]", "[-3, 4]"], "[0, 2]"))}}
    data = write_mathvista(tmp_path / "mv", problems, images=False).parent
    responses = {"1": "", "2": "There are 4 objects.", "3": "Answer: 1.24", "4": "",
                 "674": "The perimeter of polygon ABCDE is 10.",  # llama_adapter_v2 674
                 "117": "Therefore, the correct answer is not provided."}  # chatgpt 117's answer sentence
    path = tmp_path / "responses.json"
    path.write_text(json.dumps(responses))

    def run(protocol: str):
        out = tmp_path / protocol
        summary = asyncio.run(run_eval(EvalConfig(benchmark="mathvista", data=data, out=out, responses=path,
                                                  protocol=protocol)))
        lines = {line["id"]: line for line in map(json.loads, (out / "items.jsonl").read_text().splitlines())}
        return summary, lines

    strict, strict_lines = run("strict")
    assert strict["protocol"] == "strict" and "official_protocol" not in strict
    assert strict["counts"] == {"correct": 2, "incorrect": 0, "unparsed": 4, "error": 0}
    assert "strict_verdict" not in strict_lines["1"]
    summary, lines = run("official")
    assert summary["protocol"] == "official"
    # "" → "red" (the shortest choice; gold green) and a list's "" → incorrect; "10" → "4" (gold 5);
    # "not provided" → "[0, 2]" (gold): 3 of 6 correct, 2 of them by the reply, 1 by the snap.
    assert summary["strict"] == {"accuracy": 0.333333, "correct": 2, "unparsed": 4, "snapped": 0,
                                 "snapped_correct": 0, "empty": 0, "empty_correct": 0}
    assert summary["official_protocol"] == {"accuracy": 0.5, "correct": 3, "unparsed": 0, "snapped": 2,
                                            "snapped_correct": 1, "empty": 2, "empty_correct": 0}
    assert summary["accuracy"] == 0.5
    assert {k: v["parse_method"] for k, v in lines.items() if v["parse_method"].startswith("official")} == {
        "1": "official_empty", "4": "official_empty", "674": "official_snap", "117": "official_snap"}
    assert lines["1"]["parsed"] == "red" and lines["1"]["strict_verdict"] == "unparsed"
    assert lines["3"]["parse_method"] == strict_lines["3"]["parse_method"]  # read from the reply: unchanged


def test_cli_protocol_flag(tmp_path, bench_files, capsys):
    assert commands._PROTOCOLS == PROTOCOLS
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    assert "--protocol {strict,official}" in capsys.readouterr().out
    responses = tmp_path / "r.json"
    responses.write_text(json.dumps({"0": "Answer: A"}))
    code = main(["eval", "--benchmark", "mmstar", "--data", str(bench_files["mmstar_tsv"]), "--out",
                 str(tmp_path / "o"), "--responses", str(responses), "--protocol", "official"])
    assert code == 2 and "mmstar offers only strict" in capsys.readouterr().err
    with pytest.raises(ValueError, match="strict"):
        get_benchmark("mathvista").with_protocol("lenient")

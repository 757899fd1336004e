"""Field mapping rules that the end-to-end tests do not pin down one by one."""

from __future__ import annotations

import math

import pytest

from finereason.io.readers import fields as F
from finereason.io.readers import generic, llava
from finereason.io.readers.base import RecordError
from finereason.io.readers.mmfinereason import subset_domain


@pytest.mark.parametrize(
    ("subset", "domain"),
    [
        ("MMR1", "math"), ("Euclid30K", "math"), ("WeMath2-Standard", "math"), ("WeMath2-Pro", "math"),
        ("Geo170K(qa)", "math"), ("MMK12", "math"), ("GameQA-140K", "puzzle"), ("FineVision-raven", "puzzle"),
        ("VisualSphinx", "puzzle"), ("FineVision-scienceqa", "science"), ("Zebra-CoT-Physics", "science"),
        ("BMMR", "science"), ("LLaVA-CoT", "general"), ("something-new", None),
    ],
)
def test_subset_domain(subset, domain):
    assert subset_domain(subset) == domain


def test_field_types():
    assert F.answer({"answer": 42}) == "42" and F.answer({"answer": 4.4}) == "4.4"
    with pytest.raises(RecordError, match="answer: expected a string, got boolean"):
        F.answer({"answer": True})
    with pytest.raises(RecordError, match="missing_answer"):
        F.answer({"answer": "  "})
    assert F.opt_rate({"p": 0.75}, "p") == 0.75 and F.opt_rate({}, "p") is None
    for bad in (1.5, math.nan, "0.5", True):
        with pytest.raises(RecordError) as e:
            F.opt_rate({"p": bad}, "p")
        assert e.value.reason == "bad_field" and e.value.detail.startswith("p: expected a number in [0, 1]")
    with pytest.raises(RecordError, match="verdict: expected one of"):
        F.opt_verdict({"verdict": "maybe"})
    assert F.record_id({"id": 7}) == "7"
    with pytest.raises(RecordError, match="id: expected a string or an integer, got object"):
        F.record_id({"id": {"a": 1}})
    assert F.meta_json(b"\x00\x01") == '{"base64": "AAE="}'


def test_generic_keeps_unknown_fields_and_source_id():
    (d,) = generic.map_record({"id": 3, "question": "q", "answer": "a", "grade": 5, "meta": {"k": "v"}}, "f:1", "src")
    assert d.key == "3" and d.source == "src" and d.meta == {"source_id": 3, "k": "v", "grade": 5}


def test_llava_pairs_and_roles():
    record = {"id": "c", "conversations": [
        {"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"},
        {"from": "gpt", "value": "stray answer"},
        {"from": "human", "value": "q2"}, {"from": "gpt", "value": "a2"}]}
    out = llava.map_record(record, "f:1", "src")
    assert [(o.question, o.answer) if not isinstance(o, RecordError) else o.reason for o in out] == [
        ("q1", "a1"), "missing_question", ("q2", "a2")]
    with pytest.raises(RecordError, match="conversations: expected a list of turns, got string"):
        llava.map_record({"conversations": "hi"}, "f:1", "src")
    with pytest.raises(RecordError, match="expected human or gpt, got 'robot'"):
        llava.map_record({"conversations": [{"from": "robot", "value": "x"}]}, "f:1", "src")

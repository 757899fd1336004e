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


def test_open_ended_records_are_kept_as_open():
    """Release items with an image and no ground truth (FineVision-ai2d, visualwebinstruct; the
    release marks 2 of 3 such items consistent) are kept as answer_type "open", not rejected."""
    from finereason.io.readers import generic, mmfinereason

    release = {"id": 7, "source": "FineVision-ai2d_merged", "question": "<image>Describe the food web.",
               "answer": "", "image": "images/x.png", "qwen3vl_235b_thinking_response": "<think>…</think> foxes",
               "is_consistent": True}
    [draft] = mmfinereason.map_record(release, "k", "release")
    assert draft.answer is None and draft.fields["answer_type"] == "open"
    [draft] = generic.map_record({"question": "What happens next?", "image": "images/x.png"}, "k", "jsonl")
    assert draft.answer is None and draft.fields["answer_type"] == "open"
    # without an image there is nothing to reason about: still missing_answer
    with pytest.raises(RecordError, match="missing_answer"):
        generic.map_record({"question": "What happens next?"}, "k", "jsonl")
    with pytest.raises(RecordError, match="answer: expected a string"):  # a wrong type is never "open"
        generic.map_record({"question": "Q", "image": "images/x.png", "answer": ["a"]}, "k", "jsonl")

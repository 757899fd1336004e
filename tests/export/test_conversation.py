"""Samples as conversations: image tags, options, placeholders, and the reasons for refusing."""

from __future__ import annotations

import dataclasses

import pytest

from finereason.export.conversation import (
    ExportRejection,
    build_conversation,
    part_messages,
    render_options,
    tagged_messages,
)
from finereason.schema import Image, Sample

IMG_A, IMG_B = Image(b"a"), Image(b"b")


def _sample(**kw) -> Sample:
    base = dict(id="x", source="s", question="What is shown?", images=[IMG_A], response="<think>r</think>\n\nA")
    return Sample(**{**base, **kw})


def _reason(sample: Sample, **kw) -> str:
    with pytest.raises(ExportRejection) as e:
        build_conversation(sample, **kw)
    return e.value.reason


def test_tags_are_prepended_when_the_question_has_none() -> None:
    conv = build_conversation(_sample(images=[IMG_A, IMG_B]))
    assert tagged_messages(conv) == [
        {"role": "user", "content": "<image><image>What is shown?"},
        {"role": "assistant", "content": "<think>r</think>\n\nA"},
    ]
    assert part_messages(conv)[0]["content"] == [
        {"type": "image"}, {"type": "image"}, {"type": "text", "text": "What is shown?"},
    ]


def test_tags_in_the_question_stay_in_place() -> None:
    conv = build_conversation(_sample(question="Left: <image>\nRight: <image>\nSame?", images=[IMG_A, IMG_B]))
    assert tagged_messages(conv)[0]["content"] == "Left: <image>\nRight: <image>\nSame?"
    assert part_messages(conv)[0]["content"] == [
        {"type": "text", "text": "Left: "}, {"type": "image"}, {"type": "text", "text": "\nRight: "},
        {"type": "image"}, {"type": "text", "text": "\nSame?"},
    ]
    assert [im.bytes for im in conv.images] == [b"a", b"b"]


def test_options_are_rendered_with_letters() -> None:
    conv = build_conversation(_sample(question="<image>Which shape?", options=["circle", "B. square", "(C) cone"]))
    assert tagged_messages(conv)[0]["content"] == "<image>Which shape?\n\nOptions:\nA. circle\nB. square\n(C) cone"
    assert render_options(["A) x", "x"]) == "Options:\nA) x\nB. x"


def test_text_only_sample() -> None:
    conv = build_conversation(_sample(images=[]))
    assert tagged_messages(conv)[0]["content"] == "What is shown?"
    assert part_messages(conv)[0]["content"] == [{"type": "text", "text": "What is shown?"}]


def test_system_prompt_comes_first() -> None:
    conv = build_conversation(_sample(), system="Think step by step.")
    assert tagged_messages(conv)[0] == {"role": "system", "content": "Think step by step."}
    assert part_messages(conv)[0] == {"role": "system", "content": [{"type": "text", "text": "Think step by step."}]}


@pytest.mark.parametrize(
    "change, kw, reason",
    [
        (dict(response=None), {}, "no_response"),
        (dict(response="  \n"), {}, "no_response"),
        (dict(question="<image>Q", images=[]), {}, "image_tag_mismatch"),
        (dict(question="<image><image>Q"), {}, "image_tag_mismatch"),
        (dict(response="<think>the <image> tag</think> A"), {}, "placeholder_in_text"),
        (dict(question="<video>Q"), {}, "placeholder_in_text"),
        (dict(options=["<image>"]), {}, "placeholder_in_text"),
        (dict(options=[str(i) for i in range(27)]), {}, "too_many_options"),
        (dict(images=[IMG_A, IMG_B]), dict(max_images=1), "too_many_images"),
    ],
)
def test_refusals_name_their_reason(change: dict, kw: dict, reason: str) -> None:
    assert _reason(dataclasses.replace(_sample(), **change), **kw) == reason

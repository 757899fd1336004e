"""A sample as one training conversation: system, user (images + question + options), assistant.

Trainers fail late and far from the data when images and placeholders disagree: LLaMA-Factory
and ms-swift count ``<image>`` tags across *all* messages and compare with ``len(images)``, and
VLM processors expand every ``<image>`` they see in the text. So the checks happen here, per
sample, and a sample that would break training becomes a rejection with its reason instead:

* ``no_response``: nothing to learn from (the teacher's full output is the target);
* ``image_tag_mismatch``: the question has ``<image>`` tags, but not one per image;
* ``placeholder_in_text``: ``<image>`` in the reply or the options, or a ``<video>``/``<audio>``
  tag anywhere, which trainers would count as media;
* ``too_many_images`` (``--max-images``), ``too_many_options`` (more than 26 letters).

A question without tags gets one ``<image>`` per image at its start, the LLaMA-Factory and
ms-swift convention; the assistant turn is the response verbatim, ``<think>…</think>`` included.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from finereason.schema import Image, Sample

IMAGE_TAG = "<image>"
#: Placeholders LLaMA-Factory and ms-swift treat as media wherever they appear.
OTHER_MEDIA_TAGS = ("<video>", "<audio>")


class ExportRejection(Exception):
    """A sample that cannot become a valid training row; ``reason`` is the manifest key."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ImagePart:
    index: int  # into Conversation.images


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True)
class Conversation:
    """One single-turn conversation; ``user`` interleaves images and text in question order."""

    system: str | None
    user: tuple[ImagePart | TextPart, ...]
    assistant: str
    images: tuple[Image, ...]


_LABELLED = re.compile(r"^\(?([A-Z])[.):]\s")


def render_options(options: list[str]) -> str:
    """``Options:\\nA. …\\nB. …``; options that already carry their own letter keep it."""
    if len(options) > len(string.ascii_uppercase):
        raise ExportRejection("too_many_options", f"{len(options)} options, letters run out at 26")
    lines = []
    for letter, option in zip(string.ascii_uppercase, options):
        text = option.strip()
        m = _LABELLED.match(text)
        lines.append(text if m and m.group(1) == letter else f"{letter}. {text}")
    return "Options:\n" + "\n".join(lines)


def _check_free_of_placeholders(text: str, where: str, tags: tuple[str, ...]) -> None:
    for tag in tags:
        if tag in text:
            raise ExportRejection("placeholder_in_text", f"{tag} in the {where} would be counted as media")


def build_conversation(sample: Sample, *, system: str | None = None, max_images: int | None = None,
                       require_response: bool = True) -> Conversation:
    """The conversation of ``sample`` or an :class:`ExportRejection` saying why there is none.

    ``require_response=False`` is for RL prompts: the policy writes the reply, so the assistant
    turn is empty and only the prompt side is checked.
    """
    if require_response and (not sample.response or not sample.response.strip()):
        raise ExportRejection("no_response", "the sample has no teacher response to train on")
    n = len(sample.images)
    if max_images is not None and n > max_images:
        raise ExportRejection("too_many_images", f"{n} images > --max-images {max_images}")
    all_tags = (IMAGE_TAG, *OTHER_MEDIA_TAGS)
    _check_free_of_placeholders(sample.response or "", "response", all_tags)
    _check_free_of_placeholders(sample.question, "question", OTHER_MEDIA_TAGS)
    options = render_options(sample.options) if sample.options else ""
    _check_free_of_placeholders(options, "options", all_tags)

    segments = sample.question.split(IMAGE_TAG)
    tags = len(segments) - 1
    if tags and tags != n:
        raise ExportRejection("image_tag_mismatch", f"the question has {tags} {IMAGE_TAG} tag(s) for {n} image(s)")
    parts: list[ImagePart | TextPart] = []
    if tags:
        for i, seg in enumerate(segments):
            if i:
                parts.append(ImagePart(i - 1))
            if seg:
                parts.append(TextPart(seg))
    else:
        parts.extend(ImagePart(i) for i in range(n))
        parts.append(TextPart(sample.question))
    if options:
        last = parts[-1]
        if isinstance(last, TextPart):
            parts[-1] = TextPart(last.text.rstrip() + "\n\n" + options)
        else:
            parts.append(TextPart(options))
    return Conversation(system or None, tuple(parts), sample.response or "", tuple(sample.images))


def tagged_messages(conv: Conversation, *, prompt_only: bool = False) -> list[dict[str, str]]:
    """LLaMA-Factory / ms-swift / verl messages: strings with one ``<image>`` per image, in place.

    ``prompt_only`` leaves out the assistant turn (an RL prompt).
    """
    user = "".join(IMAGE_TAG if isinstance(p, ImagePart) else p.text for p in conv.user)
    messages = [{"role": "system", "content": conv.system}] if conv.system else []
    messages.append({"role": "user", "content": user})
    if not prompt_only:
        messages.append({"role": "assistant", "content": conv.assistant})
    return messages


def part_messages(conv: Conversation, *, prompt_only: bool = False) -> list[dict]:
    """TRL / HF chat-template messages: content parts ``{"type": "image"}`` and ``{"type": "text"}``.

    Whitespace-only text between images is dropped (a template would render it as nothing useful).
    ``prompt_only`` leaves out the assistant turn (an RL prompt).
    """
    def text(t: str) -> dict:
        return {"type": "text", "text": t}

    user = [{"type": "image"} if isinstance(p, ImagePart) else text(p.text)
            for p in conv.user if isinstance(p, ImagePart) or p.text.strip()]
    messages = [{"role": "system", "content": [text(conv.system)]}] if conv.system else []
    messages.append({"role": "user", "content": user})
    if not prompt_only:
        messages.append({"role": "assistant", "content": [text(conv.assistant)]})
    return messages

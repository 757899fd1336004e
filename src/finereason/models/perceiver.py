"""Perception for text-only models: turn each image into text before the model sees the prompt.

This is the decoupled (Prism-style) split: a perceiver describes, a text-only LLM reasons. It is
also what lets the real text-only ``builtin:smollm2`` run every multimodal stage offline. The
descriptions are returned to the caller so a stage can store exactly what the reasoner was told.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from finereason.models.client import ModelClient
from finereason.models.types import Message, Model, ModelError, SamplingParams

OCR_HEADER = "Text read from the image (OCR):"
OCR_EMPTY = "No text could be read from the image (OCR)."


@runtime_checkable
class Perceiver(Protocol):
    """Describes one image following an instruction. ``name`` is recorded next to descriptions."""

    name: str

    async def describe(self, image_bytes: bytes, instruction: str) -> str: ...


@dataclass(frozen=True)
class Perception:
    """What the reasoner was told about one image, for the sample record."""

    image_index: int
    perceiver: str
    instruction: str
    text: str


class OCRPerceiver:
    """``builtin:ocr``: Tesseract reads the text in the image; the instruction is not used.

    OCR only sees text (no shapes, colours or layout), which is stated in the header so a reasoner
    and a reader of the record know what kind of description this is. Tesseract was chosen over
    rapidocr: exact text with spaces kept, ~0.4 s and ~40 MB per image versus ~1.2 s and ~500 MB.
    """

    name = "builtin:ocr"

    def __init__(self, *, lang: str = "eng", psm: int | str = 3, timeout_s: float | str = 60.0) -> None:
        binary = shutil.which("tesseract")
        if binary is None:
            raise RuntimeError("builtin:ocr needs the tesseract binary: apt-get install -y tesseract-ocr")
        self._cmd = [binary, "-", "-", "-l", lang, "--psm", str(int(psm))]
        self._timeout_s = float(timeout_s)

    async def describe(self, image_bytes: bytes, instruction: str = "") -> str:
        text = await asyncio.to_thread(self.read_text, image_bytes)
        return f"{OCR_HEADER}\n{text}" if text else OCR_EMPTY

    def read_text(self, image_bytes: bytes) -> str:
        """Raw OCR text, blank lines removed. Images are re-encoded as PNG so any Pillow format works."""
        from PIL import Image

        try:
            buf = io.BytesIO()
            Image.open(io.BytesIO(image_bytes)).convert("RGB").save(buf, "PNG")
        except Exception as err:
            raise ModelError("bad_image", f"cannot decode image: {err}") from err
        # One thread per process: many OCR calls run in parallel and tesseract's OpenMP would oversubscribe.
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        try:
            done = subprocess.run(
                self._cmd, input=buf.getvalue(), capture_output=True, timeout=self._timeout_s, env=env, check=False
            )
        except subprocess.TimeoutExpired as err:
            raise ModelError("ocr_timeout", f"tesseract took over {self._timeout_s}s") from err
        if done.returncode != 0:
            raise ModelError("ocr_failed", done.stderr.decode(errors="replace").strip()[-500:])
        lines = (line.strip() for line in done.stdout.decode(errors="replace").splitlines())
        return "\n".join(line for line in lines if line)


class VLMPerceiver:
    """Any image-accepting model as a perceiver (greedy, 1024 tokens, as in the paper).

    Calls go through a :class:`~finereason.models.client.ModelClient`, so a perceiver's requests
    are retried like any other and, when the client has a journal, a rerun does not pay for a
    description twice. A bare :class:`Model` is wrapped in a client without a journal.
    """

    def __init__(self, model: Model | ModelClient, params: SamplingParams | None = None) -> None:
        self.client = model if isinstance(model, ModelClient) else ModelClient(model)
        if not self.client.model.accepts_images:
            raise ValueError(f"{self.client.model.spec} does not accept images, so it cannot be a perceiver")
        self.name = self.client.model.spec
        self.params = params or SamplingParams(max_tokens=1024, temperature=0.0)

    async def describe(self, image_bytes: bytes, instruction: str) -> str:
        messages = [
            {
                "role": "user",
                "content": [{"type": "image", "image": image_bytes}, {"type": "text", "text": instruction}],
            }
        ]
        completion = (await self.client.complete(messages, self.params))[0]
        return strip_think(completion.text)


def strip_think(text: str) -> str:
    """Drop a ``<think>…</think>`` block: a reasoner should get the description, not how it was made."""
    end = text.find("</think>")
    return text[end + len("</think>") :].strip() if end >= 0 else text.strip()


def default_instruction() -> str:
    """The generic Prism perception instruction (prompt ``describe_generic``)."""
    from finereason.prompts import load_prompt

    return load_prompt("describe_generic").render()


def image_bytes(messages: list[Message]) -> list[bytes]:
    """Every image in ``messages``, in order of appearance."""
    return [
        part["image"]
        for m in messages
        if not isinstance(m.get("content"), str)
        for part in m.get("content") or []
        if part.get("type") == "image"
    ]


def ensure_can_see(model: Model, perceiver: Perceiver | None, *, has_images: bool = True) -> None:
    """Fail at start-up, not mid-run, when images would reach a text-only model with no perceiver."""
    if has_images and not model.accepts_images and perceiver is None:
        raise ValueError(
            f"{model.spec} is text-only but the inputs have images: configure a perceiver "
            "(builtin:ocr, or a VLM model spec) or use a model that accepts images"
        )


async def replace_images(
    messages: list[Message], perceiver: Perceiver, instruction: str | None = None
) -> tuple[list[Message], list[Perception]]:
    """Return ``messages`` with every image part replaced by its description, plus the descriptions.

    Images are numbered from 1 in order of appearance and described concurrently; identical
    image bytes are described once.
    """
    instruction = instruction if instruction is not None else default_instruction()
    images = image_bytes(messages)
    unique = list(dict.fromkeys(images))
    texts = await asyncio.gather(*(perceiver.describe(data, instruction) for data in unique))
    by_bytes = dict(zip(unique, texts, strict=True))
    perceptions = [Perception(i + 1, perceiver.name, instruction, by_bytes[data]) for i, data in enumerate(images)]
    index = iter(perceptions)
    rewritten = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str) or not content:
            rewritten.append(message)
            continue
        parts = []
        for part in content:
            if part.get("type") == "image":
                p = next(index)
                parts.append({"type": "text", "text": f"[Image {p.image_index} description]\n{p.text}\n"})
            else:
                parts.append(part)
        rewritten.append({**message, "content": parts})
    return rewritten, perceptions


async def adapt_messages(
    model: Model, messages: list[Message], perceiver: Perceiver | None, instruction: str | None = None
) -> tuple[list[Message], list[Perception]]:
    """Messages ready for ``model``: unchanged if it sees images, else images turned into text."""
    if model.accepts_images or not image_bytes(messages):
        return messages, []
    ensure_can_see(model, perceiver)
    assert perceiver is not None  # narrowed by ensure_can_see
    return await replace_images(messages, perceiver, instruction)


def load(spec: str, **opts: Any) -> Perceiver:
    """``perceiver:ocr`` (or ``perceiver:builtin:ocr``) is Tesseract; ``perceiver:<model spec>`` wraps
    that image-accepting model, e.g. ``perceiver:hf:/models/smolvlm``; ``opts`` go to the model."""
    inner = spec.removeprefix("perceiver:")
    if inner in ("ocr", "builtin:ocr"):
        return OCRPerceiver(**opts)
    from finereason.models.backends import load_model

    return VLMPerceiver(load_model(inner, **opts))

"""Turning a sample into chat messages, and into text for models that cannot see.

The image parts come first and the rendered prompt after, as the MMFineReason teacher was
called. A text-only model sees each image through a perceiver (OCR, a VLM, or, for synthetic
problems, the generator's own scene text labelled as oracle perception); the description goes
into the prompt and into ``sample.perception`` so every output says how its model saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finereason.models.perceiver import Perception, Perceiver, replace_images
from finereason.models.types import Message, Model
from finereason.schema import Sample

if TYPE_CHECKING:
    from finereason.models.session import LazyClient, RunContext

#: ``--perception oracle``: use the synthetic generator's scene text instead of a model.
ORACLE = "oracle"


def question_text(s: Sample) -> str:
    """The question as the model reads it: text, then lettered options when there are any."""
    if not s.options:
        return s.question
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    opts = "\n".join(f"{letters[i]}. {o}" for i, o in enumerate(s.options))
    return f"{s.question}\nOptions:\n{opts}"


def sample_messages(s: Sample, prompt_text: str, with_images: bool = True) -> list[Message]:
    parts: list[dict[str, Any]] = []
    if with_images:
        parts = [{"type": "image", "image": im.bytes} for im in s.images]
    parts.append({"type": "text", "text": prompt_text})
    return [{"role": "user", "content": parts}]


class MissingScene(ValueError):
    """Oracle perception asked for a sample that carries no scene text (not a synthetic problem)."""


def oracle_messages(s: Sample, prompt_text: str) -> tuple[list[Message], str]:
    scene = s.meta_get("scene")
    if not scene:
        raise MissingScene(f"sample {s.id} has no meta.scene; oracle perception only works for synth problems")
    text = f"[Image description (oracle perception: the generator's own scene text)]\n{scene}\n"
    return [{"role": "user", "content": [{"type": "text", "text": text}, {"type": "text", "text": prompt_text}]}], scene


@dataclass
class Seeing:
    """How a stage's model sees images: natively, through a perceiver, or through the oracle."""

    perception: str | None  # the spec, for manifests
    perceiver: Perceiver | None = None
    client: LazyClient | None = None  # a VLM perceiver's journaled client, closed by :meth:`aclose`

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    async def messages(self, model: Model, s: Sample, prompt_text: str) -> tuple[list[Message], str | None]:
        """Messages for ``model`` and the perception text to store (None when it saw the pixels)."""
        if not s.images or model.accepts_images:
            return sample_messages(s, prompt_text), None
        if self.perception == ORACLE:
            return oracle_messages(s, prompt_text)
        if self.perceiver is None:
            raise ValueError(f"{model.spec} is text-only and sample {s.id} has images: give --perception")
        msgs, perceptions = await replace_images(sample_messages(s, prompt_text), self.perceiver)
        return msgs, describe_perceptions(perceptions)


def describe_perceptions(perceptions: list[Perception]) -> str:
    return "\n\n".join(f"[Image {p.image_index}, seen by {p.perceiver}]\n{p.text}" for p in perceptions)


def open_seeing(spec: str | None, journal_path: str | None = None, concurrency: int | None = None,
                retries: int = 5, context: RunContext | None = None) -> Seeing:
    """``builtin:ocr`` or ``ocr`` → Tesseract; ``oracle`` or none → no perceiver; else a VLM spec.

    A VLM perceiver's requests go through a client on the stage's journal (keyed by its own
    model id), so a resumed run pays neither for descriptions nor for answers made before.
    """
    if spec is None or spec == ORACLE:
        return Seeing(spec)
    inner = spec.removeprefix("perceiver:")
    if inner in ("ocr", "builtin:ocr"):
        from finereason.models.perceiver import OCRPerceiver

        return Seeing(spec, OCRPerceiver())
    from finereason.models.perceiver import VLMPerceiver
    from finereason.models.session import LazyClient

    client = LazyClient(inner, journal_path, concurrency, retries, context)
    return Seeing(spec, VLMPerceiver(client.get()), client)

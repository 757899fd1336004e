"""One example → token ids, loss labels and vision tensors, exactly as training will see it.

The preflight and the collator both call :meth:`Encoder.encode`, so the lengths the preflight
reports (and the packer bins by) are the lengths that reach the model: image placeholders are
expanded by the model's own processor, under the recipe's pixel bounds and chat template.

Loss is on the last assistant turn only (its ``<think>…</think>`` included, and the end-of-turn
token, so the model learns to stop). The turn is located by rendering the conversation with and
without it and checking that one rendering is a prefix of the other; its tokens are found by
tokenizing that tail alone and matching it at the end of the full sequence (falling back to
processing the prompt with its images when a tokenizer merges across the boundary). Checks that
become per-sample reasons in the preflight report:

* ``image_tag_mismatch``: the image tokens the processor wrote are not the number its image
  features need (a stray ``<image>``/``<|image_pad|>`` string in the text, typically);
* ``think_dropped``: the chat template removed the target's ``<think>`` block (set
  ``model.chat_template`` to one that keeps it);
* ``template_mismatch``: the template renders a prompt that is not a prefix of the full
  conversation, so the target cannot be located;
* ``processor_error``: the processor refused the example (its message is kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from finereason.train.data import Example, PixelBounds, SampleError, load_images
from finereason.train.families import Family

IGNORE = -100
_TEXT_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")


@dataclass
class Encoded:
    """One example on the model's side. ``vision`` holds the processor's other outputs (pixel values …)."""

    input_ids: torch.Tensor  # (L,)
    labels: torch.Tensor  # (L,), IGNORE outside the target
    mm_token_type_ids: torch.Tensor | None
    vision: dict[str, torch.Tensor] = field(default_factory=dict)
    image_tokens: int = 0

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def target_tokens(self) -> int:
        return int((self.labels != IGNORE).sum())


def load_processor(name_or_path: str, family: Family, *, trust_remote_code: bool = False) -> Any:
    """``AutoProcessor``, or for the Qwen-VL families the image-only processor when the real one
    cannot be built here (its video processor needs torchvision, which breaks beside our torch)."""
    from transformers import AutoProcessor, ProcessorMixin

    from finereason.models.processors import QWEN_PROCESSORS, register_processors

    register_processors()
    try:
        processor = AutoProcessor.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    except (AttributeError, ImportError, RuntimeError, ValueError) as err:
        if family.name not in QWEN_PROCESSORS:
            raise
        processor = QWEN_PROCESSORS[family.name].from_pretrained(name_or_path)
        processor.fallback_reason = f"{type(err).__name__}: {err}"
    if not isinstance(processor, ProcessorMixin):
        raise SampleError("processor_error", f"{name_or_path} has no image processor (got {type(processor).__name__})")
    return processor


def configure_processor(processor: Any, family: Family, bounds: PixelBounds, chat_template: str | None) -> None:
    """Apply the recipe's pixel bounds (Qwen-VL: the processor's own min/max) and chat template."""
    if family.name.startswith("qwen") and (bounds.min_pixels or bounds.max_pixels):
        size = processor.image_processor.size
        hi = bounds.max_pixels or _get(size, "longest_edge")
        lo = min(bounds.min_pixels or _get(size, "shortest_edge"), hi)
        processor.image_processor.size = {"shortest_edge": lo, "longest_edge": hi}
    if chat_template:
        processor.chat_template = chat_template
        processor.tokenizer.chat_template = chat_template
    processor.tokenizer.padding_side = "right"


def _get(size: Any, key: str) -> Any:
    return size[key] if isinstance(size, dict) else getattr(size, key)


class Encoder:
    """Renders, processes and labels examples; picklable settings plus a processor."""

    def __init__(self, processor: Any, family: Family, bounds: PixelBounds) -> None:
        self.processor = processor
        self.family = family
        self.bounds = bounds
        self.tokenizer = processor.tokenizer
        self.image_token_id = getattr(processor, "image_token_id", None)

    # ---- rendering --------------------------------------------------------------------------
    def render(self, example: Example) -> tuple[str, str]:
        """``(full, prompt)``: the whole conversation, and everything before the target's text."""
        full = self.processor.apply_chat_template(example.messages, tokenize=False)
        prompt = self.processor.apply_chat_template(example.messages[:-1], tokenize=False,
                                                    add_generation_prompt=True)
        if not full.startswith(prompt):
            raise SampleError("template_mismatch", "the rendered prompt is not a prefix of the rendered "
                                                   "conversation, so the target cannot be located")
        tail = full[len(prompt):]
        target = example.target()
        for tag in ("<think>", "</think>"):
            if tag in target and tag not in tail:
                raise SampleError("think_dropped", f"the chat template removed {tag} from the target; set "
                                                   "model.chat_template to a template that keeps it")
        return full, prompt

    # ---- processing -------------------------------------------------------------------------
    def _process(self, text: str, images: list[Any]) -> dict[str, torch.Tensor]:
        try:
            if images:
                out = self.processor(text=[text], images=[images], return_tensors="pt", add_special_tokens=False)
            else:
                out = self.processor(text=[text], return_tensors="pt", add_special_tokens=False)
        except (ValueError, IndexError, RuntimeError, TypeError) as e:
            raise SampleError("processor_error", f"{type(e).__name__}: {e}") from e
        return dict(out)

    def expected_image_tokens(self, out: dict[str, torch.Tensor]) -> int | None:
        """Placeholder tokens the model will fill, from the processor's vision outputs (None: unknown family)."""
        if "image_grid_thw" in out:
            merge = getattr(self.processor.image_processor, "merge_size", 2)
            return int(out["image_grid_thw"].prod(-1).sum()) // (merge * merge)
        if self.family.name == "idefics3" and "pixel_values" in out:
            tiles = int((out["pixel_values"].flatten(2).abs().sum(-1) != 0).sum())  # padding tiles are all zero
            return tiles * int(self.processor.image_seq_len)
        return None

    def encode(self, example: Example) -> Encoded:
        """Process one example; raises :class:`SampleError` with the reason it cannot be trained on."""
        full, prompt = self.render(example)
        placeholder = getattr(self.processor, "image_token", None)
        if placeholder and full.count(placeholder) != len(example.images):
            raise SampleError("image_tag_mismatch", f"the rendered text has {full.count(placeholder)} {placeholder} "
                                                    f"placeholder(s) for {len(example.images)} image(s)")
        images = load_images(example, self.bounds)
        out = self._process(full, images)
        ids = out["input_ids"][0]
        image_tokens = int((ids == self.image_token_id).sum()) if self.image_token_id is not None else 0
        expected = self.expected_image_tokens(out) if images else 0
        if expected is not None and image_tokens != expected:
            raise SampleError("image_tag_mismatch", f"{image_tokens} image token(s) in the text for {expected} "
                                                    f"image feature(s) of {len(images)} image(s)")
        n_prompt = self._prompt_length(ids, full, prompt, images)
        labels = ids.clone()
        labels[:n_prompt] = IGNORE
        vision = {k: v for k, v in out.items() if k not in _TEXT_KEYS and isinstance(v, torch.Tensor)}
        mm = out.get("mm_token_type_ids")
        return Encoded(ids, labels, mm[0] if mm is not None else None, vision, image_tokens)

    def _prompt_length(self, ids: torch.Tensor, full: str, prompt: str, images: list[Any]) -> int:
        tail = self.tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
        n = len(tail)
        if 0 < n <= len(ids) and ids[len(ids) - n:].tolist() == tail:
            return len(ids) - n
        prompt_ids = self._process(prompt, images)["input_ids"][0]
        p = len(prompt_ids)
        if p < len(ids) and torch.equal(ids[:p], prompt_ids):
            return p
        raise SampleError("template_mismatch", "the target's tokens could not be located in the encoded example")

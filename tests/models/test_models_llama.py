"""Against a real OpenAI-compatible server: llama-cpp-python serving SmolLM2-135M-Instruct."""

from __future__ import annotations

import asyncio

import pytest

from finereason.models import ModelClient, SamplingParams, load_model
from finereason.models.check import check

pytestmark = pytest.mark.slow
ASK = [{"role": "user", "content": "Write a sentence about the sea."}]


def run(url: str, params: SamplingParams, messages: list = ASK) -> list:
    async def go() -> list:
        async with ModelClient(load_model(f"openai:smollm2@{url}", concurrency=2)) as client:
            return await client.complete(messages, params)

    return asyncio.run(go())


def test_real_completion_with_every_setting(llama_url: str) -> None:
    [completion] = run(llama_url, SamplingParams(max_tokens=12, temperature=0.8, top_p=0.9, seed=3))
    assert completion.text.strip() and completion.finish_reason in ("stop", "length")
    assert completion.prompt_tokens > 5 and 0 < completion.completion_tokens <= 12


def test_seed_makes_sampling_reproducible(llama_url: str) -> None:
    params = SamplingParams(max_tokens=12, temperature=1.0, top_p=0.95, seed=1234)
    assert run(llama_url, params)[0].text == run(llama_url, params)[0].text


def test_stop_sequences_are_honoured(llama_url: str) -> None:
    [completion] = run(llama_url, SamplingParams(max_tokens=24, temperature=0.0, stop=(" ",)))
    assert " " not in completion.text


def test_truncation_is_reported(llama_url: str) -> None:
    [completion] = run(llama_url, SamplingParams(max_tokens=3, temperature=0.0))
    assert completion.truncated and completion.completion_tokens == 3


def test_many_requests(llama_url: str) -> None:
    async def go() -> list:
        async with ModelClient(load_model(f"openai:smollm2@{llama_url}", concurrency=3)) as client:
            params = SamplingParams(max_tokens=4, temperature=0.0)
            return await client.complete_many(
                [([{"role": "user", "content": f"Say {i}."}], params) for i in range(6)]
            )

    results = asyncio.run(go())
    assert all(isinstance(r, list) and r[0].text for r in results)


def test_check_real_server(llama_url: str) -> None:
    report = asyncio.run(check(f"openai:smollm2@{llama_url}"))
    [endpoint] = report["endpoints"]
    assert (
        report["ok"]
        and endpoint["serves_model"]
        and endpoint["models"] == ["smollm2"]
        and endpoint["chat_ok"]
    )

"""Word suppression against a real OpenAI-compatible server (llama-cpp-python serving SmolLM2)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/servers

from servers.llama import llama_server as start_llama  # noqa: E402

from finereason.evaluate.thinking import suppression_extra, suppression_for
from finereason.models.client import ModelClient
from finereason.models.openai_http import OpenAIModel
from finereason.models.types import SamplingParams

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    with start_llama(tmp_path_factory.mktemp("llama") / "server.log") as url:
        yield url


def test_logit_bias_from_the_servers_tokenizer(llama_server):
    client = ModelClient(OpenAIModel(f"openai:smollm2@{llama_server}", accepts_images=False))
    messages = [{"role": "user", "content": "Repeat this sentence exactly: Wait, but hmm, wait. But wait!"}]

    async def both():
        suppression = await suppression_for(client, ("wait", "but"))
        extra = suppression_extra(client, suppression)
        free = await client.complete(messages, SamplingParams(max_tokens=16, temperature=0))
        banned = await client.complete(messages, SamplingParams(max_tokens=16, temperature=0, extra=extra))
        await client.aclose()
        return suppression, free[0].text, banned[0].text

    suppression, free, banned = asyncio.run(both())
    assert len(suppression.token_ids) >= 4  # " wait", "Wait", " but", " But"… are single tokens in SmolLM2
    assert "wait" in free.lower()
    assert "wait" not in banned.lower() and " but" not in banned.lower()

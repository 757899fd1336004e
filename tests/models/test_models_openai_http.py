"""The OpenAI-compatible backend against the in-process fake server: wire format, parsing, balancing."""

from __future__ import annotations

import asyncio
import base64
import io
import random

import pytest
from PIL import Image
from servers.fake_openai import FakeServer
from servers.harness import BackgroundLoop

from finereason.models import ModelError, OpenAIModel, SamplingParams
from finereason.models.openai_http import _read_response, fold_reasoning

USER = [{"role": "user", "content": "hi"}]


def png(side: int = 20) -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), random.randbytes(side * side * 3)).save(out, "PNG")
    return out.getvalue()


def test_every_sampling_param_and_the_image_are_sent(fake: tuple[FakeServer, str]) -> None:
    server, url = fake
    image = png()
    messages = [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [{"type": "image", "image": image}, {"type": "text", "text": "What is shown?"}],
        },
    ]
    params = SamplingParams(
        max_tokens=123,
        temperature=0.7,
        top_p=0.9,
        n=2,
        seed=7,
        stop=("\n\n",),
        extra=(("repetition_penalty", 1.05),),
    )

    async def go() -> list:
        model = OpenAIModel(f"openai:my/model@{url}")
        try:
            return await model.complete(messages, params)
        finally:
            await model.aclose()

    completions = asyncio.run(go())
    [body] = server.requests
    assert {k: body[k] for k in ("model", "max_tokens", "temperature", "top_p", "n", "seed", "stop")} == {
        "model": "my/model",
        "max_tokens": 123,
        "temperature": 0.7,
        "top_p": 0.9,
        "n": 2,
        "seed": 7,
        "stop": ["\n\n"],
    }
    assert body["repetition_penalty"] == 1.05
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    image_part, text_part = body["messages"][1]["content"]
    assert text_part == {"type": "text", "text": "What is shown?"}
    prefix, encoded = image_part["image_url"]["url"].split(",", 1)
    assert prefix == "data:image/png;base64" and base64.b64decode(encoded) == image
    assert len(completions) == 2 and all(c.completion_tokens == 123 for c in completions)


def test_seed_is_omitted_when_unset(fake: tuple[FakeServer, str]) -> None:
    server, url = fake
    asyncio.run(_complete(url, SamplingParams(max_tokens=5)))
    assert "seed" not in server.requests[0] and server.requests[0]["top_p"] == 0.95


async def _complete(url: str, params: SamplingParams = SamplingParams(), **opts) -> list:
    model = OpenAIModel(f"openai:fake-model@{url}", **opts)
    try:
        return await model.complete(USER, params)
    finally:
        await model.aclose()


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_field_is_folded_into_think_tags(fake: tuple[FakeServer, str], field: str) -> None:
    server, url = fake
    server.reasoning_field = field
    [completion] = asyncio.run(_complete(url))
    assert completion.reasoning and len(completion.reasoning) > 20
    answer = "The answer is <answer>42</answer>."
    assert completion.text == f"<think>\n{completion.reasoning}\n</think>\n\n{answer}"
    assert completion.finish_reason == "stop" and not completion.truncated


def test_length_finish_is_kept_as_truncated(fake: tuple[FakeServer, str]) -> None:
    _, url = fake
    [completion] = asyncio.run(_complete(url, SamplingParams(max_tokens=3)))
    assert completion.finish_reason == "length" and completion.truncated


@pytest.mark.parametrize(
    ("content", "reasoning", "finish", "text", "folded"),
    [
        ("answer", "  why  ", "stop", "<think>\nwhy\n</think>\n\nanswer", "why"),
        ("", "still thinking", "length", "<think>\nstill thinking\n", "still thinking"),
        (
            "why</think>answer",
            None,
            "stop",
            "<think>\nwhy</think>answer",
            "why",
        ),  # template pre-filled <think>
        ("<think>why</think>answer", None, "stop", "<think>why</think>answer", "why"),
        ("plain answer", None, "stop", "plain answer", None),
    ],
)
def test_fold_reasoning(
    content: str, reasoning: str | None, finish: str, text: str, folded: str | None
) -> None:
    assert fold_reasoning(content, reasoning, finish) == (text, folded)


def test_keep_alive_reuses_one_connection(fake: tuple[FakeServer, str]) -> None:
    server, url = fake

    async def go() -> None:
        model = OpenAIModel(f"openai:fake-model@{url}")
        for _ in range(5):
            await model.complete(USER, SamplingParams())
        await model.aclose()

    asyncio.run(go())
    assert server.count == 5 and server.connections == 1


def test_api_key_from_env_is_sent_but_never_shown(
    fake: tuple[FakeServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = fake
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("FINEREASON_API_KEY", "sk-secret")
    model = OpenAIModel(f"openai:fake-model@{url}")
    assert "sk-secret" not in repr(model) and "sk-secret" not in repr(vars(model))
    asyncio.run(_complete(url))
    assert b"Authorization: Bearer sk-secret\r\n" in server.heads[0]


def test_list_models(fake: tuple[FakeServer, str]) -> None:
    _, url = fake

    async def go() -> list[str]:
        model = OpenAIModel(f"openai:x@{url}")
        try:
            return await model.list_models()
        finally:
            await model.aclose()

    assert asyncio.run(go()) == ["fake-model"]


def test_unreachable_endpoint_is_a_retryable_connect_error() -> None:
    with pytest.raises(ModelError) as info:
        asyncio.run(_complete("http://127.0.0.1:9/v1", timeouts={"connect": 2}))
    assert info.value.reason == "connect_error" and info.value.retryable


def test_bad_image_is_a_permanent_bad_input_error(fake: tuple[FakeServer, str]) -> None:
    _, url = fake

    async def go() -> None:
        model = OpenAIModel(f"openai:x@{url}")
        await model.complete(
            [{"role": "user", "content": [{"type": "image", "image": b"nope"}]}], SamplingParams()
        )

    with pytest.raises(ModelError) as info:
        asyncio.run(go())
    assert info.value.reason == "bad_input" and not info.value.retryable


def test_load_is_balanced_by_in_flight_count(bg: BackgroundLoop) -> None:
    fast, slow = FakeServer(seconds_per_token=0.0001), FakeServer(seconds_per_token=0.002)
    urls = [f"http://127.0.0.1:{bg.run(s.start())}/v1" for s in (fast, slow)]

    async def go() -> int:
        model = OpenAIModel(f"openai:fake-model@{','.join(urls)}", concurrency=4)
        await asyncio.gather(*(model.complete(USER, SamplingParams(max_tokens=100)) for _ in range(80)))
        await model.aclose()
        return model.max_concurrency

    assert asyncio.run(go()) == 8
    # The fast server (20 ms per request) frees its slots ten times sooner, so it gets most requests.
    assert fast.count + slow.count == 80 and fast.count > 2 * slow.count
    for server in (fast, slow):
        bg.run(server.close())


def test_dead_endpoint_is_avoided(bg: BackgroundLoop) -> None:
    live = FakeServer()
    urls = ["http://127.0.0.1:9/v1", f"http://127.0.0.1:{bg.run(live.start())}/v1"]

    async def go() -> list[str]:
        model = OpenAIModel(f"openai:fake-model@{','.join(urls)}", concurrency=2)
        outcomes = []
        for _ in range(10):
            try:
                await model.complete(USER, SamplingParams())
                outcomes.append("ok")
            except ModelError as exc:
                outcomes.append(exc.reason)
        await model.aclose()
        return outcomes

    outcomes = asyncio.run(go())
    assert outcomes.count("connect_error") <= 1 and live.count >= 9
    bg.run(live.close())


@pytest.mark.parametrize(
    ("raw", "body", "keep_alive"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", b"{}", True),
        (
            b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\n{"a\r\n3\r\n":1\r\n1\r\n}\r\n0\r\nT: v\r\n\r\n',
            b'{"a":1}',
            True,
        ),
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
            b"x",
            False,
        ),
        (b"HTTP/1.0 200 OK\r\n\r\nuntil-eof", b"until-eof", False),
    ],
)
def test_read_response_framing(raw: bytes, body: bytes, keep_alive: bool) -> None:
    async def go() -> tuple:
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        return await _read_response(reader)

    status, _, got, alive = asyncio.run(go())
    assert (status, got, alive) == (200, body, keep_alive)


def test_one_model_across_event_loops(fake: tuple[FakeServer, str]) -> None:
    server, url = fake
    model = OpenAIModel(f"openai:fake-model@{url}", concurrency=2)

    async def burst() -> None:  # more requests than slots, so the semaphore really waits
        await asyncio.gather(*(model.complete(USER, SamplingParams()) for _ in range(6)))

    asyncio.run(burst())
    asyncio.run(burst())
    assert server.count == 12

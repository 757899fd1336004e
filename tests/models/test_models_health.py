"""Endpoint health: URL mistakes caught at parse time, bounded backoff, the breaker, bad replies.

Every server here is real on loopback: a port nobody listens on, the recording fake server, and
canned servers that answer 401, 404, HTML, an empty body or JSON cut in half.
"""

from __future__ import annotations

import asyncio
import math
import socket

import pytest
from servers.canned import CannedServer, reply
from servers.fake_openai import FakeServer
from servers.harness import BackgroundLoop

from finereason.models import Backoff, ModelClient, ModelError, OpenAIModel, SamplingParams, SpecError, parse_spec
from finereason.models.breaker import BreakerLimits, EndpointsDown, shown_url
from finereason.models.health import preflight

ASK = [{"role": "user", "content": "hi"}]
FAST = Backoff(base=0.001, cap=0.01)


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed on exit: connections to it are refused


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1:/v1", "did you mean http://127.0.0.1:8000/v1"),
        ("http://gpu1/v1", "did you mean http://gpu1:8000/v1"),
        ("ws://gpu1:8000/v1", "did you mean http://gpu1:8000/v1"),
        ("htps://gpu1:8000/v1", "not http or https"),
        ("http://gpu1:8000/api", "did you mean http://gpu1:8000/api/v1"),
        ("http://gpu1:8000/v1/chat/completions", "did you mean http://gpu1:8000/v1?"),
    ],
)
def test_url_mistakes_are_rejected_at_parse_time_with_a_suggestion(url: str, says: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(f"openai:m@{url}")
    assert says in str(info.value) and url in str(info.value)


@pytest.mark.parametrize(
    "url", ["https://api.example.com/v1", "http://gw:80/api/v1", "https://h/v1beta/openai", "h:8000", "http://[::1]:8000/v1"]
)
def test_api_base_urls_that_follow_the_conventions_parse(url: str) -> None:
    assert parse_spec(f"openai:m@{url}").endpoints


def test_backoff_is_bounded_for_any_number_of_failures() -> None:
    assert Backoff(base=1.0, cap=60.0).delay(5000) <= 60.0


def test_many_concurrent_failures_do_not_overflow_the_endpoint_backoff() -> None:
    """The reported crash: 0.5 * 2**failures raised OverflowError past ~1100 failures at --concurrency 256+."""
    no_breaker = BreakerLimits(tries=10**9, seconds=math.inf)
    model = OpenAIModel(f"openai:m@http://127.0.0.1:{_dead_port()}/v1", concurrency=400, breaker=no_breaker)

    async def go() -> list[str]:
        outcomes = await asyncio.gather(*(model.complete(ASK, SamplingParams()) for _ in range(1200)),
                                        return_exceptions=True)
        await model.aclose()
        return [o.reason if isinstance(o, ModelError) else repr(o) for o in outcomes]

    outcomes = asyncio.run(go())
    assert set(outcomes) == {"connect_error"}
    assert model._endpoints[0].failures == 1200  # every failure counted, none overflowed


def test_every_endpoint_refusing_stops_with_one_error_naming_urls_and_cause() -> None:
    urls = [f"http://127.0.0.1:{_dead_port()}/v1" for _ in range(2)]
    client = ModelClient(OpenAIModel(f"openai:m@{','.join(urls)}"), backoff=FAST)

    async def go() -> None:
        await client.complete_many([(ASK, SamplingParams())] * 50)

    with pytest.raises(EndpointsDown) as info:
        asyncio.run(go())
    message = str(info.value)
    assert all(url in message for url in urls) and "connection refused" in message and info.value.exit_code == 3


def test_one_dead_endpoint_among_live_ones_does_not_stop_anything(bg: BackgroundLoop) -> None:
    live = FakeServer()
    urls = [f"http://127.0.0.1:{_dead_port()}/v1", f"http://127.0.0.1:{bg.run(live.start())}/v1"]
    # At most 4 in flight: the live endpoint always has a free slot, so a retry never has to use the dead one.
    model = OpenAIModel(f"openai:fake-model@{','.join(urls)}", concurrency=4)
    client = ModelClient(model, concurrency=4, backoff=FAST)
    try:
        results = asyncio.run(client.complete_many([(ASK, SamplingParams(max_tokens=5))] * 40))
    finally:
        bg.run(live.close())
    assert all(not isinstance(r, ModelError) for r in results) and live.count >= 40


@pytest.mark.parametrize(
    ("status", "cause"), [(401, "401 unauthorized"), (403, "403 forbidden"), (404, "404 not found")]
)
def test_auth_and_model_not_found_trip_the_breaker(bg: BackgroundLoop, status: int, cause: str) -> None:
    server = CannedServer(reply(status, b'{"error":{"message":"nope"}}'))
    url = f"http://127.0.0.1:{bg.run(server.start())}/v1"
    client = ModelClient(OpenAIModel(f"openai:fake-model@{url}"), backoff=FAST)
    try:
        with pytest.raises(EndpointsDown) as info:
            asyncio.run(client.complete_many([(ASK, SamplingParams())] * 500))
    finally:
        bg.run(server.close())
    assert cause in str(info.value) and url in str(info.value)
    # Stopped early: about one wave of requests (64 in flight, none retried) of the 500 was sent.
    assert BreakerLimits().tries <= server.count < 2 * 64


def test_transient_faults_do_not_trip_the_breaker(bg: BackgroundLoop) -> None:
    server = CannedServer(reply(503, b'{"error":"busy"}'))
    url = f"http://127.0.0.1:{bg.run(server.start())}/v1"
    client = ModelClient(OpenAIModel(f"openai:fake-model@{url}"), retries=3, backoff=FAST)
    try:
        results = asyncio.run(client.complete_many([(ASK, SamplingParams())] * 10))
    finally:
        bg.run(server.close())
    assert [r.reason for r in results] == ["http_503"] * 10 and server.count == 40  # retried, then failed


@pytest.mark.parametrize(
    ("chat", "says"),
    [
        (reply(200, b"<html><body>Welcome to nginx</body></html>", "text/html"), "an HTML page, not JSON"),
        (reply(200, b""), "an empty body"),
        (reply(200, b'{"id":"x","choices":[{"index":0,"message":{"content":"hal'), "body starts"),
    ],
)
def test_bad_replies_are_per_request_failures_with_a_reason(bg: BackgroundLoop, chat: bytes, says: str) -> None:
    server = CannedServer(chat)
    url = f"http://127.0.0.1:{bg.run(server.start())}/v1"
    client = ModelClient(OpenAIModel(f"openai:fake-model@{url}"), retries=1, backoff=FAST)
    try:
        [result] = asyncio.run(client.complete_many([(ASK, SamplingParams())]))
    finally:
        bg.run(server.close())
    assert isinstance(result, ModelError) and result.reason == "malformed_json" and says in result.detail


def test_preflight_fails_fast_on_a_dead_endpoint_and_warns_about_an_unlisted_model(bg: BackgroundLoop) -> None:
    dead = f"http://127.0.0.1:{_dead_port()}/v1"
    with pytest.raises(EndpointsDown, match="connection refused"):
        asyncio.run(preflight(f"openai:m@{dead}"))
    live = FakeServer()
    url = f"http://127.0.0.1:{bg.run(live.start())}/v1"
    try:
        warnings = asyncio.run(preflight(f"openai:other-model@{url},{dead}"))
    finally:
        bg.run(live.close())
    assert any("'other-model'" in w for w in warnings) and any(dead in w for w in warnings)
    assert asyncio.run(preflight("builtin:smollm2")) == []  # nothing to probe in-process


def test_messages_never_show_a_password_in_a_url() -> None:
    assert shown_url("https://user:secret@api.example.com:8443/v1") == "https://api.example.com:8443/v1"
    assert shown_url("http://h:8000/v1") == "http://h:8000/v1"

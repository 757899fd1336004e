"""OpenAI-compatible chat backend (vLLM, SGLang, llama.cpp, hosted APIs) over a lean HTTP/1.1 client.

Why our own HTTP client instead of ``openai.AsyncOpenAI`` or ``httpx``: distillation keeps
hundreds of 16K-token requests in flight for days, and the client must not be the bottleneck
on a 2-core box. Measured there with ~20 KB images, AsyncOpenAI tops out near 300 req/s
(~3 ms CPU per request), and httpx 0.28 with a large pool degrades as requests queue because
its pool bookkeeping is linear in the number of waiting requests. What we need from HTTP is
tiny: POST a JSON body to a few known hosts over keep-alive connections and read a JSON reply
(Content-Length or chunked). So each endpoint owns a plain list of idle asyncio stream
connections, and a semaphore in front (see :meth:`OpenAIModel._send`) admits at most as many
requests as there are connection slots: a queued request waits on the semaphore, never inside
the pool, and costs nothing until it is admitted.

This backend makes exactly one attempt per call and raises :class:`ModelError` with a
``retryable`` flag; :class:`finereason.models.client.ModelClient` owns retries, backoff and
counting, so every backend gets the same policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import ssl
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .breaker import Breaker, BreakerLimits, connect_cause, doubling, endpoints_down, fatal_cause
from .images import DEFAULT_MAX_PIXELS, image_data_uri
from .spec import ModelSpec, parse_spec
from .types import Completion, Message, ModelError, SamplingParams

try:  # orjson is 3-10x faster on the large base64 bodies; the stdlib is the fallback
    import orjson

    def _dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

    _loads = orjson.loads
    _JSONError: tuple[type[Exception], ...] = (orjson.JSONDecodeError,)
except ImportError:  # pragma: no cover - depends on the environment
    import json

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()

    _loads = json.loads
    _JSONError = (ValueError,)

API_KEY_ENV_VARS = ("FINEREASON_API_KEY", "OPENAI_API_KEY")
#: Statuses worth another try: overload, gateway trouble, server bugs that may be transient.
_RETRY_STATUSES = frozenset({408, 425, 429})
_THINK_SPLIT = re.compile(r"\s*<think>(.*?)</think>", re.S)


@dataclass(frozen=True)
class Timeouts:
    """Connect fails fast (a dead host is retried elsewhere); read waits out a 16K-token generation.

    Non-streaming replies arrive only when generation ends: 16K tokens at a busy server's
    10-20 tokens/s per sequence is 15-30 minutes, hence 1800 s.
    """

    connect: float = 10.0
    read: float = 1800.0


def fold_reasoning(content: str, reasoning: str | None, finish_reason: str) -> tuple[str, str | None]:
    """Return ``(text, reasoning)`` with reasoning always inside ``<think>…</think>`` at the start of text.

    vLLM/SGLang reasoning parsers move the thinking into ``reasoning_content`` (or ``reasoning``);
    Qwen3 thinking templates pre-fill ``<think>`` so the reply only closes it. Both are folded
    back to one shape. A reply cut off while still thinking keeps its ``<think>`` unclosed, so a
    format check cannot mistake it for finished reasoning.
    """
    if reasoning:
        reasoning = reasoning.strip()
        if not content and finish_reason == "length":
            return f"<think>\n{reasoning}\n", reasoning
        return f"<think>\n{reasoning}\n</think>\n\n{content.lstrip()}", reasoning
    head, closes, _ = content.partition("</think>")
    if closes and "<think>" not in head:
        content = ("<think>" if content.startswith("\n") else "<think>\n") + content
    match = _THINK_SPLIT.match(content)
    return content, (match.group(1).strip() if match else None)


def _retryable(reason: str, detail: str = "", retry_after: float | None = None) -> ModelError:
    return ModelError(reason, detail, retryable=True, retry_after=retry_after)


class _Endpoint:
    """One server: its keep-alive connections, load and health.

    ``down_until`` steers new requests to healthy endpoints after a failure, so a dead server
    among several does not soak up every retry; with no healthy choice left it is still used.
    ``breaker`` counts the failures that say it cannot serve at all (see :mod:`.health`).
    """

    def __init__(
        self, base_url: str, capacity: int, timeouts: Timeouts, auth: bytes, limits: BreakerLimits
    ) -> None:
        parts = urlsplit(base_url)
        self.url = base_url
        self.capacity = capacity
        self.timeouts = timeouts
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.tls else 80)
        self.path = parts.path.encode()
        host_header = parts.netloc.rpartition("@")[2].encode()
        self.headers = (
            b"Host: " + host_header + b"\r\nUser-Agent: finereason\r\nAccept: application/json\r\n" + auth
        )
        self.idle: deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = deque()
        self.in_flight = 0
        self.failures = 0
        self.down_until = 0.0
        self.breaker = Breaker(limits)

    def mark(self, ok: bool) -> None:
        if ok:
            self.failures, self.down_until = 0, 0.0
        else:
            self.failures += 1
            self.down_until = asyncio.get_running_loop().time() + doubling(0.5, self.failures, 30.0)

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self.idle:
            reader, writer = self.idle.pop()  # most recently used: least likely closed by the server
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.transport.abort()
        try:
            async with asyncio.timeout(self.timeouts.connect):
                return await asyncio.open_connection(
                    self.host, self.port, ssl=self.tls, server_hostname=self.host if self.tls else None
                )
        except TimeoutError as exc:
            raise _retryable(
                "connect_timeout", f"{self.url}: no connection after {self.timeouts.connect:g}s"
            ) from exc
        except OSError as exc:  # ssl.SSLError and socket.gaierror are OSErrors too
            raise _retryable("connect_error", f"{self.url}: {connect_cause(exc)}") from exc

    async def request(
        self, method: bytes, suffix: bytes, body: bytes = b""
    ) -> tuple[int, dict[bytes, bytes], bytes]:
        """One HTTP exchange on a pooled connection; the connection goes back only after a clean reply."""
        reader, writer = await self._connection()
        head = b"%s %s%s HTTP/1.1\r\n%s" % (method, self.path, suffix, self.headers)
        if body:
            head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        try:
            async with asyncio.timeout(self.timeouts.read):
                writer.write(head + b"\r\n" + body)
                if writer.transport.get_write_buffer_size():
                    await writer.drain()
                status, headers, data, keep_alive = await _read_response(reader)
        except BaseException as exc:
            writer.transport.abort()  # never reuse a connection whose reply may still arrive
            if isinstance(exc, TimeoutError):
                raise _retryable("timeout", f"{self.url}: no reply after {self.timeouts.read:g}s") from exc
            if isinstance(exc, (OSError, asyncio.IncompleteReadError)):
                raise _retryable("connection_reset", f"{self.url}: {exc!r}") from exc
            if isinstance(exc, (asyncio.LimitOverrunError, ValueError)):
                raise _retryable("malformed_http", f"{self.url}: {exc}") from exc
            raise
        if keep_alive:
            self.idle.append((reader, writer))
        else:
            writer.transport.abort()
        return status, headers, data

    def close(self) -> None:
        while self.idle:
            self.idle.pop()[1].transport.abort()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes], bytes, bool]:
    """Read status, headers and body (Content-Length, chunked or until close); raise ValueError if garbled."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        version, _, rest = lines[0].partition(b" ")
        status = int(rest[:3])
        if status >= 200 or status == 101:
            break  # skip interim 1xx replies
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
    keep_alive = version == b"HTTP/1.1" and headers.get(b"connection", b"").lower() != b"close"
    if b"content-length" in headers:
        body = await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding", b"").lower().endswith(b"chunked"):
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16):
            parts.append((await reader.readexactly(size + 2))[:-2])
        while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
            pass
        body = b"".join(parts)
    else:
        body, keep_alive = await reader.read(), False
    return status, headers, body, keep_alive


def to_openai_messages(messages: list[Message], max_pixels: int | None = DEFAULT_MAX_PIXELS) -> list[dict[str, Any]]:
    """Our messages → OpenAI chat messages; image bytes become base64 ``image_url`` data URIs.

    Every OpenAI-shaped door uses it (HTTP, in-process vLLM, Ray Data LLM), so a model sees the
    same input however it is served.
    """
    wire = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            parts = []
            for part in content:
                if part.get("type") == "image":
                    image = part["image"]
                    url = (
                        image_data_uri(image, max_pixels)
                        if isinstance(image, (bytes, bytearray))
                        else str(image)
                    )
                    parts.append({"type": "image_url", "image_url": {"url": url}})
                else:
                    parts.append(part)
            if all(p.get("type") == "text" for p in parts):
                # Text-only chat templates (llama.cpp's among them) reject a list of parts: join them.
                message = {**message, "content": "\n".join(p["text"] for p in parts)}
            else:
                message = {**message, "content": parts}
        wire.append(message)
    return wire


def _parse_reply(data: bytes, n: int) -> list[Completion]:
    try:
        reply = _loads(data)
    except _JSONError as exc:
        hint = "an HTML page, not JSON: is the URL an OpenAI-compatible API (…/v1)?; " if data.lstrip()[:1] == b"<" else ""
        what = "an empty body" if not data.strip() else f"body starts {data[:120]!r}"
        raise _retryable("malformed_json", f"{hint}{exc}; {what}") from exc
    if not isinstance(reply, dict):
        raise _retryable("malformed_json", f"reply is a {type(reply).__name__}, not an object")
    choices = reply.get("choices")
    if not choices or not isinstance(choices, list):
        raise _retryable("empty_choices", str(reply.get("error") or "reply has no choices")[:300])
    if len(choices) < n:
        raise ModelError(
            "missing_choices", f"asked for n={n}, got {len(choices)} (does the server support n>1?)"
        )
    usage = reply.get("usage") or {}
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    # The server reports one total for all n samples; split it evenly (remainder to the first).
    total = int(usage.get("completion_tokens") or 0)
    shares = [total // len(choices) + (1 if i < total % len(choices) else 0) for i in range(len(choices))]
    out = []
    for choice, share in zip(sorted(choices, key=lambda c: c.get("index", 0)), shares, strict=True):
        message = choice.get("message")
        if not isinstance(message, dict):
            raise _retryable("malformed_json", "choice without a message object")
        finish = choice.get("finish_reason") or "stop"
        if message.get("content") is None and not (message.get("reasoning_content") or message.get("reasoning")):
            # 200 with nothing in it: the server did not answer (issue 17); never a completion.
            raise _retryable("empty_completion", f"choice {choice.get('index', 0)}: content is null")
        text, reasoning = fold_reasoning(
            message.get("content") or "", message.get("reasoning_content") or message.get("reasoning"), finish
        )
        out.append(Completion(text, reasoning, finish, prompt_tokens, share))
    return out


def _http_error(status: int, headers: dict[bytes, bytes], data: bytes, url: str) -> ModelError:
    detail = f"{url}: {data[:300].decode('utf-8', 'replace')}"
    if status in _RETRY_STATUSES or status >= 500:
        retry_after = None
        with contextlib.suppress(KeyError, ValueError):  # absent, or an HTTP date: back off our own way
            retry_after = float(headers[b"retry-after"])
        return _retryable(f"http_{status}", detail, retry_after)
    return ModelError(f"http_{status}", detail)


class OpenAIModel:
    """Chat completions from one model served by one or more OpenAI-compatible endpoints.

    ``concurrency`` is per endpoint: the most requests one server gets at once, which is also
    its connection pool size. Requests go to the endpoint with the fewest in flight among the
    healthy ones (least-loaded balancing tolerates servers of unequal speed).
    """

    accepts_images: bool

    def __init__(
        self,
        spec: ModelSpec | str,
        *,
        concurrency: int = 64,
        timeouts: Timeouts | Mapping[str, float] = Timeouts(),
        api_key: str | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        accepts_images: bool = True,
        breaker: BreakerLimits | Mapping[str, float] = BreakerLimits(),
    ) -> None:
        parsed = parse_spec(spec) if isinstance(spec, str) else spec
        if parsed.kind != "openai":
            raise ValueError(f"model spec {parsed.raw!r} is not an openai: spec")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.spec = parsed.raw
        self.model = parsed.model
        self.model_id = parsed.model_id
        self.accepts_images = accepts_images
        self.max_pixels = max_pixels
        key = api_key or next((os.environ[v] for v in API_KEY_ENV_VARS if os.environ.get(v)), "")
        auth = b"Authorization: Bearer " + key.encode() + b"\r\n" if key else b""
        if isinstance(timeouts, Mapping):  # as written in a recipe: {connect: 10, read: 1800}
            timeouts = Timeouts(**timeouts)
        if isinstance(breaker, Mapping):  # as written in a recipe: {tries: 8, seconds: 30}
            breaker = BreakerLimits(**breaker)
        self._endpoints = [_Endpoint(url, concurrency, timeouts, auth, breaker) for url in parsed.endpoints]
        self._gate: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def max_concurrency(self) -> int:
        """Requests this model can usefully have in flight: the sum of endpoint capacities."""
        return sum(ep.capacity for ep in self._endpoints)

    @property
    def endpoints(self) -> list[str]:
        return [ep.url for ep in self._endpoints]

    def __repr__(self) -> str:  # never shows the API key
        return f"OpenAIModel({self.spec!r})"

    def _pick(self) -> _Endpoint:
        if len(self._endpoints) == 1:
            return self._endpoints[0]
        now = asyncio.get_running_loop().time()
        return min(
            (ep for ep in self._endpoints if ep.in_flight < ep.capacity),
            key=lambda ep: (ep.down_until > now, ep.in_flight / ep.capacity),
            default=self._endpoints[0],
        )

    async def _send(
        self, method: bytes, suffix: bytes, body: bytes = b"", endpoint: int | None = None
    ) -> bytes:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or a new asyncio.run(): loop-bound state starts afresh
            self._loop, self._gate = loop, asyncio.Semaphore(self.max_concurrency)
            for ep in self._endpoints:
                ep.idle.clear()  # connections of a finished loop cannot be used from this one
        assert self._gate is not None
        async with self._gate:  # the only queue: admitted requests always find a free slot
            ep = self._endpoints[endpoint] if endpoint is not None else self._pick()
            ep.in_flight += 1
            try:
                status, headers, data = await ep.request(method, suffix, body)
            except ModelError as error:
                ep.mark(False)
                self._judge(ep, error)
                raise
            finally:
                ep.in_flight -= 1
        if status == 200:
            ep.mark(True)
            ep.breaker.ok()
            return data
        error = _http_error(status, headers, data, ep.url)
        ep.mark(not error.retryable)
        self._judge(ep, error)
        raise error

    def _judge(self, ep: _Endpoint, error: ModelError) -> None:
        """Count a failure against ``ep``'s breaker; raise EndpointsDown once every endpoint has tripped."""
        cause = fatal_cause(error, ep.url)
        if cause is None:
            ep.breaker.ok()  # the server answered: it is there, whatever went wrong this time
            return
        ep.breaker.fail(cause)
        if all(e.breaker.tripped for e in self._endpoints):
            raise endpoints_down(self.model_id, {e.url: e.breaker.describe() for e in self._endpoints}) from error

    def payload(self, messages: list[Message], params: SamplingParams) -> dict[str, Any]:
        """The request body: every sampling setting is sent, so server defaults never decide silently."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(messages, self.max_pixels),
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "n": params.n,
            "stop": list(params.stop),
        }
        if params.seed is not None:
            body["seed"] = params.seed
        body.update(params.extra)
        return body

    async def complete(self, messages: list[Message], params: SamplingParams) -> list[Completion]:
        """One attempt; raises :class:`ModelError` (``retryable`` tells the caller whether to try again)."""
        try:
            body = _dumps(self.payload(messages, params))
        except (ValueError, TypeError, OSError) as exc:  # an undecodable image, unserialisable extra
            raise ModelError("bad_input", str(exc)) from exc
        data = await self._send(b"POST", b"/chat/completions", body)
        return _parse_reply(data, params.n)

    async def list_models(self, endpoint: int = 0) -> list[str]:
        """Model ids an endpoint serves (``GET /models``)."""
        data = await self._send(b"GET", b"/models", endpoint=endpoint)
        try:
            reply = _loads(data)
            return [str(m["id"]) for m in reply.get("data", [])]
        except (*_JSONError, AttributeError, KeyError, TypeError) as exc:
            raise _retryable("malformed_json", f"/models reply: {data[:120]!r}") from exc

    async def aclose(self) -> None:
        for ep in self._endpoints:
            ep.close()

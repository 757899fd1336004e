"""A cheap OpenAI-compatible chat server with a fixed capacity, for tests and the client benchmark.

Capacity is ``slots`` requests generating at once, each taking ``min(max_tokens, reply_tokens) *
seconds_per_token``; more requests queue. So the best any client can achieve at concurrency c is
``min(c, slots) / latency`` requests per second, which the benchmark compares against.

It must never be the bottleneck: requests are parsed with byte searches (no JSON decode unless
``record`` is on), replies are pre-rendered, and the benchmark runs it in its own process.

Run standalone: ``python tests/servers/fake_openai.py --slots 128 --seconds-per-token 0.001``;
it prints ``PORT <n>`` once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import string
from typing import Any

_MAX_TOKENS = re.compile(rb'"max_tokens":\s*(\d+)')
_N = re.compile(rb'"n":\s*(\d+)')


class FakeServer:
    """Serves ``POST /v1/chat/completions`` and ``GET /v1/models`` on loopback.

    ``reasoning_field`` names where the reasoning goes (``reasoning_content``, ``reasoning``, or
    None to put only ``content``). With ``record=True`` every decoded request body is kept in
    ``requests`` (and the raw request heads in ``heads``) for assertions.
    """

    def __init__(
        self,
        *,
        slots: int = 64,
        seconds_per_token: float = 0.0,
        reply_tokens: int = 200,
        reply_bytes: int = 2000,
        reasoning_field: str | None = "reasoning_content",
        model: str = "fake-model",
        record: bool = False,
    ) -> None:
        self.slots = slots
        self.seconds_per_token = seconds_per_token
        self.reply_tokens = reply_tokens
        self.reply_bytes = reply_bytes
        self.reasoning_field = reasoning_field
        self.model = model
        self.record = record
        self.requests: list[dict[str, Any]] = []
        self.heads: list[bytes] = []
        self.count = 0
        self.connections = 0
        self._replies: dict[tuple[int, int], bytes] = {}
        self._gate: asyncio.Semaphore | None = None
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    def _reply(self, n: int, tokens: int) -> bytes:
        cached = self._replies.get((n, tokens))
        if cached is None:
            finish = "length" if tokens < self.reply_tokens else "stop"
            message: dict[str, Any] = {"role": "assistant", "content": "The answer is <answer>42</answer>."}
            if self.reasoning_field:
                message[self.reasoning_field] = _prose(self.reply_bytes)
            body = json.dumps(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "model": self.model,
                    "choices": [{"index": i, "message": message, "finish_reason": finish} for i in range(n)],
                    "usage": {
                        "prompt_tokens": 10,
                        "completion_tokens": tokens * n,
                        "total_tokens": 10 + tokens * n,
                    },
                }
            ).encode()
            cached = _response(200, body)
            self._replies[(n, tokens)] = cached
        return cached

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._gate = asyncio.Semaphore(self.slots)
        self._server = await asyncio.start_server(self._handle, host, port, backlog=4096)
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._clients):
                writer.transport.abort()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._clients.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length) if length else b""
                if head.startswith(b"GET /v1/models"):
                    models = json.dumps(
                        {"object": "list", "data": [{"id": self.model, "object": "model"}]}
                    ).encode()
                    writer.write(_response(200, models))
                    continue
                self.count += 1
                if self.record:
                    self.requests.append(json.loads(body))
                    self.heads.append(head)
                m = _MAX_TOKENS.search(body)
                tokens = min(int(m.group(1)), self.reply_tokens) if m else self.reply_tokens
                m = _N.search(body)
                n = int(m.group(1)) if m else 1
                assert self._gate is not None
                async with self._gate:
                    if self.seconds_per_token:
                        await asyncio.sleep(tokens * self.seconds_per_token)
                writer.write(self._reply(n, tokens))
        finally:
            self._clients.discard(writer)
            writer.close()


def _prose(size: int) -> str:
    """Deterministic text about as compressible as real reasoning (a repeated word is far more so)."""
    rng = random.Random(size)
    words = "the of and to a in is we that so angle area x y = + 2 3 5 7 triangle side therefore let".split()
    words += ["".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 9))) for _ in range(400)]
    text = ""
    while len(text) < size:
        text += rng.choice(words) + " "
    return text[:size]


def _response(status: int, body: bytes) -> bytes:
    return b"HTTP/1.1 %d OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        status,
        len(body),
        body,
    )


async def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--slots", type=int, default=128)
    parser.add_argument("--seconds-per-token", type=float, default=0.001)
    parser.add_argument("--reply-tokens", type=int, default=200)
    parser.add_argument("--reply-bytes", type=int, default=2000)
    args = parser.parse_args()
    server = FakeServer(
        slots=args.slots,
        seconds_per_token=args.seconds_per_token,
        reply_tokens=args.reply_tokens,
        reply_bytes=args.reply_bytes,
    )
    port = await server.start(port=args.port)
    print(f"PORT {port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_main())

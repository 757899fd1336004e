"""An HTTP proxy that injects faults in front of a real OpenAI-compatible server.

Each chat request takes the next fault from ``faults`` (a queue the test fills); an empty queue
means "forward untouched". Every chat request is counted by the sha256 of its body, so a test
can tell exactly how often the upstream server was asked for the same thing.

Faults:
    400          reply 400 (not retryable: the client must give up at once)
    500          reply 500 with a JSON error body
    429          reply 429 with ``Retry-After: 0``
    hang         read the request, never answer (the client's read timeout must fire)
    reset        read the request, then reset the TCP connection without a reply
    reset_mid    forward, send half the reply's headers, then reset
    malformed    forward, then reply 200 with the upstream body cut in half (invalid JSON)
    empty        reply 200 with ``"choices": []``
    null_content reply 200 with one choice whose ``content`` is null (an overloaded worker's reply)
    truncate     forward with ``max_tokens`` rewritten to 2, so the real server stops at ``length``
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import struct
from collections import Counter, deque

FAULTS = ("400", "500", "429", "hang", "reset", "reset_mid", "malformed", "empty", "null_content", "truncate")


class FaultProxy:
    """Forwards to ``upstream_host:upstream_port`` over one upstream connection per client connection."""

    def __init__(self, upstream_host: str, upstream_port: int, *, delay: float = 0.0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay = delay
        self.faults: deque[str] = deque()
        self.attempts: Counter[str] = Counter()  # chat requests by body sha256
        self.injected: list[str] = []
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    @property
    def total(self) -> int:
        return sum(self.attempts.values())

    def reset_counts(self) -> None:
        self.faults.clear()
        self.attempts.clear()
        self.injected.clear()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._handle, host, port, backlog=1024)
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._clients):
                writer.transport.abort()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._clients.add(writer)
        try:
            while True:
                try:
                    head, body = await _read_message(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                fault = ""
                if b"/chat/completions" in head.split(b"\r\n", 1)[0]:
                    self.attempts[hashlib.sha256(body).hexdigest()] += 1
                    fault = self.faults.popleft() if self.faults else ""
                    if fault:
                        self.injected.append(fault)
                    if self.delay:
                        await asyncio.sleep(self.delay)
                if fault == "400":
                    writer.write(_reply(400, b'{"error":{"message":"injected 400"}}'))
                    continue
                if fault == "500":
                    writer.write(_reply(500, b'{"error":{"message":"injected 500"}}'))
                    continue
                if fault == "429":
                    writer.write(_reply(429, b'{"error":{"message":"slow down"}}', b"Retry-After: 0\r\n"))
                    continue
                if fault == "empty":
                    writer.write(
                        _reply(200, b'{"id":"x","object":"chat.completion","choices":[],"usage":{}}')
                    )
                    continue
                if fault == "null_content":
                    writer.write(_reply(200, b'{"id":"x","object":"chat.completion","choices":[{"index":0,'
                                             b'"message":{"role":"assistant","content":null},'
                                             b'"finish_reason":"stop"}],"usage":{"completion_tokens":0}}'))
                    continue
                if fault == "hang":
                    with contextlib.suppress(ConnectionError):
                        await reader.read()  # until the client gives up and closes
                    return
                if fault == "reset":
                    _reset(writer)
                    return
                if fault == "truncate":
                    request = json.loads(body)
                    request["max_tokens"] = 2
                    body = json.dumps(request).encode()
                    head = _with_length(head, len(body))
                if upstream is None:
                    upstream = await asyncio.open_connection(*self.upstream)
                upstream[1].write(head + body)
                status_head, reply = await _read_message(upstream[0])
                if fault == "reset_mid":
                    writer.write(status_head[: len(status_head) // 2])
                    await writer.drain()
                    _reset(writer)
                    return
                if fault == "malformed":
                    reply = reply[: len(reply) // 2]
                    status_head = _with_length(status_head, len(reply))
                writer.write(status_head + reply)
        finally:
            self._clients.discard(writer)
            if upstream is not None:
                upstream[1].close()
            writer.close()


async def _read_message(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """Head (with its blank line) and body of one HTTP message with a Content-Length (or none)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, (await reader.readexactly(length) if length else b"")


def _with_length(head: bytes, length: int) -> bytes:
    lines = [
        b"Content-Length: %d" % length if line.lower().startswith(b"content-length:") else line
        for line in head.split(b"\r\n")
    ]
    return b"\r\n".join(lines)


def _reply(status: int, body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        status,
        len(body),
        extra,
        body,
    )


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST instead of a FIN: what a crashed server or a load balancer drop looks like."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()

"""A server that answers every request with one canned reply: the bad servers a user may point at.

``chat`` and ``models`` are raw HTTP replies (status line, headers, body) for ``POST …/chat/completions``
and ``GET …/models``; a body can be HTML, empty, or cut mid-JSON, with any status.
"""

from __future__ import annotations

import asyncio


def reply(status: int, body: bytes, content_type: str = "application/json") -> bytes:
    return b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (
        status, content_type.encode(), len(body), body)


MODELS_OK = reply(200, b'{"object":"list","data":[{"id":"fake-model","object":"model"}]}')


class CannedServer:
    def __init__(self, chat: bytes, models: bytes = MODELS_OK) -> None:
        self.chat, self.models = chat, models
        self.count = 0
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._clients):
                writer.transport.abort()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line[15:]) for line in head.split(b"\r\n")
                               if line[:15].lower() == b"content-length:"), 0)
                if length:
                    await reader.readexactly(length)
                if head.startswith(b"GET") and b"/models" in head.split(b"\r\n", 1)[0]:
                    writer.write(self.models)
                else:
                    self.count += 1
                    writer.write(self.chat)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._clients.discard(writer)
            writer.close()

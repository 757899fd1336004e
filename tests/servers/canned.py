"""A server that answers every request with one canned reply: the bad servers a user may point at.

``chat`` and ``models`` are raw HTTP replies (status line, headers, body) for ``POST …/chat/completions``
and ``GET …/models``; a body can be HTML, empty, or cut mid-JSON, with any status. Start, close and
connection tracking are the fake server's.
"""

from __future__ import annotations

import asyncio

from .fake_openai import FakeServer


def reply(status: int, body: bytes, content_type: str = "application/json") -> bytes:
    return b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (
        status, content_type.encode(), len(body), body)


MODELS_OK = reply(200, b'{"object":"list","data":[{"id":"fake-model","object":"model"}]}')


class CannedServer(FakeServer):
    def __init__(self, chat: bytes, models: bytes = MODELS_OK) -> None:
        super().__init__()
        self.chat, self.models = chat, models

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

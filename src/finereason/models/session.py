"""A model client opened lazily inside whichever process runs a stage.

Stages are shipped to worker processes (or Ray actors) as plain settings; the HTTP pool, the
loaded weights and the journal's SQLite connection are opened on first use there, bound to the
running event loop, and closed by the stage's ``aclose``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from finereason.models.client import ModelClient
from finereason.models.journal import Journal
from finereason.models.spec import load_model
from finereason.models.types import Message, SamplingParams


@dataclass
class LazyClient:
    """``spec`` + journal path + concurrency now; a :class:`ModelClient` on first ``get()``."""

    spec: str
    journal_path: str | None = None
    concurrency: int | None = None
    retries: int = 5
    _client: ModelClient | None = field(default=None, repr=False)

    def get(self) -> ModelClient:
        if self._client is None:
            journal = None
            if self.journal_path:
                Path(self.journal_path).parent.mkdir(parents=True, exist_ok=True)
                journal = Journal(self.journal_path)
            self._client = ModelClient(load_model(self.spec), journal, concurrency=self.concurrency,
                                       retries=self.retries)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def text_message(text: str) -> list[Message]:
    return [{"role": "user", "content": text}]


def blocking_text_call(client: ModelClient, params: SamplingParams, loop: asyncio.AbstractEventLoop) -> Callable[[str], str]:
    """A synchronous ``prompt -> text`` for code that runs in a worker thread (the verify judge).

    The request still goes through the client on ``loop``, so it is journaled and retried.
    """

    def call(prompt: str) -> str:
        fut = asyncio.run_coroutine_threadsafe(client.complete(text_message(prompt), params), loop)
        return fut.result()[0].text

    return call

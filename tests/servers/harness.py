"""Test plumbing shared by the model tests: a background event loop and what the fixtures hand out."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from .fault_proxy import FaultProxy

T = TypeVar("T")


class BackgroundLoop:
    """An event loop on a daemon thread, for servers that must outlive each test's own loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


@dataclass
class Upstream:
    """A server for the fault proxy to front, and a read timeout that its honest replies beat."""

    port: int
    read_timeout: float


@dataclass
class Proxied:
    proxy: FaultProxy
    url: str
    read_timeout: float

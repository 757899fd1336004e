"""Test-suite root: its presence puts ``tests/`` on ``sys.path`` so ``fixture_dir`` imports everywhere.

It also holds the fixtures several test folders share.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from servers.harness import BackgroundLoop


@pytest.fixture(scope="session")
def bg() -> Iterator[BackgroundLoop]:
    """An event loop on a background thread, for loopback servers, so tests can use plain ``asyncio.run``."""
    loop = BackgroundLoop()
    yield loop
    loop.stop()

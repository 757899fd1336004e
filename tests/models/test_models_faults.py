"""Every fault the proxy can inject is retried up to the limit, then raised with its reason; nothing is lost.

Runs against the fake server always and against the real llama-cpp server when ``slow`` tests run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers.harness import Proxied

import finereason
from finereason.models import (
    Backoff,
    Journal,
    ModelClient,
    ModelError,
    OpenAIModel,
    SamplingParams,
    Timeouts,
)

FAST = Backoff(base=0.01, cap=0.05)
PARAMS = SamplingParams(max_tokens=6, temperature=0.0, seed=0)
ASK = [{"role": "user", "content": "Name a colour."}]
RETRYABLE = {
    "500": "http_500",
    "429": "http_429",
    "hang": "timeout",
    "reset": "connection_reset",
    "reset_mid": "connection_reset",
    "malformed": "malformed_json",
    "empty": "empty_choices",
    "null_content": "empty_completion",  # a 200 with nothing in it is a failed request, never done
}
WORKER = Path(__file__).with_name("resume_worker.py")


def client_for(proxied: Proxied, journal: Journal, retries: int) -> ModelClient:
    model = OpenAIModel(
        f"openai:smollm2@{proxied.url}", timeouts=Timeouts(connect=2, read=proxied.read_timeout)
    )
    return ModelClient(model, journal, retries=retries, backoff=FAST)


@pytest.mark.parametrize("fault", RETRYABLE)
def test_fault_is_retried_until_it_succeeds(proxy: Proxied, tmp_path: Path, fault: str) -> None:
    faults = proxy.proxy
    faults.faults.extend([fault, fault])
    with Journal(tmp_path / "j.sqlite") as journal:
        client = client_for(proxy, journal, retries=3)
        [completion] = asyncio.run(client.complete(ASK, PARAMS))
        assert journal.counts() == {"done": 1, "failed": 0}
    assert completion.text and completion.completion_tokens > 0
    assert faults.injected == [fault, fault]
    # Every attempt reached the server; on a loaded machine an honest reply may also time out once.
    assert faults.total == client.usage.retries + 1 and client.usage.retry_reasons[RETRYABLE[fault]] >= 2


@pytest.mark.parametrize("fault", RETRYABLE)
def test_fault_past_the_limit_raises_its_reason_and_a_rerun_recovers(
    proxy: Proxied, tmp_path: Path, fault: str
) -> None:
    faults = proxy.proxy
    faults.faults.extend([fault] * 3)
    with Journal(tmp_path / "j.sqlite") as journal:
        with pytest.raises(ModelError) as info:
            asyncio.run(client_for(proxy, journal, retries=2).complete(ASK, PARAMS))
        assert info.value.reason == RETRYABLE[fault] and faults.total == 3
        assert [f.reason for f in journal.failures()] == [RETRYABLE[fault]]
        [completion] = asyncio.run(client_for(proxy, journal, retries=2).complete(ASK, PARAMS))
        assert completion.text and journal.counts() == {"done": 1, "failed": 0} and faults.total >= 4


def test_client_errors_are_not_retried(proxy: Proxied, tmp_path: Path) -> None:
    faults = proxy.proxy
    faults.faults.append("400")
    with Journal(tmp_path / "j.sqlite") as journal:
        client = client_for(proxy, journal, retries=5)
        with pytest.raises(ModelError, match="http_400"):
            asyncio.run(client.complete(ASK, PARAMS))
    assert faults.total == 1 and client.usage.retries == 0 and client.usage.errors == {"http_400": 1}


def test_truncated_output_is_returned_marked(proxy: Proxied, tmp_path: Path) -> None:
    faults = proxy.proxy
    faults.faults.append("truncate")  # the proxy lowers max_tokens to 2: the server stops at "length"
    with Journal(tmp_path / "j.sqlite") as journal:
        client = client_for(proxy, journal, retries=3)
        [completion] = asyncio.run(client.complete(ASK, PARAMS))
    assert completion.truncated and completion.finish_reason == "length" and completion.completion_tokens == 2
    assert faults.total == client.usage.retries + 1


def _done(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT COUNT(*) FROM requests WHERE status = 'done'").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_kill_9_then_rerun_pays_only_for_what_was_in_flight(proxy: Proxied, tmp_path: Path) -> None:
    faults = proxy.proxy
    n, concurrency, db = 30, 4, tmp_path / "journal.sqlite"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(finereason.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
    }
    command = [sys.executable, str(WORKER), proxy.url, str(db), str(n), str(concurrency)]

    worker = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 120
    while _done(db) < n // 3:
        assert worker.poll() is None, "worker finished or died before it could be killed"
        assert time.monotonic() < deadline, "worker made no progress"
        time.sleep(0.005)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    time.sleep(0.5)  # let requests already on the wire reach the proxy
    committed, sent = _done(db), faults.total
    in_flight = sent - committed
    assert committed < n and 0 <= in_flight <= concurrency

    subprocess.run(command, env=env, check=True, timeout=300)
    with Journal(db) as journal:
        assert journal.counts() == {"done": n, "failed": 0}
    assert faults.total - sent == n - committed  # the rerun sent exactly what never completed
    assert len(faults.attempts) == n and max(faults.attempts.values()) <= 2
    assert (
        sum(count - 1 for count in faults.attempts.values()) == in_flight
    )  # repeats = in flight at the kill

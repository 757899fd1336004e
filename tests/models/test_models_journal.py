"""The journal: stable keys, JSON values, group-committed concurrent writes, failures that stay retryable."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import zlib
from pathlib import Path

from finereason.models import (
    Completion,
    Journal,
    ModelError,
    SamplingParams,
    request_key,
)

IMAGE = b"\x89PNG\r\n\x1a\n...pixels..."
MESSAGES = [{"role": "user", "content": [{"type": "image", "image": IMAGE}, {"type": "text", "text": "Q?"}]}]
PARAMS = SamplingParams(max_tokens=100, seed=1)


def test_key_is_stable_and_covers_model_messages_and_every_setting() -> None:
    key = request_key("openai:m", MESSAGES, PARAMS)
    reordered = [
        {"content": [{"image": IMAGE, "type": "image"}, {"text": "Q?", "type": "text"}], "role": "user"}
    ]
    assert request_key("openai:m", reordered, SamplingParams(seed=1, max_tokens=100)) == key
    changed = [
        request_key("openai:other", MESSAGES, PARAMS),
        request_key(
            "openai:m",
            [
                {
                    "role": "user",
                    "content": [{"type": "image", "image": IMAGE + b"!"}, {"type": "text", "text": "Q?"}],
                }
            ],
            PARAMS,
        ),
        request_key(
            "openai:m",
            [
                {
                    "role": "user",
                    "content": [{"type": "image", "image": IMAGE}, {"type": "text", "text": "Q!"}],
                }
            ],
            PARAMS,
        ),
        *(
            request_key("openai:m", MESSAGES, p)
            for p in [
                SamplingParams(max_tokens=101, seed=1),
                SamplingParams(max_tokens=100, seed=2),
                SamplingParams(max_tokens=100, seed=1, top_p=0.9),
                SamplingParams(max_tokens=100, seed=1, temperature=0.6),
                SamplingParams(max_tokens=100, seed=1, n=2),
                SamplingParams(max_tokens=100, seed=1, stop=("x",)),
                SamplingParams(max_tokens=100, seed=1, extra=(("k", 1),)),
            ]
        ),
    ]
    assert len({key, *changed}) == len(changed) + 1


def test_round_trip_is_json_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    completions = [Completion("<think>\nx\n</think>\n\ny", "x", "length", 5, 7), Completion("z")]
    with Journal(path) as journal:
        assert journal.get("k") is None
        asyncio.run(journal.put("k", "openai:m", PARAMS, completions))
        assert journal.get("k") == completions
    with Journal(path) as journal:
        assert journal.get("k") == completions and journal.get("k")[0].truncated
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        (value,) = conn.execute("SELECT completions FROM requests WHERE key='k'").fetchone()
    assert json.loads(zlib.decompress(value))[1]["text"] == "z"


def test_failures_are_reported_retried_and_never_overwrite_results(tmp_path: Path) -> None:
    async def go(journal: Journal) -> None:
        await journal.put_failure("a", "m", PARAMS, ModelError("http_500", "boom"))
        await journal.put_failure("a", "m", PARAMS, ModelError("timeout", "slow"))
        await journal.put_failure("b", "m", PARAMS, ModelError("http_429"))
        assert journal.get("a") is None  # a failure is not a result: the next run asks again
        assert [(f.key, f.reason, f.detail, f.failures) for f in journal.failures()] == [
            ("a", "timeout", "slow", 2),
            ("b", "http_429", "", 1),
        ]
        await journal.put("a", "m", PARAMS, [Completion("ok")])
        await journal.put("a", "m", PARAMS, [Completion("second answer is ignored")])
        await journal.put_failure("a", "m", PARAMS, ModelError("http_500"))
        assert journal.get("a") == [Completion("ok")]
        assert journal.counts() == {"done": 1, "failed": 1}

    with Journal(tmp_path / "j.sqlite") as journal:
        asyncio.run(go(journal))


def test_many_concurrent_writers_all_land(tmp_path: Path) -> None:
    async def go(journal: Journal) -> None:
        await asyncio.gather(*(journal.put(f"k{i}", "m", PARAMS, [Completion(str(i))]) for i in range(3000)))

    with Journal(tmp_path / "j.sqlite") as journal:
        asyncio.run(go(journal))
        assert journal.counts()["done"] == 3000
        assert all(journal.get(f"k{i}") == [Completion(str(i))] for i in range(0, 3000, 97))


def test_writes_from_two_event_loops(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        asyncio.run(journal.put("one", "m", PARAMS, [Completion("1")]))
        asyncio.run(journal.put("two", "m", PARAMS, [Completion("2")]))
        assert journal.counts()["done"] == 2

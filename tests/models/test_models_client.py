"""ModelClient: retry policy, journal resume, coalescing, concurrency bound, progress."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from finereason.models import (
    Backoff,
    Completion,
    Journal,
    ModelClient,
    ModelError,
    Progress,
    SamplingParams,
)

FAST = Backoff(base=0.001, cap=0.01)
PARAMS = SamplingParams(max_tokens=10)


class Scripted:
    """A model that fails according to a script of reasons, then answers with the prompt text."""

    spec = "scripted:test"
    model_id = "scripted:test"
    accepts_images = False

    def __init__(self, script: list[str | None] | None = None, delay: float = 0.0) -> None:
        self.script = list(script or [])
        self.delay = delay
        self.calls = 0
        self.in_flight = 0
        self.peak = 0
        self.closed = False

    async def complete(self, messages: list, params: SamplingParams) -> list[Completion]:
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            reason = self.script.pop(0) if self.script else None
            if reason == "http_400":
                raise ModelError(reason, "bad request")
            if reason:
                raise ModelError(reason, "scripted", retryable=True, retry_after=0.0)
            return [
                Completion(messages[0]["content"], completion_tokens=3, prompt_tokens=2)
                for _ in range(params.n)
            ]
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        self.closed = True


def ask(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_retryable_errors_are_retried_and_counted() -> None:
    model = Scripted(["http_500", "timeout", "http_500"])
    client = ModelClient(model, retries=3, backoff=FAST)
    assert asyncio.run(client.complete(ask("q"), PARAMS)) == [Completion("q", None, "stop", 2, 3)]
    assert model.calls == 4
    usage = client.usage
    assert (usage.requests, usage.retries, usage.failed, usage.completion_tokens) == (1, 3, 0, 3)
    assert usage.retry_reasons == {"http_500": 2, "timeout": 1} and usage.errors == {}


def test_gives_up_after_the_limit_with_the_reason(tmp_path: Path) -> None:
    model = Scripted(["http_429"] * 3)
    journal = Journal(tmp_path / "j.sqlite")
    client = ModelClient(model, journal, retries=2, backoff=FAST)
    with pytest.raises(ModelError) as info:
        asyncio.run(client.complete(ask("q"), PARAMS))
    assert info.value.reason == "http_429" and "attempt 3" in info.value.detail
    assert model.calls == 3 and client.usage.failed == 1 and client.usage.errors == {"http_429": 1}
    assert [f.reason for f in journal.failures()] == ["http_429"]
    # The next run (script exhausted: the server recovered) retries it and records the result.
    rerun = ModelClient(model, journal, retries=2, backoff=FAST)
    assert asyncio.run(rerun.complete(ask("q"), PARAMS))[0].text == "q"
    assert journal.failures() == [] and journal.counts() == {"done": 1, "failed": 0}
    journal.close()


def test_permanent_errors_are_not_retried() -> None:
    model = Scripted(["http_400"])
    client = ModelClient(model, retries=5, backoff=FAST)
    with pytest.raises(ModelError, match="http_400"):
        asyncio.run(client.complete(ask("q"), PARAMS))
    assert model.calls == 1 and client.usage.retries == 0


def test_journal_answers_repeats_without_calling_the_model(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        model = Scripted()
        client = ModelClient(model, journal)
        first = asyncio.run(client.complete(ask("q"), PARAMS))
        second = asyncio.run(ModelClient(model, journal).complete(ask("q"), PARAMS))
        changed = asyncio.run(client.complete(ask("q"), SamplingParams(max_tokens=11)))
    assert first == second == changed and model.calls == 2


def test_identical_requests_in_flight_share_one_call(tmp_path: Path) -> None:
    async def go(client: ModelClient) -> list:
        return await asyncio.gather(*(client.complete(ask("same"), PARAMS) for _ in range(5)))

    with Journal(tmp_path / "j.sqlite") as journal:
        model = Scripted(delay=0.05)
        client = ModelClient(model, journal)
        results = asyncio.run(go(client))
    assert model.calls == 1 and all(r == results[0] for r in results) and client.usage.cached == 4


def test_concurrency_bound_and_ordered_results_with_errors_in_place(tmp_path: Path) -> None:
    model = Scripted(delay=0.01)
    model.script = [None] * 5 + ["http_400"]  # the 6th call fails for good
    client = ModelClient(model, concurrency=1, retries=0)
    seen: list[Progress] = []
    requests = [(ask(f"q{i}"), PARAMS) for i in range(20)]
    results = asyncio.run(client.complete_many(requests, on_progress=seen.append, interval=0.02))
    assert [r[0].text if isinstance(r, list) else r.reason for r in results] == [
        f"q{i}" if i != 5 else "http_400" for i in range(20)
    ]
    assert model.peak == 1
    final = seen[-1]
    assert (final.done, final.total, final.failed, final.in_flight, final.errors) == (
        20,
        20,
        1,
        0,
        {"http_400": 1},
    )
    assert final.completion_tokens == 57 and final.tokens_per_s > 0 and len(seen) > 2


def test_many_requests_respect_the_bound_and_a_lazy_source() -> None:
    model = Scripted(delay=0.002)
    client = ModelClient(model, concurrency=7)
    results = asyncio.run(client.complete_many((ask(str(i)), PARAMS) for i in range(200)))
    assert [r[0].text for r in results] == [str(i) for i in range(200)]
    assert model.peak == 7


def test_default_concurrency_follows_the_backend() -> None:
    model = Scripted()
    model.max_concurrency = 96  # type: ignore[attr-defined]
    assert ModelClient(model).concurrency == 96 and ModelClient(Scripted()).concurrency == 8


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    backoff = Backoff(base=1.0, cap=8.0)
    for attempt, (low, high) in enumerate([(0.5, 1), (1, 2), (2, 4), (4, 8), (4, 8)]):
        assert all(low <= backoff.delay(attempt) <= high for _ in range(50))
    assert backoff.delay(0, retry_after=5.0) == 5.0 and backoff.delay(0, retry_after=100.0) == 8.0


def test_aclose_closes_model_and_journal(tmp_path: Path) -> None:
    model, journal = Scripted(), Journal(tmp_path / "j.sqlite")

    async def go() -> None:
        async with ModelClient(model, journal) as client:
            await client.complete(ask("q"), PARAMS)

    asyncio.run(go())
    assert model.closed


def test_n_samples_count_their_prompt_once() -> None:
    client = ModelClient(Scripted())
    assert len(asyncio.run(client.complete(ask("q"), SamplingParams(n=3)))) == 3
    assert (client.usage.prompt_tokens, client.usage.completion_tokens) == (2, 9)


def test_an_empty_completion_is_a_failed_attempt_where_data_is_built(tmp_path: Path) -> None:
    """empty_is_failure (data stages): retried, then failed, journaled as a failure and never as
    done; by default (evaluation, OCR) an empty completion is an answer and is returned."""
    blank = [{"role": "user", "content": "   "}]  # Scripted answers with the prompt: whitespace only
    model = Scripted()
    with Journal(tmp_path / "j.sqlite") as journal:
        client = ModelClient(model, journal, retries=2, backoff=FAST, empty_is_failure=True)
        with pytest.raises(ModelError) as info:
            asyncio.run(client.complete(blank, PARAMS))
        assert info.value.reason == "empty_completion" and model.calls == 3
        assert client.usage.retry_reasons == {"empty_completion": 2}
        assert journal.counts() == {"done": 0, "failed": 1}
    plain = ModelClient(Scripted(), retries=2, backoff=FAST)
    assert [c.text for c in asyncio.run(plain.complete(blank, PARAMS))] == ["   "]

"""The one door every stage uses to call a model: journal, retries, concurrency, counters.

Backends make single attempts and raise :class:`ModelError` with ``retryable`` set; the retry
policy (exponential backoff with jitter, honouring ``Retry-After``) lives here once, so a
transformers backend and a remote vLLM fleet fail and recover the same way. A request that
still fails after the retry limit raises :class:`ModelError`, is recorded in the journal as
failed, and is counted; it never turns into an empty string.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from finereason.errors import first_error

from .breaker import doubling
from .journal import Journal, request_key
from .types import Completion, Message, Model, ModelError, SamplingParams, Usage

Request = tuple[list[Message], SamplingParams]


@dataclass(frozen=True)
class Backoff:
    """Delay before retry ``attempt`` (0-based): half fixed, half random, doubling up to ``cap``.

    The random half spreads retries of requests that failed together (one 503 burst) so they
    do not hit the recovering server in lockstep; ``Retry-After`` from the server is a floor.
    """

    base: float = 1.0
    cap: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        ceiling = doubling(self.base, attempt, self.cap)
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        if retry_after:
            delay = max(delay, min(retry_after, self.cap))
        return delay


@dataclass(frozen=True)
class Progress:
    """A snapshot for a progress bar, counting from the start of one :meth:`ModelClient.complete_many`."""

    done: int
    total: int | None
    cached: int
    failed: int
    in_flight: int
    retries: int
    completion_tokens: int
    elapsed: float
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.elapsed if self.elapsed > 0 else 0.0


def _non_empty(completions: list[Completion]) -> list[Completion]:
    """Refuse a reply with an empty or null completion as a failed attempt (``empty_completion``).

    A server that answers 200 with ``content: null`` (an overloaded or crashed worker) has not
    answered: counted as success, the sample would be journaled as done with no response and
    never asked again. As a failed attempt it is retried, and if it stays empty the request fails
    and a rerun asks again. A completion that stops at the length limit with no text at all is
    empty too: nothing in it can be kept.
    """
    if not completions or any(not (c.text or "").strip() for c in completions):
        empty = sum(not (c.text or "").strip() for c in completions)
        raise ModelError("empty_completion", f"{empty} of {len(completions)} completions empty or null",
                         retryable=True)
    return completions


class ModelClient:
    """Journaled, retried, concurrency-bounded access to a :class:`Model`.

    ``concurrency`` bounds requests in flight (including those waiting out a backoff or their
    journal commit); by default it is the backend's ``max_concurrency`` when it has one.
    ``usage.requests`` counts calls, ``usage.cached`` those answered by the journal (or by an
    identical request already in flight), and the token counters only what was generated now.
    The client owns the model and journal it is given: :meth:`aclose` closes both.
    """

    def __init__(
        self,
        model: Model,
        journal: Journal | None = None,
        *,
        concurrency: int | None = None,
        retries: int = 5,
        backoff: Backoff = Backoff(),
        empty_is_failure: bool = False,
    ) -> None:
        self.model = model
        #: Data-building stages set this: an empty completion is a failed attempt there (see
        #: :func:`_non_empty`); evaluation and OCR keep it, since "no answer" is an answer to score.
        self.empty_is_failure = empty_is_failure
        self.journal = journal
        self.concurrency = concurrency or getattr(model, "max_concurrency", 8)
        if self.concurrency < 1 or retries < 0:
            raise ValueError(f"need concurrency >= 1 and retries >= 0, got {self.concurrency} and {retries}")
        self.retries = retries
        self.backoff = backoff
        self.model_id: str = getattr(model, "model_id", model.spec)
        self.usage = Usage()
        self.in_flight = 0
        self._gate: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[str, asyncio.Future[list[Completion]]] = {}

    async def complete(
        self, messages: list[Message], params: SamplingParams = SamplingParams()
    ) -> list[Completion]:
        """``params.n`` completions: from the journal if done before, else from the model; or raise ModelError."""
        self.usage.requests += 1
        if self.journal is None:
            return await self._complete_slot(None, messages, params)
        key = request_key(self.model_id, messages, params)
        stored = self.journal.get(key)
        if stored is not None:
            self.usage.cached += 1
            return stored
        pending = self._pending.get(key)
        if pending is not None:  # the same request is already on its way: share its answer
            result = await asyncio.shield(pending)
            self.usage.cached += 1
            return result
        future: asyncio.Future[list[Completion]] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            result = await self._complete_slot(key, messages, params)
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                future.set_exception(exc)
                future.exception()  # mark retrieved: sharing is optional, nobody may be waiting
            else:
                future.cancel()
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._pending[key]

    async def _complete_slot(
        self, key: str | None, messages: list[Message], params: SamplingParams
    ) -> list[Completion]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or a new asyncio.run(): a semaphore is loop-bound
            self._loop, self._gate = loop, asyncio.Semaphore(self.concurrency)
        assert self._gate is not None
        async with self._gate:
            self.in_flight += 1
            try:
                try:
                    result = await self._attempts(messages, params)
                except ModelError as exc:
                    if exc.postponed:  # to be answered by a later batch round, not failed
                        self.usage.deferred += 1
                        raise
                    self.usage.failed += 1
                    self.usage.errors[exc.reason] = self.usage.errors.get(exc.reason, 0) + 1
                    if self.journal is not None and key is not None:
                        await self.journal.put_failure(key, self.model_id, params, exc)
                    raise
                if self.journal is not None and key is not None:
                    await self.journal.put(key, self.model_id, params, result)  # done only once committed
            finally:
                self.in_flight -= 1
        # n samples share one prompt: count it once, however each backend spreads it over samples.
        self.usage.prompt_tokens += max((c.prompt_tokens for c in result), default=0)
        self.usage.completion_tokens += sum(c.completion_tokens for c in result)
        return result

    async def _attempts(self, messages: list[Message], params: SamplingParams) -> list[Completion]:
        attempt = 0
        while True:
            try:
                result = await self.model.complete(messages, params)
                return _non_empty(result) if self.empty_is_failure else result
            except ModelError as exc:
                if not exc.retryable or attempt >= self.retries:
                    if attempt:
                        raise ModelError(
                            exc.reason, f"{exc.detail} (attempt {attempt + 1})", exc.retryable
                        ) from exc
                    raise
                self.usage.retries += 1
                self.usage.retry_reasons[exc.reason] = self.usage.retry_reasons.get(exc.reason, 0) + 1
                await asyncio.sleep(self.backoff.delay(attempt, exc.retry_after))
                attempt += 1

    async def complete_many(
        self,
        requests: Iterable[Request],
        *,
        total: int | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        interval: float = 0.5,
    ) -> list[list[Completion] | ModelError]:
        """Run many requests with at most ``concurrency`` in flight; results keep input order.

        A request that fails for good yields its :class:`ModelError` in place of a result, so one
        bad sample never sinks the batch. ``requests`` may be a lazy iterator (it is consumed as
        slots free up); ``on_progress`` is called every ``interval`` seconds and once at the end,
        e.g. to drive a ``rich`` progress bar.
        """
        if total is None and hasattr(requests, "__len__"):
            total = len(requests)  # type: ignore[arg-type]
        source = enumerate(requests)
        results: dict[int, list[Completion] | ModelError] = {}
        start_usage = Usage(**{**vars(self.usage), "errors": dict(self.usage.errors)})
        started = time.monotonic()

        def snapshot() -> Progress:
            now = self.usage
            errors = {k: v - start_usage.errors.get(k, 0) for k, v in now.errors.items()}
            return Progress(
                done=len(results),
                total=total,
                cached=now.cached - start_usage.cached,
                failed=now.failed - start_usage.failed,
                in_flight=self.in_flight,
                retries=now.retries - start_usage.retries,
                completion_tokens=now.completion_tokens - start_usage.completion_tokens,
                elapsed=time.monotonic() - started,
                errors={k: v for k, v in errors.items() if v},
            )

        async def worker() -> None:
            for index, (messages, params) in source:  # a shared iterator: each item goes to one worker
                try:
                    results[index] = await self.complete(messages, params)
                except ModelError as exc:
                    results[index] = exc

        async def reporter() -> None:
            while True:
                await asyncio.sleep(interval)
                on_progress(snapshot())  # type: ignore[misc]

        workers = self.concurrency if total is None else max(1, min(self.concurrency, total))
        report = asyncio.create_task(reporter()) if on_progress else None
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(workers):
                    group.create_task(worker())
        except BaseExceptionGroup as errors:  # no endpoint can serve: one error, not one per worker
            raise first_error(errors) from None
        finally:
            if report is not None:
                report.cancel()
        if on_progress:
            on_progress(snapshot())
        return [results[i] for i in range(len(results))]

    async def aclose(self) -> None:
        await self.model.aclose()
        if self.journal is not None:
            await self.journal.aclose()

    async def __aenter__(self) -> ModelClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

"""A model client opened lazily inside whichever process runs a stage.

Stages are shipped to worker processes (or Ray actors) as plain settings; the HTTP pool, the
loaded weights and the journal's SQLite connection are opened on first use there, bound to the
running event loop, and closed by the stage's ``aclose``.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from finereason.models.client import ModelClient
from finereason.models.journal_set import JournalSet, open_journal
from finereason.models.backends import load_model
from finereason.models.types import Message, Model, SamplingParams


@dataclass(frozen=True)
class RunShare:
    """How this process shares a model stage with other processes running the same shards.

    The default is alone: the journal is the one named, at full concurrency. The Ray engine gives
    each client actor its own (in that actor's :class:`RunContext`): its own journal file
    ``writer`` (see :mod:`~finereason.models.journal_set`), the files of this ``run`` (other live
    writers) left unread, its ``concurrency_share`` of the requests in flight, so N actors
    together keep each endpoint's limit, and ``sealer``, which seals the files of earlier runs in
    one process for all of them before any reads them (``sealer(own_file, other_files)``,
    returning the files of this run's lost writers, sealed, to read as well).
    """

    writer: str | None = None
    run: str | None = None
    concurrency_share: float = 1.0
    sealer: Callable[[Path, list[Path]], list[Path]] | None = None


#: ``(spec, journal_path) -> Model``: how a context turns a spec into a backend.
ModelLoader = Callable[[str, "str | None"], Model]


def _load(spec: str, journal_path: str | None) -> Model:
    return load_model(spec)


@dataclass
class RunContext:
    """What an engine decides about the model sessions of one stage run in one process.

    Passed explicitly (``stage.open(context)`` → :class:`LazyClient`), never held in a global:
    ``share`` says how this process shares journals and concurrency with others; ``loader``
    builds each model (an engine may substitute its own, as the Ray Data engine does to write
    requests down for a batch round instead of sending them). The context also keeps the
    clients opened under it, so the engine can close them all or adopt journal files.
    """

    share: RunShare = field(default_factory=RunShare)
    loader: ModelLoader = _load
    _opened: list[weakref.ref[LazyClient]] = field(default_factory=list, repr=False)

    def clients(self) -> list[LazyClient]:
        self._opened[:] = [r for r in self._opened if r() is not None]
        return [c for c in (r() for r in self._opened) if c is not None]

    def journal_sets(self) -> list[JournalSet]:
        """Journal sets of the clients open under this context (for adopting a lost writer's file)."""
        sets = []
        for lazy in self.clients():
            journal = lazy._client.journal if lazy._client is not None else None
            if isinstance(journal, JournalSet):
                sets.append(journal)
        return sets

    def retries_by_reason(self) -> dict[str, int]:
        """Retried attempts by reason, over every client opened under this context (for a manifest)."""
        total: dict[str, int] = {}
        for lazy in self.clients():
            if lazy._client is not None:
                for reason, n in lazy._client.usage.retry_reasons.items():
                    total[reason] = total.get(reason, 0) + n
        return dict(sorted(total.items()))

    async def aclose(self) -> None:
        """Close every client opened under this context (models, journals: WAL checkpointed on close)."""
        for lazy in self.clients():
            await lazy.aclose()


@dataclass
class LazyClient:
    """``spec`` + journal path + concurrency now; a :class:`ModelClient` on first ``get()``."""

    spec: str
    journal_path: str | None = None
    concurrency: int | None = None
    retries: int = 5
    context: RunContext | None = field(default=None, repr=False)
    #: The stages that open clients this way build data: an empty completion is a failure there.
    empty_is_failure: bool = True
    _client: ModelClient | None = field(default=None, repr=False)

    def get(self) -> ModelClient:
        if self._client is None:
            context = self.context or RunContext()
            share = context.share
            journal = None
            if self.journal_path:
                Path(self.journal_path).parent.mkdir(parents=True, exist_ok=True)
                journal = open_journal(self.journal_path, writer=share.writer, run=share.run, sealer=share.sealer)
            model = context.loader(self.spec, self.journal_path)
            concurrency = self.concurrency
            if share.concurrency_share < 1:
                total = concurrency or getattr(model, "max_concurrency", 8)
                concurrency = max(1, math.ceil(total * share.concurrency_share))
            self._client = ModelClient(model, journal, concurrency=concurrency, retries=self.retries,
                                       empty_is_failure=self.empty_is_failure)
            context._opened.append(weakref.ref(self))
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

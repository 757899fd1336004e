"""A model client opened lazily inside whichever process runs a stage.

Stages are shipped to worker processes (or Ray actors) as plain settings; the HTTP pool, the
loaded weights and the journal's SQLite connection are opened on first use there, bound to the
running event loop, and closed by the stage's ``aclose``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from finereason.models.client import ModelClient
from finereason.models.deferred import DeferredModel, Spool
from finereason.models.journal_set import JournalSet, open_journal
from finereason.models.spec import load_model
from finereason.models.types import Message, SamplingParams


@dataclass(frozen=True)
class RunShare:
    """How this process shares a model stage with other processes running the same shards.

    The default is alone: the journal is the one named, at full concurrency. The Ray engine sets
    one in each client actor (:func:`share_run`): its own journal file ``writer`` (see
    :mod:`~finereason.models.journal_set`), the files of this ``run`` (other live writers) left
    unread, its ``concurrency_share`` of the requests in flight, so N actors together keep each
    endpoint's limit, and ``sealer``, which seals the files of earlier runs in one process
    for all of them before any reads them (``sealer(own_file, other_files)``, returning the
    files of this run's lost writers, sealed, to read as well).
    """

    writer: str | None = None
    run: str | None = None
    concurrency_share: float = 1.0
    sealer: Callable[[Path, list[Path]], list[Path]] | None = None


_share = RunShare()
_spool: Spool | None = None  # set while a Ray Data round runs: in-job models defer their requests
_opened: list[weakref.ref[LazyClient]] = []  # LazyClient is an unhashable dataclass: no WeakSet


def _open_clients() -> list[LazyClient]:
    _opened[:] = [r for r in _opened if r() is not None]
    return [c for c in (r() for r in _opened) if c is not None]


def retries_by_reason() -> dict[str, int]:
    """Retried attempts by reason, over every client open in this process (for a manifest)."""
    total: dict[str, int] = {}
    for lazy in _open_clients():
        if lazy._client is not None:
            for reason, n in lazy._client.usage.retry_reasons.items():
                total[reason] = total.get(reason, 0) + n
    return dict(sorted(total.items()))


def share_run(share: RunShare) -> None:
    """Set how clients opened from now on in this process share the run (see :class:`RunShare`)."""
    global _share
    _share = share


@contextlib.contextmanager
def deferring(spool: Spool) -> Iterator[None]:
    """Clients opened inside this block defer every request the journal cannot answer to ``spool``."""
    global _spool
    _spool = spool
    try:
        yield
    finally:
        _spool = None


def open_journal_sets() -> list[JournalSet]:
    """Journal sets of the clients this process has open (for adopting a lost writer's file)."""
    sets = []
    for lazy in _open_clients():
        journal = lazy._client.journal if lazy._client is not None else None
        if isinstance(journal, JournalSet):
            sets.append(journal)
    return sets


async def aclose_all() -> None:
    """Close every client this process opened (models, journals: WAL checkpointed on close)."""
    for lazy in _open_clients():
        await lazy.aclose()


@dataclass
class LazyClient:
    """``spec`` + journal path + concurrency now; a :class:`ModelClient` on first ``get()``."""

    spec: str
    journal_path: str | None = None
    concurrency: int | None = None
    retries: int = 5
    #: The stages that open clients this way build data: an empty completion is a failure there.
    empty_is_failure: bool = True
    _client: ModelClient | None = field(default=None, repr=False)

    def get(self) -> ModelClient:
        if self._client is None:
            journal = None
            if self.journal_path:
                Path(self.journal_path).parent.mkdir(parents=True, exist_ok=True)
                journal = open_journal(self.journal_path, writer=_share.writer, run=_share.run,
                                       sealer=_share.sealer)
            model = DeferredModel(self.spec, _spool, self.journal_path) if _spool is not None else load_model(self.spec)
            concurrency = self.concurrency
            if _share.concurrency_share < 1:
                total = concurrency or getattr(model, "max_concurrency", 8)
                concurrency = max(1, math.ceil(total * _share.concurrency_share))
            self._client = ModelClient(model, journal, concurrency=concurrency, retries=self.retries,
                                       empty_is_failure=self.empty_is_failure)
            _opened.append(weakref.ref(self))
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

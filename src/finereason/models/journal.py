"""Request journal: every finished model request, so a killed run never pays for it twice.

Distilling 1.8M samples takes days; a crash, a preemption or ``kill -9`` must cost at most the
requests that were in flight. Each request is stored under a key hashing the model id, the
messages (image bytes replaced by their sha256) and the sampling settings, so a changed prompt
or setting is simply a new key. Values are JSON, never pickle (safe to load), zlib-compressed:
1.8M completions of ~12 KB would otherwise take 20+ GB, and since ``text`` repeats the
reasoning, compression also removes that duplication (read one with ``Journal.get`` or
``json.loads(zlib.decompress(value))``).

Durability contract: a request is *done* only once its row is committed. ``put`` returns only
after that commit, and :class:`~finereason.models.client.ModelClient` holds the request's
concurrency slot until then, so at a kill the only work lost is what was in flight (sent but
not yet committed), bounded by the concurrency. The database runs in WAL mode with one writer
thread doing group commit: it commits whatever queued up while the previous commit ran, so
an idle journal commits each row at once and a busy one many rows per transaction.
With the default ``synchronous=NORMAL`` a commit survives a process crash or ``kill -9``; after
a power loss the last few commits may roll back (they are re-paid, never corrupted). Use
``synchronous="FULL"`` to also survive power loss, at one fsync per commit.

Failed requests are recorded too (reason, detail, how often), so a stage can report them; a
failure is never returned as a result, so a rerun retries it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import queue
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from .types import Completion, Message, ModelError, SamplingParams

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    key TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    model TEXT NOT NULL,
    params TEXT NOT NULL,
    completions BLOB,
    reason TEXT,
    detail TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    updated REAL NOT NULL
) WITHOUT ROWID
"""
# A done row is final: a later failure or a duplicate result never overwrites it.
_PUT_DONE = """
INSERT INTO requests (key, status, model, params, completions, updated) VALUES (?, 'done', ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET status = 'done', completions = excluded.completions,
    reason = NULL, detail = NULL, updated = excluded.updated
WHERE requests.status = 'failed'
"""
_PUT_FAILED = """
INSERT INTO requests (key, status, model, params, reason, detail, failures, updated) VALUES (?, 'failed', ?, ?, ?, ?, 1, ?)
ON CONFLICT (key) DO UPDATE SET reason = excluded.reason, detail = excluded.detail,
    failures = requests.failures + 1, updated = excluded.updated
WHERE requests.status = 'failed'
"""
_COMPLETION_FIELDS = frozenset(f.name for f in fields(Completion))

try:
    from orjson import dumps as _orjson_dumps
except ImportError:  # pragma: no cover - depends on the environment
    _orjson_dumps = None


def _hash_bytes(obj: Any) -> dict[str, str]:
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return {"sha256": hashlib.sha256(obj).hexdigest()}
    raise TypeError(f"cannot key a request containing {type(obj).__name__}")


def request_key(model_id: str, messages: list[Message], params: SamplingParams) -> str:
    """sha256 over canonical JSON of model id, messages (bytes → their sha256) and all settings."""
    canonical = json.dumps(
        {"model": model_id, "messages": messages, "params": params.as_dict()},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=_hash_bytes,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Failure:
    """A request whose last attempt failed; it is retried on the next run."""

    key: str
    model: str
    reason: str
    detail: str
    failures: int


#: Rows one event loop iteration finished: each builds ``(sql, args)`` on the writer thread, and
#: its future is settled back on that loop once the commit is done.
_Row = tuple[Callable[[], tuple[str, tuple[Any, ...]]], "asyncio.Future[None]"]
_Item = tuple[list[_Row], asyncio.AbstractEventLoop]


class Journal:
    """SQLite (WAL) store of finished requests; safe for many concurrent async writers.

    Reads use their own connection on the caller's thread (WAL readers never wait for the
    writer); all writes go through a single writer thread, so there is no lock contention.
    """

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL", max_batch: int = 2000) -> None:
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be NORMAL, FULL or EXTRA, got {synchronous!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = synchronous.upper()
        self._max_batch = max_batch
        self._reader = self._connect()
        self._reader.execute("PRAGMA journal_mode=WAL")
        self._reader.execute(_SCHEMA)
        self._read_lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._outbox: dict[asyncio.AbstractEventLoop, list[_Row]] = {}
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60)
        conn.execute("PRAGMA busy_timeout=60000")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        return conn

    # -- reads -------------------------------------------------------------------------------

    def get(self, key: str) -> list[Completion] | None:
        """The stored completions of a done request, or None (never started, failed, or not yet committed)."""
        with self._read_lock:
            row = self._reader.execute(
                "SELECT completions FROM requests WHERE key = ? AND status = 'done'", (key,)
            ).fetchone()
        if row is None:
            return None
        return decode_completions(row[0])

    def failures(self) -> list[Failure]:
        """Requests whose latest outcome is a failure, oldest first."""
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT key, model, reason, detail, failures FROM requests WHERE status = 'failed' ORDER BY updated"
            ).fetchall()
        return [Failure(*row) for row in rows]

    def counts(self) -> dict[str, int]:
        """Rows by status: ``{"done": …, "failed": …}``."""
        with self._read_lock:
            rows = self._reader.execute("SELECT status, COUNT(*) FROM requests GROUP BY status").fetchall()
        return {"done": 0, "failed": 0, **dict(rows)}

    # -- writes ------------------------------------------------------------------------------

    async def put(
        self, key: str, model_id: str, params: SamplingParams, completions: list[Completion]
    ) -> None:
        """Store a finished request; returns once the row is committed (the request is then done).

        Encoding and compression run on the writer thread (zlib releases the GIL), off the event loop.
        """
        row = (key, model_id, _params_json(params), completions, time.time())
        await self._write(lambda: (_PUT_DONE, (*row[:3], _encode(completions), row[4])))

    async def put_failure(self, key: str, model_id: str, params: SamplingParams, error: ModelError) -> None:
        """Record that a request failed for good (this run); a done row is never downgraded."""
        row = (key, model_id, _params_json(params), error.reason, error.detail[:2000], time.time())
        await self._write(lambda: (_PUT_FAILED, row))

    async def _write(self, build: Callable[[], tuple[str, tuple[Any, ...]]]) -> None:
        self._start_writer()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        outbox = self._outbox.get(loop)
        if outbox is None:  # rows finished in this loop iteration travel to the writer together
            outbox = self._outbox[loop] = []
            loop.call_soon(self._post, loop)
        outbox.append((build, done))
        await done

    def _post(self, loop: asyncio.AbstractEventLoop) -> None:
        self._queue.put((self._outbox.pop(loop), loop))

    def _start_writer(self) -> None:
        if self._writer is None:
            with self._writer_lock:
                if self._writer is None:
                    self._writer = threading.Thread(
                        target=self._write_loop, name="finereason-journal", daemon=True
                    )
                    self._writer.start()

    def _write_loop(self) -> None:
        conn = self._connect()
        stop = False
        while not stop:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            while len(batch) < self._max_batch:  # group commit: take everything queued meanwhile
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            outcomes: dict[
                asyncio.AbstractEventLoop, list[tuple[asyncio.Future[None], BaseException | None]]
            ] = {}
            rows = []
            for posted, loop in batch:
                settled = outcomes.setdefault(loop, [])
                for build, future in posted:
                    try:
                        rows.append(build())
                        settled.append((future, None))
                    except Exception as exc:  # a row that cannot be encoded fails alone, not its batch
                        settled.append((future, exc))
            error: BaseException | None = None
            try:
                conn.execute("BEGIN IMMEDIATE")
                for sql, args in rows:
                    conn.execute(sql, args)
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                error = exc
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            for loop, settled in outcomes.items():
                with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting any more
                    loop.call_soon_threadsafe(_settle, [(f, own or error) for f, own in settled])
        conn.close()

    def close(self) -> None:
        """Flush queued writes, stop the writer and close connections."""
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join()
            self._writer = None
        with self._read_lock:
            self._reader.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _settle(settled: list[tuple[asyncio.Future[None], BaseException | None]]) -> None:
    for future, error in settled:
        if not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)


def decode_completions(blob: bytes) -> list[Completion]:
    """A done row's ``completions`` value back as :class:`Completion` objects (unknown keys ignored)."""
    return [
        Completion(**{k: v for k, v in c.items() if k in _COMPLETION_FIELDS})
        for c in json.loads(zlib.decompress(blob))
    ]


def _encode(completions: list[Completion]) -> bytes:
    raw = (
        _orjson_dumps(completions)  # serialises dataclasses directly, ~10x faster than json
        if _orjson_dumps is not None
        else json.dumps([asdict(c) for c in completions], ensure_ascii=False).encode()
    )
    return zlib.compress(raw, 1)


def _params_json(params: SamplingParams) -> str:
    return json.dumps(params.as_dict(), sort_keys=True, default=str)

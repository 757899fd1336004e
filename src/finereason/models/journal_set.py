"""Several request-journal files read as one, for a stage whose clients run on many machines.

A :class:`~finereason.models.journal.Journal` is SQLite in WAL mode, and WAL's shared index
only works between processes on one host: over a network filesystem, two machines writing (or
one writing while another reads) one file can corrupt reads. So when a stage's model clients
live in several processes on several nodes (the Ray engine's client actors), each writes its
own file in the journal's folder::

    OUT/journal.sqlite              the journal a local run writes (read-only to a Ray run)
    OUT/journal.d/<writer>.sqlite   one file per client actor per Ray run

and a lookup consults every file: its own first, then the others. Another process reads a file
only once it is *sealed*: its writer gone and its WAL checkpointed into a plain rollback-mode
file, which is then opened ``immutable`` (no locks, no shared memory: safe from any machine, as
nothing writes it again). Who seals: a local run's process, for every file it reads; in a Ray
run, one sealing actor for all client actors (each asks it before reading), which also seals
the file of an actor lost mid-run before the surviving actors :meth:`JournalSet.adopt` it. So
a rerun, or a shard redone after a lost node, finds every request any process ever completed,
and never pays for it twice.

A local run whose folder has no ``journal.d/`` gets a plain :class:`Journal`, as before.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .journal import Failure, Journal, decode_completions
from .types import Completion, ModelError, SamplingParams

_SQLITE_MAGIC = b"SQLite format 3\x00"
#: Tries, half a second apart, to seal a file whose last writer may still be exiting.
SEAL_ATTEMPTS = 60


def journal_dir(path: str | Path) -> Path:
    """The folder of per-writer files beside a journal: ``journal.sqlite`` → ``journal.d/``."""
    return Path(path).with_suffix(".d")


def seal(path: str | Path) -> None:
    """Checkpoint a journal file whose writer is gone and turn it into a plain rollback-mode file.

    Idempotent and cheap when already sealed (it reads the header's format bytes, 18 and 19,
    which are 2 in WAL mode). Must not run while a process still writes ``path``.
    """
    path = Path(path)
    wal = path.with_name(path.name + "-wal")
    with open(path, "rb") as f:
        head = f.read(20)
    if len(head) < 20 or not head.startswith(_SQLITE_MAGIC):
        return  # empty or not SQLite: read_only() treats it as holding nothing
    if head[18] == 1 and head[19] == 1 and not wal.exists():
        return
    for attempt in range(SEAL_ATTEMPTS):
        conn = sqlite3.connect(path, isolation_level=None, timeout=60)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("PRAGMA journal_mode=DELETE")
            return
        except sqlite3.OperationalError as e:
            # A writer killed a moment ago may not be gone yet; changing the journal mode does
            # not wait on SQLite's busy handler, so wait here.
            if "locked" not in str(e) or attempt == SEAL_ATTEMPTS - 1:
                raise sqlite3.OperationalError(f"{path}: cannot seal the journal file ({e}); is a process "
                                               "still writing it?") from e
            time.sleep(0.5)
        finally:
            conn.close()


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False)


class JournalSet:
    """A :class:`Journal` this process writes, plus sealed files it reads; quacks like ``Journal``.

    ``get`` looks in the own file first, then in the sealed ones in order. Writes go to the own
    file only. ``counts`` and ``failures`` cover all files (a request failed in one file but
    done in another is not a failure).
    """

    def __init__(self, own: Journal, sealed: list[Path]) -> None:
        self.own = own
        self.path = own.path
        self._lock = threading.Lock()
        self._sealed: list[tuple[Path, sqlite3.Connection]] = []
        for p in sealed:
            self.adopt(p)

    @property
    def files(self) -> list[Path]:
        """Every file this set reads: its own first."""
        with self._lock:
            return [self.own.path, *(p for p, _ in self._sealed)]

    def adopt(self, path: str | Path) -> None:
        """Also read ``path`` (sealed by the caller): a file written by a process that is gone."""
        path = Path(path)
        if path.resolve() == self.own.path.resolve():
            return
        with self._lock:
            if any(p.resolve() == path.resolve() for p, _ in self._sealed):
                return
        conn = _read_only(path)
        try:
            conn.execute("SELECT 1 FROM requests LIMIT 1").fetchall()
        except sqlite3.DatabaseError:  # a file created but killed before its schema: holds nothing
            conn.close()
            return
        with self._lock:
            self._sealed.append((path, conn))

    def get(self, key: str) -> list[Completion] | None:
        found = self.own.get(key)
        if found is not None:
            return found
        with self._lock:
            for _, conn in self._sealed:
                row = conn.execute("SELECT completions FROM requests WHERE key = ? AND status = 'done'",
                                   (key,)).fetchone()
                if row is not None:
                    return decode_completions(row[0])
        return None

    def _done_elsewhere(self, key: str) -> bool:
        with self._lock:
            return any(conn.execute("SELECT 1 FROM requests WHERE key = ? AND status = 'done'", (key,)).fetchone()
                       for _, conn in self._sealed)

    def failures(self) -> list[Failure]:
        rows = list(self.own.failures())
        with self._lock:
            for _, conn in self._sealed:
                rows += [Failure(*r) for r in conn.execute(
                    "SELECT key, model, reason, detail, failures FROM requests WHERE status = 'failed' "
                    "ORDER BY updated")]
        seen: set[str] = set()
        out = []
        for f in rows:
            if f.key not in seen and self.own.get(f.key) is None and not self._done_elsewhere(f.key):
                seen.add(f.key)
                out.append(f)
        return out

    def counts(self) -> dict[str, int]:
        """Rows by status, summed over the files (a request redone after a failure counts once per file)."""
        total = self.own.counts()
        with self._lock:
            for _, conn in self._sealed:
                for status, n in conn.execute("SELECT status, COUNT(*) FROM requests GROUP BY status"):
                    total[status] = total.get(status, 0) + n
        return total

    async def put(self, key: str, model_id: str, params: SamplingParams, completions: list[Completion]) -> None:
        await self.own.put(key, model_id, params, completions)

    async def put_failure(self, key: str, model_id: str, params: SamplingParams, error: ModelError) -> None:
        await self.own.put_failure(key, model_id, params, error)

    def close(self) -> None:
        self.own.close()
        with self._lock:
            for _, conn in self._sealed:
                conn.close()
            self._sealed.clear()

    async def aclose(self) -> None:
        import asyncio

        await asyncio.to_thread(self.close)

    def __enter__(self) -> JournalSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_journal(path: str | Path, *, writer: str | None = None, run: str | None = None,
                 sealer: Callable[[Path, list[Path]], list[Path]] | None = None) -> Journal | JournalSet:
    """The journal a client should use for ``path``.

    ``writer`` None (a local run): ``path`` itself, plus the files of ``journal.d/`` if there
    are any. ``writer`` set (one of several processes): ``journal.d/<writer>.sqlite``, plus
    ``path`` and the other files of ``journal.d/`` except those whose name starts with ``run``
    (this run's live writers). The others are sealed before they are read: here, or by
    ``sealer(own_file, others)`` when several processes open sets at once and one process must
    do it for all; it returns the sealed files of this run's writers that were lost, to read too.
    """
    path = Path(path)
    folder = journal_dir(path)
    existing = sorted(folder.glob("*.sqlite")) if folder.is_dir() else []
    if writer is None:
        if not existing:
            return Journal(path)
        own_path = path
        others = existing
    else:
        own_path = folder / f"{writer}.sqlite"
        others = [p for p in ([path] if path.exists() else []) + existing
                  if p != own_path and not (run and p.name.startswith(run))]
    if sealer is not None:
        others += [p for p in sealer(own_path, others) if p not in others]
    else:
        for p in others:
            seal(p)
    return JournalSet(Journal(own_path), others)

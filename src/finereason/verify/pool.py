"""A small process pool with a hard wall-clock limit per task.

Why not ``concurrent.futures.ProcessPoolExecutor``: it cannot cancel a running task, and killing
one of its workers breaks the whole pool (``BrokenProcessPool``) so every other pending task fails
too. math-verify can spend minutes in sympy on a pathological pair (``(x+1)^{3000}``), and its own
SIGALRM timeout only works in a main thread. Here each worker is a separate process with its own
pipe; a task that overruns is answered with an error and only *its* worker is killed (SIGKILL, as
sympy may sit in C code) and replaced.

Workers start through ``forkserver`` (``spawn`` where unavailable), never plain ``fork``, so a
multithreaded parent is safe; the forkserver preloads the task module so a replacement worker
starts in milliseconds. Messages are JSON over the pipe: no pickled data crosses it.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing as mp
import os
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Optional, Sequence

DEFAULT_TASK = "finereason.verify.mathcheck:compare"


@dataclass(frozen=True, slots=True)
class TaskResult:
    """Outcome of one task: ``value`` (the task's JSON-able return) or ``error`` (why not)."""

    value: Any = None
    error: Optional[str] = None
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def _resolve(task: str) -> Callable[..., Any]:
    module, _, name = task.partition(":")
    return getattr(importlib.import_module(module), name)


def _worker_main(conn: Connection, task: str) -> None:
    """Worker loop: announce readiness, then answer JSON requests until the pipe closes."""
    try:
        fn = _resolve(task)
    except Exception as exc:  # report, do not die silently: the parent would wait for "ready"
        conn.send_bytes(json.dumps({"ready": False, "error": f"{type(exc).__name__}: {exc}"}).encode())
        return
    conn.send_bytes(b'{"ready": true}')
    while True:
        try:
            args = json.loads(conn.recv_bytes())
        except EOFError:
            return
        try:
            reply = {"value": fn(*args)}
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        conn.send_bytes(json.dumps(reply).encode())


class _Worker:
    """One process, its pipe, and what it is doing."""

    def __init__(self, ctx: Any, task: str) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child, task), daemon=True)
        self.proc.start()
        child.close()
        self.started = time.monotonic()
        self.ready = False
        self.job: Optional[int] = None  # index of the running task
        self.deadline = 0.0
        self.sent_at = 0.0
        self.done = 0

    def send(self, job: int, args: Sequence[Any], timeout_s: float) -> None:
        self.job, self.sent_at = job, time.monotonic()
        self.deadline = self.sent_at + timeout_s
        self.conn.send_bytes(json.dumps(list(args)).encode())

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=5)
        self.conn.close()


class WorkerPool:
    """Run ``task(*args)`` for many argument tuples in worker processes, each under a hard limit.

    Created lazily on the first :meth:`run`; reuse it for many batches and :meth:`close` it (or
    use it as a context manager). Not safe for concurrent ``run`` calls from several threads: a
    lock serialises them.
    """

    def __init__(self, workers: Optional[int] = None, *, task: str = DEFAULT_TASK,
                 max_tasks_per_worker: int = 1000, start_timeout_s: float = 120.0) -> None:
        self.workers = max(1, workers or min(4, os.cpu_count() or 1))
        self.task = task
        self.max_tasks_per_worker = max_tasks_per_worker  # sympy caches grow; recycle workers
        self.start_timeout_s = start_timeout_s
        self._ctx: Any = None
        self._pool: list[_Worker] = []
        self._lock = threading.Lock()

    def _context(self) -> Any:
        if self._ctx is None:
            if "forkserver" in mp.get_all_start_methods():
                self._ctx = mp.get_context("forkserver")
                self._ctx.set_forkserver_preload([self.task.partition(":")[0]])
            else:
                self._ctx = mp.get_context("spawn")
        return self._ctx

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self._pool.remove(worker)

    def run(self, tasks: Sequence[Sequence[Any]], timeout_s: float) -> list[TaskResult]:
        """Run every task; a task over ``timeout_s`` seconds of wall-clock time gets an error."""
        with self._lock:
            return self._run(tasks, timeout_s)

    def _run(self, tasks: Sequence[Sequence[Any]], timeout_s: float) -> list[TaskResult]:
        results: list[Optional[TaskResult]] = [None] * len(tasks)
        queue = list(range(len(tasks) - 1, -1, -1))  # pop() from the end = submission order
        while queue or any(w.job is not None for w in self._pool):
            while len(self._pool) < min(self.workers, len(queue) + self._busy()):
                self._pool.append(_Worker(self._context(), self.task))
            for w in self._pool:
                if w.ready and w.job is None and queue:
                    job = queue.pop()
                    w.send(job, tasks[job], timeout_s)
            now = time.monotonic()
            deadlines = [w.deadline if w.ready else w.started + self.start_timeout_s
                         for w in self._pool if w.job is not None or not w.ready]
            wait_s = max(0.0, min(deadlines) - now) if deadlines else 0.0
            readable = set(wait([w.conn for w in self._pool], timeout=wait_s))
            for w in list(self._pool):
                if w.conn in readable:
                    self._receive(w, results, queue)
                elif w.job is not None and time.monotonic() >= w.deadline:
                    results[w.job] = TaskResult(
                        error=f"timeout: no answer within {timeout_s:g}s, worker killed",
                        elapsed_s=time.monotonic() - w.sent_at)
                    self._replace(w)
                elif not w.ready and time.monotonic() >= w.started + self.start_timeout_s:
                    self._fail_all(results, queue, f"worker did not start in {self.start_timeout_s:g}s")
                    self._replace(w)
        return [r if r is not None else TaskResult(error="not run") for r in results]

    def _busy(self) -> int:
        return sum(w.job is not None for w in self._pool)

    def _fail_all(self, results: list[Optional[TaskResult]], queue: list[int], reason: str) -> None:
        while queue:
            results[queue.pop()] = TaskResult(error=reason)

    def _receive(self, w: _Worker, results: list[Optional[TaskResult]], queue: list[int]) -> None:
        try:
            msg = json.loads(w.conn.recv_bytes())
        except (EOFError, OSError):
            if w.job is not None:
                results[w.job] = TaskResult(error=f"worker exited (code {w.proc.exitcode})",
                                            elapsed_s=time.monotonic() - w.sent_at)
            else:
                self._fail_all(results, queue, f"worker exited (code {w.proc.exitcode})")
            self._replace(w)
            return
        if not w.ready:
            if not msg.get("ready"):
                self._fail_all(results, queue, f"worker failed to start: {msg.get('error')}")
                self._replace(w)
                return
            w.ready = True
            return
        assert w.job is not None
        elapsed = time.monotonic() - w.sent_at
        results[w.job] = TaskResult(value=msg.get("value"), error=msg.get("error"), elapsed_s=elapsed)
        w.job = None
        w.done += 1
        if w.done >= self.max_tasks_per_worker:
            self._replace(w)

    def close(self) -> None:
        """Stop all workers. The pool restarts lazily if used again."""
        with self._lock:
            for w in self._pool:
                w.kill()
            self._pool.clear()

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

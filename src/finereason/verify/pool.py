"""A small process pool with a hard wall-clock limit per task.

Why not ``concurrent.futures.ProcessPoolExecutor``: it cannot cancel a running task, and killing
one of its workers breaks the whole pool (``BrokenProcessPool``), so every other pending task
fails too. math-verify can spend minutes in sympy on a pathological pair (``(x+1)^{3000}``), and
its own SIGALRM timeout only works in a main thread. Here each worker is a separate process with
its own pipes; a task that overruns is answered with an error and only *its* worker is killed
(SIGKILL, as sympy may sit in C code) and replaced.

Why not ``multiprocessing`` (spawn/forkserver) either: both re-import the caller's ``__main__`` in
every worker, which re-runs an unguarded user script and fails outright for code fed on stdin.
Workers here are plain ``python -m finereason.verify._worker TASK`` subprocesses that speak one JSON
object per line on stdin/stdout, so they depend on nothing in the caller and no pickled data
crosses the pipe. The price is a start-up of ~2 s per worker (imports and a warm-up parse),
paid in parallel, outside any task's time limit, and again only for a worker that was killed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any, Optional, Sequence

DEFAULT_TASK = "finereason.verify.mathcheck:compare"


@dataclass(frozen=True, slots=True)
class TaskResult:
    """Outcome of one task: ``value`` (the task's JSON-able return) or ``error`` (why not)."""

    value: Any = None
    error: Optional[str] = None
    elapsed_s: float = 0.0


class _Worker:
    """One subprocess, its pipes, and what it is doing."""

    def __init__(self, task: str) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p),
                   FINEREASON_PARENT_PID=str(os.getpid()))  # the worker exits with us (pipeline.lifeline)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "finereason.verify._worker", task],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self.started = time.monotonic()
        self.ready = False
        self.job: Optional[int] = None  # index of the running task
        self.deadline = 0.0
        self.sent_at = 0.0
        self.done = 0

    def send(self, job: int, args: Sequence[Any], timeout_s: float) -> None:
        self.job, self.sent_at = job, time.monotonic()
        self.deadline = self.sent_at + timeout_s
        self.stdin.write(json.dumps(list(args)) + "\n")
        self.stdin.flush()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.stdin, self.stdout):
            try:
                pipe.close()
            except OSError:  # a dead worker's broken pipe has nothing left to flush
                pass


class WorkerPool:
    """Run ``task(*args)`` for many argument tuples in worker processes, each under a hard limit.

    ``task`` is ``"module:function"``; the function takes and returns JSON values. Workers start
    lazily on the first :meth:`run` and are reused; :meth:`close` them (or use a ``with`` block).
    Concurrent ``run`` calls from several threads are serialised by a lock.
    """

    def __init__(self, workers: Optional[int] = None, *, task: str = DEFAULT_TASK,
                 max_tasks_per_worker: int = 1000, start_timeout_s: float = 120.0) -> None:
        self.workers = max(1, workers or min(4, os.cpu_count() or 1))
        self.task = task
        self.max_tasks_per_worker = max_tasks_per_worker  # sympy caches grow; recycle workers
        self.start_timeout_s = start_timeout_s
        self._pool: list[_Worker] = []
        self._lock = threading.Lock()

    def run(self, tasks: Sequence[Sequence[Any]], timeout_s: float) -> list[TaskResult]:
        """Run every task; a task over ``timeout_s`` seconds of wall-clock time gets an error."""
        with self._lock:
            return self._run(tasks, timeout_s)

    def _run(self, tasks: Sequence[Sequence[Any]], timeout_s: float) -> list[TaskResult]:
        results: list[Optional[TaskResult]] = [None] * len(tasks)
        queue = list(range(len(tasks) - 1, -1, -1))  # pop() from the end = submission order
        while queue or any(w.job is not None for w in self._pool):
            busy = sum(w.job is not None for w in self._pool)
            while len(self._pool) < min(self.workers, len(queue) + busy):
                self._pool.append(_Worker(self.task))
            for w in self._pool:
                if w.ready and w.job is None and queue:
                    job = queue.pop()
                    w.send(job, tasks[job], timeout_s)
            deadlines = [w.deadline if w.ready else w.started + self.start_timeout_s
                         for w in self._pool if w.job is not None or not w.ready]
            wait_s = max(0.0, min(deadlines) - time.monotonic()) if deadlines else 0.0
            readable = set(wait([w.stdout for w in self._pool], timeout=wait_s))
            for w in list(self._pool):
                now = time.monotonic()
                if w.stdout in readable:
                    self._receive(w, results, queue)
                elif w.job is not None and now >= w.deadline:
                    results[w.job] = TaskResult(
                        error=f"timeout: no answer within {timeout_s:g}s, worker killed",
                        elapsed_s=now - w.sent_at)
                    self._drop(w)
                elif not w.ready and now >= w.started + self.start_timeout_s:
                    reason = f"worker did not start in {self.start_timeout_s:g}s"
                    self._fail_queue(results, queue, reason)
                    self._drop(w)
        return [r if r is not None else TaskResult(error="not run") for r in results]

    def _drop(self, w: _Worker) -> None:
        w.kill()
        self._pool.remove(w)

    @staticmethod
    def _fail_queue(results: list[Optional[TaskResult]], queue: list[int], reason: str) -> None:
        while queue:
            results[queue.pop()] = TaskResult(error=reason)

    def _receive(self, w: _Worker, results: list[Optional[TaskResult]], queue: list[int]) -> None:
        line = w.stdout.readline()
        try:
            msg = json.loads(line)
        except ValueError:  # EOF ("") or a torn line: the worker died
            code = w.proc.poll()
            reason = f"worker exited (code {code})" if line == "" else "malformed worker reply"
            if w.job is not None:
                results[w.job] = TaskResult(error=reason, elapsed_s=time.monotonic() - w.sent_at)
            else:
                self._fail_queue(results, queue, reason)
            self._drop(w)
            return
        if not w.ready:
            if not msg.get("ready"):
                self._fail_queue(results, queue, f"worker failed to start: {msg.get('error')}")
                self._drop(w)
                return
            w.ready = True
            return
        assert w.job is not None
        results[w.job] = TaskResult(value=msg.get("value"), error=msg.get("error"),
                                    elapsed_s=time.monotonic() - w.sent_at)
        w.job = None
        w.done += 1
        if w.done >= self.max_tasks_per_worker:
            self._drop(w)

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


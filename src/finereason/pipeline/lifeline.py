"""Worker processes that die with the process that started them: no orphans after ``kill -9``.

A ``ProcessPoolExecutor`` worker blocks on its call queue and a forkserver lives as long as any
worker holds its pipe, so when only the main process is killed (``kill -9``, the OOM killer) the
pool, the forkserver and the resource tracker keep running, and keep committing shards, for as
long as their queued work lasts. Linux's parent-death signal cannot help here: a forkserver
worker's parent is the forkserver, not the main process. So each worker watches the main
process itself, from a daemon thread, and exits the moment it is gone; the forkserver and the
resource tracker then see their last client's pipe close and exit on their own.

The watch is a pidfd (Linux 5.3+), which becomes readable when the process exits and cannot be
fooled by a reused pid; elsewhere it polls the parent pid twice a second.
"""

from __future__ import annotations

import os
import select
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

#: How often the fallback checks that the watched process is still there.
POLL_S = 0.5


def _wait_for_exit(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd on this OS or kernel: poll
        while _alive(pid):
            time.sleep(POLL_S)
        return
    try:
        select.select([fd], [], [])
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else (a reused pid): treat as gone
        return False
    return True


def watch_parent(pid: int) -> None:
    """Exit this process (status 1, at once) when process ``pid`` exits; returns immediately.

    Used as a pool initializer with the main process's pid, and by subprocess workers.
    """

    def watch() -> None:
        _wait_for_exit(pid)
        os._exit(1)  # the work is lost anyway: no cleanup that could block or commit half a shard

    if not _alive(pid):
        os._exit(1)
    threading.Thread(target=watch, name=f"lifeline-{pid}", daemon=True).start()


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A forkserver process pool whose workers exit when this process does (see module docstring).

    forkserver: workers do not inherit the parent's threads (rich's refresh thread).
    """
    return ProcessPoolExecutor(workers, mp_context=get_context("forkserver"), initializer=watch_parent,
                               initargs=(os.getpid(),))

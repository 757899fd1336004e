"""Worker process of :class:`finereason.verify.pool.WorkerPool`: ``python -m`` this module TASK.

Reads one JSON array of arguments per line on stdin, calls ``TASK`` (``"module:function"``) and
writes one JSON object per line: ``{"value": ...}`` or ``{"error": "..."}``. The first line it
writes is ``{"ready": true}`` once the task module is imported (or ``{"ready": false, ...}``).
Kept apart from ``pool`` so that ``-m`` does not import the module it is running twice.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import IO, Any, Callable

from finereason.pipeline.lifeline import watch_parent


def _resolve(task: str) -> Callable[..., Any]:
    module, _, name = task.partition(":")
    return getattr(importlib.import_module(module), name)


def serve(task: str, inp: IO[str], out: IO[str]) -> None:
    """Announce readiness, then answer one JSON line per request until EOF."""

    def reply(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    try:
        fn = _resolve(task)
    except Exception as exc:  # report, do not die silently: the parent waits for "ready"
        reply({"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return
    reply({"ready": True})
    for line in inp:
        try:
            result = {"value": fn(*json.loads(line))}
        except Exception as exc:
            result = {"error": f"{type(exc).__name__}: {exc}"}
        reply(result)


def main() -> None:
    """Keep the protocol on the real stdout; send every other print (sympy, user code) to stderr.

    Exits with the process that started it, even mid-task (a sympy call can run for minutes).
    """
    watch_parent(int(os.environ.get("FINEREASON_PARENT_PID") or os.getppid()))
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.argv[1], sys.stdin, protocol_out)


if __name__ == "__main__":
    main()

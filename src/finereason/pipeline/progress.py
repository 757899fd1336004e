"""Progress on a terminal, one summary line everywhere else (logs, CI, pipes)."""

from __future__ import annotations

import sys
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)


class StageProgress:
    """A bar over shards with a live status text (records, rejections, tokens/s …)."""

    def __init__(self, description: str, total: int | None, *, unit: str = "shards") -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(unit),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
            disable=not console.is_terminal,
            transient=False,
        )
        self._task = self._progress.add_task(description, total=total, status="")

    def __enter__(self) -> StageProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.__exit__(t, e, tb)

    def advance(self, shards: int = 1) -> None:
        self._progress.advance(self._task, shards)

    def status(self, text: str) -> None:
        self._progress.update(self._task, status=text)


def say(text: str) -> None:
    """A line for people, on stderr so stdout stays clean for data and JSON."""
    print(text, file=sys.stderr, flush=True)

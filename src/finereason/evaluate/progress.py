"""A per-phase item bar on a terminal; elsewhere a line every N seconds and one closing line on stderr."""

from __future__ import annotations

import time
from types import TracebackType

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from finereason.pipeline.progress import ProgressLog, console, log_interval, say


class ItemProgress:
    """``with ItemProgress("perception", n) as p: … p.advance()``."""

    def __init__(self, phase: str, total: int) -> None:
        self.phase, self.total, self.done = phase, total, 0
        self._started = time.monotonic()
        self._bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("items"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=console, disable=not console.is_terminal,
        )
        self._task = self._bar.add_task(phase, total=total)
        self._log = None if console.is_terminal else ProgressLog(self._line, log_interval())

    def _line(self) -> str:
        elapsed = time.monotonic() - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = f"{(self.total - self.done) / rate:.0f}s" if rate > 0 else "unknown"
        return f"{self.phase}: {self.done}/{self.total} items · {rate:.3g} items/s · ETA {eta}"

    def __enter__(self) -> ItemProgress:
        self._bar.__enter__()
        if self._log is not None:
            self._log.start()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if self._log is not None:
            self._log.stop()
        self._bar.__exit__(t, e, tb)
        if t is None:
            say(f"{self.phase}: {self.done}/{self.total} items in {time.monotonic() - self._started:.1f}s")

    def advance(self) -> None:
        self.done += 1
        self._bar.advance(self._task)

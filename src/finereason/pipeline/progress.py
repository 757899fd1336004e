"""Progress on a terminal (rich bars), and a log line every N seconds everywhere else (logs, CI, pipes).

Without a TTY a long stage used to be silent until it ended. Now a daemon thread writes one
line to stderr every ``FINEREASON_PROGRESS_SECONDS`` (default 30) with done/total, the rate in
this run, the ETA and the stage's live status (tokens/s, failures by reason, records in/out).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)

#: Seconds between progress lines when stderr is not a terminal.
PROGRESS_SECONDS_ENV = "FINEREASON_PROGRESS_SECONDS"


def log_interval() -> float:
    """The seconds between non-TTY progress lines (``FINEREASON_PROGRESS_SECONDS``, default 30)."""
    raw = os.environ.get(PROGRESS_SECONDS_ENV, "")
    try:
        value = float(raw) if raw else 30.0
    except ValueError:
        value = 30.0
    return value if value > 0 else 30.0


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    return f"{h}h{rest // 60:02d}m" if h else f"{rest // 60}m{rest % 60:02d}s"


class ProgressLog:
    """Calls ``line()`` and writes it to stderr every ``interval`` seconds on a daemon thread, until stopped."""

    def __init__(self, line: Callable[[], str], interval: float) -> None:
        self._line, self._interval = line, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress-log", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            say(self._line())


class StageProgress:
    """A bar over shards with a live status text (records, rejections, tokens/s …).

    ``already`` is what a resumed run finds done: shown as done, left out of the rate and ETA.
    """

    def __init__(self, description: str, total: int | None, *, unit: str = "shards", already: int = 0) -> None:
        self.description, self.total, self.unit = description, total, unit
        self.done, self.already, self.text = already, already, ""
        self._started = time.monotonic()
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
        self._task = self._progress.add_task(description, total=total, status="", completed=already)
        self._log = None if console.is_terminal else ProgressLog(self.line, log_interval())

    def __enter__(self) -> StageProgress:
        self._progress.__enter__()
        if self._log is not None:
            self._log.start()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if self._log is not None:
            self._log.stop()
        self._progress.__exit__(t, e, tb)

    def advance(self, shards: int = 1) -> None:
        self.done += shards
        self._progress.advance(self._task, shards)

    def status(self, text: str) -> None:
        self.text = text
        self._progress.update(self._task, status=text)

    def line(self) -> str:
        """``distill: 3/16 shards (19%) · 0.12 shards/s · ETA 1m48s · <status>``: what a log reader needs."""
        elapsed = time.monotonic() - self._started
        rate = (self.done - self.already) / elapsed if elapsed > 0 else 0.0
        if self.total:
            head = f"{self.done}/{self.total} {self.unit} ({100 * self.done / self.total:.0f}%)"
            eta = _duration((self.total - self.done) / rate) if rate > 0 else "unknown"
        else:
            head, eta = f"{self.done} {self.unit}", "unknown"
        parts = [f"{self.description}: {head}", f"{rate:.3g} {self.unit}/s", f"ETA {eta}",
                 f"elapsed {_duration(elapsed)}"]
        return " · ".join(parts + ([self.text] if self.text else []))


def say(text: str) -> None:
    """A line for people, on stderr so stdout stays clean for data and JSON."""
    print(text, file=sys.stderr, flush=True)

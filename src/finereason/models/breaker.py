"""The endpoint breaker: which faults mean nobody can serve, and when a model counts as down.

Kept apart from :mod:`~finereason.models.health`'s start-up check, which builds an HTTP model to
probe with: the HTTP backend uses these pieces itself, so they must not import it back.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass

from finereason.errors import UserError

from .types import ModelError

#: Exit status of a stage stopped because no endpoint of its model could serve (see ``--help``).
EXIT_ENDPOINTS_DOWN = 3

#: Reasons that mean "nobody is there, or nobody will serve us": they trip the breaker.
_FATAL_HTTP = {
    "http_401": "401 unauthorized: check FINEREASON_API_KEY / OPENAI_API_KEY",
    "http_403": "403 forbidden: the key may not use this model",
    "http_404": "404 not found: the model is not served there, or the URL's path is wrong",
}
_CONNECT_REASONS = frozenset({"connect_error", "connect_timeout"})


def doubling(base: float, n: int, cap: float) -> float:
    """``min(cap, base * 2**n)`` without ever forming a huge number.

    ``0.5 * 2**failures`` raised ``OverflowError`` once a few hundred concurrent requests had
    failed (an int past 2**1024 cannot become a float); the exponent is clamped first.
    """
    return min(cap, base * 2.0 ** min(max(n, 0), 64))


def connect_cause(exc: BaseException) -> str:
    """A person's word for why a TCP/TLS connection could not be opened."""
    if isinstance(exc, socket.gaierror):
        return f"DNS lookup failed ({exc.strerror or exc})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({exc.reason or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens on that port)"
    if isinstance(exc, TimeoutError):
        return "connect timed out (host down or firewalled)"
    return f"cannot connect ({exc})"


def fatal_cause(error: ModelError, url: str) -> str | None:
    """The cause to report if ``error`` from ``url`` says it cannot serve at all, else None (retry as usual)."""
    if error.reason in _CONNECT_REASONS:
        return error.detail.removeprefix(f"{url}: ") or error.reason
    return _FATAL_HTTP.get(error.reason)


class EndpointsDown(UserError):
    """Every endpoint of a model failed to connect (or refused to serve) for the breaker's limit."""

    exit_code = EXIT_ENDPOINTS_DOWN


@dataclass(frozen=True)
class BreakerLimits:
    """When an endpoint counts as down: ``tries`` fatal failures in a row, or fatal failures for ``seconds``.

    Defaults end a stage against a dead server within a minute even with a 10 s connect
    timeout and one request at a time (10 s, then about 21, 33 and 47 s), and within a second
    when many requests are refused at once; one good reply resets the count.
    """

    tries: int = 8
    seconds: float = 30.0


class Breaker:
    """One endpoint's streak of fatal failures, and its last cause."""

    def __init__(self, limits: BreakerLimits = BreakerLimits()) -> None:
        self.limits = limits
        self.streak = 0
        self.since: float | None = None
        self.cause = ""

    def ok(self) -> None:
        self.streak, self.since = 0, None

    def fail(self, cause: str) -> None:
        now = asyncio.get_running_loop().time()
        self.streak += 1
        self.since = now if self.since is None else self.since
        self.cause = cause

    @property
    def tripped(self) -> bool:
        if self.streak >= self.limits.tries:
            return True
        if self.since is None or self.streak < 2:
            return False
        return asyncio.get_running_loop().time() - self.since >= self.limits.seconds

    def describe(self) -> str:
        span = asyncio.get_running_loop().time() - self.since if self.since is not None else 0.0
        return f"{self.cause} ({self.streak} tries in {span:.0f}s)"


def shown_url(url: str) -> str:
    """``url`` without any ``user:password@``, for messages (a key in a URL must not reach a log)."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    return f"{scheme}{sep}{netloc.rpartition('@')[2]}{slash}{path}"


def endpoints_down(model_id: str, causes: dict[str, str]) -> EndpointsDown:
    """The one error a stage ends with when no endpoint of the model ``model_id`` can serve."""
    lines = "; ".join(f"{shown_url(url)}: {cause}" for url, cause in causes.items())
    return EndpointsDown(
        f"no endpoint of {model_id} can serve: {lines}. Is the server up at that URL? "
        "(`finereason models check SPEC` with the same spec). Answers received so far are journaled: "
        "rerun the same command once it is up to continue"
    )

"""Endpoint health: bounded backoff, a circuit breaker, and the fast check before a long stage.

A dead teacher used to be retried for hours in silence (every request, every retry, each
waiting out its own backoff). The rule here: a fault that a server *can* recover from on its
own (429, 5xx, a reset, a read timeout, a garbled reply) is retried as before; a fault that
says nobody is there or nobody will serve us (connection refused, DNS, TLS, connect timeout,
401/403, 404 model-not-found) counts against the endpoint's breaker. When every endpoint of a
spec has tripped its breaker, the stage stops with one :class:`EndpointsDown` naming each URL
and its cause. What was journaled stays journaled, so a rerun pays only for what is left.
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


def check_before_start(stage: str, specs: list[str | None]) -> None:
    """:func:`preflight` every model spec a stage was given, printing warnings; raises :class:`EndpointsDown`."""
    from finereason.pipeline.progress import say

    for spec in specs:
        for warning in asyncio.run(preflight(spec)) if spec else []:
            say(f"{stage}: {warning}")


async def preflight(spec: str, *, timeout: float = 10.0) -> list[str]:
    """Fail fast before a long stage: raise :class:`EndpointsDown` if no endpoint of an ``openai`` spec answers.

    Asks each endpoint ``GET /models`` (the ``models check`` probe, without generating): an
    endpoint counts as dead only for a fatal cause (connection, DNS, TLS, 401/403/404); a slow
    or overloaded one is left to the stage's retries. Returns warnings for the endpoints that
    failed while others answered, and for a model missing from a server's list. Other spec
    kinds load in-process and have nothing to probe.
    """
    from .openai_http import OpenAIModel, Timeouts
    from .spec import parse_spec

    if spec.partition(":")[0].strip().lower() not in ("openai", "openai-text"):
        return []  # in-process models, and perceivers such as 'oracle' that are not model specs
    parsed = parse_spec(spec)

    async def probe(url: str) -> tuple[str, str | None, str | None]:
        model = OpenAIModel(f"openai:{parsed.model}@{url}", concurrency=1, timeouts=Timeouts(timeout, timeout))
        try:
            served = await model.list_models()
        except ModelError as exc:
            cause = fatal_cause(exc, url)
            return url, cause, None if cause else f"{shown_url(url)}: GET /models failed ({exc}); continuing"
        finally:
            await model.aclose()
        if served and parsed.model not in served:
            return url, None, f"{shown_url(url)} lists {served[:5]}, not {parsed.model!r}; requests may get 404"
        return url, None, None

    results = await asyncio.gather(*(probe(url) for url in parsed.endpoints))
    dead = {url: cause for url, cause, _ in results if cause}
    if len(dead) == len(results):
        raise endpoints_down(parsed.model_id, dead)
    warnings = [w for _, _, w in results if w]
    warnings += [f"{shown_url(url)}: {cause}; using the other endpoints" for url, cause in dead.items()]
    return warnings

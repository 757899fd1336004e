"""Endpoint health: bounded backoff, a circuit breaker, and the fast check before a long stage.

A dead teacher used to be retried for hours in silence (every request, every retry, each
waiting out its own backoff). The rule here: a fault that a server *can* recover from on its
own (429, 5xx, a reset, a read timeout, a garbled reply) is retried as before; a fault that
says nobody is there or nobody will serve us (connection refused, DNS, TLS, connect timeout,
401/403, 404 model-not-found) counts against the endpoint's breaker. When every endpoint of a
spec has tripped its breaker (:mod:`~finereason.models.breaker`), the stage stops with one
:class:`~finereason.models.breaker.EndpointsDown` naming each URL and its cause. What was journaled stays journaled, so a rerun pays only for what is left.
"""

from __future__ import annotations

import asyncio

from .breaker import endpoints_down, fatal_cause, shown_url
from .types import ModelError


def check_before_start(stage: str, specs: list[str | None]) -> None:
    """:func:`preflight` every model spec a stage was given, printing warnings; raises
    :class:`~finereason.models.breaker.EndpointsDown`."""
    from finereason.pipeline.progress import say

    for spec in specs:
        for warning in asyncio.run(preflight(spec)) if spec else []:
            say(f"{stage}: {warning}")


async def preflight(spec: str, *, timeout: float = 10.0) -> list[str]:
    """Fail fast before a long stage: raise ``EndpointsDown`` if no endpoint of an ``openai`` spec answers.

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

"""Model calls for evaluation: one journaled request with its timing, and the pool of loaded models.

Every call goes through :class:`~finereason.models.client.ModelClient`, so it is retried, bounded
in concurrency and written to the request journal; a rerun of a killed evaluation answers
finished requests from the journal. A request that fails for good becomes a :class:`Call` with
``error`` set, which the item reports as an ``error`` outcome: one failure never stops a run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finereason.models.client import ModelClient
from finereason.models.journal import Journal, request_key
from finereason.models.backends import load_model
from finereason.models.types import Message, ModelError, SamplingParams


@dataclass
class Call:
    """What one request produced: text and finish reason, tokens, wall time, whether the journal answered."""

    text: str | None
    finish_reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cached: bool = False
    error: str | None = None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


async def call(client: ModelClient, messages: list[Message], params: SamplingParams) -> Call:
    """One request through the client; never raises for a model failure (see :attr:`Call.error`)."""
    cached = False
    if client.journal is not None:
        cached = client.journal.get(request_key(client.model_id, messages, params)) is not None
    started = time.monotonic()
    try:
        completion = (await client.complete(messages, params))[0]
    except ModelError as err:
        return Call(None, latency_s=time.monotonic() - started, cached=cached, error=f"{err.reason}: {err.detail}"[:500])
    return Call(
        completion.text,
        completion.finish_reason,
        completion.prompt_tokens,
        completion.completion_tokens,
        0.0 if cached else time.monotonic() - started,
        cached,
    )


class ModelPool:
    """Each model spec loaded once and shared by every phase and run that names it.

    All clients write one journal file (each through its own connection), so the grid's runs
    and a rerun share every answer. ``release`` unloads a model when a phase is done with it, so
    a perceiver and a reasoner need not sit in memory together.
    """

    def __init__(self, journal_path: Path | None, *, concurrency: int | None = None) -> None:
        self.journal_path = journal_path
        self.concurrency = concurrency
        self._loaded: dict[str, Any] = {}
        self._released_usage: dict[str, dict[str, Any]] = {}

    def get(self, spec: str) -> Any:
        """A :class:`ModelClient` for a model spec; a perceiver object (``builtin:ocr``) as is."""
        if spec not in self._loaded:
            model = load_model(spec)
            if hasattr(model, "complete"):
                journal = Journal(self.journal_path) if self.journal_path is not None else None
                self._loaded[spec] = ModelClient(model, journal, concurrency=self.concurrency)
            else:
                self._loaded[spec] = model
        return self._loaded[spec]

    async def release(self, spec: str) -> None:
        """Unload ``spec`` (its counters are kept for :meth:`usage`); a later ``get`` loads it again."""
        loaded = self._loaded.pop(spec, None)
        if loaded is None:
            return
        self._released_usage[spec] = _combine(self._released_usage.get(spec, {}), _usage_of(loaded), 1)
        if hasattr(loaded, "aclose"):
            await loaded.aclose()

    async def aclose(self) -> None:
        for spec in list(self._loaded):
            await self.release(spec)

    def usage(self) -> dict[str, dict[str, Any]]:
        """Requests, journal hits, failures and tokens per model this pool has loaded (for the summary)."""
        out = dict(self._released_usage)
        for spec, loaded in self._loaded.items():
            out[spec] = _combine(out.get(spec, {}), _usage_of(loaded), 1)
        return {spec: u for spec, u in out.items() if u}


def usage_since(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What was used between two :meth:`ModelPool.usage` snapshots (one run inside a grid's shared pool)."""
    delta = {spec: _combine(now, before.get(spec, {}), -1) for spec, now in after.items()}
    return {spec: d for spec, d in delta.items() if d.get("requests")}


def _usage_of(loaded: Any) -> dict[str, Any]:
    if not isinstance(loaded, ModelClient):
        return {}
    u = loaded.usage
    return {"requests": u.requests, "cached": u.cached, "failed": u.failed, "retries": u.retries,
            "prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens, "errors": dict(u.errors)}


def _combine(a: dict[str, Any], b: dict[str, Any], sign: int) -> dict[str, Any]:
    """``a + sign * b`` for usage dicts (numbers, and the ``errors`` count by reason); zero error counts dropped."""
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, dict):
            counts = dict(out.get(key, {}))
            for reason, n in value.items():
                counts[reason] = counts.get(reason, 0) + sign * n
            out[key] = {reason: n for reason, n in counts.items() if n}
        else:
            out[key] = out.get(key, 0) + sign * value
    return out

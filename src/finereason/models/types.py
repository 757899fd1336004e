"""The one model interface every stage talks to.

Every backend (OpenAI-compatible HTTP, in-process transformers, builtin models, vLLM) takes
chat messages with images and returns the same :class:`Completion`, so a stage never knows
which engine answered. Reasoning that a server moved into a separate field is folded back
as ``<think>…</think>`` so downstream format checks see one shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

#: A chat message: ``{"role": "user", "content": str | list[part]}``; a part is
#: ``{"type": "text", "text": str}`` or ``{"type": "image", "image": bytes}`` (encoded image bytes).
Message = dict[str, Any]


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings; all of them are sent (the public code silently dropped top_p)."""

    max_tokens: int = 16384
    temperature: float = 1.0
    top_p: float = 0.95
    n: int = 1
    seed: int | None = None
    stop: tuple[str, ...] = ()
    extra: tuple[tuple[str, Any], ...] = ()  # backend-specific extras, hashable

    def as_dict(self) -> dict[str, Any]:
        # Shallow on purpose: every field is immutable, and dataclasses.asdict's deep copy was a
        # third of a journaled request's client CPU (keys are unchanged: the JSON is the same).
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class Completion:
    """One generated sample. ``text`` holds ``<think>reasoning</think>`` + answer when reasoning exists."""

    text: str
    reasoning: str | None = None
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


@dataclass
class ModelError(Exception):
    """A request that failed after all retries; ``reason`` is short and machine-groupable."""

    reason: str
    detail: str = ""
    #: Whether trying again may succeed (429, 5xx, timeouts, resets, garbled replies); a 400 is not.
    retryable: bool = False
    #: Set aside to be answered later by whoever runs the model (an engine's batch round): the
    #: client counts it as deferred, never as failed, and journals no failure for it.
    postponed: bool = False
    #: Seconds the server asked us to wait (``Retry-After``), if it said.
    retry_after: float | None = None

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


@runtime_checkable
class Model(Protocol):
    """What a backend provides. ``accepts_images`` is False for text-only models."""

    spec: str
    accepts_images: bool

    async def complete(self, messages: list[Message], params: SamplingParams) -> list[Completion]:
        """Return ``params.n`` completions or raise :class:`ModelError`."""
        ...

    async def aclose(self) -> None: ...


@dataclass
class Usage:
    """Running totals a stage reports in its manifest and progress line."""

    requests: int = 0
    cached: int = 0
    failed: int = 0
    retries: int = 0
    deferred: int = 0  # set aside to be answered later (ModelError.postponed), not failed
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Requests that finally failed, by :attr:`ModelError.reason`.
    errors: dict[str, int] = field(default_factory=dict)
    #: Attempts that failed and were retried, by reason (a 429 storm shows up here first).
    retry_reasons: dict[str, int] = field(default_factory=dict)

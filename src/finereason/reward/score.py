"""Rollout rewards from the verification cascade: the same extraction and grading as ``verify``.

A rollout's reward is ``(1 - format_weight) * correct + format_weight * format``:

- ``correct`` is 1 only when the cascade (exact → choice → numeric → math-verify in the killable
  worker pool, under its wall-clock timeout) says the extracted answer equals the reference;
- ``format`` (used only when ``format_weight > 0``) is the mean of two checks: one closed
  ``<think>…</think>`` block, and an ``<answer>…</answer>`` after it.

Every other outcome scores 0 and is *counted*, never raised, because one bad rollout must not stop
an RL step: ``no_answer`` (nothing extracted), ``undecided`` (no step could decide, or an answer
too long to be a final answer), ``incorrect`` and ``error`` (a math-verify timeout or a crashed
worker, a malformed reference). :class:`RewardCounts` keeps the tally a training run reports.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional, Sequence

from finereason.verify.equivalence import Verdict, Verifier, VerifyItem
from finereason.verify.extract import extract_answer, split_think

Outcome = Literal["correct", "incorrect", "undecided", "no_answer", "error"]
OUTCOMES: tuple[Outcome, ...] = ("correct", "incorrect", "undecided", "no_answer", "error")

#: Sample.answer_type → the verifier's kinds; the same mapping ``verify`` uses (None: infer).
_KIND = {"choice": "choice", "integer": "math", "number": "math", "expression": "math",
         "text": "text", "yes_no": "text"}


#: Answer types that a rule cannot grade (free-form answers); such samples are never RL prompts.
UNVERIFIABLE_TYPES = ("open",)


def unverifiable_reason(answer: Optional[str], answer_type: Optional[str]) -> Optional[str]:
    """Why a sample cannot be an RL prompt graded by the verifier, or None when it can."""
    if answer is None or not str(answer).strip():
        return "no reference answer"
    if answer_type in UNVERIFIABLE_TYPES:
        return f"answer type {answer_type!r} has no rule-checkable answer"
    return None


@dataclass(frozen=True, slots=True)
class RewardConfig:
    """How rollouts are scored.

    ``max_answer_chars``: the cheap cascade steps run in-process without a time limit, so an
    extracted "answer" longer than this (a runaway rollout that never closed its tag properly)
    is not graded at all: the verifier abstains (``undecided``, reward 0).
    """

    format_weight: float = 0.0
    timeout_s: float = 5.0
    max_answer_chars: int = 2000
    #: The chat template opens ``<think>`` in the generation prompt (Qwen3 thinking models), so a
    #: rollout starts inside its reasoning and a lone closing ``</think>`` is a well-formed block.
    think_prefilled: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.format_weight <= 1.0:
            raise ValueError(f"format_weight must be in [0, 1], got {self.format_weight}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")


@dataclass(frozen=True, slots=True)
class Reward:
    """One rollout's score and why."""

    score: float
    outcome: Outcome
    format: float
    verdict_by: str
    detail: str = ""


@dataclass
class RewardCounts:
    """Thread-safe tally of outcomes; ``take()`` returns and resets it (one training step's worth)."""

    counts: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, rewards: Sequence[Reward]) -> None:
        with self._lock:
            self.counts.update(r.outcome for r in rewards)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {o: self.counts.get(o, 0) for o in OUTCOMES}

    def take(self) -> dict[str, int]:
        with self._lock:
            out = {o: self.counts.get(o, 0) for o in OUTCOMES}
            self.counts.clear()
            return out


def format_score(response: str, think_prefilled: bool = False) -> float:
    """Mean of: exactly one closed think block, and an ``<answer>`` tag outside the reasoning.

    ``think_prefilled``: the template opened the block, so the rollout closes it without opening.
    """
    split = split_think(response)
    think_ok = split.status == ("prefilled" if think_prefilled else "ok")
    found = extract_answer(response)
    tag_ok = found is not None and found.method == "answer_tag"
    return (float(think_ok) + float(tag_ok)) / 2.0


@dataclass(frozen=True, slots=True)
class RewardTask:
    """One rollout to score: the response text and what the reference side knows."""

    response: str
    answer: str
    answer_type: Optional[str] = None
    options: Sequence[str] | Mapping[str, str] = ()
    question: str = ""


def _outcome(v: Verdict) -> Outcome:
    if v.verdict == "correct":
        return "correct"
    if v.verdict == "unparsed":
        return "no_answer"
    if v.verdict in ("error", "undecided"):
        return v.verdict
    return "undecided" if v.verdict_by == "none" else "incorrect"


def score_many(tasks: Sequence[RewardTask], verifier: Verifier, config: RewardConfig) -> list[Reward]:
    """Score rollouts in one batch (one worker-pool round for every pair math-verify must see).

    Never raises for a bad rollout or reference: each becomes a zero reward with its outcome.
    """
    items: list[Optional[VerifyItem]] = []
    early: dict[int, Reward] = {}
    formats: list[float] = []
    for i, t in enumerate(tasks):
        response = t.response if isinstance(t.response, str) else ""
        fmt = format_score(response, config.think_prefilled)
        formats.append(fmt)
        found = extract_answer(response) if response else None
        pred = found.text if found else None
        if pred is not None and len(pred) > config.max_answer_chars:
            early[i] = Reward(0.0, "undecided", fmt, "none",
                              f"extracted answer is {len(pred)} chars > {config.max_answer_chars}")
            items.append(None)
            continue
        if not isinstance(t.answer, str) or not t.answer.strip():
            early[i] = Reward(0.0, "error", fmt, "none", "no reference answer")
            items.append(None)
            continue
        items.append(VerifyItem(pred, t.answer, tuple(t.options) if not isinstance(t.options, Mapping)
                                else dict(t.options), _KIND.get(t.answer_type or ""), t.question or ""))
    todo = [i for i, it in enumerate(items) if it is not None]
    try:
        verdicts = verifier.verify_many([items[i] for i in todo], timeout_s=config.timeout_s)
    except Exception as exc:  # e.g. a worker that cannot start: zero rewards, counted, the step goes on
        verdicts = [Verdict("error", "none", f"verifier failed: {type(exc).__name__}: {exc}")] * len(todo)
    for i, v in zip(todo, verdicts):
        early[i] = Reward(0.0, _outcome(v), formats[i], v.verdict_by, v.detail)
    out = []
    w = config.format_weight
    for i in range(len(tasks)):
        r = early[i]
        score = (1.0 - w) * float(r.outcome == "correct") + w * r.format
        out.append(Reward(score, r.outcome, r.format, r.verdict_by, r.detail))
    return out


def task_from_extra(solution_str: str, ground_truth: Any, extra_info: Optional[Mapping[str, Any]]) -> RewardTask:
    """A :class:`RewardTask` from verl's arguments (``extra_info`` as ``export --format verl`` writes it)."""
    extra = dict(extra_info or {})
    options = extra.get("options")
    options = list(options) if options is not None and not isinstance(options, Mapping) else (options or ())
    return RewardTask(solution_str if isinstance(solution_str, str) else "",
                      ground_truth if isinstance(ground_truth, str) else ("" if ground_truth is None else str(ground_truth)),
                      extra.get("answer_type"), options, extra.get("question") or "")

"""Verifiable rewards for RL, graded by finereason's verification cascade.

- :func:`compute_score` has verl's custom-reward signature
  (``custom_reward_function.path=<this file's module>``, ``name=compute_score``; extra keyword
  arguments come from ``custom_reward_function.reward_kwargs``);
- :func:`compute_score_batch` has the signature of verl's ``batch`` reward manager and grades a
  whole step in one worker-pool round;
- :class:`TrlReward` is a reward function for TRL's ``GRPOTrainer`` (it reads the ``answer``,
  ``answer_type`` and ``options`` columns that ``export --format trl-rl`` writes).

All three run :func:`finereason.reward.score.score_many`, i.e. the same extraction and
exact/choice/numeric/math-verify cascade as ``finereason verify``, with math-verify in the killable
worker pool under ``timeout_s``.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any, Mapping, Optional, Sequence

from finereason.reward.score import (
    OUTCOMES,
    Reward,
    RewardConfig,
    RewardCounts,
    RewardTask,
    format_score,
    score_many,
    task_from_extra,
)
from finereason.verify.equivalence import Verifier

__all__ = ["OUTCOMES", "Reward", "RewardConfig", "RewardCounts", "RewardTask", "TrlReward",
           "compute_score", "compute_score_batch", "counts", "format_score", "score_many"]

_verifier: Optional[Verifier] = None
_lock = threading.Lock()
#: Outcomes of every :func:`compute_score` / :func:`compute_score_batch` call in this process.
counts = RewardCounts()


def _shared_verifier() -> Verifier:
    """One verifier (and worker pool) per process, started on first use, stopped at exit."""
    global _verifier
    with _lock:
        if _verifier is None:
            _verifier = Verifier()
            atexit.register(_verifier.close)
        return _verifier


def _as_result(r: Reward, detailed: bool) -> float | dict[str, Any]:
    if not detailed:
        return r.score
    # verl logs every key of a dict result as a per-sample metric: keep them numeric.
    return {"score": r.score, "acc": float(r.outcome == "correct"), "format": r.format,
            **{f"is_{o}": float(r.outcome == o) for o in OUTCOMES}}


def compute_score(data_source: str, solution_str: str, ground_truth: str,
                  extra_info: Optional[Mapping[str, Any]] = None, *, format_weight: float = 0.0,
                  timeout_s: float = 5.0, think_prefilled: bool = False,
                  detailed: bool = False) -> float | dict[str, Any]:
    """verl's custom reward: 1/0 correctness (plus an optional format term) for one rollout.

    ``data_source`` is accepted for the signature; the grading depends only on the reference and
    ``extra_info`` (``answer_type``, ``options``, ``question``). Never raises for bad input.
    ``detailed=True`` returns verl's dict form with ``score`` plus per-outcome indicators.
    """
    config = RewardConfig(format_weight=format_weight, timeout_s=timeout_s, think_prefilled=think_prefilled)
    r = score_many([task_from_extra(solution_str, ground_truth, extra_info)], _shared_verifier(), config)[0]
    counts.add([r])
    return _as_result(r, detailed)


def compute_score_batch(data_sources: Sequence[str], solution_strs: Sequence[str],
                        ground_truths: Sequence[str], extra_infos: Sequence[Optional[Mapping[str, Any]]],
                        *, format_weight: float = 0.0, timeout_s: float = 5.0, think_prefilled: bool = False,
                        detailed: bool = False) -> list[float | dict[str, Any]]:
    """verl's ``batch`` reward manager form: every rollout of a step in one pool round."""
    config = RewardConfig(format_weight=format_weight, timeout_s=timeout_s, think_prefilled=think_prefilled)
    tasks = [task_from_extra(s, g, e) for s, g, e in zip(solution_strs, ground_truths, extra_infos)]
    rewards = score_many(tasks, _shared_verifier(), config)
    counts.add(rewards)
    return [_as_result(r, detailed) for r in rewards]


def _completion_text(completion: Any) -> str:
    """TRL passes plain strings, or (conversational data) a list of message dicts."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        parts = []
        for m in completion:
            content = m.get("content") if isinstance(m, Mapping) else None
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):  # multimodal content parts
                parts.extend(p.get("text", "") for p in content if isinstance(p, Mapping))
        return "".join(parts)
    return ""


class TrlReward:
    """A TRL ``GRPOTrainer`` reward function backed by the verifier.

    TRL calls it with ``prompts``, ``completions`` and every dataset column as keyword lists; it
    reads ``answer`` and, when present, ``answer_type``, ``options`` and ``question``. It logs the
    share of each outcome through TRL's ``log_metric`` hook, and keeps a running tally in
    :attr:`counts` for the run summary. ``format_only`` scores the format term alone (for a
    smoke-test run where the model cannot yet be right).
    """

    def __init__(self, config: RewardConfig = RewardConfig(), *, verifier: Optional[Verifier] = None,
                 format_only: bool = False) -> None:
        self.config = config
        self.format_only = format_only
        self.verifier = verifier
        self.counts = RewardCounts()
        self.__name__ = "format" if format_only else "verifier"

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], answer: Sequence[str] | None = None,
                 answer_type: Sequence[Optional[str]] | None = None, options: Sequence[Any] | None = None,
                 question: Sequence[str] | None = None, log_metric: Any = None, **_: Any) -> list[float]:
        texts = [_completion_text(c) for c in completions]
        if self.format_only:
            return [format_score(t, self.config.think_prefilled) for t in texts]
        n = len(texts)
        answers = list(answer) if answer is not None else [""] * n
        kinds = list(answer_type) if answer_type is not None else [None] * n
        opts = [o if o is not None else () for o in options] if options is not None else [()] * n
        questions = list(question) if question is not None else [""] * n
        tasks = [RewardTask(t, a or "", k, o, q or "") for t, a, k, o, q in zip(texts, answers, kinds, opts, questions)]
        if self.verifier is None:
            self.verifier = _shared_verifier()
        rewards = score_many(tasks, self.verifier, self.config)
        self.counts.add(rewards)
        if log_metric is not None and rewards:
            for o in OUTCOMES:
                log_metric(f"outcome/{o}", sum(r.outcome == o for r in rewards) / len(rewards))
        return [r.score for r in rewards]

"""Benchmark the RL reward: rewards per second per core, next to plain math-verify.

Rollouts are whole responses (reasoning, then ``<answer>…</answer>``): the 70 real release
responses, replicated, plus synthetic numeric, multiple-choice and symbolic rollouts built from
``bench/verify.py``'s pairs (half right, half wrong), plus a share of runaway rollouts (16K tokens
of repetition, no answer). ``finereason.reward`` grades them in one batch (cheap steps here,
math-verify in the killable worker pool). The baseline is plain math-verify as RL reward code
usually calls it: ``verify(parse(gold), parse(response))`` in one process, no time limit, on the
whole response and on the answer our extractor finds (so only the grading differs).

    PYTHONPATH=src python bench/reward.py [--replicate 10] [--synthetic 300] [--runaway 20] [--workers N]

A step of the paper's RL (batch 256 × 16 rollouts) is 4,096 rewards; the last column says how
long the reward takes for one such step at the measured rate.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from verify import FIXTURE, choice_pairs, expression_pairs, numeric_pairs, render  # noqa: E402  (bench/verify.py)

from finereason.reward import RewardConfig, RewardTask, score_many  # noqa: E402
from finereason.verify import Verifier, VerifyItem, extract_answer  # noqa: E402

STEP_ROLLOUTS = 256 * 16
FILLER = "Let me look at the figure again and check each quantity carefully. "


def as_rollout(item: VerifyItem, rng: random.Random) -> RewardTask:
    think = FILLER * rng.randint(20, 200)  # ~250-2,500 tokens of reasoning
    options = item.options if isinstance(item.options, (list, tuple)) else list(item.options)
    return RewardTask(f"<think>{think}</think>\nTherefore, the final answer is <answer>{item.pred}</answer>.",
                      item.gold, "choice" if options else None, options)


def fixture_rollouts(path: Path) -> list[RewardTask]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [RewardTask(r["qwen3vl_235b_thinking_response"], r["answer"], question=r["question"]) for r in rows]


def runaway(n: int) -> list[RewardTask]:
    return [RewardTask("<think>" + FILLER * 1300, "42") for _ in range(n)]  # ~16K tokens, never closed


def plain_math_verify(tasks: list[RewardTask], extracted: bool) -> tuple[list[float], float]:
    """math-verify alone, on the whole response or on the tagged answer (``extracted``)."""
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    out = []
    for t in tasks:
        try:
            found = extract_answer(t.response) if extracted else None
            pred = (found.text if found else "") if extracted else t.response
            out.append(float(verify(parse(t.answer), parse(pred))))
        except Exception:  # math-verify raises on some inputs; a reward loop would score 0
            out.append(0.0)
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--replicate", type=int, default=10, help="copies of the 70 real release responses")
    ap.add_argument("--synthetic", type=int, default=300, help="rollouts per synthetic kind")
    ap.add_argument("--runaway", type=int, default=20, help="16K-token repetitive rollouts without an answer")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    parts = {
        "release": fixture_rollouts(FIXTURE) * args.replicate if FIXTURE.exists() else [],
        "numeric": [as_rollout(i, rng) for i in numeric_pairs(rng, args.synthetic)],
        "choice": [as_rollout(i, rng) for i in choice_pairs(rng, args.synthetic)],
        "expression": [as_rollout(i, rng) for i in expression_pairs(rng, args.synthetic)],
        "runaway": runaway(args.runaway),
    }
    tasks = [t for group in parts.values() for t in group]
    rng.shuffle(tasks)
    cores = os.cpu_count() or 1
    config = RewardConfig(timeout_s=args.timeout)

    rows = []
    with Verifier(timeout_s=args.timeout, workers=args.workers) as v:
        v.verify("\\sqrt{12}", "2\\sqrt{3}")  # start the pool; start-up is not what we measure
        t0 = time.perf_counter()
        ours = score_many(tasks, v, config)
        secs = time.perf_counter() - t0
    used = min(cores, args.workers + 1)  # this process + workers that can run at once
    rate = len(tasks) / secs
    mean = sum(r.score for r in ours) / len(ours)
    rows.append(["finereason.reward", used, len(tasks), f"{secs:.2f}", f"{rate:,.0f}", f"{rate / used:,.0f}",
                 f"{mean:.3f}", f"{STEP_ROLLOUTS / rate:.1f}", "-"])
    for label, extracted in (("math-verify(response)", False), ("math-verify(<answer>)", True)):
        plain, psecs = plain_math_verify(tasks, extracted)
        prate = len(tasks) / psecs
        agree = sum((r.score == 1.0) == (p == 1.0) for r, p in zip(ours, plain)) / len(tasks)
        rows.append([label, 1, len(tasks), f"{psecs:.2f}", f"{prate:,.0f}", f"{prate:,.0f}",
                     f"{sum(plain) / len(plain):.3f}", f"{STEP_ROLLOUTS / prate:.1f}", f"{agree:.1%}"])
    render("Reward throughput", ["reward", "cores", "rollouts", "seconds", "rewards/s", "rewards/s/core",
                                 "mean reward", "s per 256x16 step", "same 1/0 as ours"], rows)

    outcomes = Counter(r.outcome for r in ours)
    render("finereason.reward outcomes", ["outcome", "count", "share"],
           [[k, n, f"{n / len(tasks):.1%}"] for k, n in outcomes.most_common()])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average at the end: {load} on {cores} cores (only comparable on an otherwise idle machine)")


if __name__ == "__main__":
    main()

"""The RL reward: verl's compute_score, the batch form and TRL's reward function, all graded by
the real verification cascade (math-verify in its worker pool), never raising on bad rollouts."""

from __future__ import annotations

import time

import pytest

import finereason.reward as reward
from finereason.reward import RewardConfig, RewardTask, TrlReward, compute_score, compute_score_batch, score_many
from finereason.verify import Verifier, VerifyItem, extract_answer

from fixture_dir import read_release_records


@pytest.fixture(scope="module")
def verifier():
    with Verifier(timeout_s=10.0, workers=2) as v:
        yield v


def test_correctness_comes_from_each_cascade_step(verifier: Verifier) -> None:
    cfg = RewardConfig(timeout_s=30.0)
    tasks = [
        RewardTask("<think>…</think> <answer>4</answer>", "4"),                         # exact
        RewardTask("<answer>(B)</answer>", "5", "choice", ["3", "5"]),                   # choice: letter -> text
        RewardTask("<answer>0.5</answer>", "\\frac{1}{2}", "number"),                    # numeric
        RewardTask("<answer>x^2+2x+1</answer>", "(x+1)^2", "expression"),                # math-verify
        RewardTask("<answer>x^2+2x+2</answer>", "(x+1)^2", "expression"),                # math-verify, wrong
        RewardTask("<answer>5</answer>", "4", "integer"),                                # numeric, wrong
    ]
    out = score_many(tasks, verifier, cfg)
    assert [r.score for r in out] == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    assert [r.verdict_by for r in out] == ["exact", "choice", "numeric", "math_verify", "math_verify", "numeric"]
    assert [r.outcome for r in out][4:] == ["incorrect", "incorrect"]


def test_format_term_weights_think_block_and_answer_tag(verifier: Verifier) -> None:
    cfg = RewardConfig(format_weight=0.2)
    both = "<think>2+2 is 4</think>\nSo <answer>4</answer>"
    tag_only = "<answer>4</answer>"
    think_only_wrong = "<think>hmm</think> The answer is 5"
    out = score_many([RewardTask(both, "4"), RewardTask(tag_only, "4"), RewardTask(think_only_wrong, "4")], verifier, cfg)
    assert [r.format for r in out] == [1.0, 0.5, 0.5]
    assert [r.score for r in out] == pytest.approx([1.0, 0.8 + 0.1, 0.1])
    with pytest.raises(ValueError, match="format_weight"):
        RewardConfig(format_weight=1.5)
    # a template that opens <think> in the prompt: the rollout only closes it
    prefilled = "2+2 is 4</think>\nSo <answer>4</answer>"
    assert score_many([RewardTask(prefilled, "4")], verifier, cfg)[0].format == 0.5
    assert score_many([RewardTask(prefilled, "4")], verifier, RewardConfig(format_weight=0.2, think_prefilled=True))[0].format == 1.0


def test_bad_rollouts_score_zero_within_the_timeout_and_are_counted(verifier: Verifier) -> None:
    loop = "Let me reconsider the triangle once more and recompute the angle. " * 1600  # ~16K tokens
    cfg = RewardConfig(timeout_s=1.0)
    verifier.verify("1", "1", timeout_s=60)  # start a worker outside the timed part
    tasks = [
        RewardTask("<think>" + loop, "30"),                                # 16K repetition, never closed
        RewardTask("<think>x</think>" + loop + "<answer>" + loop + "</answer>", "30"),  # runaway "answer"
        RewardTask("I think it is thirty degrees.", "30"),                 # no answer tag or marker
        RewardTask("<answer>\\frac{1}{{2</answer>", "\\frac{1}{2}"),       # unparsable LaTeX
        RewardTask("<answer>(x+2)^{3000}</answer>", "(x+1)^{3000}"),       # sympy would run for minutes
        RewardTask("<answer>4</answer>", ""),                              # broken reference
        RewardTask(None, "4"),  # type: ignore[arg-type]                  # no text at all
    ]
    t0 = time.monotonic()
    out = score_many(tasks, verifier, cfg)
    elapsed = time.monotonic() - t0
    assert [r.score for r in out] == [0.0] * len(tasks)
    assert [r.outcome for r in out] == ["no_answer", "undecided", "no_answer", "undecided", "error", "error", "no_answer"]
    assert "timeout" in out[4].detail
    assert elapsed < 3 * cfg.timeout_s + 2.0  # each math task is capped at timeout_s; nothing hangs
    # the killed worker was replaced: grading goes on
    assert score_many([RewardTask("<answer>\\sqrt{12}</answer>", "2\\sqrt{3}")], verifier, cfg)[0].score == 1.0


def test_compute_score_is_verls_signature_and_counts_outcomes() -> None:
    before = reward.counts.snapshot()
    assert compute_score("geo3k", "<think>r</think><answer>\\frac{\\pi}{2}</answer>", "\\pi/2",
                         {"answer_type": "expression", "id": "x"}) == 1.0
    assert compute_score("geo3k", "no tag here", "2") == 0.0
    detailed = compute_score("mcq", "<answer>C</answer>", "B", {"answer_type": "choice", "options": ["a", "b", "c"]},
                             detailed=True)
    assert detailed["score"] == 0.0 and detailed["is_incorrect"] == 1.0 and detailed["acc"] == 0.0
    assert all(isinstance(v, float) for v in detailed.values())  # verl logs each key as a metric
    after = reward.counts.snapshot()
    assert after["correct"] - before["correct"] == 1
    assert after["no_answer"] - before["no_answer"] == 1
    assert after["incorrect"] - before["incorrect"] == 1


def test_batch_form_matches_one_by_one() -> None:
    sols = ["<answer>0.25</answer>", "<answer>1/3</answer>", "<answer>A</answer>", "nothing"]
    gts = ["\\frac14", "0.5", "A", "1"]
    extras = [{"answer_type": "number"}, None, {"answer_type": "choice", "options": ["x", "y"]}, {}]
    batch = compute_score_batch(["s"] * 4, sols, gts, extras)
    single = [compute_score("s", s, g, e) for s, g, e in zip(sols, gts, extras)]
    assert batch == single == [1.0, 0.0, 1.0, 0.0]


def test_trl_reward_reads_columns_and_logs_outcome_shares(verifier: Verifier) -> None:
    fn = TrlReward(RewardConfig(), verifier=verifier)
    logged: dict[str, float] = {}
    completions = [[{"role": "assistant", "content": "<think>a</think><answer>12</answer>"}],
                   [{"role": "assistant", "content": "<answer>13</answer>"}],
                   [{"role": "assistant", "content": "no idea"}]]
    scores = fn(prompts=[[{"role": "user", "content": "q"}]] * 3, completions=completions,
                answer=["12"] * 3, answer_type=["integer"] * 3, options=[[], [], []],
                log_metric=lambda k, v: logged.__setitem__(k, v), trainer_state=None)
    assert scores == [1.0, 0.0, 0.0]
    assert logged["outcome/correct"] == pytest.approx(1 / 3)
    assert logged["outcome/no_answer"] == pytest.approx(1 / 3)
    assert fn.counts.take() == {"correct": 1, "incorrect": 1, "undecided": 0, "no_answer": 1, "error": 0}
    assert fn.__name__ == "verifier"


def test_reward_is_the_verify_cascade_on_real_release_records(verifier: Verifier) -> None:
    """On the 70 real MMFineReason responses, reward 1 exactly when the verify cascade says correct."""
    records = read_release_records()
    items, tasks = [], []
    for r in records:
        found = extract_answer(r["qwen3vl_235b_thinking_response"])
        items.append(VerifyItem(found.text if found else None, r["answer"], question=r["question"]))
        tasks.append(RewardTask(r["qwen3vl_235b_thinking_response"], r["answer"], question=r["question"]))
    verdicts = verifier.verify_many(items)
    rewards = score_many(tasks, verifier, RewardConfig(timeout_s=10.0))
    assert [r.score for r in rewards] == [float(v.is_correct) for v in verdicts]
    assert sum(r.score for r in rewards) >= 0.8 * len(records)  # the release's responses are mostly right

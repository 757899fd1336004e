"""The canonical benchmark scorer uses the verify cascade; benchmark scores have no abstention, so an
``undecided`` pair is scored ``incorrect`` with the reason kept (it used to crash on the new label)."""

from __future__ import annotations

from finereason.evaluate.benchmarks.canonical import BENCHMARK
from finereason.evaluate.items import EvalItem


def test_undecided_is_scored_incorrect_with_reason() -> None:
    item = EvalItem(id="1", question="What does the membrane do?", answer="It controls what enters and leaves the cell",
                    question_type="open", answer_type="")
    score = BENCHMARK.score(item, "<think>r</think><answer>It regulates the traffic of substances in and out</answer>")
    assert score.verdict == "incorrect" and score.detail.startswith("undecided: free-form")

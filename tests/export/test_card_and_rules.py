"""The dataset card on its own (as ``finereason report`` uses it) and the trainer-rule validators."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from trainer_rules import validate_llamafactory, validate_swift

from finereason.export.card import (
    reasoning_words,
    render_card,
    stats_from_summaries,
    summarize,
    write_card,
)
from finereason.report.stats import DatasetStats
from finereason.schema import Sample


def test_card_for_a_plain_dataset(tmp_path: Path) -> None:
    st = DatasetStats(samples=30, sources=Counter(a=20, b=10), domains=Counter(Math=30),
                      pass_rates=[i / 19 for i in range(20)], reasoning_words=[100, 200, 300],
                      flags=Counter({"repetition: 'a b' x3": 1, "repetition: 'c d' x4": 2}))
    path = write_card(st, tmp_path / "README.md", "my data")
    card = path.read_text()
    assert "configs:" not in card and "## Use it" not in card  # nothing exported: no loading recipe
    assert "| a | 20 | 66.7% |" in card and "| Math | 30 | 100.0% |" in card
    assert "| [0.9, 1.0] | 2 |" in card  # 20 distinct rates: binned by tenths
    assert "10 sample(s) have no pass rate." in card
    assert "| 3 | 200 | 200 |" in card  # responses, mean, median
    assert "No stage recorded rejections." in card
    assert "| repetition | 3 | 10.0% |" in card  # report passes full flag texts; the card counts codes


def test_summaries_merge_into_stats() -> None:
    samples = [
        Sample(id="1", source="s", question="q", response="<think>a b c</think> d", pass_rate=0.0,
               verdict="correct", flags=["repetition: x y"]),
        Sample(id="2", source="t", question="q", response="one two", domain="Math"),
    ]
    summary = json.loads(json.dumps(summarize(samples)))  # as stored in a done marker
    st = stats_from_summaries([summary, summary], {"stage": "export", "rejected": {"no_response": 2},
                                                   "upstream": {"stage": "select", "rejected": {"over_limit": 5}}})
    assert st.samples == 4 and st.sources == Counter(s=2, t=2) and st.domains == Counter(unknown=2, Math=2)
    assert st.reasoning_words == [3, 2, 3, 2] and st.pass_rates == [0.0, 0.0]
    assert st.flags == Counter(repetition=2) and st.verdicts == Counter(correct=2)
    assert st.rejections == {"export": {"no_response": 2}, "select": {"over_limit": 5}}
    assert "| select | over_limit | 5 |" in render_card(st, "t")


def test_reasoning_words() -> None:
    assert reasoning_words("<think>a b</think>\n\nc d e") == 2
    assert reasoning_words("no think block here") == 4
    assert reasoning_words(None) is None


def _lf(tmp_path: Path, row: dict, entry: dict | None = None) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train-00000.jsonl").write_text(json.dumps(row) + "\n")
    (tmp_path / "dataset_info.json").write_text(json.dumps({"d": entry or {
        "file_name": "data", "formatting": "sharegpt", "columns": {"messages": "messages", "images": "images"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                 "system_tag": "system"}}}))
    return tmp_path


GOOD = {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}], "images": []}


def test_validators_accept_a_good_row(tmp_path: Path) -> None:
    assert validate_llamafactory(_lf(tmp_path, GOOD), "d") == 1
    assert validate_swift([tmp_path / "data" / "train-00000.jsonl"], cwd=tmp_path) == 1


@pytest.mark.parametrize("row", [
    {**GOOD, "images": ["missing.png"], "messages": [{"role": "user", "content": "<image>Q"}, GOOD["messages"][1]]},
    {**GOOD, "messages": [{"role": "user", "content": "<image>Q"}, GOOD["messages"][1]]},
    {**GOOD, "messages": [GOOD["messages"][1], GOOD["messages"][0]]},
    {**GOOD, "messages": GOOD["messages"][:1]},
    {**GOOD, "messages": [GOOD["messages"][0], {"role": "assistant", "content": "<video>"}]},
])
def test_validators_catch_what_trainers_refuse(tmp_path: Path, row: dict) -> None:
    with pytest.raises(AssertionError):
        validate_llamafactory(_lf(tmp_path, row), "d")
    with pytest.raises(AssertionError):
        validate_swift([tmp_path / "data" / "train-00000.jsonl"], cwd=tmp_path)


def test_validator_catches_mixed_file_types(tmp_path: Path) -> None:
    root = _lf(tmp_path, GOOD)
    (root / "data" / ".train-00001.jsonl.tmp-1").write_text("")
    with pytest.raises(AssertionError, match="identical"):
        validate_llamafactory(root, "d")

"""``difficulty`` keeps open-ended samples (no ground truth to score) unscored instead of rejecting them."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/servers

from servers.fake_openai import FakeServer

from finereason.cli import main
from finereason.io.store import Dataset, ShardCounts, atomic_write_json
from finereason.schema import Sample


def test_open_ended_kept_unscored_and_not_sent(bg, tmp_path: Path) -> None:
    samples = [
        Sample(id="open", source="FineVision-ai2d_merged", question="Describe the food web.", answer=None,
               answer_type="open", response="<think>r</think>foxes eat rabbits"),
        Sample(id="gt", source="x", question="What is 6*7?", answer="42", response="<think>r</think><answer>42</answer>"),
        Sample(id="lost", source="x", question="What is 6*8?", answer=None, response="<think>r</think>48"),
    ]
    src = tmp_path / "in"
    Dataset(src).write_shard(0, samples, [], ShardCounts(0, 3, 3, {}, 0.0, {}))
    atomic_write_json(src / "manifest.json", {"stage": "verify"})
    srv = FakeServer(record=True, reply_tokens=20, reply_bytes=60)
    port = bg.run(srv.start())
    try:
        out = tmp_path / "out"
        assert main(["difficulty", str(src), "--student", f"openai:fake-model@http://127.0.0.1:{port}/v1",
                     "--k", "2", "--max-tokens", "20", "--out", str(out)]) == 0
    finally:
        bg.run(srv.close())
    assert len(srv.requests) == 1  # only the sample with a ground truth is scored
    kept = {s.id: s for s in Dataset(out).iter_samples()}
    assert set(kept) == {"open", "gt"}
    assert kept["open"].pass_rate is None and kept["gt"].pass_rate == 1.0
    manifest = Dataset(out).manifest()
    assert manifest["rejected"] == {"missing_answer": 1} and manifest["stats"]["open_unscored"] == 1

"""The verify stage: open-ended samples, undecided verdicts, the judge's prompt in the settings,
and the shipped recipe's judge."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/servers

from servers.fake_openai import FakeServer

from finereason.cli import main
from finereason.io.store import Dataset, ShardCounts, atomic_write_json
from finereason.pipeline.recipe import build_step, load_recipe
from finereason.schema import Sample
from finereason.verify.judge import judge_prompt
from finereason.verify.stage import OPEN_ENDED, VerifyStage

THINK = "<think>" + "reasoning " * 120 + "</think>\n"


def _run(stage: VerifyStage, samples: list[Sample]) -> tuple[list[Sample], dict]:
    async def go() -> tuple[list[Sample], dict]:
        try:
            result = await stage.run(samples)
            return result.kept, result.stats
        finally:
            await stage.aclose()

    return asyncio.run(go())


def test_open_ended_undecided_and_bad_input_in_one_batch() -> None:
    samples = [
        Sample(id="open", source="FineVision-ai2d_merged", question="Describe the food web.", answer=None,
               answer_type="open", response=THINK + "The grass feeds the rabbits, which feed the foxes."),
        Sample(id="prose", source="x", question="q", answer="It regulates the movement of substances in and out",
               response=THINK + "<answer>The membrane controls what enters and leaves the cell</answer>"),
        Sample(id="huge", source="x", question="q", answer="1", response=THINK + "<answer>" + "9" * 100_000 + "</answer>"),
        Sample(id="ok", source="x", question="q", answer="32     24", response=THINK + "<answer>32, 24</answer>"),
    ]
    kept, counts = _run(VerifyStage(), samples)
    by_id = {s.id: s for s in kept}
    assert (by_id["open"].verdict, by_id["open"].meta_get("verify_detail")) == ("unverifiable", OPEN_ENDED)
    # an exempt source (AI2D, however spelled) needs no <answer> tag
    assert not any(f.startswith("answer_") for f in by_id["open"].flags)
    assert by_id["prose"].verdict == "undecided" and "free-form" in by_id["prose"].meta_get("verify_detail")
    assert by_id["huge"].verdict == "undecided" and "too long" in by_id["huge"].meta_get("verify_detail")
    assert by_id["ok"].verdict == "correct"
    assert counts["verdict_undecided"] == 2 and counts["verdict_unverifiable"] == 1


def test_settings_name_the_judge_prompt() -> None:
    assert "prompts" not in VerifyStage().settings()
    settings = VerifyStage(judge_spec="openai:m@http://localhost:1/v1", judge_unparsed=True).settings()
    assert settings["prompts"] == {"judge": judge_prompt().ref}
    assert settings["judge_unparsed"] is True


def test_mmfinereason_recipe_turns_the_judge_on() -> None:
    recipe = load_recipe("mmfinereason")
    verify = next(s["verify"] for s in recipe.stages if "verify" in s)
    assert verify["judge"].startswith("openai:")
    step, _ = build_step("verify", verify, "mmfinereason")  # real options of `finereason verify` (its flags)
    assert step.judge == verify["judge"]


def test_verify_judge_sees_only_undecided_and_a_non_json_reply_is_error(bg, tmp_path) -> None:
    """Through the CLI against a loopback server whose replies are not the judge's JSON (it always
    says "The answer is <answer>42</answer>."): exactly the undecided sample is sent, its verdict
    is error by the judge with the reason, the rule-decided ones keep their verdicts, the run ends
    normally and the manifest names the judge prompt."""
    samples = [
        Sample(id="prose", source="x", question="What does the membrane do?",
               answer="It regulates the movement of substances in and out",
               response=THINK + "<answer>The membrane controls what enters and leaves the cell</answer>"),
        Sample(id="ok", source="x", question="q", answer="32     24", response=THINK + "<answer>32, 24</answer>"),
        Sample(id="bad", source="x", question="q", answer="7", response=THINK + "<answer>8</answer>"),
    ]
    src = tmp_path / "in"
    Dataset(src).write_shard(0, samples, [], ShardCounts(0, 3, 3, {}, 0.0, {}))
    atomic_write_json(src / "manifest.json", {"stage": "distill"})
    srv = FakeServer(record=True, reply_tokens=20, reply_bytes=60)
    port = bg.run(srv.start())
    try:
        out = tmp_path / "out"
        assert main(["verify", str(src), "--out", str(out), "--workers", "1",
                     "--judge", f"openai:fake-model@http://127.0.0.1:{port}/v1"]) == 0
    finally:
        bg.run(srv.close())
    assert len(srv.requests) == 1
    prompt = srv.requests[0]["messages"][-1]["content"]
    prompt = prompt if isinstance(prompt, str) else prompt[-1]["text"]
    assert "Reference answer:\nIt regulates" in prompt and '"judgment"' in prompt
    by_id = {s.id: s for s in Dataset(out).iter_samples()}
    assert (by_id["prose"].verdict, by_id["prose"].verdict_by) == ("error", "judge")
    assert "unparseable" in by_id["prose"].meta_get("verify_detail")
    assert by_id["ok"].verdict == "correct" and by_id["bad"].verdict == "incorrect"
    manifest = Dataset(out).manifest()
    assert manifest["settings"]["prompts"] == manifest["prompts"] == {"judge": judge_prompt().ref}
    assert manifest["models"] == {"judge": f"openai:fake-model@http://127.0.0.1:{port}/v1"}

"""End-to-end runs with real models in every mode, resumability, and the 2×2 grid with attribution.

Real models: ``builtin:smollm2`` (SmolLM2-135M-Instruct) as reasoner and instruction writer, tiny
random VLMs (built offline) as perceivers and direct models, a tiny random LM as second reasoner.
Generation is kept to a few tokens over 3–4 items; SmolLM2 runs are marked slow.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from finereason.cli import main
from finereason.evaluate.runner import EvalConfig, run_eval

SHORT = {"answer": {"max_tokens": 12, "temperature": 0.0}, "perception": {"max_tokens": 8},
         "instruction": {"max_tokens": 8}}


class _Shared:
    """A loaded model lent to many runs: runs may 'close' it, the weights stay for the next test."""

    def __init__(self, model):
        self._model = model

    def __getattr__(self, name):
        return getattr(self._model, name)

    async def aclose(self):
        pass


@pytest.fixture(scope="module")
def shared_models():
    """Load each model spec once per module (SmolLM2 takes seconds to load on two cores)."""
    from finereason.models.backends import load_model

    cache: dict[str, _Shared] = {}

    def load(spec: str, **opts):
        if spec not in cache:
            cache[spec] = _Shared(load_model(spec, **opts))
        return cache[spec]

    mp = pytest.MonkeyPatch()
    mp.setattr("finereason.evaluate.calls.load_model", load)
    yield cache
    mp.undo()


def _lines(out: Path) -> dict[str, dict]:
    return {line["id"]: line for line in map(json.loads, (out / "items.jsonl").read_text().splitlines())}


def _run(**kw) -> dict:
    return asyncio.run(run_eval(EvalConfig(**kw)))


def test_direct_tiny_vlm_counts_errors_and_resumes(tmp_path, bench_files, tiny_models, shared_models):
    out = tmp_path / "direct"
    first = _run(benchmark="mmstar", data=bench_files["mmstar_tsv"], out=out, mode="direct",
                 model=tiny_models["vlm_a"], decoding={"answer": {"max_tokens": 8}})
    assert first["n"] == 4 and first["counts"]["error"] == 1 and first["errors"] == {"bad_image": 1}
    assert sum(first["counts"].values()) == 4
    lines = _lines(out)
    assert "MMStar.tsv does not decode" in lines["2"]["error"] and "item 2" in lines["2"]["error"]
    for i in ("0", "1", "3"):
        assert lines[i]["response"] is not None and lines[i]["tokens"]["completion"] <= 8
        assert lines[i]["verdict"] in ("correct", "incorrect", "unparsed") and lines[i]["cached"] is False
        assert lines[i]["prompt"].endswith("Answer directly with the option's letter in the format 'Answer: X'.\n")
    assert (out / "journal.sqlite").exists() and (out / "report.html").exists()
    assert first["settings"]["sampling"]["answer"]["seed"] == 0  # sampled answerer: seeded
    again = _run(benchmark="mmstar", data=bench_files["mmstar_tsv"], out=out, mode="direct",
                 model=tiny_models["vlm_a"], decoding={"answer": {"max_tokens": 8}})
    usage = again["usage"][tiny_models["vlm_a"]]
    assert usage["requests"] == usage["cached"] == 3  # every request answered by the journal
    assert {k: v.get("response") for k, v in _lines(out).items()} == {k: v.get("response") for k, v in lines.items()}
    assert all(v["cached"] for k, v in _lines(out).items() if k != "2")


def test_direct_rejects_a_text_only_model(tmp_path, bench_files, tiny_models, shared_models):
    with pytest.raises(ValueError, match="is text-only"):
        _run(benchmark="mmstar", data=bench_files["mmstar"], out=tmp_path / "x", model=tiny_models["lm"])


@pytest.mark.slow
def test_decoupled_query_instructions_with_smollm2(tmp_path, bench_files, tiny_models, smollm2, shared_models):
    out = tmp_path / "decoupled"
    summary = _run(benchmark="mathvista", data=bench_files["mathvista"], out=out, mode="decoupled",
                   perception=tiny_models["vlm_a"], reasoning=smollm2, instructions="query", decoding=SHORT)
    assert summary["n"] == 4 and summary["counts"]["error"] == 0
    assert summary["models"] == {"model": None, "perception": tiny_models["vlm_a"], "reasoning": smollm2,
                                 "instruction": smollm2}
    assert set(summary["prompts"]) == {"perception", "instruction", "answer"}
    assert summary["prompts"]["perception"].startswith("describe@v1#")
    assert sorted(p.split("@")[0] for p in summary["prompts"]["answer"]) == ["reason", "reason_open"]
    instructions = json.loads((out / "instructions.json").read_text())
    assert instructions["instruction_model"] == smollm2 and len(instructions["items"]) == 4
    assert len((out / "descriptions.jsonl").read_text().splitlines()) == 4
    for line in _lines(out).values():
        desc = line["perception"][0]
        assert desc["text"] in line["prompt"] and line["prompt"].startswith("You are an excellent text-based")
        assert line["question_type"] in ("multiple-choice", "open") and line["verdict"] != "error"
        if line["instruction"]["source"] == "query":
            assert f"pay attention to {line['instruction']['contents']}" in desc["instruction"]
    assert summary["description_words"]["mean"] > 0


@pytest.mark.slow
def test_extract_think_budget_and_suppression_with_smollm2(tmp_path, bench_files, tiny_models, smollm2, shared_models):
    out = tmp_path / "et"
    summary = _run(benchmark="mmmu", data=bench_files["mmmu"], out=out, mode="extract-think",
                   perception=tiny_models["vlm_b"], reasoning=smollm2, instruction_model=tiny_models["lm"],
                   think_budget=12, answer_tokens=12,
                   suppress_words=("wait", "hmm", "but"), decoding=SHORT)
    assert summary["n"] == 3 and summary["counts"]["error"] == 0 and summary["mode"] == "extract-think"
    assert summary["prompts"]["perception"].startswith("extract@v1#")
    assert summary["suppression"]["token_ids"] > 6 and summary["settings"]["think"] is True
    lines = _lines(out)
    multi = lines["validation_Math_2"]
    assert [d["image"] for d in multi["perception"]] == ["image_1", "image_2"]
    assert "Image 1: " in multi["prompt"] and "Image 2: " in multi["prompt"]
    assert "reason step by step" in multi["prompt"]
    for line in lines.values():
        budget = line["think_budget"]
        assert budget["phase_tokens"][0] <= 12
        if budget["forced_close"]:  # SmolLM2 does not think: 12 tokens run out, the block is closed for it
            assert "I have to give the solution based on the thinking directly now.\n</think>" in line["response"]
            assert len(budget["phase_tokens"]) == 2 and budget["phase_tokens"][1] <= 12


@pytest.mark.slow
def test_suppressed_words_never_appear_with_smollm2(smollm2, shared_models):
    from finereason.evaluate.calls import load_model
    from finereason.evaluate.thinking import suppression_extra, suppression_for
    from finereason.models.client import ModelClient
    from finereason.models.types import SamplingParams

    client = ModelClient(load_model(smollm2))
    messages = [{"role": "user", "content": "Repeat this sentence exactly: Wait, but hmm, wait. But wait!"}]

    async def both():
        extra = suppression_extra(client, await suppression_for(client, ("wait", "hmm", "but")))
        return await asyncio.gather(client.complete(messages, SamplingParams(max_tokens=16, temperature=0)),
                                    client.complete(messages, SamplingParams(max_tokens=16, temperature=0, extra=extra)))

    free, suppressed = asyncio.run(both())
    assert "wait" in free[0].text.lower()  # the model does say it when allowed
    assert not any(w in suppressed[0].text.lower() for w in ("wait", "hmm", "but"))


@pytest.mark.slow
def test_no_image_baseline_with_smollm2(tmp_path, bench_files, smollm2, shared_models):
    out = tmp_path / "blind"
    summary = _run(benchmark="mmstar", data=bench_files["mmstar_tsv"], out=out, mode="decoupled",
                   reasoning=smollm2, no_image=True, decoding=SHORT)
    assert summary["counts"]["error"] == 0 and summary["n"] == 4  # the broken image is never needed
    assert summary["models"]["perception"] is None and not (out / "descriptions.jsonl").exists()
    for line in _lines(out).values():
        assert "perception" not in line and "Description:" not in line["prompt"]
        assert line["prompt"].startswith(("What", "How", "Which"))


@pytest.mark.slow
def test_grid_two_by_two_with_attribution(tmp_path, bench_files, tiny_models, smollm2, shared_models, capsys):
    config = tmp_path / "grid.yaml"
    config.write_text(f"""
benchmark: mmstar
data: {bench_files['mmstar']}
limit: 3
instructions: query
instruction_model: "{tiny_models['lm']}"
perceivers: {{qwen: "{tiny_models['vlm_a']}", idefics: "{tiny_models['vlm_b']}"}}
reasoners: {{smol: "{smollm2}", tiny: "{tiny_models['lm']}"}}
large: {{perceiver: qwen, reasoner: smol}}
small: {{perceiver: idefics, reasoner: tiny}}
n_boot: 200
decoding:
  answer: {{max_tokens: 12, temperature: 0}}
  perception: {{max_tokens: 10}}
  instruction: {{max_tokens: 8}}
""")
    out = tmp_path / "grid"
    assert main(["eval-grid", str(config), "--out", str(out)]) == 0
    assert "bottleneck" in capsys.readouterr().out
    grid = json.loads((out / "grid.json").read_text())
    assert set(grid["matrix"]) == {"qwen", "idefics"} and set(grid["matrix"]["qwen"]) == {"smol", "tiny"}
    assert sorted(p.name for p in (out / "runs").iterdir()) == [
        "idefics__smol", "idefics__tiny", "noimage__smol", "noimage__tiny", "qwen__smol", "qwen__tiny"]
    # each perceiver described each item once; every run read the same instructions and descriptions
    descriptions = [json.loads(line) for line in (out / "descriptions.jsonl").read_text().splitlines()]
    assert sorted(d["perceiver"] for d in descriptions) == sorted([tiny_models["vlm_a"]] * 3 + [tiny_models["vlm_b"]] * 3)
    assert len(json.loads((out / "instructions.json").read_text())["items"]) == 3
    for run in ("qwen__smol", "qwen__tiny", "idefics__smol", "idefics__tiny"):
        summary = json.loads((out / "runs" / run / "summary.json").read_text())
        assert summary["n"] == 3 and summary["counts"]["error"] == 0
        assert not any(spec in summary["usage"] for spec in (tiny_models["vlm_a"], tiny_models["vlm_b"]))
    rows = {r["name"]: r for r in grid["attribution"]["rows"]}
    assert rows["all"]["n"] == 3 and {"perception_drop", "reasoning_drop", "no_image_gap"} <= set(rows["all"])
    for row in rows.values():
        for key in ("perception_drop", "reasoning_drop", "no_image_gap"):
            assert row[key]["drop"] is None or -1 <= row[key]["drop"] <= 1
    report = (out / "report.html").read_text()
    assert report.count("data:image/png;base64,") >= 2 and "Attribution" in report
    # rerunning resumes: every request comes from the journal
    assert main(["eval-grid", str(config), "--out", str(out)]) == 0
    summary = json.loads((out / "runs" / "qwen__smol" / "summary.json").read_text())
    assert summary["usage"][smollm2]["cached"] == summary["usage"][smollm2]["requests"] == 3

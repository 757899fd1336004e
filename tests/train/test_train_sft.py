"""SFT acceptance tests on tiny random VLMs, CPU: real-format data, learning, freezing, resume, LoRA."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import TrainerCallback

from finereason import cli
from finereason.cli import main
from finereason.train.config import load_config
from finereason.train.families import FAMILIES, group_of
from finereason.train.sft import run_sft
from fixture_dir import FIXTURE_DIR
from train_helpers import export, losses, read_json, recipe



class StopAt(TrainerCallback):
    """Ends training after ``step`` optimizer steps, as a kill after a checkpoint would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True
        return control


def _weights(directory: Path) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for f in sorted(directory.glob("*.safetensors")):
        out.update(load_file(f))
    return out


@pytest.fixture(scope="module")
def real_export(tmp_path_factory) -> Path:
    """The MMFineReason release sample, ingested and exported to TRL format like any user's data."""
    root = tmp_path_factory.mktemp("real")
    assert main(["ingest", str(FIXTURE_DIR / "records.jsonl"), "--format", "mmfinereason", "--out", str(root / "raw"),
                 "--workers", "1"]) == 0
    return export(root / "raw", root / "trl", "trl")


def test_a_few_steps_on_the_real_release_format(tiny, real_export, tmp_path):
    config = load_config(recipe(tiny["qwen3_vl"], real_export, tmp_path / "out",
                                data={"max_length": 2600, "on_bad_sample": "skip", "packing": True,
                                      "image_max_pixels": 64 * 64}))
    summary = run_sft(config)
    pre = summary["preflight"]["train"]
    assert pre["ok"] >= 4 and pre["rejected"].get("too_long", 0) > 40  # the long puzzle CoTs do not fit
    assert summary["global_step"] == 2 and all(loss > 0 for loss in losses(summary))
    assert (tmp_path / "out" / "final" / "model.safetensors").is_file()
    assert read_json(tmp_path / "out" / "train_summary.json")["family"] == "qwen3_vl"


@pytest.fixture(scope="module")
def overfit(tiny, toy_export, tmp_path_factory):
    """Idefics3, language model trained, vision tower and projector frozen, 4 samples many times."""
    out = tmp_path_factory.mktemp("overfit") / "run"
    config = load_config(recipe(tiny["idefics3"], toy_export, out,
                                data={"max_samples": 4},
                                train={"max_steps": 12, "learning_rate": 5e-3, "lr_scheduler": "constant",
                                       "global_batch_size": 2, "per_device_batch_size": 2}))
    return run_sft(config), out


def test_the_loss_falls_when_overfitting_a_handful_of_samples(overfit):
    summary, _ = overfit
    history = losses(summary)
    assert len(history) == 12
    assert sum(history[-3:]) / 3 < 0.6 * history[0]
    assert history[-1] < min(history[:3])


def test_frozen_parameters_stay_bit_identical(overfit, tiny):
    summary, out = overfit
    before, after = _weights(tiny["idefics3"]), _weights(out / "final")
    family = FAMILIES["idefics3"]
    frozen = [k for k in before if group_of(k, family) in ("vision_tower", "projector")]
    trained = [k for k in before if group_of(k, family) == "language_model"]
    assert frozen and trained
    assert all(torch.equal(before[k], after[k]) for k in frozen)
    assert sum(not torch.equal(before[k], after[k]) for k in trained) > len(trained) // 2
    assert summary["trainable_parameters"]["vision_tower"] == summary["trainable_parameters"]["projector"] == 0


def test_a_checkpoint_resumes_to_the_same_step_and_state(tiny, toy_export, tmp_path):
    def config(out: Path, **extra):
        return load_config(recipe(tiny["qwen2_vl"], toy_export, out, data={"packing": True, "max_length": 256},
                                  train={"max_steps": 4, "global_batch_size": 1}, output={"save_steps": 2, **extra}))

    straight = run_sft(config(tmp_path / "straight"))
    first = run_sft(config(tmp_path / "killed"), callbacks=[StopAt(2)])
    assert first["global_step"] == 2 and (tmp_path / "killed" / "checkpoint-2").is_dir()
    resumed = run_sft(config(tmp_path / "killed", resume=True))
    assert resumed["resumed_from"].endswith("checkpoint-2") and resumed["global_step"] == 4
    assert losses(resumed) == pytest.approx(losses(straight), rel=1e-5)
    a, b = _weights(tmp_path / "straight" / "final"), _weights(tmp_path / "killed" / "final")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_lora_merges_and_the_merged_model_loads_and_generates(tiny, toy_export, tmp_path):
    import asyncio

    from finereason.models.hf import load
    from finereason.models.types import SamplingParams
    from train_helpers import png

    out = tmp_path / "lora"
    config = load_config(recipe(tiny["qwen3_vl"], toy_export, out, lora={"r": 4, "alpha": 8},
                                freeze={"projector": False}, train={"learning_rate": 5e-2}))
    summary = run_sft(config)
    assert (out / "final-adapter" / "adapter_config.json").is_file()
    adapter = json.loads((out / "final-adapter" / "adapter_config.json").read_text())
    assert not any("visual.blocks" in t for t in adapter["target_modules"])  # no adapters in the frozen tower
    assert summary["final"] == str(out / "final")
    before, merged = _weights(tiny["qwen3_vl"]), _weights(out / "final")
    family = FAMILIES["qwen3_vl"]
    assert set(merged) == set(before)  # a plain checkpoint: no lora_ or base_layer keys left
    assert all(torch.equal(before[k], merged[k]) for k in before if group_of(k, family) == "vision_tower")
    assert any(not torch.equal(before[k], merged[k]) for k in before if "q_proj" in k)
    assert any(not torch.equal(before[k], merged[k]) for k in before if group_of(k, family) == "projector")
    model = load(f"hf:{out / 'final'}")
    messages = [{"role": "user", "content": [{"type": "image", "image": png("red")},
                                             {"type": "text", "text": "What colour is the background?"}]}]
    completion = asyncio.run(model.complete(messages, SamplingParams(max_tokens=8, temperature=0)))[0]
    assert completion.completion_tokens > 0


def _has_eval() -> bool:
    return "eval" in next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_the_cli_trains_then_evaluates_the_final_model_with_finereason_eval(tiny, toy_export, tmp_path, capsys):
    from train_helpers import toy_samples, write_dataset

    bench = write_dataset(tmp_path / "bench", toy_samples(4))  # a canonical dataset is a benchmark too
    raw = recipe(tiny["qwen2_5_vl"], toy_export, tmp_path / "out")
    raw["eval"] = {"benchmark": "canonical", "data": str(bench),
                   "args": ["--limit", "2", "--decoding", "answer.max_tokens=8", "--bootstrap", "10"]}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["train", "sft", str(path), "--set", "train.max_steps=1"]) == 0
    captured = capsys.readouterr()
    summary = read_json(tmp_path / "out" / "train_summary.json")
    assert summary["global_step"] == 1 and "hf:" in captured.out
    if not _has_eval():
        assert summary["eval"]["status"] == "skipped" and "not available" in captured.err
        return
    assert summary["eval"]["status"] == "ok", captured.err[-2000:]
    assert summary["eval"]["argv"][summary["eval"]["argv"].index("--model") + 1] == f"hf:{tmp_path / 'out' / 'final'}"
    assert read_json(tmp_path / "out" / "eval" / "summary.json")["n"] == 2


def test_a_trained_perception_module_is_evaluated_as_the_perceiver(tmp_path, tiny, toy_export):
    from finereason.train.config import ConfigError
    from finereason.train.config import eval_argv

    raw = recipe(tiny["qwen2_vl"], toy_export, tmp_path / "out")
    raw["eval"] = {"benchmark": "canonical", "data": str(toy_export), "mode": "extract-think",
                   "reasoning": "hf:some/reasoner", "args": ["--think"]}
    argv = eval_argv(load_config(raw), tmp_path / "out" / "final")
    assert argv[argv.index("--perception") + 1] == f"hf:{tmp_path / 'out' / 'final'}"
    assert argv[argv.index("--reasoning") + 1] == "hf:some/reasoner" and argv[-1] == "--think"
    del raw["eval"]["reasoning"]
    with pytest.raises(ConfigError) as info:
        load_config(raw)
    assert info.value.key == "eval.reasoning"
    if _has_eval():  # the eval command's own argument checks run before training starts
        raw["eval"] = {"benchmark": "nosuchbench", "data": str(toy_export)}
        with pytest.raises(ConfigError, match="nosuchbench") as info:
            load_config(raw)
        assert info.value.key == "eval"

"""``finereason train rl``: GSPO through TRL's GRPOTrainer with the verifier as reward, on tiny VLMs.

Tiny random VLMs cannot answer, so every rollout is still graded by the real verifier (its
outcomes logged) while the format term (think block closed, as after a template that opens it)
gives the policy something it can learn in a few steps, so its weights move.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from finereason.cli import main
from finereason.testing.tinyvlm import build_tiny_vlm
from finereason.train.config import ConfigError
from finereason.train.rl import grpo_args
from finereason.train.rl_config import load_rl_config, shipped_rl_recipes
from train_helpers import export, read_json, toy_samples, write_dataset

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rl_export(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rl-toy")
    return export(write_dataset(root / "canonical", toy_samples()), root / "trl-rl", "trl-rl")


def tiny_recipe(model: Path, data: Path, out: Path, **rl) -> dict:
    return {
        "model": {"name_or_path": str(model)},
        "data": {"train": str(data)},
        "freeze": {"vision_tower": True, "projector": False},
        "rl": {"max_steps": 2, "warmup_steps": 0, "learning_rate": 1e-3, "prompts_per_step": 2, "num_generations": 4,
               "per_device_batch_size": 4, "max_completion_length": 8, "gradient_checkpointing": False, **rl},
        "reward": {"workers": 1},
        "output": {"dir": str(out), "save_steps": 1, "logging_steps": 1},
    }


def test_shipped_recipes_carry_the_papers_values() -> None:
    assert shipped_rl_recipes() == [f"mmfinereason-qwen3vl-{s}-rl" for s in ("2b", "4b", "8b")]
    for name in shipped_rl_recipes():
        c = load_rl_config(name)
        r = c.rl
        assert (r.learning_rate, r.lr_scheduler, r.warmup_steps, r.weight_decay, r.max_steps) == (
            1e-6, "constant_with_warmup", 10, 0.1, 300)
        assert (r.prompts_per_step, r.num_generations, c.data.max_prompt_length, r.max_completion_length,
                r.temperature) == (256, 16, 8192, 16384, 1.0)
        assert (r.importance_sampling_level, r.epsilon, r.epsilon_high, r.beta) == ("sequence", 3e-4, 4e-4, 0.0)
        assert c.model.family == "qwen3_vl" and name.removesuffix("-rl").split("-")[-1] in c.model.name_or_path


def test_recipe_errors_name_the_key(tmp_path: Path) -> None:
    base = tiny_recipe(tmp_path / "m", tmp_path / "d", tmp_path / "o")
    base["model"]["family"] = "idefics3"
    with pytest.raises(ConfigError, match=r"^rl.epsilon_high: "):
        load_rl_config(base, ["rl.epsilon_high=1e-4"])
    with pytest.raises(ConfigError, match=r"^rl.per_device_batch_size: "):
        load_rl_config(base, ["rl.per_device_batch_size=3"])
    with pytest.raises(ConfigError, match=r"^rl.kl: unknown key"):
        load_rl_config(base, ["rl.kl=0.1"])
    with pytest.raises(ConfigError, match=r"^freeze: the vision tower, the projector and the language model are all"):
        load_rl_config(base, ["freeze.projector=true", "freeze.language_model=true"])


def test_grpo_config_is_gspo(tmp_path: Path) -> None:
    c = load_rl_config("mmfinereason-qwen3vl-2b-rl", [f"output.dir={tmp_path}", "rl.precision=fp32"])
    args = grpo_args(c)
    assert (args.importance_sampling_level, args.epsilon, args.epsilon_high, args.beta, args.loss_type) == (
        "sequence", 3e-4, 4e-4, 0.0, "grpo")
    assert (args.learning_rate, args.weight_decay, args.warmup_steps, args.max_steps) == (1e-6, 0.1, 10, 300)
    assert args.num_generations == 16 and args.max_completion_length == 16384 and args.temperature == 1.0
    # 256 prompts × 16 rollouts per step = 16 per pass × 256 passes on one process
    assert args.per_device_train_batch_size * args.gradient_accumulation_steps == 256 * 16
    assert args.reward_weights == [1.0, 0.0]  # verifier only; the format term is weighted 0


def _weights(path: Path, prefix: str) -> dict:
    from safetensors.torch import load_file

    return {k: v for k, v in load_file(str(path / "model.safetensors")).items() if prefix in k}


#: Long enough that the kill at checkpoint-2 always lands mid-run: on an idle machine a tiny step
#: takes well under 0.1 s, and with 6 steps the run could finish between two polls.
KILL_RUN_STEPS = 40


def test_tiny_vlm_runs_with_verifier_outcomes_logged_and_resumes_after_kill(rl_export: Path, tmp_path: Path) -> None:
    steps = KILL_RUN_STEPS
    model = build_tiny_vlm("idefics3", tmp_path / "model")
    config = tmp_path / "rl.yaml"
    out = tmp_path / "out"
    config.write_text(yaml.safe_dump(tiny_recipe(model, rl_export, out, max_steps=steps) | {
        "output": {"dir": str(out), "save_steps": 1, "logging_steps": 1, "resume": True,
                   "save_total_limit": steps}}))  # checkpoint-2 is never rotated away before the test sees it
    cmd = [sys.executable, "-m", "finereason.cli", "train", "rl", str(config)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while not (out / "checkpoint-2" / "trainer_state.json").exists():
        assert proc.poll() is None, "train rl exited before its second checkpoint"
        assert time.monotonic() < deadline, "no checkpoint-2 within 300 s"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "rl_summary.json").exists()

    assert main(["train", "rl", str(config)]) == 0  # the same command resumes
    summary = read_json(out / "rl_summary.json")
    assert summary["resumed_from"] and Path(summary["resumed_from"]).name.startswith("checkpoint-")
    assert int(Path(summary["resumed_from"]).name.split("-")[1]) >= 2
    assert summary["global_step"] == steps
    curve = summary["reward_curve"]
    assert [p["step"] for p in curve] == list(range(1, steps + 1))  # the steps before the kill are kept
    for p in curve:  # a random model writes no answer: the verifier says so, and it is logged
        assert p["outcome/no_answer"] == 1.0 and p["reward"] == 0.0 and {"verifier", "format"} <= set(p)
    assert summary["outcomes"]["no_answer"] == 1.0
    # this process ran the steps after the checkpoint it resumed from: 8 rollouts a step
    done_here = steps - int(Path(summary["resumed_from"]).name.split("-")[1])
    assert sum(summary["outcome_counts_this_process"].values()) == 8 * done_here
    assert summary["algorithm"] == {"trainer": "trl.GRPOTrainer", "importance_sampling_level": "sequence",
                                    "epsilon": 3e-4, "epsilon_high": 4e-4, "beta": 0.0, "loss_type": "grpo"}
    # the frozen vision tower is untouched
    before, after = _weights(model, "vision"), _weights(out / "final", "vision")
    assert before and all((before[k] == after[k]).all() for k in before)


def test_lora_on_qwen3_vl(rl_export: Path, tmp_path: Path) -> None:
    model = build_tiny_vlm("qwen3_vl", tmp_path / "model")  # the shipped recipes' family
    config = tiny_recipe(model, rl_export, tmp_path / "out", max_steps=1)
    config["lora"] = {"r": 4, "alpha": 8, "dropout": 0.0}
    config["freeze"] = {"vision_tower": True, "projector": True}
    from finereason.train.rl import run_rl

    summary = run_rl(load_rl_config(config))
    assert list(summary["trainable_parameters"]) == ["lora_and_saved_modules"]
    assert (tmp_path / "out" / "final-adapter" / "adapter_config.json").is_file()
    assert (tmp_path / "out" / "final" / "config.json").is_file()  # merged


def test_export_config_to_verl(tmp_path: Path, rl_export: Path) -> None:
    root = tmp_path / "d"
    verl_export = export(write_dataset(root / "canonical", toy_samples()), root / "verl", "verl")
    script = tmp_path / "verl" / "run.sh"
    assert main(["train", "export-config", "mmfinereason-qwen3vl-4b-rl", "--to", "verl", "--dataset",
                 str(verl_export), "--gpus", "8", "--out", str(script)]) == 0
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash") and "python3 -m verl.trainer.main_ppo" in text
    values = yaml.safe_load((tmp_path / "verl" / "run.yaml").read_text())
    assert values["actor_rollout_ref.actor.policy_loss.loss_mode"] == "gspo"
    assert (values["actor_rollout_ref.actor.clip_ratio_low"], values["actor_rollout_ref.actor.clip_ratio_high"]) == (
        3e-4, 4e-4)
    assert values["actor_rollout_ref.actor.use_kl_loss"] is False and values["algorithm.use_kl_in_reward"] is False
    assert (values["data.train_batch_size"], values["actor_rollout_ref.rollout.n"]) == (256, 16)
    assert (values["data.max_prompt_length"], values["data.max_response_length"]) == (8192, 16384)
    assert (values["actor_rollout_ref.actor.optim.lr"], values["actor_rollout_ref.actor.optim.weight_decay"],
            values["actor_rollout_ref.actor.optim.lr_warmup_steps"], values["trainer.total_training_steps"]) == (
        1e-6, 0.1, 10, 300)
    assert values["actor_rollout_ref.rollout.temperature"] == 1.0
    assert values["actor_rollout_ref.model.path"] == "runs/mfr-qwen3vl-4b/final"
    files = values["data.train_files"]
    assert files and all(Path(f).is_file() for f in files)
    reward = Path(values["custom_reward_function.path"])
    assert reward.is_file() and values["custom_reward_function.name"] == "compute_score"
    # every override of the script is one line, quoted for the shell, and matches the YAML
    assert sum(line.strip().startswith("'actor_rollout_ref.") or line.strip().startswith("actor_rollout_ref.")
               for line in text.splitlines()) == sum(k.startswith("actor_rollout_ref.") for k in values)
    # a TRL export is not a verl export
    assert main(["train", "export-config", "mmfinereason-qwen3vl-4b-rl", "--to", "verl", "--dataset",
                 str(rl_export), "--out", str(tmp_path / "x.sh")]) == 2


def test_rewards_come_from_the_verifier_and_the_policy_moves(tmp_path: Path) -> None:
    """GSPO steps of a tiny VLM on synthetic additions: the verifier grades every rollout (its
    outcomes are logged), the format term gives the random model a learnable signal, weights move."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from rl_reward_rise import keep_think_tags, recipe, write_prompts

    from finereason.train.rl import run_rl

    model = build_tiny_vlm("idefics3", tmp_path / "model")
    keep_think_tags(model)
    export_dir = export(write_prompts(tmp_path / "prompts", 40, seed=0), tmp_path / "trl-rl", "trl-rl")
    raw = recipe(model, export_dir, tmp_path / "out", steps=3, format_weight=0.5, lr=5e-3, prompts=8,
                 generations=8, tokens=16, think_prefilled=True)
    summary = run_rl(load_rl_config(raw))
    counts = summary["outcome_counts_this_process"]
    assert sum(counts.values()) == 3 * 64  # every rollout went through the verifier
    curve = summary["reward_curve"]
    assert len(curve) == 3
    for p in curve:  # logged: the verifier's outcome shares, and the reward is the weighted mix
        assert sum(p[f"outcome/{o}"] for o in ("correct", "incorrect", "undecided", "no_answer", "error")) == \
            pytest.approx(1.0)
        assert p["verifier"] == pytest.approx(p["outcome/correct"])
        assert p["reward"] == pytest.approx(0.5 * p["verifier"] + 0.5 * p["format"])
    assert any(p["format"] > 0 for p in curve)
    assert any(h.get("grad_norm", 0) > 0 for h in summary["log_history"])
    before, after = _weights(model, "text_model"), _weights(tmp_path / "out" / "final", "text_model")
    assert any(not (before[k] == after[k]).all() for k in before)  # the policy moved (weight decay is 0)
    vb, va = _weights(model, "vision"), _weights(tmp_path / "out" / "final", "vision")
    assert all((vb[k] == va[k]).all() for k in vb)  # frozen

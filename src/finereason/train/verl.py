"""An RL recipe as a verl launch script and config: the same run on verl instead of TRL.

verl (``python -m verl.trainer.main_ppo``, Hydra overrides) reads a ``finereason export --format
verl`` folder and grades rollouts with ``finereason.reward.compute_score`` through
``custom_reward_function``. The mapping, setting for setting:

==============================  ==========================================================
recipe                          verl
==============================  ==========================================================
model.name_or_path              actor_rollout_ref.model.path
rl.prompts_per_step             data.train_batch_size (= actor.ppo_mini_batch_size: one update
                                per step, as the paper's 300 steps × 256 prompts)
rl.num_generations              actor_rollout_ref.rollout.n
data.max_prompt_length          data.max_prompt_length (filter_overlong_prompts=True)
rl.max_completion_length        data.max_response_length
rl.temperature / top_p          actor_rollout_ref.rollout.temperature / top_p
rl.learning_rate, weight_decay  actor_rollout_ref.actor.optim.lr / weight_decay
rl.warmup_steps                 actor_rollout_ref.actor.optim.lr_warmup_steps (constant after)
rl.max_steps                    trainer.total_training_steps
GSPO, ε_low/ε_high              actor.policy_loss.loss_mode=gspo, clip_ratio_low/high,
                                loss_agg_mode=seq-mean-token-mean, algorithm.adv_estimator=grpo
rl.beta = 0                     actor.use_kl_loss=False, algorithm.use_kl_in_reward=False
freeze.vision_tower             actor_rollout_ref.actor.freeze_vision_tower
lora.r / alpha                  actor_rollout_ref.model.lora_rank / lora_alpha
reward.format_weight, timeout   custom_reward_function.reward_kwargs.*
==============================  ==========================================================

verl has no switch for freezing the projector or the language model alone; the script says so
in a comment when the recipe asks for it.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

from finereason.train.external import ExternalConfigError, export_info
from finereason.train.rl_config import RLConfig

REWARD_MODULE = Path(__file__).resolve().parent.parent / "reward" / "__init__.py"


def verl_overrides(config: RLConfig, dataset: Path, gpus: int) -> dict[str, Any]:
    """verl's Hydra overrides for ``config`` on the export at ``dataset``."""
    info = export_info(dataset, ("verl",))
    files = [str((dataset / f).resolve()) for f in info["data_files"]]
    r = config.rl
    if (r.prompts_per_step * r.num_generations) % gpus:
        raise ExternalConfigError(f"{r.prompts_per_step} × {r.num_generations} rollouts do not split over {gpus} GPUs")
    out: dict[str, Any] = {
        "algorithm.adv_estimator": "grpo",
        "algorithm.use_kl_in_reward": False,
        "data.train_files": files,
        "data.val_files": files[:1],
        "data.train_batch_size": r.prompts_per_step,
        "data.max_prompt_length": config.data.max_prompt_length,
        "data.max_response_length": r.max_completion_length,
        "data.filter_overlong_prompts": True,
        "data.truncation": "error",
        "data.image_key": "images",
        "actor_rollout_ref.model.path": config.model.name_or_path,
        "actor_rollout_ref.model.enable_gradient_checkpointing": r.gradient_checkpointing,
        "actor_rollout_ref.actor.optim.lr": r.learning_rate,
        "actor_rollout_ref.actor.optim.lr_warmup_steps": r.warmup_steps,
        "actor_rollout_ref.actor.optim.weight_decay": r.weight_decay,
        "actor_rollout_ref.actor.ppo_mini_batch_size": r.prompts_per_step,
        "actor_rollout_ref.actor.policy_loss.loss_mode": "gspo" if r.importance_sampling_level == "sequence" else "vanilla",
        "actor_rollout_ref.actor.loss_agg_mode": "seq-mean-token-mean",
        "actor_rollout_ref.actor.clip_ratio_low": r.epsilon,
        "actor_rollout_ref.actor.clip_ratio_high": r.epsilon_high,
        "actor_rollout_ref.actor.use_kl_loss": r.beta > 0,
        "actor_rollout_ref.actor.kl_loss_coef": r.beta,
        "actor_rollout_ref.actor.grad_clip": r.max_grad_norm,
        "actor_rollout_ref.actor.freeze_vision_tower": config.freeze.vision_tower,
        "actor_rollout_ref.rollout.name": "vllm",
        "actor_rollout_ref.rollout.n": r.num_generations,
        "actor_rollout_ref.rollout.temperature": r.temperature,
        "actor_rollout_ref.rollout.top_p": r.top_p,
        "custom_reward_function.path": str(REWARD_MODULE),
        "custom_reward_function.name": "compute_score",
        "++custom_reward_function.reward_kwargs.format_weight": config.reward.format_weight,
        "++custom_reward_function.reward_kwargs.timeout_s": config.reward.timeout_s,
        "++custom_reward_function.reward_kwargs.think_prefilled": config.reward.think_prefilled,
        "trainer.total_training_steps": r.max_steps,
        "trainer.n_gpus_per_node": gpus,
        "trainer.nnodes": 1,
        "trainer.save_freq": config.output.save_steps,
        "trainer.default_local_dir": config.output.dir,
        "trainer.resume_mode": "auto" if config.output.resume else "disable",
        "trainer.logger": ["console"],
    }
    if config.lora:
        out["actor_rollout_ref.model.lora_rank"] = config.lora.r
        out["actor_rollout_ref.model.lora_alpha"] = config.lora.alpha
    return out


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, list):
        return "[" + ",".join(f"'{x}'" if isinstance(x, str) else str(x) for x in v) + "]"
    return str(v)


def write_verl(config: RLConfig, dataset: Path, out: Path, *, gpus: int = 8) -> list[Path]:
    """``out`` (a ``.sh`` launch script) and ``out.with_suffix('.yaml')`` (the overrides as data)."""
    if out.suffix != ".sh":
        raise ExternalConfigError(f"{out}: --to verl writes a launch script; name it *.sh")
    overrides = verl_overrides(config, dataset, gpus)
    notes = []
    if config.freeze.projector != config.freeze.vision_tower or config.freeze.language_model:
        notes.append("# verl freezes only the vision tower (freeze_vision_tower); the recipe's freeze.projector / "
                     "freeze.language_model are not carried over.")
    lines = ["#!/usr/bin/env bash",
             f"# verl launch of the finereason RL recipe for {config.model.name_or_path} (GSPO, verifiable rewards).",
             "# Needs verl with vLLM and finereason importable by every Ray worker (pip install finereason).",
             *notes, "set -euo pipefail", "python3 -m verl.trainer.main_ppo \\"]
    items = list(overrides.items())
    for i, (k, v) in enumerate(items):
        tail = " \\" if i < len(items) - 1 else ' "$@"'
        lines.append(f"    {shlex.quote(f'{k}={_value(v)}')}{tail}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    out.chmod(0o755)
    config_file = out.with_suffix(".yaml")
    config_file.write_text(yaml.safe_dump({k.lstrip("+"): v for k, v in overrides.items()}, sort_keys=False))
    return [out, config_file]

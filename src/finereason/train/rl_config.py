"""The RL recipe (``finereason train rl``): GSPO with verifiable rewards, validated up front.

Sections ``model``, ``freeze``, ``lora`` and ``output`` are the SFT recipe's own (same keys, same
meaning); ``data`` names a ``finereason export --format trl-rl`` folder; ``rl`` carries the
algorithm's settings with MMFineReason's values as defaults (arXiv 2601.21821 §4: lr 1e-6
constant, weight decay 0.1, 300 steps with 10 warmup, 256 prompts a step, 16 rollouts each,
prompt 8,192 / response 16,384 tokens, temperature 1.0, clip ranges ε_low/ε_high = 3e-4/4e-4, no
KL); ``reward`` says how rollouts are scored (the verifier, with an optional format term).

A shipped RL recipe is named ``<name>-rl`` (``finereason/recipes/<name>-rl.yaml``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from finereason.train.config import (
    RECIPE_DIR,
    ConfigError,
    OutputSection,
    PolicyRecipe,
    _Section,
    check_policy_parts,
    read_recipe,
    validate_recipe,
    world_size,
)


class RLDataSection(_Section):
    #: A ``finereason export --format trl-rl`` folder (prompt, images, answer, answer_type, options).
    train: str
    #: Use only the first N prompts (smoke runs).
    max_samples: int | None = Field(None, gt=0)
    #: Prompts with more text tokens than this (before image tokens) are dropped before training
    #: and counted in the summary; verl's data.max_prompt_length, which verl filters the same way.
    max_prompt_length: int = Field(8192, gt=0)


class RLSection(_Section):
    learning_rate: float = Field(1e-6, gt=0)
    lr_scheduler: str = "constant_with_warmup"
    warmup_steps: int = Field(10, ge=0)
    weight_decay: float = Field(0.1, ge=0)
    max_steps: int = Field(300, gt=0)
    #: Prompts per optimizer step over all devices (verl: data.train_batch_size).
    prompts_per_step: int = Field(256, gt=0)
    #: Rollouts per prompt (verl: rollout.n).
    num_generations: int = Field(16, ge=2)
    #: Rollouts per device per forward/backward pass; accumulation is derived.
    per_device_batch_size: int = Field(16, gt=0)
    max_completion_length: int = Field(16384, gt=0)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    #: GSPO: importance ratio and clipping per sequence; ε_low / ε_high clip ranges.
    importance_sampling_level: Literal["sequence", "token"] = "sequence"
    epsilon: float = Field(3e-4, gt=0)
    epsilon_high: float = Field(4e-4, gt=0)
    #: KL coefficient (0: no reference model, as the paper).
    beta: float = Field(0.0, ge=0)
    #: TRL's loss aggregation; "grpo" (per-sequence mean) is what TRL's docs name for GSPO.
    loss_type: str = "grpo"
    max_grad_norm: float = Field(1.0, gt=0)
    gradient_checkpointing: bool = True
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    seed: int = 42


class RewardSection(_Section):
    #: Weight of the format term (think block + answer tag) beside 1/0 correctness; 1 scores
    #: format only (a smoke-test run: correctness is still computed and logged).
    format_weight: float = Field(0.0, ge=0, le=1)
    #: math-verify's wall-clock limit per rollout (worker killed past it; reward 0, counted).
    timeout_s: float = Field(5.0, gt=0)
    #: The chat template opens <think> in the generation prompt: a rollout's lone </think> closes
    #: a well-formed block (Qwen3 thinking templates).
    think_prefilled: bool = False
    #: Verifier worker processes (default: min(4, cores)).
    workers: int | None = Field(None, gt=0)


class RLConfig(PolicyRecipe):
    data: RLDataSection
    rl: RLSection = Field(default_factory=RLSection)
    reward: RewardSection = Field(default_factory=RewardSection)
    output: OutputSection


def shipped_rl_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPE_DIR.glob("*-rl.yaml"))


def resolve_rl_recipe(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.is_file():
        return path
    candidate = RECIPE_DIR / f"{name_or_path}.yaml"
    if name_or_path.endswith("-rl") and candidate.is_file():
        return candidate
    raise ConfigError("", f"{name_or_path}: no such RL recipe file or shipped RL recipe (shipped: "
                          f"{', '.join(shipped_rl_recipes())})")


def load_rl_config(source: str | Path | dict[str, Any], overrides: list[str] | None = None) -> RLConfig:
    """Parse and check an RL recipe (file, shipped name or dict), applying ``KEY=VALUE`` overrides."""
    raw = source if isinstance(source, dict) else read_recipe(resolve_rl_recipe(str(source)))
    config = validate_recipe(RLConfig, raw, overrides)
    check_rl_combinations(config)
    return config


def gradient_accumulation_rl(config: RLConfig) -> int:
    """Passes per optimizer step: (prompts × rollouts) / (rollouts per pass × processes)."""
    rollouts = config.rl.prompts_per_step * config.rl.num_generations
    per_pass = config.rl.per_device_batch_size * world_size()
    if rollouts % per_pass:
        raise ConfigError("rl.per_device_batch_size", f"{rollouts} rollouts a step (rl.prompts_per_step × "
                          f"rl.num_generations) is not a multiple of {config.rl.per_device_batch_size} × "
                          f"{world_size()} process(es)")
    return rollouts // per_pass


def check_rl_combinations(config: RLConfig) -> None:
    check_policy_parts(config)
    if config.rl.epsilon_high < config.rl.epsilon:
        raise ConfigError("rl.epsilon_high", f"{config.rl.epsilon_high} is below rl.epsilon {config.rl.epsilon}")
    if config.rl.warmup_steps >= config.rl.max_steps:
        raise ConfigError("rl.warmup_steps", f"{config.rl.warmup_steps} is not below rl.max_steps {config.rl.max_steps}")
    if isinstance(config.output.resume, str) and not Path(config.output.resume).is_dir():
        raise ConfigError("output.resume", f"{config.output.resume} is not a checkpoint folder")
    gradient_accumulation_rl(config)

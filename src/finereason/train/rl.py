"""``finereason train rl``: GSPO on verifiable rewards with TRL's GRPOTrainer, the verifier as reward.

1. the recipe is validated (:mod:`finereason.train.rl_config`) and the output folder checked
   (old checkpoints without ``resume`` are refused, as in SFT);
2. the ``trl-rl`` export is loaded; prompts whose text is longer than ``data.max_prompt_length``
   tokens are dropped and counted;
3. the policy is loaded as in SFT (fp32, parts frozen, LoRA on the unfrozen parts if asked);
4. GRPOTrainer runs with two reward functions: the verifier (1/0 correctness through the
   ``verify`` cascade, outcome shares logged every step) and the format term, weighted
   ``1 - reward.format_weight`` and ``reward.format_weight``; GSPO is TRL's sequence-level
   importance sampling with the recipe's ε_low/ε_high and β = 0;
5. checkpoints every ``output.save_steps``; ``output.resume`` continues a killed run;
6. ``OUTPUT/final`` (loadable as ``hf:``) and ``OUTPUT/rl_summary.json``: settings, the reward
   curve (mean reward per logged step, each reward function's mean, outcome shares), and the
   share of rollouts that were correct, incorrect, undecided, without an answer, or errors.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from finereason.io.store import atomic_write_json
from finereason.pipeline.progress import say
from finereason.reward import OUTCOMES, RewardConfig, TrlReward
from finereason.train.rl_config import RLConfig, gradient_accumulation_rl
from finereason.train.sft import load_policy, resume_point, save_final, with_checkpoint_fix
from finereason.verify.equivalence import Verifier


def rl_precision(config: RLConfig) -> str:
    import torch

    if config.rl.precision != "auto":
        return config.rl.precision
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"


def load_prompts(config: RLConfig, processor: Any) -> tuple[Any, dict[str, int]]:
    """The trl-rl export as a ``datasets.Dataset``, without prompts over the length limit."""
    import datasets

    from finereason.train.external import export_info

    root = Path(config.data.train)
    info = export_info(root, ("trl-rl",))
    files = [str(root / f) for f in info["data_files"]]
    ds = datasets.load_dataset("parquet", data_files=files, split="train")
    if config.data.max_samples:
        ds = ds.select(range(min(config.data.max_samples, len(ds))))
    tokenizer = getattr(processor, "tokenizer", processor)
    limit = config.data.max_prompt_length

    def short_enough(row: dict[str, Any]) -> bool:
        text = "".join(p.get("text") or "" for m in row["prompt"] for p in m["content"])
        return len(tokenizer(text, add_special_tokens=False)["input_ids"]) <= limit

    kept = ds.filter(short_enough)
    return kept, {"prompts": len(ds), "too_long": len(ds) - len(kept), "used": len(kept)}


def grpo_args(config: RLConfig) -> Any:
    """TRL's GRPOConfig from the recipe: GSPO = sequence-level ratios, tight clip ranges, β = 0."""
    import torch
    from trl import GRPOConfig

    r = config.rl
    prec = rl_precision(config)
    return GRPOConfig(
        output_dir=config.output.dir,
        max_steps=r.max_steps,
        learning_rate=r.learning_rate,
        lr_scheduler_type=r.lr_scheduler,
        warmup_steps=r.warmup_steps,
        weight_decay=r.weight_decay,
        max_grad_norm=r.max_grad_norm,
        per_device_train_batch_size=r.per_device_batch_size,
        gradient_accumulation_steps=gradient_accumulation_rl(config),
        num_generations=r.num_generations,
        max_completion_length=r.max_completion_length,
        temperature=r.temperature,
        top_p=r.top_p,
        importance_sampling_level=r.importance_sampling_level,
        epsilon=r.epsilon,
        epsilon_high=r.epsilon_high,
        beta=r.beta,
        loss_type=r.loss_type,
        reward_weights=[1.0 - config.reward.format_weight, config.reward.format_weight],
        bf16=prec == "bf16",
        fp16=False,
        activation_checkpointing=r.gradient_checkpointing,
        logging_steps=config.output.logging_steps,
        save_strategy="steps",
        save_steps=config.output.save_steps,
        save_total_limit=config.output.save_total_limit,
        seed=r.seed,
        use_cpu=not torch.cuda.is_available(),
        report_to=[],
        remove_unused_columns=False,  # the reward reads answer, answer_type, options, question
        disable_tqdm=not sys.stderr.isatty(),
    )


def reward_curve(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per logged step: mean reward, each reward function's mean, outcome shares."""
    curve = []
    for h in log_history:
        if "reward" not in h:
            continue
        point = {"step": h.get("step"), "reward": h["reward"]}
        point.update({k.removeprefix("rewards/").removesuffix("/mean"): v for k, v in h.items()
                      if k.startswith("rewards/") and k.endswith("/mean")})
        point.update({k: v for k, v in h.items() if k.startswith("outcome/")})
        curve.append(point)
    return curve


def outcome_shares(curve: list[dict[str, Any]]) -> dict[str, float]:
    """Share of rollouts per outcome over the run (logged points cover equal numbers of rollouts)."""
    points = [p for p in curve if any(k.startswith("outcome/") for k in p)]
    if not points:
        return {}
    return {o: round(sum(p.get(f"outcome/{o}", 0.0) for p in points) / len(points), 4) for o in OUTCOMES}


def run_rl(config: RLConfig, *, callbacks: list[Any] | None = None) -> dict[str, Any]:
    """Train per ``config``; returns (and writes) the run summary."""
    from transformers import AutoProcessor
    from trl import GRPOTrainer

    from finereason.models.processors import register_processors

    started = time.time()
    resume = resume_point(config)  # type: ignore[arg-type]  (same output section as SFT)
    family = config.family()
    register_processors()  # the image-only Qwen-VL processors of checkpoints built without torchvision
    processor = AutoProcessor.from_pretrained(config.model.name_or_path,
                                              trust_remote_code=config.model.trust_remote_code)
    prompts, prompt_counts = load_prompts(config, processor)
    if not len(prompts):
        from finereason.errors import UserError

        raise UserError(f"{config.data.train}: no prompt fits data.max_prompt_length {config.data.max_prompt_length}")
    model, trainable = load_policy(config, family)
    say(f"train rl: {config.model.name_or_path} ({family.name}), frozen: "
        f"{', '.join(sorted(config.frozen_groups())) or 'nothing'}, trainable parameters: "
        + ", ".join(f"{k}={v:,}" for k, v in trainable.items()) + f"; {prompt_counts['used']} prompts")
    if resume:
        say(f"train rl: resuming from {resume}")
    verifier = Verifier(timeout_s=config.reward.timeout_s, workers=config.reward.workers)
    correctness = TrlReward(RewardConfig(timeout_s=config.reward.timeout_s), verifier=verifier)
    fmt = TrlReward(RewardConfig(think_prefilled=config.reward.think_prefilled), format_only=True)
    try:
        trainer = with_checkpoint_fix(GRPOTrainer)(
            model=model, reward_funcs=[correctness, fmt], args=grpo_args(config), train_dataset=prompts,
            processing_class=processor, callbacks=callbacks)
        trainer.train(resume_from_checkpoint=resume)
    finally:
        verifier.close()
    final = save_final(config, trainer, processor)  # type: ignore[arg-type]
    curve = reward_curve(trainer.state.log_history)
    summary: dict[str, Any] = {
        "config": config.model_dump(),
        "family": family.name,
        "precision": rl_precision(config),
        "algorithm": {"trainer": "trl.GRPOTrainer", "importance_sampling_level": config.rl.importance_sampling_level,
                      "epsilon": config.rl.epsilon, "epsilon_high": config.rl.epsilon_high, "beta": config.rl.beta,
                      "loss_type": config.rl.loss_type},
        "resumed_from": resume,
        "trainable_parameters": trainable,
        "prompts": prompt_counts,
        "global_step": trainer.state.global_step,
        "reward_curve": curve,
        "outcomes": outcome_shares(curve),
        "outcome_counts_this_process": correctness.counts.snapshot(),
        "log_history": trainer.state.log_history,
        "final": str(final),
        "elapsed_s": round(time.time() - started, 2),
    }
    if trainer.is_world_process_zero():
        atomic_write_json(Path(config.output.dir) / "rl_summary.json", json.loads(json.dumps(summary, default=str)))
    return summary

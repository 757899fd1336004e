"""The reward-rise run: GSPO on the demo VLM (real SmolLM2-135M inside Idefics3), on a CPU.

Synthetic one-digit additions ("What is 3 + 4? …") with the sum as the reference answer, each
with a small image of the sum written out; every rollout is graded by the verifier (1/0
correctness; ``--format-weight`` mixes in the think/answer-tag format term). It shows that
``finereason train rl`` moves the policy toward higher reward in tens of steps. Everything runs
through the real commands: ``export --format trl-rl`` and ``train rl``.

    PYTHONPATH=src python scripts/rl_reward_rise.py --out runs/rl-rise [--steps 30] [--format-weight 0]
    PYTHONPATH=src python scripts/rl_reward_rise.py --out runs/rl-rise-tiny --kind tiny --format-weight 1 \
        --think-prefilled --steps 40 --prompts 8 --generations 8 --tokens 16 --lr 5e-3

It prints the reward curve and leaves OUT/train/rl_summary.json.
"""

from __future__ import annotations

import argparse
import io
import json
import random
from pathlib import Path

import yaml
from PIL import Image, ImageDraw

from finereason.cli import main as cli
from finereason.io.images import make_image
from finereason.io.store import Dataset, ShardCounts, atomic_write_json
from finereason.schema import Sample, stable_id

PROMPT = "What is {a} + {b}? Start your reply with: The answer is"


def addition_samples(n: int, seed: int) -> list[Sample]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        image = Image.new("RGB", (64, 64), "white")
        ImageDraw.Draw(image).text((8, 24), f"{a}+{b}", fill="black")
        buf = io.BytesIO()
        image.save(buf, "PNG")
        q = PROMPT.format(a=a, b=b)
        out.append(Sample(id=stable_id("add", str(i), q), source="synthetic-addition", question=q, answer=str(a + b),
                          answer_type="integer", images=[make_image(buf.getvalue())]))
    return out


def keep_think_tags(model: Path) -> None:
    """Mark <think>/</think> as ordinary added tokens, as Qwen3's tokenizers do, so that decoding
    with skip_special_tokens (how TRL decodes rollouts) keeps them (the tiny tokenizer has them special)."""
    from tokenizers import AddedToken
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(model)
    processor.tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in ("<think>", "</think>")])
    processor.save_pretrained(model)


def write_prompts(root: Path, n: int, seed: int) -> Path:
    samples = addition_samples(n, seed)
    Dataset(root).write_shard(0, samples, [], ShardCounts(0, len(samples), len(samples), {}, 0.0, {}))
    atomic_write_json(root / "manifest.json", {"stage": "synthetic-addition"})
    return root


def recipe(model: Path, export: Path, out: Path, steps: int, format_weight: float, lr: float,
           prompts: int, generations: int, tokens: int, think_prefilled: bool = False) -> dict:
    return {
        "model": {"name_or_path": str(model), "family": "idefics3"},
        "data": {"train": str(export), "max_prompt_length": 256},
        "freeze": {"vision_tower": True, "projector": True, "language_model": False},
        "rl": {"learning_rate": lr, "lr_scheduler": "constant_with_warmup", "warmup_steps": 0, "weight_decay": 0.0,
               "max_steps": steps, "prompts_per_step": prompts, "num_generations": generations,
               "per_device_batch_size": prompts * generations, "max_completion_length": tokens,
               "temperature": 1.0, "gradient_checkpointing": False, "precision": "fp32", "seed": 0},
        "reward": {"format_weight": format_weight, "timeout_s": 5.0, "workers": 1, "think_prefilled": think_prefilled},
        "output": {"dir": str(out), "save_steps": 10, "save_total_limit": 1, "logging_steps": 1, "resume": True},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--model", type=Path, help="model folder (built under OUT/<kind>-vlm when missing)")
    ap.add_argument("--kind", choices=["demo", "tiny"], default="demo",
                    help="demo: SmolLM2-135M inside Idefics3; tiny: a random few-MB Idefics3 (fast, can only "
                         "learn format)")
    ap.add_argument("--think-prefilled", action="store_true",
                    help="score a lone </think> as a closed think block (reward.think_prefilled)")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--prompts", type=int, default=4, help="prompts per step")
    ap.add_argument("--generations", type=int, default=4, help="rollouts per prompt")
    ap.add_argument("--tokens", type=int, default=24, help="max completion tokens")
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--format-weight", type=float, default=0.0)
    ap.add_argument("--n", type=int, default=200, help="synthetic prompts")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    model = args.model or args.out / f"{args.kind}-vlm"
    if not (model / "config.json").exists():
        from finereason.testing.tinyvlm import build_demo_vlm, build_tiny_vlm

        if args.kind == "demo":
            build_demo_vlm(model)
        else:
            build_tiny_vlm("idefics3", model)
            keep_think_tags(model)
    prompts = write_prompts(args.out / "prompts", args.n, args.seed)
    export = args.out / "prompts-trl-rl"
    if not (export / "manifest.json").exists():
        assert cli(["export", str(prompts), "--format", "trl-rl", "--out", str(export), "--workers", "1"]) == 0
    config = args.out / "rl.yaml"
    config.write_text(yaml.safe_dump(recipe(model, export, args.out / "train", args.steps, args.format_weight, args.lr,
                                            args.prompts, args.generations, args.tokens, args.think_prefilled),
                                     sort_keys=False))
    assert cli(["train", "rl", str(config)]) == 0
    summary = json.loads((args.out / "train" / "rl_summary.json").read_text())
    print("\nstep  reward  format  correct  no_answer")
    for p in summary["reward_curve"]:
        print(f"{p['step']:>4}  {p['reward']:.3f}   {p.get('format', 0):.3f}   {p.get('outcome/correct', 0):.3f}    "
              f"{p.get('outcome/no_answer', 0):.3f}")


if __name__ == "__main__":
    main()

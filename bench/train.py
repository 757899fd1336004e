"""Training throughput with and without packing: real (non-padding) tokens per second.

Builds a synthetic TRL export whose responses vary in length (as distilled CoTs do), then
trains the same model for the same number of optimizer steps twice through the library's own
path (preflight, rows, collator, TRL SFTTrainer): once with padded batches, once with packed
rows. Prints one row per mode and the ratio to the unpacked baseline.

    PYTHONPATH=src python bench/train.py                               # tiny Qwen2-VL, CPU
    PYTHONPATH=src python bench/train.py --family idefics3 --samples 96
    PYTHONPATH=src python bench/train.py --model qwen3vl-2b-shape      # on a GPU (see below)

``--model qwen3vl-2b-shape`` builds a randomly initialised Qwen3-VL with the layer sizes of
Qwen3-VL-2B-Instruct (from its published config as we know it: 28 text layers of 2048, 16/8
heads of 128, MLP 6144, 151,936-token vocabulary; a 24-layer 1024-wide ViT with patch 16 and
DeepStack at layers 5/11/17), with the tiny BPE tokenizer (ids stay < 512, so the embedding
is real-sized but mostly unused). It needs a CUDA GPU (bf16) and ~30 GB for full training.
**This path is untested**: it was written without a GPU to run it on.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

from finereason.io.images import make_image
from finereason.io.store import Dataset, ShardCounts
from finereason.schema import Sample, stable_id
from finereason.train.config import load_config
from finereason.train.sft import build_trainer, load_model, prepare

WORDS = ("the triangle has a right angle so the area is half the base times the height which gives "
         "twelve square units and we check the answer against the figure before writing it down").split()


def _png(rng: random.Random) -> bytes:
    import io

    from PIL import Image, ImageDraw

    w, h = rng.randint(48, 160), rng.randint(48, 160)
    image = Image.new("RGB", (w, h), tuple(rng.randint(0, 255) for _ in range(3)))
    ImageDraw.Draw(image).ellipse([4, 4, w // 2, h // 2], fill="white")
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def make_export(root: Path, n: int, seed: int) -> Path:
    """n samples, responses of 20–300 words (a long-tailed mix, like distilled CoTs)."""
    from finereason.cli import main

    rng = random.Random(seed)
    samples = []
    for i in range(n):
        words = int(min(300, 20 + rng.expovariate(1 / 60)))
        body = " ".join(rng.choice(WORDS) for _ in range(words))
        question = f"Problem {i}: what is the area of the shape?"
        samples.append(Sample(id=stable_id("bench", str(i)), source="bench", question=question, answer="12",
                              response=f"<think>{body}</think>The area is 12. <answer>12</answer>",
                              images=[make_image(_png(rng))]))
    canonical = root / "canonical"
    Dataset(canonical).write_shard(0, samples, [], ShardCounts(0, n, n, {}, 0.0, {}))
    assert main(["export", str(canonical), "--format", "trl", "--out", str(root / "trl"), "--workers", "1"]) == 0
    return root / "trl"


def qwen3vl_2b_shape(out: Path) -> Path:
    """A random Qwen3-VL with Qwen3-VL-2B's layer sizes (untested: needs a GPU)."""
    from transformers import Qwen2VLImageProcessorPil, Qwen3VLConfig, Qwen3VLForConditionalGeneration

    from finereason.models.processors import FinereasonQwen3VLProcessor
    from finereason.testing.tinyvlm import build_tokenizer

    tok = build_tokenizer(extra_tokens=["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"])
    ids = {k: tok.convert_tokens_to_ids(t) for k, t in (("vision_start_token_id", "<|vision_start|>"),
                                                          ("vision_end_token_id", "<|vision_end|>"),
                                                          ("image_token_id", "<|image_pad|>"),
                                                          ("video_token_id", "<|video_pad|>"))}
    text = dict(vocab_size=151936, hidden_size=2048, intermediate_size=6144, num_hidden_layers=28,
                num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=262144,
                tie_word_embeddings=True, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                rope_parameters={"rope_type": "default", "rope_theta": 5_000_000.0, "mrope_section": [24, 20, 20],
                                 "mrope_interleaved": True})
    vision = dict(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16, out_hidden_size=2048,
                  patch_size=16, num_position_embeddings=2304, deepstack_visual_indexes=[5, 11, 17])
    model = Qwen3VLForConditionalGeneration(Qwen3VLConfig(text_config=text, vision_config=vision,
                                                          tie_word_embeddings=True, **ids))
    template = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{% for part in message['content'] %}"
                "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
                "{% else %}{{ part['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
                "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    tok.chat_template = template
    image_proc = Qwen2VLImageProcessorPil(patch_size=16, merge_size=2, temporal_patch_size=2,
                                          min_pixels=32 * 32, max_pixels=768 * 768)
    FinereasonQwen3VLProcessor(image_processor=image_proc, tokenizer=tok, chat_template=template).save_pretrained(out)
    model.save_pretrained(out)
    return out


def run(model: Path, export: Path, out: Path, *, packing: bool, args: argparse.Namespace) -> dict:
    raw = {
        "model": {"name_or_path": str(model)},
        "data": {"train": str(export), "max_length": args.max_length, "packing": packing,
                 "image_max_pixels": args.max_pixels, "on_bad_sample": "skip"},
        "train": {"max_steps": args.steps, "learning_rate": 1e-4, "warmup_ratio": 0.0,
                  "per_device_batch_size": 1 if packing else args.batch,
                  "global_batch_size": 1 if packing else args.batch, "gradient_checkpointing": args.checkpointing},
        "output": {"dir": str(out), "save_steps": 10_000, "logging_steps": 10_000},
    }
    config = load_config(raw)
    prepared = prepare(config)
    trainer = build_trainer(config, prepared, load_model(config, prepared)[0])
    start = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - start
    collator = trainer.data_collator.collators["train"]
    return {"mode": "packed" if packing else "padded", "rows": len(prepared.rows["train"]), "steps": args.steps,
            "tokens": collator.tokens, "slots": collator.slots, "seconds": elapsed,
            "tokens_per_s": collator.tokens / elapsed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny", choices=["tiny", "qwen3vl-2b-shape"])
    parser.add_argument("--family", default="qwen2_vl", choices=["idefics3", "qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps per mode")
    parser.add_argument("--batch", type=int, default=4, help="examples per padded batch")
    parser.add_argument("--max-length", type=int, default=1024, help="tokens per packed row")
    parser.add_argument("--max-pixels", type=int, default=112 * 112)
    parser.add_argument("--checkpointing", action="store_true", help="activation checkpointing")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.model != "tiny" and not torch.cuda.is_available():
        print("bench/train.py: --model qwen3vl-2b-shape needs a CUDA GPU", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        export = make_export(root / "data", args.samples, args.seed)
        if args.model == "tiny":
            from finereason.testing.tinyvlm import build_tiny_vlm

            model = build_tiny_vlm(args.family, root / "model")
        else:
            model = qwen3vl_2b_shape(root / "model")
        results = [run(model, export, root / f"run-{mode}", packing=mode == "packed", args=args)
                   for mode in ("padded", "packed")]
    base = results[0]["tokens_per_s"]
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({torch.get_num_threads()} threads)"
    print(f"\n{args.model} {args.family if args.model == 'tiny' else 'qwen3_vl'} on {device}; {args.samples} samples, "
          f"{args.steps} steps per mode, padded batch {args.batch}, packed rows of {args.max_length} tokens\n")
    print(f"{'mode':<8} {'rows':>5} {'real tokens':>12} {'fill':>6} {'seconds':>8} {'tokens/s':>9} {'ratio':>6}")
    for r in results:
        print(f"{r['mode']:<8} {r['rows']:>5} {r['tokens']:>12} {r['tokens'] / r['slots']:>6.0%} "
              f"{r['seconds']:>8.1f} {r['tokens_per_s']:>9.0f} {r['tokens_per_s'] / base:>5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

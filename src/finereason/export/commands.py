"""``finereason export DIR --format F --out OUTDIR``: training files, registration, dataset card."""

from __future__ import annotations

import argparse
from pathlib import Path

from finereason.export.formats import DATA_DIR
from finereason.export.step import Export
from finereason.pipeline.engines import engine_from_args
from finereason.pipeline.flags import add_flags, options_from_args
from finereason.pipeline.options import add_run_options, print_summary
from finereason.pipeline.progress import say

DESCRIPTION = """\
Write a dataset as training files for LLaMA-Factory, ms-swift, TRL, or as HF-style Parquet.

For the SFT formats only samples with a teacher response are exported (the response, <think>…</think> included,
is the assistant turn). Every sample is checked so that training cannot fail on it later:
one <image> tag per image (tags are put at the start of a question that has none), no media
placeholder in the reply. Samples that fail go to OUTDIR/.finereason/rejected/ with the reason
(no_response, image_tag_mismatch, placeholder_in_text, too_many_images, image_undecodable).
Options are rendered into the question as "Options:\\nA. …".

formats (one file per input shard under OUTDIR/data/, plus OUTDIR/README.md and manifest.json):
  llamafactory  messages + images JSONL, image files under OUTDIR/images/ (named by sha256,
                each written once), dataset_info.json for dataset_dir=OUTDIR
                (--images embed: Parquet with the images inside instead of files)
  swift         the same JSONL; pass the shards with --dataset OUTDIR/data/train-*.jsonl.
                Image paths are absolute by default: ms-swift resolves relative paths
                against the working directory and its docs recommend absolute ones
  trl           Parquet: messages with {"type": "image"} / {"type": "text"} content parts and
                an images column of embedded HF Images (load_dataset("parquet", …) gives PIL)
  hf            Parquet of the canonical fields (id, source, domain, question, options,
                answer, caption, response, verdict, pass_rate, flags, meta as JSON, …) plus
                images as embedded HF Images
  verl          RL prompts, Parquet in verl's RLHF layout: data_source, prompt (chat messages,
                one <image> per image), images, ability, reward_model {style: rule,
                ground_truth}, extra_info {index, id, answer_type, options, question};
                grade rollouts with finereason.reward.compute_score (no response needed;
                samples without a verifiable answer are rejected: no_verifiable_answer)
  trl-rl        RL prompts for TRL's GRPOTrainer: prompt (content parts), images, and the
                answer, answer_type, options, question columns finereason.reward.TrlReward reads

Rerun the same command to resume; finished shards are not redone.

examples:
  finereason export runs/hard --format llamafactory --out exports/hard-lf
  finereason export runs/hard --format trl --out exports/hard-trl --system "Think step by step."
  finereason export runs/hard --format swift --out exports/hard-swift --max-images 1
  finereason export runs/sft-rl --format verl --out exports/rl-verl
"""

#: LLaMA-Factory's sharegpt/OpenAI-style registration (data/README.md of LLaMA-Factory).
def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help=Export.summary, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", metavar="DIR", help="input dataset folder (usually the output of select)")
    add_run_options(p)
    add_flags(p, Export)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    step = options_from_args(Export, args)
    exported = step.run(args.dir, args.out, engine_from_args(args), overwrite=args.overwrite)
    out = Path(args.out).resolve()
    print_summary(exported)
    print(f"  {len(exported['data_files'])} data file(s) under {out / DATA_DIR}; card: {out / 'README.md'}")
    if step.failure(exported):
        say("export: nothing was exported; see the rejection reasons above")
        return 1
    return 0

"""``finereason ingest PATH… --out DIR``: any supported dataset → canonical sample shards."""

from __future__ import annotations

import argparse

from finereason.io.readers.jsonlines import LIMITS
from finereason.io.step import Ingest
from finereason.pipeline.engines import engine_from_args
from finereason.pipeline.flags import add_flags, options_from_args
from finereason.pipeline.options import add_run_options, print_summary

DESCRIPTION = f"""\
Read datasets into one canonical dataset folder (Parquet shards of samples, with every image
decoded once: sha256, width, height, perceptual hash).

Formats (--format, default auto: detected from extensions, content and folder shape):
  mmfinereason  the MMFineReason release (JSON Lines or Parquet; HF or paper column names):
                caption, teacher response, pass_rate, is_consistent → verdict, domain by subset
  jsonl         JSON Lines (or a JSON array) with question, answer, image | images
  parquet       Parquet files with the same columns
  llava         LLaVA conversations; each human/gpt pair becomes one sample
  hf            a local Hugging Face datasets folder (save_to_disk .arrow files, or data/*.parquet)

Images may be paths (relative to the data file's folder, never outside the input's folder),
file:// URIs (local, same rule), bytes, data:image/...;base64 URIs or HF Image structs; URLs are
not fetched (image_remote) and other schemes are refused (image_unsupported_scheme). A record
with no image is a text-only sample. Every record that cannot become a sample is written to
DIR/rejected/ with a reason (bad_json, bad_encoding, missing_question, missing_answer,
bad_field, image_missing, image_undecodable, image_truncated, image_empty, image_too_large,
path_outside_dataset, multi_image, record_error, ...) and its file:line; the run goes on. A file
of a folder that cannot be read at all (damaged Parquet, not the expected format) is one
bad_file rejection, named with its reason in the manifest's rejected_files, and the other files
are read (--strict stops instead). JSON is parsed within limits, each record past them rejected
as bad_json or bad_encoding:
  {LIMITS}.

examples:
  finereason ingest release/ --out runs/raw                         # the MMFineReason release
  finereason ingest qa.jsonl --format jsonl --map prompt=question --map img=images --out runs/raw
  finereason ingest llava_v1_5.json --format llava --image-root coco/ --source llava --out runs/llava
  finereason ingest my_saved_dataset/ --format hf --drop-multi-image --out runs/hf
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help=Ingest.summary, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_flags(p, Ingest)
    add_run_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    step = options_from_args(Ingest, args)
    print_summary(step.run(None, args.out, engine_from_args(args), overwrite=args.overwrite))
    return 0

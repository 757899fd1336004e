"""``finereason ingest PATH… --out DIR``: any supported dataset → canonical sample shards."""

from __future__ import annotations

import argparse
import os

from finereason.io.ingest import IngestStage, ingest
from finereason.io.readers import FORMATS, MAP_TARGETS, InputError, plan_input
from finereason.io.readers.jsonlines import LIMITS
from finereason.pipeline.engines import engine_from_args
from finereason.pipeline.options import add_run_options, print_summary
from finereason.pipeline.progress import say

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


def _rename(text: str) -> tuple[str, str]:
    src, eq, dst = text.partition("=")
    if not eq or not src or not dst:
        raise argparse.ArgumentTypeError(f"{text!r}: expected SRC=DST, e.g. prompt=question")
    if dst not in MAP_TARGETS:
        raise argparse.ArgumentTypeError(f"{text!r}: unknown field {dst!r}; one of {', '.join(sorted(MAP_TARGETS))}")
    return src, dst


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ingest",
        help="read the MMFineReason release, JSONL, Parquet, LLaVA or HF folders into a dataset",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="data files or folders, read in the order given")
    p.add_argument("--format", choices=FORMATS, default="auto", help="input format (default: auto)")
    p.add_argument(
        "--map", type=_rename, action="append", default=[], metavar="SRC=DST",
        help="read field SRC as DST (repeatable), e.g. --map prompt=question --map img=images",
    )
    p.add_argument("--source", metavar="NAME", help="source name for records without one (default: the PATH's name)")
    p.add_argument(
        "--image-root", metavar="DIR",
        help="folder that relative image paths start from and must stay inside (default: the PATH's folder)",
    )
    p.add_argument("--drop-multi-image", action="store_true", help="reject samples with more than one image")
    p.add_argument(
        "--strict", action="store_true",
        help="stop at the first file that cannot be read (default: reject it as one bad_file record, read the rest)",
    )
    add_run_options(p, shard_size=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.shard_size < 1:
        raise InputError(f"--shard-size must be at least 1, not {args.shard_size}")
    if args.image_root and not os.path.isdir(args.image_root):
        raise InputError(f"--image-root {args.image_root}: no such folder")
    renames = dict(args.map)
    plans = [
        plan_input(path, args.format, renames=renames, source=args.source, image_root=args.image_root,
                   strict=args.strict)
        for path in args.paths
    ]
    for plan in plans:
        say(f"ingest: {plan.describe()}")
        for note in plan.notes:
            say(f"ingest: note: {note}")
    stage = IngestStage(renames, drop_multi_image=args.drop_multi_image)
    manifest = ingest(plans, args.out, stage=stage, shard_size=args.shard_size, workers=args.workers,
                      overwrite=args.overwrite, engine=engine_from_args(args))
    print_summary(manifest)
    return 0

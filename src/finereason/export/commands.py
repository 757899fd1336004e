"""``finereason export DIR --format F --out OUTDIR``: training files, registration, dataset card."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from finereason.export.card import ExportInfo, stats_from_summaries, write_card
from finereason.export.conversation import IMAGE_TAG, OTHER_MEDIA_TAGS
from finereason.export.formats import DATA_DIR, FORMATS, WORK_DIR, ExportOptions
from finereason.export.media import count_image_files
from finereason.export.stage import ExportShardLoader, ExportStage
from finereason.io.store import Dataset, DatasetError, atomic_write_json
from finereason.pipeline.engines import engine_from_args
from finereason.pipeline.manifest import RunInfo
from finereason.pipeline.options import add_run_options, print_summary
from finereason.pipeline.progress import say
from finereason.pipeline.stage import Task

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
LLAMAFACTORY_TAGS = {
    "role_tag": "role", "content_tag": "content", "user_tag": "user",
    "assistant_tag": "assistant", "system_tag": "system",
}


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write training files: LLaMA-Factory / ms-swift JSONL, TRL or HF Parquet, with a dataset card",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", metavar="DIR", help="input dataset folder (usually the output of select)")
    p.add_argument("--format", required=True, choices=FORMATS, help="training format to write")
    add_run_options(p)
    p.add_argument(
        "--images", choices=["files", "embed"],
        help="files: image files + paths (default for llamafactory, swift); embed: image bytes inside "
        "Parquet (default and only choice for trl, hf; also for llamafactory)",
    )
    p.add_argument(
        "--image-paths", choices=["relative", "absolute"],
        help="paths written for image files: relative to OUTDIR (default for llamafactory, which resolves "
        "them against dataset_dir) or absolute (default for swift)",
    )
    p.add_argument("--system", metavar="PROMPT", help="system prompt added to every conversation (default: none)")
    p.add_argument("--max-images", type=_count, metavar="N", help="reject samples with more than N images")
    p.add_argument("--name", help="dataset name in dataset_info.json and the card title (default: OUTDIR's name)")
    p.add_argument("--license", default="other", metavar="ID",
                   help="license id for the card's metadata (default: other; the sources' terms still apply)")
    p.set_defaults(func=run)


def _options(args: argparse.Namespace) -> ExportOptions:
    images = args.images or ("files" if args.format in ("llamafactory", "swift") else "embed")  # RL formats embed
    paths = args.image_paths or ("absolute" if args.format == "swift" else "relative")
    if args.system:
        for tag in (IMAGE_TAG, *OTHER_MEDIA_TAGS):
            if tag in args.system:
                raise DatasetError(f"--system contains {tag}, which trainers would count as a media placeholder")
    try:
        return ExportOptions(args.format, images, paths, args.system, args.max_images)
    except ValueError as e:
        raise DatasetError(str(e)) from e


def _prepare(out: Path, overwrite: bool) -> None:
    """Fresh folder, or resume of an export; never write training files into an unrelated folder."""
    if overwrite and out.exists():
        shutil.rmtree(out)
    if out.exists() and any(out.iterdir()) and not (out / WORK_DIR / ".done" / "_run.json").exists():
        raise DatasetError(f"{out} exists and is not an export; use another --out or --overwrite")
    shutil.rmtree(out / WORK_DIR / "tmp", ignore_errors=True)  # leftovers of a killed run


def _register(out: Path, options: ExportOptions, name: str) -> str | None:
    if options.format != "llamafactory":
        return None
    entry = {
        "file_name": DATA_DIR,
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "images": "images"},
        "tags": LLAMAFACTORY_TAGS,
    }
    atomic_write_json(out / "dataset_info.json", {name: entry})
    return "dataset_info.json"


def run(args: argparse.Namespace) -> int:
    src = Dataset(args.dir)
    paths = src.shard_paths()
    options = _options(args)
    out = Path(args.out).resolve()
    name = args.name or out.name
    _prepare(out, args.overwrite)
    stage = ExportStage(options, out)
    # the input's shape is part of the identity: resuming over a re-selected input would mix two exports
    settings = {**stage.settings(), "input_shards": len(paths), "input_rows": src.count()}
    info = RunInfo(stage=stage.name, version=stage.version, settings=settings,
                   inputs=[str(src.root)], upstream=src.manifest())
    tasks = [Task(i, ExportShardLoader(i, p)) for i, p in enumerate(paths)]
    manifest = engine_from_args(args).run_stage(stage, tasks, out / WORK_DIR, info, workers=args.workers,
                                                total=len(tasks))

    work = Dataset(out / WORK_DIR)
    data_files = sorted(str(p.relative_to(out)) for p in (out / DATA_DIR).glob("train-*"))
    exported: dict[str, Any] = {
        **manifest,
        "records_out": manifest["stats"].get("exported", 0),  # the stage keeps no samples; it writes rows
        "format": options.format,
        "name": name,
        "data_files": data_files,
        "image_files": count_image_files(out),
        "registration": _register(out, options, name),
        "rejected_records": f"{WORK_DIR}/rejected",
    }
    atomic_write_json(out / "manifest.json", exported)
    st = stats_from_summaries((c.extra["summary"] for c in work.done_counts()), exported)
    info_card = ExportInfo(options.format, name, options.images, options.image_paths, len(data_files),
                           exported["image_files"], args.license)
    card = write_card(st, out / "README.md", name, info_card)
    print_summary(exported)
    print(f"  {len(data_files)} data file(s) under {out / DATA_DIR}; card: {card}")
    if not data_files:
        say("export: nothing was exported; see the rejection reasons above")
        return 1
    return 0

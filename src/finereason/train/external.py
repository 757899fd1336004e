"""A recipe as LLaMA-Factory or ms-swift configuration, for running the same SFT on those trainers.

The mapping is setting for setting; where a tool has no equivalent, or needs something ours does
not, the file says so in a comment (LLaMA-Factory) or the function refuses (no template):

==========================  ====================================  ==================================
recipe                      LLaMA-Factory 0.9.5 (YAML)            ms-swift 4.x (``swift sft``)
==========================  ====================================  ==================================
model.name_or_path          model_name_or_path                    --model
lora / none                 finetuning_type: lora|full            --tuner_type lora|full (3.x: --train_type)
freeze.vision_tower         freeze_vision_tower                   --freeze_vit
freeze.projector            freeze_multi_modal_projector          --freeze_aligner
freeze.language_model       freeze_language_model                 --freeze_llm
data.image_min/max_pixels   image_min_pixels / image_max_pixels   --max_pixels (no minimum)
data.max_length             cutoff_len                            --max_length
data.packing                packing + neat_packing (no cross-     --packing (needs --attn_impl flash_attn)
                            sample attention, as ours)
train.deepspeed: zero2      deepspeed: <our ZeRO-2 JSON>          --deepspeed zero2
precision bf16/auto         bf16: true                            --torch_dtype bfloat16
global batch                per-device × gradient_accumulation_steps × --gpus
==========================  ====================================  ==================================

``auto`` precision is written as bf16: these files are for GPU trainers. LLaMA-Factory reads
the data from a ``finereason export --format llamafactory`` folder through a ``dataset_info.json``
written beside the YAML (``file_name`` absolute, ``media_dir`` = the export, so image paths
relative to the export resolve); ms-swift reads the JSONL files of a ``--format swift`` export
(absolute image paths).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import yaml

from finereason.errors import UserError
from finereason.io.store import atomic_write_json
from finereason.train.config import TrainConfig, deepspeed_config

DEEPSPEED_JSON = "deepspeed-zero2.json"
_FLASH = {"flash_attention_2": "fa2", "sdpa": "sdpa", "eager": "disabled"}


class ExternalConfigError(UserError):
    """An export or recipe that the target trainer cannot run as asked."""


def export_info(dataset: Path, want: tuple[str, ...]) -> dict[str, Any]:
    manifest = dataset / "manifest.json"
    if not manifest.is_file():
        raise ExternalConfigError(f"{dataset}: not a finereason export (no manifest.json)")
    info = json.loads(manifest.read_text())
    if info.get("format") not in want:
        raise ExternalConfigError(f"{dataset} is a {info.get('format')!r} export; this trainer reads "
                                  f"`finereason export --format {want[0]}` folders")
    if not info.get("data_files"):
        raise ExternalConfigError(f"{dataset}: the export holds no data files")
    return info


def gradient_accumulation(config: TrainConfig, gpus: int) -> int:
    per_step = config.train.per_device_batch_size * gpus
    if config.train.global_batch_size % per_step:
        raise ExternalConfigError(f"train.global_batch_size {config.train.global_batch_size} is not a multiple of "
                                  f"{config.train.per_device_batch_size} per device × {gpus} GPU(s)")
    return config.train.global_batch_size // per_step


def llamafactory_args(config: TrainConfig, dataset: Path, name: str, dataset_dir: Path, gpus: int) -> dict[str, Any]:
    family = config.family()
    if not family.llamafactory_template:
        raise ExternalConfigError(f"LLaMA-Factory 0.9.5 has no chat template for family {family.name!r}")
    t, d = config.train, config.data
    args: dict[str, Any] = {"model_name_or_path": config.model.name_or_path}
    if d.image_max_pixels:
        args["image_max_pixels"] = d.image_max_pixels
    if d.image_min_pixels:
        args["image_min_pixels"] = d.image_min_pixels
    if config.model.trust_remote_code:
        args["trust_remote_code"] = True
    if config.model.attn_implementation in _FLASH:
        args["flash_attn"] = _FLASH[config.model.attn_implementation]
    args.update(stage="sft", do_train=True, finetuning_type="lora" if config.lora else "full",
                freeze_vision_tower=config.freeze.vision_tower,
                freeze_multi_modal_projector=config.freeze.projector,
                freeze_language_model=config.freeze.language_model)
    if config.lora:
        args.update(lora_rank=config.lora.r, lora_alpha=config.lora.alpha, lora_dropout=config.lora.dropout,
                    lora_target="all")
    ds = deepspeed_config(config)
    if isinstance(ds, dict):  # the shipped ZeRO-2 settings, written beside the YAML by write_llamafactory
        args["deepspeed"] = str((dataset_dir / DEEPSPEED_JSON).resolve())
    elif ds:
        args["deepspeed"] = str(Path(ds).resolve())
    args.update(dataset=name, dataset_dir=str(dataset_dir.resolve()), media_dir=str(dataset.resolve()),
                template=family.llamafactory_template, cutoff_len=d.max_length)
    if d.packing:
        args.update(packing=True, neat_packing=True)
    if d.max_samples:
        args["max_samples"] = d.max_samples
    args.update(output_dir=config.output.dir, logging_steps=config.output.logging_steps,
                save_steps=config.output.save_steps, report_to="none")
    if config.output.save_total_limit:
        args["save_total_limit"] = config.output.save_total_limit
    args.update(per_device_train_batch_size=t.per_device_batch_size,
                gradient_accumulation_steps=gradient_accumulation(config, gpus),
                learning_rate=t.learning_rate, lr_scheduler_type=t.lr_scheduler, warmup_ratio=t.warmup_ratio,
                weight_decay=t.weight_decay, max_grad_norm=t.max_grad_norm, optim=t.optimizer, seed=t.seed,
                gradient_checkpointing=t.gradient_checkpointing, bf16=t.precision != "fp32")
    if t.max_steps:
        args["max_steps"] = t.max_steps
    else:
        args["num_train_epochs"] = t.epochs
    return args


def write_llamafactory(config: TrainConfig, dataset: Path, out: Path, *, gpus: int = 1) -> list[Path]:
    """``out`` (YAML for ``llamafactory-cli train``) and ``dataset_info.json`` beside it."""
    info = export_info(dataset, ("llamafactory",))
    name = info.get("name") or dataset.name
    entry = {"file_name": str((dataset / "data").resolve()), "formatting": "sharegpt",
             "columns": {"messages": "messages", "images": "images"},
             "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                      "assistant_tag": "assistant", "system_tag": "system"}}
    own = dataset / "dataset_info.json"
    if own.is_file():  # the export's own registration is the source of truth for columns and tags
        entry = {**json.loads(own.read_text()).get(name, entry), "file_name": entry["file_name"]}
    args = llamafactory_args(config, dataset, name, out.parent, gpus)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = [out]
    ds = deepspeed_config(config)
    if isinstance(ds, dict):
        atomic_write_json(out.parent / DEEPSPEED_JSON, ds)
        written.append(out.parent / DEEPSPEED_JSON)
    registry_path = out.parent / "dataset_info.json"
    registry = json.loads(registry_path.read_text()) if registry_path.is_file() else {}
    registry[name] = entry
    atomic_write_json(registry_path, registry)
    header = (f"# LLaMA-Factory 0.9.5 equivalent of a finereason recipe (finereason train export-config).\n"
              f"# Run: llamafactory-cli train {out.name}   (global batch {config.train.global_batch_size} = "
              f"{config.train.per_device_batch_size} per device × {args['gradient_accumulation_steps']} "
              f"accumulation × {gpus} GPU(s))\n")
    out.write_text(header + yaml.safe_dump(args, sort_keys=False), encoding="utf-8")
    return [*written, registry_path]


def swift_args(config: TrainConfig, dataset: Path, gpus: int, *, major: int = 4) -> dict[str, Any]:
    info = export_info(dataset, ("swift",))
    family = config.family()
    t, d = config.train, config.data
    files = [str((dataset / f).resolve()) for f in info["data_files"]]
    args: dict[str, Any] = {"model": config.model.name_or_path, "dataset": files,
                            ("tuner_type" if major >= 4 else "train_type"): "lora" if config.lora else "full",
                            "freeze_vit": config.freeze.vision_tower, "freeze_aligner": config.freeze.projector,
                            "freeze_llm": config.freeze.language_model}
    if family.swift_model_type and family.name.startswith("qwen"):
        args["model_type"] = family.swift_model_type
    if config.lora:
        args.update(lora_rank=config.lora.r, lora_alpha=config.lora.alpha, lora_dropout=config.lora.dropout,
                    target_modules=["all-linear"])
    if d.image_max_pixels:
        args["max_pixels"] = d.image_max_pixels
    args.update(max_length=d.max_length, split_dataset_ratio=0.0)
    if d.packing:
        args.update(packing=True, attn_impl="flash_attn")
    elif config.model.attn_implementation:
        args["attn_impl"] = {"flash_attention_2": "flash_attn"}.get(config.model.attn_implementation,
                                                                    config.model.attn_implementation)
    if d.max_samples:
        args["max_samples"] = d.max_samples
    if t.deepspeed:
        args["deepspeed"] = "zero2" if t.deepspeed == "zero2" else str(Path(t.deepspeed).resolve())
    args.update(torch_dtype="float32" if t.precision == "fp32" else "bfloat16",
                per_device_train_batch_size=t.per_device_batch_size,
                gradient_accumulation_steps=gradient_accumulation(config, gpus),
                learning_rate=t.learning_rate, lr_scheduler_type=t.lr_scheduler, warmup_ratio=t.warmup_ratio,
                weight_decay=t.weight_decay, max_grad_norm=t.max_grad_norm, optim=t.optimizer, seed=t.seed,
                gradient_checkpointing=t.gradient_checkpointing, output_dir=config.output.dir,
                logging_steps=config.output.logging_steps, save_steps=config.output.save_steps)
    if config.output.save_total_limit:
        args["save_total_limit"] = config.output.save_total_limit
    if t.max_steps:
        args["max_steps"] = t.max_steps
    else:
        args["num_train_epochs"] = t.epochs
    return args


def swift_argv(args: dict[str, Any]) -> list[str]:
    """``swift sft`` command-line arguments (lists become repeated values, booleans true/false)."""
    argv = []
    for key, value in args.items():
        argv.append(f"--{key}")
        values = value if isinstance(value, list) else [value]
        argv += [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
    return argv


def write_swift(config: TrainConfig, dataset: Path, out: Path, *, gpus: int = 1, major: int = 4) -> list[Path]:
    """``out.json`` (the arguments) or ``out.sh`` (a runnable ``swift sft`` command)."""
    args = swift_args(config, dataset, gpus, major=major)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".json":
        atomic_write_json(out, args)
    elif out.suffix == ".sh":
        argv = swift_argv(args)
        lines = ["swift sft"]
        for token in argv:
            if token.startswith("--"):
                lines.append(f"    {token}")
            else:
                lines[-1] += f" {shlex.quote(token)}"
        out.write_text("#!/bin/sh\n# ms-swift equivalent of a finereason recipe (finereason train export-config)\n"
                       f"NPROC_PER_NODE={gpus} " + " \\\n".join(lines) + "\n", encoding="utf-8")
        out.chmod(0o755)
    else:
        raise ExternalConfigError(f"{out}: write .json (arguments) or .sh (a swift sft command)")
    return [out]


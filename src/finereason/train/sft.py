"""``finereason train sft``: supervised fine-tuning of a VLM on a TRL export, with TRL's SFTTrainer.

Order of work, so that mistakes surface cheaply and early:

1. the recipe is validated (:mod:`finereason.train.config`) and the output folder's state is
   checked (existing checkpoints without ``resume``, a resume path that is not a checkpoint);
2. the processor alone is loaded and every example is encoded once by the **preflight**
   (:mod:`finereason.train.preflight`): per-sample problems are reported before any weight
   is loaded, and the exact lengths feed the packer;
3. only then is the model loaded (fp32 weights; bf16 autocast on a GPU), its vision tower and
   projector frozen as the recipe says, LoRA adapters added to the unfrozen parts if asked;
4. SFTTrainer runs with our collator (TRL's own refuses packed image rows), checkpointing every
   ``output.save_steps`` and resuming from ``output.resume``;
5. the final model goes to ``OUTPUT/final`` (LoRA: adapter in ``OUTPUT/final-adapter`` and, with
   ``lora.merge``, the merged model in ``final``), loadable as ``hf:OUTPUT/final``; a summary is
   written to ``OUTPUT/train_summary.json``; and if the recipe names a benchmark, ``finereason
   eval`` runs on the final model.

Multi-GPU: launch the same command under ``accelerate launch`` (``--config_file
finereason/recipes/accelerate-fsdp.yaml`` for FSDP, or ``train.deepspeed: zero2`` in the recipe for
DeepSpeed ZeRO-2); the preflight runs on the main process first and the others read its cache.
"""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finereason.errors import UserError
from finereason.io.store import atomic_write_json
from finereason.pipeline.progress import say
from finereason.train.config import ConfigError, PolicyRecipe, TrainConfig, deepspeed_config, eval_argv, gradient_accumulation
from finereason.train.data import ExampleStore, PixelBounds, export_files
from finereason.train.families import Family, freeze, linear_module_names, projector_module_names
from finereason.train.packing import fill_ratio, pack, single_rows
from finereason.train.preflight import EncoderSpec, PreflightResult, run_preflight, write_report


class PreflightFailed(UserError):
    """Samples that cannot be trained on, with ``data.on_bad_sample: fail``."""


_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoints(out: Path) -> list[Path]:
    """``checkpoint-N`` folders of ``out``, oldest first."""
    found = [p for p in out.glob("checkpoint-*") if p.is_dir() and _CHECKPOINT.match(p.name)]
    return sorted(found, key=lambda p: int(_CHECKPOINT.match(p.name).group(1)))  # type: ignore[union-attr]


def resume_point(config: TrainConfig) -> str | None:
    """The checkpoint to continue from, or None for a fresh start; refuses to train over old checkpoints."""
    out = Path(config.output.dir)
    found = checkpoints(out) if out.is_dir() else []
    resume = config.output.resume
    if isinstance(resume, str):
        if not (Path(resume) / "trainer_state.json").is_file():
            raise ConfigError("output.resume", f"{resume} is not a trainer checkpoint (no trainer_state.json)")
        return resume
    if resume:
        return str(found[-1]) if found else None
    if found:
        raise ConfigError("output.resume", f"{out} already holds {found[-1].name}; set output.resume: true to "
                                           "continue it, or choose another output.dir")
    return None


def precision(config: TrainConfig) -> str:
    import torch

    if config.train.precision != "auto":
        return config.train.precision
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"


@dataclass
class Prepared:
    """Everything the trainer needs that does not involve the model's weights."""

    family: Family
    processor: Any
    encoder: Any
    stores: dict[str, ExampleStore]
    rows: dict[str, list[list[int]]]
    preflight: dict[str, PreflightResult]


def _preflight(config: TrainConfig, split: str, files: list[Path], spec: EncoderSpec, encoder: Any) -> PreflightResult:
    out = Path(config.output.dir) / "preflight" / split
    result = run_preflight(files, spec, max_length=config.data.max_length, cache_dir=out,
                           workers=config.data.preflight_workers,
                           limit=config.data.max_samples if split == "train" else None, encoder=encoder)
    write_report(result, out / "report.json", policy=config.data.on_bad_sample)
    if result.problems and config.data.on_bad_sample == "fail":
        raise PreflightFailed(
            f"{len(result.problems)} {split} sample(s) cannot be trained on (see {out / 'report.json'}); fix the "
            "data, raise data.max_length, or set data.on_bad_sample: skip to train without them"
        )
    if not result.ok:
        raise PreflightFailed(f"no {split} sample can be trained on (see {out / 'report.json'})")
    return result


def prepare(config: TrainConfig) -> Prepared:
    """Validate data and settings and plan the rows, loading the processor but no weights."""
    from accelerate import PartialState

    from finereason.train.encode import Encoder, configure_processor, load_processor

    family = config.family()
    splits = {"train": export_files(config.data.train)}
    if config.data.eval:
        splits["eval"] = export_files(config.data.eval)
    bounds = PixelBounds(config.data.image_min_pixels, config.data.image_max_pixels)
    template = Path(config.model.chat_template).read_text() if config.model.chat_template else None
    spec = EncoderSpec(config.model.name_or_path, family.name, bounds, template, config.model.trust_remote_code)
    processor = load_processor(config.model.name_or_path, family, trust_remote_code=config.model.trust_remote_code)
    configure_processor(processor, family, bounds, template)
    if getattr(processor, "fallback_reason", None):
        say(f"train: using the image-only {type(processor).__name__} ({processor.fallback_reason})")
    encoder = Encoder(processor, family, bounds)
    results, stores, rows = {}, {}, {}
    state = PartialState()
    for split, files in splits.items():
        with state.main_process_first():  # one process encodes; the others read its cache
            results[split] = _preflight(config, split, files, spec, encoder)
            stores[split] = ExampleStore(files, Path(config.output.dir) / "cache",
                                         limit=config.data.max_samples if split == "train" else None)
        ok, lengths = results[split].ok, results[split].lengths
        rows[split] = pack(ok, lengths, config.data.max_length) if config.data.packing else single_rows(ok)
    if config.data.packing:
        ratio = fill_ratio(rows["train"], results["train"].lengths, config.data.max_length)
        say(f"train: packed {len(results['train'].ok)} samples into {len(rows['train'])} rows of <= "
            f"{config.data.max_length} tokens ({ratio:.0%} full)")
    return Prepared(family, processor, encoder, stores, rows, results)


def load_model(config: TrainConfig, prepared: Prepared) -> tuple[Any, dict[str, int]]:
    """fp32 weights, parts frozen per the recipe, LoRA adapters on the unfrozen parts if asked."""
    model, trainable = load_policy(config, prepared.family)
    model.config.use_cache = False  # packed rows rely on no cache: the block mask is built only without one
    if hasattr(model.config, "text_config"):
        model.config.text_config.use_cache = False
    return model, trainable


def load_policy(config: PolicyRecipe, family: Family) -> tuple[Any, dict[str, int]]:
    """The model of a recipe with ``model``/``freeze``/``lora`` sections (SFT and RL share them)."""
    import torch
    from transformers import AutoModelForImageTextToText

    kwargs: dict[str, Any] = {"dtype": torch.float32, "trust_remote_code": config.model.trust_remote_code}
    if config.model.attn_implementation:
        kwargs["attn_implementation"] = config.model.attn_implementation
    model = AutoModelForImageTextToText.from_pretrained(config.model.name_or_path, **kwargs)
    frozen = config.frozen_groups()
    trainable = freeze(model, family, frozen)
    if config.lora:
        from peft import LoraConfig, get_peft_model

        targets = linear_module_names(model, family, {"vision_tower", "language_model"} - frozen)
        modules_to_save = projector_module_names(model, family) if "projector" not in frozen else None
        lora = LoraConfig(r=config.lora.r, lora_alpha=config.lora.alpha, lora_dropout=config.lora.dropout,
                          target_modules=targets, modules_to_save=modules_to_save, task_type="CAUSAL_LM")
        model = get_peft_model(model, lora)
        trainable = {"lora_and_saved_modules": sum(p.numel() for p in model.parameters() if p.requires_grad)}
    return model, trainable


def _rope_index(model: Any) -> Any:
    for module in model.modules():
        if hasattr(module, "get_rope_index"):
            return module.get_rope_index
    return None


def _rows_dataset(rows: list[list[int]], split: str) -> Any:
    import datasets

    return datasets.Dataset.from_dict({"members": rows, "split": [split] * len(rows)})


def _trainer_class() -> type:
    from trl import SFTTrainer

    return with_checkpoint_fix(SFTTrainer)


def with_checkpoint_fix(base: type) -> type:
    """``base`` (a TRL trainer), with resume fixed for models whose checkpoints rename their weights.

    ``save_pretrained`` writes Qwen-VL/Idefics3 weights under their original (hub) names, but
    ``Trainer._load_from_checkpoint`` loads them with a bare ``load_state_dict`` that knows no
    renaming: every key misses, a warning is logged and training silently continues from the
    *base* weights (transformers#43701, open; fix PRs #43745/#44366 unmerged). Loading the
    checkpoint through ``from_pretrained`` applies the renaming; DeepSpeed, FSDP and PEFT
    checkpoints keep their own loaders.
    """
    import torch

    class CheckpointFixed(base):  # type: ignore[valid-type, misc]
        def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
            target = model if model is not None else self.model
            ckpt = Path(resume_from_checkpoint)
            plain = (ckpt / "model.safetensors").is_file() or (ckpt / "model.safetensors.index.json").is_file()
            if not plain or self.is_fsdp_enabled or self.is_deepspeed_enabled or hasattr(target, "peft_config"):
                super()._load_from_checkpoint(resume_from_checkpoint, model)
                return
            reloaded = type(target).from_pretrained(ckpt, dtype=torch.float32)
            target.load_state_dict(reloaded.state_dict(), strict=True)
            del reloaded

    CheckpointFixed.__name__ = f"Finereason{base.__name__}"
    return CheckpointFixed


class _SplitCollator:
    """One collator for both splits: rows say which store their example indices refer to."""

    def __init__(self, collators: dict[str, Any]) -> None:
        self.collators = collators

    def __call__(self, rows: list[dict[str, Any]]) -> Any:
        return self.collators[rows[0]["split"]](rows)


def build_trainer(config: TrainConfig, prepared: Prepared, model: Any, callbacks: list[Any] | None = None) -> Any:
    import torch
    from trl import SFTConfig

    from finereason.train.collate import Collator

    use_cpu = not torch.cuda.is_available()
    prec = precision(config)
    t = config.train
    args = SFTConfig(
        output_dir=config.output.dir,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps or -1,
        per_device_train_batch_size=t.per_device_batch_size,
        per_device_eval_batch_size=t.per_device_batch_size,
        gradient_accumulation_steps=gradient_accumulation(config),
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_ratio,  # a float below 1 is a ratio of the total steps (transformers 5)
        weight_decay=t.weight_decay,
        optim=t.optimizer,
        max_grad_norm=t.max_grad_norm,
        bf16=prec == "bf16",
        fp16=False,
        activation_checkpointing=t.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if t.gradient_checkpointing else None,
        logging_steps=config.output.logging_steps,
        save_strategy="steps",
        save_steps=config.output.save_steps,
        save_total_limit=config.output.save_total_limit,
        eval_strategy="steps" if t.eval_steps else "no",
        eval_steps=t.eval_steps,
        seed=t.seed,
        use_cpu=use_cpu,
        report_to=[],
        dataloader_num_workers=t.dataloader_workers,
        remove_unused_columns=False,  # the collator needs the row's member indices
        dataset_kwargs={"skip_prepare_dataset": True},  # rows are encoded by our collator
        max_length=None,  # lengths are enforced by the preflight, never by truncation
        packing=False,  # TRL's packer refuses image rows; ours made the rows already
        deepspeed=deepspeed_config(config),
        disable_tqdm=not sys.stderr.isatty(),
    )
    rope = _rope_index(model) if config.data.packing else None
    collators = {split: Collator(prepared.encoder, store, prepared.family, packed=config.data.packing, rope_index=rope)
                 for split, store in prepared.stores.items()}
    eval_rows = prepared.rows.get("eval")
    return _trainer_class()(
        model=model,
        args=args,
        train_dataset=_rows_dataset(prepared.rows["train"], "train"),
        eval_dataset=_rows_dataset(eval_rows, "eval") if eval_rows else None,
        processing_class=prepared.processor,
        data_collator=_SplitCollator(collators),
        callbacks=callbacks,
    )


def save_final(config: TrainConfig, trainer: Any, processor: Any) -> Path:
    """``OUTPUT/final`` loadable as ``hf:``; with LoRA also ``OUTPUT/final-adapter``."""
    out = Path(config.output.dir)
    final = out / "final"
    if config.lora:
        adapter = out / "final-adapter"
        trainer.model.save_pretrained(adapter)
        if trainer.is_world_process_zero():
            processor.save_pretrained(adapter)
        if not config.lora.merge:
            return adapter
        if trainer.is_world_process_zero():
            merged = trainer.model.merge_and_unload()
            merged.save_pretrained(final)
            processor.save_pretrained(final)
        return final
    trainer.save_model(str(final))
    if trainer.is_world_process_zero():
        processor.save_pretrained(final)
    return final


def run_eval(config: TrainConfig, model_dir: Path) -> dict[str, Any]:
    """Evaluate the final model as ``finereason eval`` would, when the evaluation package is installed."""
    argv = eval_argv(config, model_dir)
    try:
        from finereason.evaluate.commands import config_from_argv, evaluate
    except ImportError:
        say("train: `finereason eval` is not available in this install; skipped the final evaluation. "
            f"Run it later: finereason {' '.join(argv)}")
        return {"status": "skipped", "reason": "eval command not registered", "argv": argv}
    say(f"train: evaluating the final model: finereason {' '.join(argv)}")
    try:
        evaluate(config_from_argv(argv[1:]))  # argv[0] is the command name
        code = 0
    except UserError as e:  # refused settings, or a model that failed after its retries
        say(f"train: the final evaluation failed: {e}")
        code = 2
    summary_file = Path(config.output.dir) / "eval" / "summary.json"
    result: dict[str, Any] = {"status": "ok" if code == 0 else "failed", "exit_code": code, "argv": argv}
    if code == 0 and summary_file.is_file():
        result["summary"] = str(summary_file)
    return result


def check_environment(config: TrainConfig) -> None:
    """What the recipe needs from this machine (packages, a GPU), before any data or weight is read."""
    import importlib.util

    import torch

    if config.train.deepspeed:
        if importlib.util.find_spec("deepspeed") is None:
            raise ConfigError("train.deepspeed", "DeepSpeed is not installed (pip install deepspeed)")
        if not torch.cuda.is_available():
            raise ConfigError("train.deepspeed", "DeepSpeed needs CUDA GPUs; unset it to train on this machine")
    if config.model.attn_implementation == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        raise ConfigError("model.attn_implementation", "flash_attention_2 needs the flash-attn package (and a GPU); "
                                                       "use sdpa here")


def run_sft(config: TrainConfig, *, callbacks: list[Any] | None = None) -> dict[str, Any]:
    """Train per ``config``; returns (and writes) the run summary."""
    started = time.time()
    resume = resume_point(config)
    check_environment(config)
    prepared = prepare(config)
    model, trainable = load_model(config, prepared)
    say(f"train: {config.model.name_or_path} ({prepared.family.name}), frozen: "
        f"{', '.join(sorted(config.frozen_groups())) or 'nothing'}, trainable parameters: "
        + ", ".join(f"{k}={v:,}" for k, v in trainable.items()))
    if resume:
        say(f"train: resuming from {resume}")
    trainer = build_trainer(config, prepared, model, callbacks)
    trainer.train(resume_from_checkpoint=resume)
    final = save_final(config, trainer, prepared.processor)
    summary: dict[str, Any] = {
        "config": config.model_dump(),
        "family": prepared.family.name,
        "precision": precision(config),
        "resumed_from": resume,
        "trainable_parameters": trainable,
        "preflight": {split: r.summary() for split, r in prepared.preflight.items()},
        "rows": {split: len(r) for split, r in prepared.rows.items()},
        "global_step": trainer.state.global_step,
        "log_history": trainer.state.log_history,
        "final": str(final),
        "elapsed_s": round(time.time() - started, 2),
    }
    if config.eval and trainer.is_world_process_zero():
        summary["eval"] = run_eval(config, final)
    if trainer.is_world_process_zero():
        atomic_write_json(Path(config.output.dir) / "train_summary.json", json.loads(json.dumps(summary, default=str)))
    return summary

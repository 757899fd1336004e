"""The SFT recipe: a YAML file validated up front, with every error naming its key.

Validation happens in two passes, both before any weight, processor or dataset is loaded:

1. the schema (pydantic, ``extra="forbid"``): unknown keys, wrong types, out-of-range values;
2. combinations that cannot work (:func:`check_combinations`): LoRA or full training with every
   part frozen, packing for a family that cannot pack, periodic evaluation without eval data,
   ``image_min_pixels`` above ``image_max_pixels``, a resume path that does not exist, …

A minimal recipe (see ``finereason/recipes/`` for complete ones)::

    model: {name_or_path: Qwen/Qwen3-VL-2B-Instruct}
    data: {train: exports/mfr-trl, max_length: 32768, packing: true}
    output: {dir: runs/sft-2b}

Values can be overridden from the command line with ``--set data.max_length=8192``.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from finereason.errors import UserError
from finereason.train.families import FAMILIES, Family, FamilyError, detect_family, get_family

RECIPE_DIR = Path(__file__).resolve().parent.parent / "recipes"


class ConfigError(UserError):
    """A recipe that is invalid; ``key`` is the dotted path of the offending setting."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelSection(_Section):
    name_or_path: str
    #: Inferred from the checkpoint's config.json (local folders) or its name when unset.
    family: Literal[tuple(FAMILIES)] | None = None  # type: ignore[valid-type]
    #: A Jinja file replacing the checkpoint's chat template (e.g. one that keeps <think> blocks).
    chat_template: str | None = None
    attn_implementation: str | None = None
    trust_remote_code: bool = False


class DataSection(_Section):
    #: A ``finereason export --format trl`` folder.
    train: str
    eval: str | None = None
    #: Tokens per sample (per packed row with packing), image tokens included. Never truncated:
    #: longer samples are reported by the preflight.
    max_length: int = Field(4096, gt=0)
    packing: bool = False
    image_min_pixels: int | None = Field(None, gt=0)
    image_max_pixels: int | None = Field(None, gt=0)
    #: fail: report every bad sample and stop before training; skip: train without them.
    on_bad_sample: Literal["fail", "skip"] = "fail"
    preflight_workers: int = Field(1, ge=1)
    #: Use only the first N samples (smoke runs).
    max_samples: int | None = Field(None, gt=0)


class FreezeSection(_Section):
    vision_tower: bool = True
    projector: bool = True
    language_model: bool = False


class LoraSection(_Section):
    r: int = Field(16, gt=0)
    alpha: float = Field(32, gt=0)
    dropout: float = Field(0.05, ge=0, lt=1)
    #: Also write the merged full model to OUTPUT/final (the adapter goes to OUTPUT/final-adapter).
    merge: bool = True


class TrainSection(_Section):
    epochs: float = Field(3, gt=0)
    #: Overrides epochs when set.
    max_steps: int | None = Field(None, gt=0)
    learning_rate: float = Field(1e-5, gt=0)
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    optimizer: str = "adamw_torch"
    max_grad_norm: float = Field(1.0, gt=0)
    #: Samples (or packed rows) per optimizer step over all devices; gradient accumulation is
    #: derived from it, the per-device batch and the number of processes.
    global_batch_size: int = Field(32, gt=0)
    per_device_batch_size: int = Field(1, gt=0)
    gradient_checkpointing: bool = True
    #: auto: bf16 mixed precision on a CUDA GPU that supports it, fp32 otherwise. Weights stay fp32.
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    seed: int = 42
    #: ``zero2`` (the shipped ZeRO-2 config) or a path to a DeepSpeed JSON.
    deepspeed: str | None = None
    #: Evaluate the loss on data.eval every N steps.
    eval_steps: int | None = Field(None, gt=0)
    dataloader_workers: int = Field(0, ge=0)


class OutputSection(_Section):
    dir: str
    save_steps: int = Field(500, gt=0)
    save_total_limit: int | None = Field(3, gt=0)
    logging_steps: int = Field(10, gt=0)
    #: true: continue from the newest checkpoint in dir (start fresh if there is none yet);
    #: a path: continue from that checkpoint.
    resume: bool | str = False


class EvalSection(_Section):
    """A final ``finereason eval`` of OUTPUT/final: as the answering VLM (``direct``), or as the
    perception module of ``decoupled`` / ``extract-think`` with a text reasoner."""

    #: ``finereason eval --benchmark`` (canonical, mathvista, mmmu, mmstar).
    benchmark: str
    #: The benchmark's file or folder.
    data: str
    mode: Literal["direct", "decoupled", "extract-think"] = "direct"
    #: The text reasoner (model spec) for decoupled / extract-think.
    reasoning: str | None = None
    #: Further ``finereason eval`` arguments, verbatim (e.g. ["--limit", "200", "--think"]).
    args: list[str] = Field(default_factory=list)


class PolicyRecipe(_Section):
    """The sections every training recipe (SFT and RL) has: which model, what is frozen, LoRA."""

    model: ModelSection
    freeze: FreezeSection = Field(default_factory=FreezeSection)
    lora: LoraSection | None = None

    def family(self) -> Family:
        """The resolved family (checked by :func:`check_policy_parts`, so it does not fail afterwards)."""
        if self.model.family:
            return get_family(self.model.family)
        return detect_family(self.model.name_or_path)

    def frozen_groups(self) -> set[str]:
        return {g for g in ("vision_tower", "projector", "language_model") if getattr(self.freeze, g)}


class TrainConfig(PolicyRecipe):
    data: DataSection
    train: TrainSection = Field(default_factory=TrainSection)
    output: OutputSection
    eval: EvalSection | None = None


def _format(error: ValidationError) -> ConfigError:
    first = error.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        return ConfigError(key, "unknown key")
    if first["type"] == "missing":
        return ConfigError(key, "required key is missing")
    return ConfigError(key, first["msg"])


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    node = raw
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(dotted, f"{part} is not a section")
        node = child
    node[parts[-1]] = value


def shipped_recipes() -> list[str]:
    """Names of the shipped training recipes (``recipes/sft-<name>.yaml``)."""
    return sorted(p.stem.removeprefix("sft-") for p in RECIPE_DIR.glob("sft-*.yaml"))


def resolve_recipe(name_or_path: str) -> Path:
    """A recipe file, or the name of a shipped training recipe (``finereason/recipes/sft-<name>.yaml``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    for candidate in (RECIPE_DIR / f"sft-{name_or_path}.yaml", RECIPE_DIR / f"{name_or_path}.yaml"):
        if candidate.name.startswith("sft-") and candidate.is_file():
            return candidate
    raise ConfigError("", f"{name_or_path}: no such recipe file or shipped recipe (shipped: "
                          f"{', '.join(shipped_recipes())})")


def read_recipe(path: Path) -> dict[str, Any]:
    """A recipe file's mapping, or a :class:`ConfigError` naming the file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError("", f"{path}: not valid YAML ({e})") from e
    if not isinstance(raw, dict):
        raise ConfigError("", f"{path}: a recipe is a mapping of sections (model, data, …)")
    return raw


_Recipe = TypeVar("_Recipe", bound=BaseModel)


def apply_overrides(raw: dict[str, Any], overrides: list[str] | None) -> None:
    """Apply ``KEY=VALUE`` overrides (YAML values, dotted keys) to ``raw`` in place."""
    for item in overrides or []:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ConfigError(item, "an override is KEY=VALUE, e.g. data.max_length=8192")
        _set_dotted(raw, key.strip(), yaml.safe_load(value))


def validate_recipe(model: type[_Recipe], raw: dict[str, Any], overrides: list[str] | None) -> _Recipe:
    """Apply ``KEY=VALUE`` overrides to a copy of ``raw`` and validate it as ``model``.

    The copy is deep because overrides set dotted keys inside nested sections, which must not
    edit a caller's dict. Shared by the SFT and RL loaders so both report errors the same way.
    """
    raw = copy.deepcopy(raw)
    apply_overrides(raw, overrides)
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise _format(e) from None


def load_config(source: str | Path | dict[str, Any], overrides: list[str] | None = None) -> TrainConfig:
    """Parse and check a recipe (file, shipped name or dict), applying ``KEY=VALUE`` overrides."""
    if isinstance(source, dict):
        raw = source
    else:
        path = resolve_recipe(str(source))
        raw = read_recipe(path)
        if "stages" in raw:
            raise ConfigError("", f"{path} is a pipeline recipe (finereason run), not a training recipe")
    config = validate_recipe(TrainConfig, raw, overrides)
    check_combinations(config)
    return config


def world_size() -> int:
    """Processes in this run, as accelerate/torchrun announce it (1 when launched directly)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def gradient_accumulation(config: TrainConfig) -> int:
    per_step = config.train.per_device_batch_size * world_size()
    if config.train.global_batch_size % per_step:
        raise ConfigError(
            "train.global_batch_size",
            f"{config.train.global_batch_size} is not a multiple of per_device_batch_size "
            f"{config.train.per_device_batch_size} × {world_size()} process(es)",
        )
    return config.train.global_batch_size // per_step


def check_combinations(config: TrainConfig) -> None:
    """Refuse settings that cannot work together, naming the key to change; loads nothing."""
    family = check_policy_parts(config)
    if config.data.packing and not family.can_pack:
        raise ConfigError("data.packing", f"family {family.name!r} cannot pack image samples (packing merges "
                                          "vision inputs and position ids per family); set packing: false")
    if family.name == "other" and config.train.per_device_batch_size > 1:
        raise ConfigError("train.per_device_batch_size", "family 'other' batches one example per device (its vision "
                                                         "inputs have no known merge); use 1 and raise gradient accumulation")
    lo, hi = config.data.image_min_pixels, config.data.image_max_pixels
    if lo is not None and hi is not None and lo > hi:
        raise ConfigError("data.image_min_pixels", f"{lo} is above data.image_max_pixels {hi}")
    if config.train.eval_steps and not config.data.eval:
        raise ConfigError("data.eval", "train.eval_steps needs evaluation data (a TRL export folder)")
    if config.eval:
        check_eval(config)
    if config.model.chat_template and not Path(config.model.chat_template).is_file():
        raise ConfigError("model.chat_template", f"{config.model.chat_template} is not a file")
    if isinstance(config.output.resume, str) and not Path(config.output.resume).is_dir():
        raise ConfigError("output.resume", f"{config.output.resume} is not a checkpoint folder")
    if config.train.deepspeed:
        deepspeed_config(config)
    gradient_accumulation(config)


def check_policy_parts(config: PolicyRecipe) -> Family:
    """The family, and that freezing and LoRA leave something to train (SFT and RL recipes alike)."""
    try:
        family = config.family()
    except FamilyError as e:
        raise ConfigError("model.family", str(e)) from None
    frozen = config.frozen_groups()
    if len(frozen) == 3:
        key = "lora" if config.lora else "freeze"
        raise ConfigError(key, "the vision tower, the projector and the language model are all frozen: "
                               "nothing would train")
    if config.lora and {"vision_tower", "language_model"} <= frozen:
        raise ConfigError("lora", "LoRA adapters go on an unfrozen vision tower or language model, and both are "
                                  "frozen; to train only the projector, drop the lora section")
    return family


def eval_argv(config: TrainConfig, model_dir: Path) -> list[str]:
    """The ``finereason eval`` command for the final model (as VLM, or as perception module)."""
    assert config.eval is not None
    e = config.eval
    argv = ["eval", "--benchmark", e.benchmark, "--data", e.data, "--out", str(Path(config.output.dir) / "eval"),
            "--mode", e.mode]
    if e.mode == "direct":
        argv += ["--model", f"hf:{model_dir}"]
    else:
        argv += ["--perception", f"hf:{model_dir}", "--reasoning", str(e.reasoning)]
    return argv + list(e.args)


def check_eval(config: TrainConfig) -> None:
    """The final evaluation's data exists and ``finereason eval`` accepts its arguments (when installed)."""
    e = config.eval
    assert e is not None
    if e.mode != "direct" and not e.reasoning:
        raise ConfigError("eval.reasoning", f"eval.mode {e.mode} uses the trained model as the perception module "
                                            "and needs a text reasoner (a model spec)")
    if not Path(e.data).exists():
        raise ConfigError("eval.data", f"{e.data}: no such benchmark file or folder")
    try:
        from finereason.evaluate.commands import config_from_argv
    except ImportError:
        return  # checked again after training, where a missing command is reported and skipped
    try:
        config_from_argv(eval_argv(config, Path(config.output.dir) / "final")[1:])
    except UserError as e:
        raise ConfigError("eval", f"finereason eval refuses these settings: {e}") from None


def deepspeed_config(config: TrainConfig) -> dict[str, Any] | str | None:
    """The DeepSpeed config: ``zero2`` is the shipped one (a dict); anything else must be a JSON file."""
    value = config.train.deepspeed
    if not value:
        return None
    if value == "zero2":
        return yaml.safe_load((RECIPE_DIR / "deepspeed-zero2.yaml").read_text())
    if not Path(value).is_file():
        raise ConfigError("train.deepspeed", f"{value}: use 'zero2' or a path to a DeepSpeed JSON file")
    return value

"""Recipes: validation names the key, impossible combinations fail before anything loads, shipped
recipes carry the MMFineReason settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from finereason.cli import main
from finereason.train.config import RECIPE_DIR, ConfigError, load_config, shipped_recipes
from finereason.train.families import FAMILIES, FamilyError, detect_family, group_of
from finereason.train.sft import resume_point
from train_helpers import recipe


@pytest.fixture
def base(tmp_path: Path, tiny, toy_export) -> dict:
    return recipe(tiny["qwen2_vl"], toy_export, tmp_path / "out")


def _key(raw: dict, *overrides: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(raw, list(overrides))
    return info.value.key


def test_a_valid_recipe_loads_and_resolves_its_family(base):
    config = load_config(base)
    assert config.family().name == "qwen2_vl"
    assert config.frozen_groups() == {"vision_tower", "projector"}


@pytest.mark.parametrize("raw_key, value, expected", [
    ("model.famly", "qwen2_vl", "model.famly"),
    ("data.max_lenght", 10, "data.max_lenght"),
    ("train.learning_rate", -1, "train.learning_rate"),
    ("data.on_bad_sample", "ignore", "data.on_bad_sample"),
    ("lora.rank", 8, "lora.rank"),
])
def test_schema_errors_name_the_key(base, raw_key, value, expected):
    section, key = raw_key.split(".")
    base.setdefault(section, {})[key] = value
    assert _key(base) == expected


def test_a_missing_required_key_is_named(base):
    del base["data"]["train"]
    with pytest.raises(ConfigError, match="required key is missing") as info:
        load_config(base)
    assert info.value.key == "data.train"


@pytest.mark.parametrize("overrides, key", [
    (["lora={}", "freeze.language_model=true"], "lora"),  # LoRA with everything frozen
    (["lora={}", "freeze.language_model=true", "freeze.projector=false"], "lora"),  # LoRA with nowhere to go
    (["freeze.language_model=true"], "freeze"),  # full training with everything frozen
    (["model.family=other", "data.packing=true"], "data.packing"),  # a family that cannot pack images
    (["train.eval_steps=5"], "data.eval"),  # periodic evaluation without eval data
    (["eval={benchmark: mathvista}"], "eval.data"),  # a final evaluation without its data
    (["eval={benchmark: mathvista, data: /no/such/benchmark}"], "eval.data"),
    (["data.image_min_pixels=5000", "data.image_max_pixels=4000"], "data.image_min_pixels"),
    (["train.global_batch_size=3", "train.per_device_batch_size=2"], "train.global_batch_size"),
    (["model.family=other", "train.per_device_batch_size=2"], "train.per_device_batch_size"),
    (["train.deepspeed=nope.json"], "train.deepspeed"),
    (["model.chat_template=missing.jinja"], "model.chat_template"),
    (["output.resume=/no/such/checkpoint"], "output.resume"),
])
def test_impossible_combinations_name_the_key(base, overrides, key):
    assert _key(base, *overrides) == key


def test_overrides_use_yaml_values_and_must_be_key_value(base):
    config = load_config(base, ["data.max_length=8192", "data.packing=true", "lora={r: 4}"])
    assert (config.data.max_length, config.data.packing, config.lora.r) == (8192, True, 4)
    assert _key(base, "data.max_length") == "data.max_length"


def test_bad_recipe_fails_in_the_cli_before_loading_anything(tmp_path, base, monkeypatch, capsys):
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError("nothing may load for an invalid recipe")

    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", refuse)
    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", refuse)
    base["lora"] = {}
    base["freeze"] = {"language_model": True}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(base))
    assert main(["train", "sft", str(path)]) == 2
    err = capsys.readouterr().err
    assert "lora:" in err and "frozen" in err
    assert not Path(base["output"]["dir"]).exists()


def test_existing_checkpoints_need_resume(base, tmp_path):
    out = Path(base["output"]["dir"])
    (out / "checkpoint-2").mkdir(parents=True)
    (out / "checkpoint-10").mkdir()
    with pytest.raises(ConfigError) as info:
        resume_point(load_config(base))
    assert info.value.key == "output.resume" and "checkpoint-10" in str(info.value)
    assert resume_point(load_config(base, ["output.resume=true"])).endswith("checkpoint-10")
    with pytest.raises(ConfigError, match="trainer_state.json"):  # a folder that is not a checkpoint
        resume_point(load_config(base, [f"output.resume={out / 'checkpoint-2'}"]))


def test_resume_true_without_checkpoints_starts_fresh(base):
    assert resume_point(load_config(base, ["output.resume=true"])) is None


@pytest.mark.parametrize("size", ["2b", "4b", "8b"])
def test_shipped_mmfinereason_recipes_carry_the_paper_settings(size):
    config = load_config(f"mmfinereason-qwen3vl-{size}")  # family from the recipe: nothing downloads
    assert config.model.name_or_path == f"Qwen/Qwen3-VL-{size.upper()}-Instruct"
    assert config.family().name == "qwen3_vl"
    t, d = config.train, config.data
    assert (t.optimizer, t.learning_rate, t.lr_scheduler, t.warmup_ratio, t.weight_decay, t.epochs) == \
        ("adamw_torch", 1e-5, "cosine", 0.03, 0.0, 3)
    assert (d.max_length, d.packing, d.image_min_pixels, d.image_max_pixels) == (32768, True, 32 * 32, 768 * 768)
    assert (t.global_batch_size, t.per_device_batch_size, t.precision, t.deepspeed) == (32, 1, "bf16", "zero2")
    assert config.frozen_groups() == {"vision_tower", "projector"} and config.lora is None


def test_shipped_recipes_are_listed_and_pipeline_recipes_refused():
    assert {"mmfinereason-qwen3vl-2b", "tiny-cpu-demo"} <= set(shipped_recipes())
    load_config("tiny-cpu-demo")
    with pytest.raises(ConfigError, match="no such recipe"):
        load_config("demo")  # the pipeline's recipe is not a training recipe
    with pytest.raises(ConfigError, match="pipeline recipe"):
        load_config(RECIPE_DIR / "demo.yaml")


def test_the_machine_is_checked_before_data_or_weights(monkeypatch):
    import torch

    from finereason.train.sft import check_environment

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError) as info:  # the paper's recipe wants DeepSpeed and FlashAttention-2 on GPUs
        check_environment(load_config("mmfinereason-qwen3vl-2b"))
    assert info.value.key in ("train.deepspeed", "model.attn_implementation")
    check_environment(load_config("tiny-cpu-demo"))


def test_zero2_config_is_the_shipped_stage_2_settings():
    from finereason.train.config import deepspeed_config

    ds = deepspeed_config(load_config("mmfinereason-qwen3vl-2b"))
    assert ds["zero_optimization"]["stage"] == 2 and ds["bf16"]["enabled"] == "auto"
    json.dumps(ds)


def test_family_detection_from_config_and_from_name(tiny):
    for family in ("idefics3", "qwen2_vl", "qwen2_5_vl", "qwen3_vl"):
        assert detect_family(str(tiny[family])).name == family
    assert detect_family("Qwen/Qwen3-VL-8B-Instruct").name == "qwen3_vl"
    assert detect_family("Qwen/Qwen2.5-VL-7B-Instruct").name == "qwen2_5_vl"
    assert detect_family("HuggingFaceTB/SmolVLM-256M-Instruct").name == "idefics3"
    with pytest.raises(FamilyError, match="model.family"):
        detect_family("some/unknown-model")


@pytest.mark.parametrize("name, family, group", [
    ("model.visual.blocks.0.attn.qkv.weight", "qwen3_vl", "vision_tower"),
    ("model.visual.merger.linear_fc1.weight", "qwen3_vl", "projector"),
    ("model.visual.deepstack_merger_list.0.norm.weight", "qwen3_vl", "projector"),
    ("base_model.model.model.visual.merger.mlp.0.weight", "qwen2_vl", "projector"),  # under PEFT
    ("visual.blocks.1.mlp.fc1.weight", "qwen2_5_vl", "vision_tower"),  # transformers 4.x layout
    ("model.language_model.layers.0.self_attn.q_proj.weight", "qwen2_vl", "language_model"),
    ("model.vision_model.encoder.layers.0.mlp.fc1.weight", "idefics3", "vision_tower"),
    ("model.connector.modality_projection.proj.weight", "idefics3", "projector"),
    ("lm_head.weight", "idefics3", "language_model"),
])
def test_parameters_are_grouped_by_path_components(name, family, group):
    assert group_of(name, FAMILIES[family]) == group

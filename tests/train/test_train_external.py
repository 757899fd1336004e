"""``train export-config``: LLaMA-Factory YAML and ms-swift arguments, checked against those tools'
own argument names (``trainer_keys.py`` says where each set was read) and dataset rules."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shlex
from pathlib import Path

import pytest
import yaml
from transformers import Seq2SeqTrainingArguments

from finereason.cli import main
from finereason.train.config import load_config
from finereason.train.external import ExternalConfigError, write_llamafactory, write_swift
from trainer_keys import LLAMAFACTORY_KEYS, SWIFT_KEYS
from train_helpers import export, toy_samples, write_dataset

HF_KEYS = {f.name for f in dataclasses.fields(Seq2SeqTrainingArguments)}


def _trainer_rules():
    path = Path(__file__).resolve().parent.parent / "export" / "trainer_rules.py"
    spec = importlib.util.spec_from_file_location("export_trainer_rules", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("exports")
    canonical = write_dataset(root / "canonical", toy_samples(4))
    return {fmt: export(canonical, root / fmt, fmt) for fmt in ("llamafactory", "swift", "trl")}


def test_llamafactory_yaml_reproduces_the_mmfinereason_recipe(exports, tmp_path):
    config = load_config("mmfinereason-qwen3vl-2b")
    written = write_llamafactory(config, exports["llamafactory"], tmp_path / "lf" / "qwen3vl2b.yaml", gpus=8)
    args = yaml.safe_load(written[0].read_text())
    assert set(args) <= LLAMAFACTORY_KEYS | HF_KEYS | {"warmup_ratio"}, set(args) - LLAMAFACTORY_KEYS - HF_KEYS
    assert args["model_name_or_path"] == "Qwen/Qwen3-VL-2B-Instruct"
    assert (args["stage"], args["finetuning_type"], args["template"]) == ("sft", "full", "qwen3_vl")
    assert args["freeze_vision_tower"] and args["freeze_multi_modal_projector"] and not args["freeze_language_model"]
    assert (args["image_min_pixels"], args["image_max_pixels"], args["cutoff_len"]) == (1024, 589824, 32768)
    assert args["packing"] and args["neat_packing"]
    assert (args["learning_rate"], args["lr_scheduler_type"], args["warmup_ratio"], args["num_train_epochs"]) == \
        (1e-5, "cosine", 0.03, 3)
    assert (args["per_device_train_batch_size"], args["gradient_accumulation_steps"]) == (1, 4)  # 1 × 4 × 8 = 32
    assert args["bf16"] and args["flash_attn"] == "fa2"
    ds = json.loads(Path(args["deepspeed"]).read_text())
    assert ds["zero_optimization"]["stage"] == 2
    registry = json.loads((tmp_path / "lf" / "dataset_info.json").read_text())
    entry = registry[args["dataset"]]
    assert Path(args["dataset_dir"]) / entry["file_name"] == (exports["llamafactory"] / "data").resolve()
    assert args["media_dir"] == str(exports["llamafactory"].resolve())
    own = json.loads((exports["llamafactory"] / "dataset_info.json").read_text())[args["dataset"]]
    assert {k: v for k, v in entry.items() if k != "file_name"} == {k: v for k, v in own.items() if k != "file_name"}
    # the export itself satisfies LLaMA-Factory's dataset rules (images relative to media_dir)
    assert _trainer_rules().validate_llamafactory(exports["llamafactory"], args["dataset"]) == 4


def test_llamafactory_registration_keeps_other_datasets(exports, tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps({"mine": {"file_name": "x.json"}}))
    write_llamafactory(load_config("tiny-cpu-demo", ["model.family=qwen2_vl"]), exports["llamafactory"],
                       tmp_path / "run.yaml")
    assert set(json.loads((tmp_path / "dataset_info.json").read_text())) == {"mine", "llamafactory"}


def test_swift_arguments_use_its_names_and_run_as_a_command(exports, tmp_path):
    config = load_config("mmfinereason-qwen3vl-2b")
    write_swift(config, exports["swift"], tmp_path / "args.json", gpus=8)
    args = json.loads((tmp_path / "args.json").read_text())
    assert set(args) <= SWIFT_KEYS | HF_KEYS, set(args) - SWIFT_KEYS - HF_KEYS
    assert (args["tuner_type"], args["freeze_vit"], args["freeze_aligner"], args["freeze_llm"]) == \
        ("full", True, True, False)
    assert (args["max_pixels"], args["max_length"], args["packing"], args["attn_impl"]) == \
        (589824, 32768, True, "flash_attn")  # ms-swift packing requires flash attention
    assert (args["deepspeed"], args["gradient_accumulation_steps"], args["torch_dtype"]) == ("zero2", 4, "bfloat16")
    assert all(Path(f).is_file() for f in args["dataset"])
    rows = _trainer_rules().validate_swift([Path(f) for f in args["dataset"]], cwd=tmp_path)
    assert rows == 4
    write_swift(config, exports["swift"], tmp_path / "run.sh", gpus=8)
    script = (tmp_path / "run.sh").read_text()
    tokens = shlex.split(script.split("\n", 2)[2].replace("\\\n", " "))
    assert tokens[:3] == ["NPROC_PER_NODE=8", "swift", "sft"]
    flags = {t[2:] for t in tokens if t.startswith("--")}
    assert flags == set(args)


def test_swift_3_calls_the_tuner_train_type_and_lora_recipes_map(exports, tmp_path):
    config = load_config("mmfinereason-qwen3vl-2b", ["lora={r: 8, alpha: 16}", "freeze.projector=false"])
    write_swift(config, exports["swift"], tmp_path / "a.json", major=3)
    args = json.loads((tmp_path / "a.json").read_text())
    assert args["train_type"] == "lora" and "tuner_type" not in args
    assert (args["lora_rank"], args["lora_alpha"], args["target_modules"], args["freeze_aligner"]) == \
        (8, 16, ["all-linear"], False)


def test_refusals_name_the_problem(exports, tmp_path):
    config = load_config("mmfinereason-qwen3vl-2b")
    with pytest.raises(ExternalConfigError, match="'trl' export"):
        write_llamafactory(config, exports["trl"], tmp_path / "x.yaml")
    with pytest.raises(ExternalConfigError, match="--format swift"):
        write_swift(config, exports["llamafactory"], tmp_path / "x.json")
    smol = load_config("tiny-cpu-demo")  # idefics3: LLaMA-Factory has no template for it
    with pytest.raises(ExternalConfigError, match="no chat template"):
        write_llamafactory(smol, exports["llamafactory"], tmp_path / "x.yaml")
    with pytest.raises(ExternalConfigError, match="multiple"):
        write_llamafactory(config, exports["llamafactory"], tmp_path / "x.yaml", gpus=3)


def test_export_config_cli(exports, tmp_path, capsys):
    out = tmp_path / "lf" / "run.yaml"
    assert main(["train", "export-config", "mmfinereason-qwen3vl-4b", "--to", "llamafactory",
                 "--dataset", str(exports["llamafactory"]), "--out", str(out), "--gpus", "8"]) == 0
    assert "wrote" in capsys.readouterr().out and out.is_file()
    assert main(["train", "export-config", "mmfinereason-qwen3vl-4b", "--to", "swift",
                 "--dataset", str(exports["trl"]), "--out", str(tmp_path / "s.json")]) == 2
    assert "swift" in capsys.readouterr().err

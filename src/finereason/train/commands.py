"""``finereason train sft|export-config`` and ``finereason vet build``: thin parsing over the library."""

from __future__ import annotations

import argparse
from pathlib import Path

from finereason.train.config import RECIPE_DIR, shipped_recipes
from finereason.train.rl_config import shipped_rl_recipes

_RECIPES = ", ".join(shipped_recipes())

TRAIN_DESCRIPTION = """\
Train small VLMs on distilled data, or write the same recipe for another trainer.

  sft             fine-tune with TRL's SFTTrainer on a `finereason export --format trl` folder
  rl              GSPO with TRL's GRPOTrainer on a `--format trl-rl` export, the verifier as reward
  export-config   write the equivalent LLaMA-Factory YAML or ms-swift arguments for an export,
                  or a verl launch script for an RL recipe
"""

RL_DESCRIPTION = """\
RL after SFT, as MMFineReason does: GSPO (TRL's GRPOTrainer with sequence-level importance
sampling, clip ranges rl.epsilon / rl.epsilon_high, no KL) on prompts held out of SFT
(`finereason select --rl-holdout N`, then `finereason export --format trl-rl`). Each rollout is
graded by the verify cascade (answer extraction, exact/choice/numeric/math-verify in a killable
worker pool): 1 if correct, else 0; an optional format term (think block, answer tag) is weighted
by reward.format_weight. Undecided answers, timeouts and errors score 0 and are counted.

Freezing and LoRA work as in `train sft`. Checkpoints go to OUTPUT/checkpoint-N; rerun with
--set output.resume=true after a kill. The model ends in OUTPUT/final; OUTPUT/rl_summary.json has
the reward curve and the share of correct / incorrect / undecided / no-answer / error rollouts.

CONFIG is a YAML file or a shipped RL recipe: {recipes}.
Start from the SFT model with --set model.name_or_path=runs/<sft>/final. The same data can run on
verl instead: `finereason train export-config CONFIG --to verl --dataset <verl export> --out run.sh`.

examples:
  finereason train rl mmfinereason-qwen3vl-2b-rl --set model.name_or_path=runs/mfr-qwen3vl-2b/final \\
      --set data.train=exports/rl-trl --set output.dir=runs/mfr-qwen3vl-2b-rl
  finereason train rl my-rl.yaml --check
"""

SFT_DESCRIPTION = f"""\
Supervised fine-tuning of a Qwen2-VL / Qwen2.5-VL / Qwen3-VL / SmolVLM (Idefics3) model on a
TRL export, full or LoRA, with the vision tower and projector frozen or not, packing, image
pixel bounds, checkpoints and resume, as the recipe (YAML) says.

Before any weight is loaded the recipe is validated (errors name the key) and every sample is
encoded by the preflight: samples whose image tags do not match their images, or that exceed
data.max_length after image tokens, are listed one by one (OUTPUT/preflight/*/report.json) and
the run stops (or skips them with data.on_bad_sample: skip). The model ends in OUTPUT/final,
loadable as hf:OUTPUT/final; OUTPUT/train_summary.json records the run.

CONFIG is a YAML file or a shipped recipe: {_RECIPES}.
Resume a killed run by rerunning with --set output.resume=true.
Multi-GPU: accelerate launch [--config_file {RECIPE_DIR / 'accelerate-fsdp.yaml'}] -m finereason.cli train sft …
(or train.deepspeed: zero2 in the recipe for DeepSpeed ZeRO-2).

examples:
  finereason train sft tiny-cpu-demo --set data.train=exports/demo-trl --set output.dir=runs/demo
  finereason train sft mmfinereason-qwen3vl-2b --set data.train=exports/mfr-trl --set output.dir=runs/2b
  finereason train sft my.yaml --check          (validate and preflight only)
"""

EXPORT_CONFIG_DESCRIPTION = """\
Write the LLaMA-Factory or ms-swift equivalent of a recipe for an export, so the same run can go
to those trainers (LLaMA-Factory needs a `--format llamafactory` export, ms-swift a `--format
swift` one).

  --to llamafactory  FILE.yaml for `llamafactory-cli train FILE.yaml`, plus dataset_info.json
                     beside it registering the export (media_dir points at the export)
  --to swift         FILE.json (arguments as a JSON object) or FILE.sh (a `swift sft …` command)
  --to verl          FILE.sh (a `python -m verl.trainer.main_ppo …` launch with the RL recipe's
                     values, GSPO, finereason.reward.compute_score as the reward) and FILE.yaml
                     beside it (the same settings as a config) for a `--format verl` export

examples:
  finereason train export-config mmfinereason-qwen3vl-2b --to llamafactory --dataset exports/mfr-lf --out lf/qwen3vl2b.yaml
  finereason train export-config mmfinereason-qwen3vl-2b --to swift --dataset exports/mfr-swift --out swift/run.sh
  finereason train export-config mmfinereason-qwen3vl-2b-rl --to verl --dataset exports/rl-verl --out verl/run.sh
"""

VET_DESCRIPTION = """\
Visual extraction tuning (VET) data from a visual QA set: per conversation (samples sharing
meta.conversation_id, e.g. from `finereason ingest --format llava`, else sharing their image),
  1. the teacher rewrites the QA pairs as short declarative statements (text only, vet_statements),
  2. the describer (an image-capable model; default the teacher) writes a fine-grained
     description of the image that incorporates them (vet_describe),
  3. the teacher turns each question into a "contents to observe" phrase (contents_to_observe);
     the training instruction is the extract prompt asking to pay attention to them.
The output is a canonical dataset (question = instruction, response = description, images)
for `finereason export`, then `finereason train sft` trains a perception module on it.
Samples without an image are rejected (no_image). Requests are journaled in OUT/.journal:
rerun the same command to resume.

examples:
  finereason ingest llava.json --format llava --image-root coco/ --out runs/llava
  finereason vet build runs/llava --teacher openai:Qwen/Qwen3-VL-8B-Instruct@http://gpu1:8000/v1 --out runs/vet
  finereason export runs/vet --format trl --out exports/vet-trl
  finereason train sft tiny-cpu-demo --set model.name_or_path=runs/demo-vlm \
      --set data.train=exports/vet-trl --set output.dir=runs/extractor
  finereason eval --benchmark mmstar --data MMStar/ --out runs/et --mode extract-think \
      --perception hf:runs/extractor/final --reasoning hf:Qwen/Qwen3-1.7B
"""


def register(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="SFT of small VLMs (TRL) and configs for LLaMA-Factory / ms-swift",
                           description=TRAIN_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    tsub = train.add_subparsers(dest="train_command", metavar="COMMAND")
    train.set_defaults(func=lambda args: (train.print_help(), 2)[1])

    sft = tsub.add_parser("sft", help="fine-tune a VLM on a TRL export", description=SFT_DESCRIPTION,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    sft.add_argument("config", metavar="CONFIG", help="recipe YAML file or shipped recipe name")
    _add_set(sft)
    sft.add_argument("--check", action="store_true", help="validate the recipe and run the preflight, then stop")
    sft.set_defaults(func=run_sft_command)

    rl = tsub.add_parser("rl", help="GSPO on verifiable rewards (TRL GRPOTrainer, the verifier as reward)",
                         description=RL_DESCRIPTION.format(recipes=", ".join(shipped_rl_recipes())),
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    rl.add_argument("config", metavar="CONFIG", help="RL recipe YAML file or shipped RL recipe name")
    _add_set(rl)
    rl.add_argument("--check", action="store_true", help="validate the recipe and the export, then stop")
    rl.set_defaults(func=run_rl_command)

    ec = tsub.add_parser("export-config", help="write the LLaMA-Factory / ms-swift equivalent of a recipe",
                         description=EXPORT_CONFIG_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    ec.add_argument("config", metavar="CONFIG", help="recipe YAML file or shipped recipe name")
    ec.add_argument("--to", required=True, choices=["llamafactory", "swift", "verl"],
                    help="target trainer (verl: for an RL recipe)")
    ec.add_argument("--dataset", required=True, metavar="EXPORT_DIR", help="a finereason export folder")
    ec.add_argument("--out", required=True, metavar="FILE", help="file to write (.yaml; .json or .sh for swift)")
    ec.add_argument("--gpus", type=int, default=1, metavar="N",
                    help="GPUs the run will use; gradient accumulation = global batch / (per-device batch × N)")
    ec.add_argument("--swift-version", type=int, choices=[3, 4], default=4,
                    help="ms-swift major version: 4 (default) writes --tuner_type, 3 writes its old name --train_type")
    _add_set(ec)
    ec.set_defaults(func=run_export_config_command)

    vet = sub.add_parser("vet", help="visual extraction tuning data from visual QA conversations",
                         description="Visual extraction tuning data; see `finereason vet build --help`.")
    vsub = vet.add_subparsers(dest="vet_command", metavar="COMMAND")
    vet.set_defaults(func=lambda args: (vet.print_help(), 2)[1])
    build = vsub.add_parser("build", help="teacher statements + descriptions → a canonical VET dataset",
                            description=VET_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("dir", metavar="SRC", help="input dataset folder (visual QA samples)")
    build.add_argument("--teacher", required=True, metavar="SPEC", help="model for statements and contents phrases")
    build.add_argument("--describer", metavar="SPEC", help="image-capable model for descriptions (default: --teacher)")
    build.add_argument("--out", required=True, metavar="DIR", help="output dataset folder (rerun to resume)")
    build.add_argument("--overwrite", action="store_true", help="delete DIR first instead of resuming into it")
    build.add_argument("--concurrency", type=int, metavar="N", help="requests in flight per model (default: backend's)")
    build.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0: greedy)")
    build.add_argument("--max-tokens", type=int, default=2048, metavar="N",
                       help="token budget of a description (statements: half of it; default 2048)")
    build.set_defaults(func=run_vet_command)


def _add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe value (YAML syntax), e.g. --set data.max_length=8192; repeatable")


def run_sft_command(args: argparse.Namespace) -> int:
    """Errors a user can fix (recipe, data, preflight) are ``UserError``s: one line from the CLI."""
    from finereason.train.config import load_config
    from finereason.train.sft import check_environment, prepare, resume_point, run_sft

    config = load_config(args.config, args.overrides)
    if args.check:
        resume_point(config)
        check_environment(config)
        prepare(config)
        print(f"train sft: {args.config} is valid and every sample passed the preflight")
        return 0
    summary = run_sft(config)
    print(f"train sft: {summary['global_step']} steps; model in {summary['final']} (load it as hf:{summary['final']})")
    return 0


def run_rl_command(args: argparse.Namespace) -> int:
    from finereason.train.rl import run_rl
    from finereason.train.rl_config import load_rl_config
    from finereason.train.sft import resume_point

    config = load_rl_config(args.config, args.overrides)
    if args.check:
        from finereason.train.external import export_info

        resume_point(config)  # type: ignore[arg-type]
        export_info(Path(config.data.train), ("trl-rl",))
        print(f"train rl: {args.config} is valid and {config.data.train} is a trl-rl export")
        return 0
    summary = run_rl(config)
    shares = ", ".join(f"{k} {v:.0%}" for k, v in summary["outcomes"].items())
    print(f"train rl: {summary['global_step']} steps; rollouts: {shares}; model in {summary['final']}")
    return 0


def run_export_config_command(args: argparse.Namespace) -> int:
    from finereason.train.config import load_config
    from finereason.train.external import write_llamafactory, write_swift

    if args.to == "verl":
        from finereason.train.rl_config import load_rl_config
        from finereason.train.verl import write_verl

        for path in write_verl(load_rl_config(args.config, args.overrides), Path(args.dataset), Path(args.out),
                               gpus=args.gpus):
            print(f"wrote {path}")
        return 0
    config = load_config(args.config, args.overrides)
    if args.to == "llamafactory":
        written = write_llamafactory(config, Path(args.dataset), Path(args.out), gpus=args.gpus)
    else:
        written = write_swift(config, Path(args.dataset), Path(args.out), gpus=args.gpus, major=args.swift_version)
    for path in written:
        print(f"wrote {path}")
    return 0


def run_vet_command(args: argparse.Namespace) -> int:
    """Load the models (refusing a text-only describer before any request), then run the stage resumably."""
    import asyncio

    from finereason.errors import UserError
    from finereason.io.store import Dataset, DatasetError
    from finereason.models import Journal, ModelClient, ModelError, load_model, parse_spec
    from finereason.pipeline.engine import prepare_output, run_async_stage
    from finereason.pipeline.manifest import RunInfo
    from finereason.pipeline.options import print_summary
    from finereason.train.vet import VetSettings, VetStage, plan_groups, vet_tasks

    source = Dataset(args.dir)
    paths = source.shard_paths()
    if not paths:
        raise DatasetError(f"{args.dir}: no shards in data/ (nothing to build from)")
    describer_spec = args.describer or args.teacher
    settings = VetSettings(parse_spec(args.teacher).model_id, parse_spec(describer_spec).model_id,
                           args.max_tokens, args.temperature)
    try:
        teacher = load_model(args.teacher)
        describer = teacher if describer_spec == args.teacher else load_model(describer_spec)
    except (ModelError, ImportError, OSError) as e:
        raise UserError(f"vet build: cannot load a model ({e})") from e
    if not describer.accepts_images:
        flag = "--describer" if args.describer else "--teacher"
        asyncio.run(_close([teacher] if describer is teacher else [teacher, describer]))
        raise UserError(f"vet build: {describer_spec} is a text-only model, but step 2 (the description) needs to "
                        f"see the image; pass an image-capable model as {flag}"
                        + ("" if args.describer else " or add --describer SPEC"))
    teacher_client = ModelClient(teacher, concurrency=args.concurrency)
    describer_client = teacher_client if describer is teacher else ModelClient(describer, concurrency=args.concurrency)
    stage = VetStage(teacher_client, describer_client, settings)
    info = RunInfo(stage.name, stage.version, stage.settings(), [str(Path(args.dir).resolve())],
                   upstream=source.manifest(), extra={"models": {"teacher": args.teacher, "describer": describer_spec}})
    out = Dataset(args.out)
    clients = [teacher_client] if describer_client is teacher_client else [teacher_client, describer_client]
    try:
        prepare_output(out, info, args.overwrite)
    except DatasetError:
        asyncio.run(_close(clients))
        raise
    for name, client in zip(("vet", "vet-describe"), clients):  # after the folder check: resume, never clobber
        client.journal = Journal(out.root / ".journal" / f"{name}.sqlite")
    tasks = vet_tasks(paths, plan_groups(paths))

    async def go() -> dict:
        try:
            return await run_async_stage(stage, tasks, out.root, info, total=len(tasks))
        finally:
            await stage.aclose()

    try:
        manifest = asyncio.run(go())
    except ModelError as e:
        raise UserError(f"vet build: a model request failed after retries ({e}); rerun the same command "
                        "to resume (answered requests are journaled)") from e
    print_summary(manifest)
    return 0


async def _close(clients: list) -> None:
    for client in clients:
        await client.aclose()

"""``finereason run RECIPE.yaml`` and ``finereason demo``: the whole pipeline, resumably."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from finereason.io.store import Dataset, atomic_write_json
from finereason.pipeline.progress import say
from finereason.pipeline.recipe import Recipe, RecipeError, check_options, load_recipe, options_to_argv

#: Stages whose output is not a dataset for the next stage (they write beside it).
_SIDE_STAGES = ("export", "report")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run a whole recipe (source → stages → export → report) resumably, with one run manifest",
        description=(
            "A recipe (YAML) names a source (synth or ingest) and stages with their options; each\n"
            "stage runs exactly as `finereason STAGE` would, into OUT/NN-STAGE. Every key is checked\n"
            "before anything runs. Rerun the same recipe after a crash: finished stages are skipped\n"
            "and the interrupted one resumes. OUT/run.json is the run's manifest.\n\n"
            "shipped recipes: demo (built-in problems, builtin:smollm2), mmfinereason (the paper's settings)\n\n"
            "example: finereason run mmfinereason.yaml\n"
            "         finereason run demo --out runs/demo"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("recipe", metavar="RECIPE", help="a recipe file, or the name of a shipped one")
    p.add_argument("--out", help="override the recipe's output folder")
    p.set_defaults(func=run_cmd)

    d = sub.add_parser(
        "demo",
        help="the whole pipeline on built-in problems with builtin:smollm2 as teacher and student",
        description=(
            "Synthesise verifiable problems, clean and dedup them, distill answers from the real\n"
            "SmolLM2-135M-Instruct (slow and weak, but real), verify, score difficulty with k samples,\n"
            "select, export for LLaMA-Factory and TRL, and write the HTML report. SmolLM2 is text-only:\n"
            "it sees each image through the generator's scene text (labelled oracle perception) or,\n"
            "with --perception builtin:ocr, through Tesseract. About 5 minutes on 2 cores (16 problems).\n\n"
            "example: finereason demo --out runs/demo"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    d.add_argument("--n", type=int, default=None, help="number of synthetic problems (default: the recipe's)")
    d.add_argument("--perception", default=None, help="oracle (default) or builtin:ocr")
    d.set_defaults(func=demo_cmd)


def _engine_argv(recipe: Recipe, accepts: set[str]) -> list[str]:
    """``--workers``/``--engine``/``--address`` from the recipe, for commands that take them."""
    argv: list[str] = []
    if recipe.workers and "--workers" in accepts:
        argv += ["--workers", str(recipe.workers)]
    if "--engine" in accepts:
        argv += ["--engine", recipe.engine]
        if recipe.address:
            argv += ["--address", recipe.address]
    return argv


def _stage_argv(recipe: Recipe, name: str, options: dict[str, Any] | None, src: str, out: str,
                accepts: set[str]) -> list[str]:
    argv = [name, src, *options_to_argv(options)]
    if name == "report":
        return argv
    return argv + ["--out", out] + _engine_argv(recipe, accepts)


def _source_argv(recipe: Recipe, out: str) -> tuple[str, list[str]]:
    if recipe.source.synth is not None:
        s = recipe.source.synth
        argv = ["synth", "--n", str(s.n), "--seed", str(s.seed), "--out", out]
        return "synth", argv + (["--families", *s.families] if s.families else [])
    assert recipe.source.ingest is not None
    i = recipe.source.ingest
    argv = ["ingest", *i.paths, "--format", i.format, "--out", out]
    argv += [x for k, v in i.map.items() for x in ("--map", f"{k}={v}")]
    return "ingest", argv + (["--source", i.source] if i.source else [])


def run_recipe(recipe: Recipe, where: str) -> dict[str, Any]:
    """Run every stage in order; returns the run manifest (also written to OUT/run.json)."""
    from finereason.cli import build_parser, main

    parser = build_parser()
    for entry in recipe.stages:
        ((name, options),) = entry.items()
        check_options(parser, name, options, where)
    root = Path(recipe.out)
    run_file = root / "run.json"
    previous = json.loads(run_file.read_text()) if run_file.exists() else {}
    done_argv = {tuple(s["argv"]) for s in previous.get("stages", []) if s.get("finished")}
    manifest: dict[str, Any] = {"recipe": recipe.model_dump(), "recipe_file": where, "stages": []}
    started = time.time()

    def step(name: str, argv: list[str], out_dir: str | None) -> None:
        entry: dict[str, Any] = {"stage": name, "argv": argv, "dir": out_dir}
        if tuple(argv) in done_argv and (out_dir is None or (Path(out_dir) / "manifest.json").exists()):
            say(f"run: {name} already finished, skipped")
        else:
            say(f"run: {name}: finereason {' '.join(argv)}")
            if main(argv) != 0:
                manifest["stages"].append(entry)
                atomic_write_json(run_file, manifest)
                raise RecipeError(f"{where}: stage {name} failed; fix it and rerun to resume")
        entry["finished"] = True
        if out_dir and (Path(out_dir) / "manifest.json").exists():
            m = Dataset(out_dir).manifest()
            entry.update({k: m.get(k) for k in ("records_in", "records_out", "rejected", "elapsed_s")})
        manifest["stages"].append(entry)
        manifest["elapsed_s"] = round(time.time() - started, 3)
        atomic_write_json(run_file, manifest)

    name, argv = _source_argv(recipe, str(root / f"00-{'synth' if recipe.source.synth else 'ingest'}"))
    argv += _engine_argv(recipe, {s for a in _parser_for(parser, name)._actions for s in a.option_strings})
    current = argv[argv.index("--out") + 1]
    step(name, argv, current)
    for i, entry in enumerate(recipe.stages, start=1):
        ((name, options),) = entry.items()
        out_dir = str(root / f"{i:02d}-{name}")
        accepts = {s for a in _parser_for(parser, name)._actions for s in a.option_strings}
        argv = _stage_argv(recipe, name, options, current, out_dir, accepts)
        step(name, argv, None if name == "report" else out_dir)
        if name not in _SIDE_STAGES:
            current = out_dir
    manifest["final_dataset"] = current
    atomic_write_json(run_file, manifest)
    return manifest


def _parser_for(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise KeyError(name)


def run_cmd(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe)
    if args.out:
        recipe.out = args.out
    manifest = run_recipe(recipe, args.recipe)
    final = manifest["final_dataset"]
    print(f"run: finished in {manifest['elapsed_s']:.0f}s; final dataset {final}; manifest {Path(recipe.out) / 'run.json'}")
    if (Path(final) / "report.html").exists():
        print(f"report: {Path(final) / 'report.html'}")
    return 0


def demo_cmd(args: argparse.Namespace) -> int:
    recipe = load_recipe("demo")
    recipe.out = args.out
    if args.n is not None and recipe.source.synth is not None:
        recipe.source.synth.n = args.n
    if args.perception:
        for entry in recipe.stages:
            for options in entry.values():
                if options and "perception" in options:
                    options["perception"] = args.perception
    manifest = run_recipe(recipe, "demo")
    final = Path(manifest["final_dataset"])
    print(f"demo: finished in {manifest['elapsed_s']:.0f}s (run manifest {Path(recipe.out) / 'run.json'})")
    print(f"demo: report at {final / 'report.html'}")
    return 0

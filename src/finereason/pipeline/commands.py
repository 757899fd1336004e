"""``finereason run RECIPE.yaml`` and ``finereason demo``: the whole pipeline, resumably."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from finereason.pipeline.pipeline import Pipeline
from finereason.pipeline.recipe import Recipe, load_recipe


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run a whole recipe (source → stages → export → report) resumably, with one run manifest",
        description=(
            "A recipe (YAML) names a source (synth or ingest) and stages with their options (the keys\n"
            "are `finereason STAGE`'s flags); each stage runs as that command would, into OUT/NN-STAGE.\n"
            "Every key is checked before anything runs. Rerun the same recipe after a crash:\n"
            "finished stages are skipped and the interrupted one resumes. OUT/run.json is the run's manifest.\n\n"
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


def run_recipe(recipe: Recipe, where: str) -> dict[str, Any]:
    """Check every stage's options, then run the recipe as a :class:`Pipeline`; returns the run manifest."""
    return Pipeline.from_recipe(recipe, where).run(recipe.out)


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

"""``Pipeline``: a source and a list of steps, run in order into one folder, resumably.

In the spirit of datatrove's list of steps handed to an executor::

    Pipeline(Synth(n=8), [Clean(), Dedup(), Distill(teacher="builtin:smollm2", perception="oracle"),
                          Verify(), Export(format="trl")], engine=Local()).run("runs/mine")

Step i writes ``OUT/NN-name`` (the source ``OUT/00-synth`` or ``OUT/00-ingest``); a step that
makes no dataset (export, report) writes beside its input, and the next step reads that input.
``OUT/run.json`` is the run's manifest: each step with the command line that would do the same,
its folder and counts. Rerun after a crash: finished steps are skipped and the interrupted one
resumes (each step's own shards and journal make that cheap). ``finereason run RECIPE`` builds
a Pipeline from the recipe (:meth:`Pipeline.from_recipe`) and runs it; nothing goes through argv.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from finereason.io.store import Dataset, atomic_write_json
from finereason.pipeline.engines import Engine, LocalEngine
from finereason.pipeline.flags import options_to_argv
from finereason.pipeline.progress import say
from finereason.pipeline.recipe import Recipe, RecipeError, build_step
from finereason.pipeline.step import Step


def engine_argv(engine: Engine) -> list[str]:
    """The run options that pick ``engine`` on a command line."""
    argv = ["--workers", str(engine.workers)] if engine.workers else []
    argv += ["--engine", engine.name]
    if getattr(engine, "address", None):
        argv += ["--address", str(getattr(engine, "address"))]
    if getattr(engine, "gpus_per_actor", 0):
        argv += ["--gpus-per-actor", str(getattr(engine, "gpus_per_actor"))]
    if getattr(engine, "ray_data_llm", False):
        argv.append("--ray-data-llm")
    return argv


class Pipeline:
    """``source`` (a source step such as :class:`~finereason.synth.step.Synth`, or an existing dataset
    folder), then ``steps`` in order on ``engine`` (default: this machine). A step may be given as
    ``(step, engine)`` to run on an engine of its own."""

    def __init__(self, source: Step | str | os.PathLike[str], steps: Sequence[Step | tuple[Step, Engine]],
                 engine: Engine | None = None, *, name: str = "pipeline") -> None:
        self.source = source
        self.engine = engine or LocalEngine()
        self.steps: list[tuple[Step, Engine]] = [s if isinstance(s, tuple) else (s, self.engine) for s in steps]
        self.name = name
        self.where = name  # how errors name this pipeline (a recipe: its file)

    @classmethod
    def from_recipe(cls, recipe: Recipe, where: str) -> Pipeline:
        """The recipe as a Pipeline; every stage's options are checked here, before anything runs."""
        engine = recipe.engine_for({})
        steps: list[Step | tuple[Step, Engine]] = []
        for entry in recipe.stages:
            ((name, options),) = entry.items()
            step, overrides = build_step(name, options, where)
            steps.append((step, recipe.engine_for(overrides)) if overrides else step)
        pipeline = cls(recipe.source.step(), steps, engine, name=recipe.name)
        pipeline.where = where
        return pipeline

    def describe(self, out: str | os.PathLike[str]) -> dict[str, Any]:
        """The pipeline as a recipe (what ``run.json`` records under ``recipe``)."""
        def options(step: Step) -> dict[str, Any]:
            return step.model_dump(mode="json", by_alias=True, exclude_defaults=True)

        source = ({"dataset": str(self.source)} if not isinstance(self.source, Step)
                  else {self.source.name: options(self.source)})
        return {"name": self.name, "out": str(out), "engine": self.engine.name,
                "address": getattr(self.engine, "address", None), "workers": self.engine.workers,
                "source": source, "stages": [{step.name: options(step)} for step, _ in self.steps]}

    def run(self, out: str | os.PathLike[str], *, overwrite: bool = False) -> dict[str, Any]:
        """Run every step in order into ``out``; returns the run manifest (also ``out/run.json``)."""
        root = Path(out)
        if overwrite and root.exists():
            shutil.rmtree(root)
        run_file = root / "run.json"
        previous = json.loads(run_file.read_text()) if run_file.exists() else {}
        done_argv = {tuple(s["argv"]) for s in previous.get("stages", []) if s.get("finished")}
        manifest: dict[str, Any] = {"recipe": self.describe(out), "recipe_file": self.where, "stages": []}
        started = time.time()

        def step(st: Step, engine: Engine, src: str | None, out_dir: str | None) -> None:
            argv = [st.name, *([src] if src else []), *options_to_argv(st)]
            if out_dir is not None:
                argv += ["--out", out_dir, *engine_argv(engine)]
            entry: dict[str, Any] = {"stage": st.name, "argv": argv, "dir": out_dir}
            if tuple(argv) in done_argv and (entry["dir"] is None or (Path(out_dir) / "manifest.json").exists()):
                say(f"run: {st.name} already finished, skipped")
            else:
                say(f"run: {st.name}: finereason {' '.join(argv)}")
                try:
                    result = st.run(src, out_dir, engine)
                except BaseException:
                    manifest["stages"].append(entry)
                    atomic_write_json(run_file, manifest)
                    raise
                failure = st.failure(result)
                if failure:
                    manifest["stages"].append(entry)
                    atomic_write_json(run_file, manifest)
                    raise RecipeError(f"{self.where}: stage {st.name} failed ({failure}); fix it and rerun to resume")
            entry["finished"] = True
            if entry["dir"] and (Path(out_dir) / "manifest.json").exists():
                m = Dataset(out_dir).manifest()
                entry.update({k: m.get(k) for k in ("records_in", "records_out", "rejected", "elapsed_s")})
            manifest["stages"].append(entry)
            manifest["elapsed_s"] = round(time.time() - started, 3)
            atomic_write_json(run_file, manifest)

        root.mkdir(parents=True, exist_ok=True)
        if isinstance(self.source, Step):
            current = str(root / f"00-{self.source.name}")
            step(self.source, self.engine, None, current)
        else:
            current = str(self.source)
        for i, (st, engine) in enumerate(self.steps, start=1):
            out_dir = None if st.name == "report" else str(root / f"{i:02d}-{st.name}")
            step(st, engine, current, out_dir)
            if st.makes_dataset:
                assert out_dir is not None
                current = out_dir
        manifest["final_dataset"] = current
        atomic_write_json(run_file, manifest)
        return manifest

"""The Python API: steps from the registry, in memory and in a Pipeline; the README's example as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

import finereason
from finereason import Clean, Dedup, Pipeline, Synth, Verify
from finereason.cli import build_parser, main
from finereason.pipeline.flags import options_to_argv
from finereason.pipeline.recipe import RecipeError, build_step
from finereason.pipeline.registry import SOURCES, STAGES, recipe_schema

REPO = Path(__file__).resolve().parents[2]


def _subparser(name: str):
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices[name]


@pytest.mark.parametrize("name", [*SOURCES, *STAGES])
def test_every_option_is_a_flag_of_its_command_with_the_same_default(name):
    step = {**SOURCES, **STAGES}[name].step
    flags = {a.dest: a for a in _subparser(name)._actions}
    for field, info in step.model_fields.items():
        assert field in flags, f"{name}: option {field} has no flag"
        if not info.is_required():
            default = info.get_default(call_default_factory=True)
            assert flags[field].default == ([] if default == {} else default), f"{name}.{field}"
        assert flags[field].help == info.description


def test_options_round_trip_through_their_command_line():
    parser = build_parser()
    for step in (Clean(max_side=512, llm="builtin:smollm2", concurrency=3), Dedup(against=["a", "b"], no_near=True),
                 Clean(max_text_chars=5000, llm="builtin:smollm2", llm_answers=True),
                 Verify(min_words=10, no_think_required=True, language="none"),
                 Verify(judge="builtin:smollm2", judge_unparsed=True),
                 finereason.Select(pass_rate=["0", "(0,0.5]"], drop_flags=""),
                 finereason.Select(verdict="correct+undecided", rl_holdout=5, rl_out="rl"),
                 finereason.Export(format="trl", name="mine"), finereason.Export(format="verl"),
                 finereason.Ingest(paths=["x.jsonl"], map={"q": "question"}, strict=True)):
        argv = [step.name, *([] if step.name == "ingest" else ["DIR"]), *options_to_argv(step), "--out", "o"]
        args = parser.parse_args(argv)
        assert type(step).model_validate({f: getattr(args, f) if f != "map" else dict(getattr(args, f))
                                          for f in type(step).model_fields}) == step, argv


def test_bad_options_are_refused_naming_the_option():
    with pytest.raises(ValueError, match="max_side"):
        Clean(max_side=0)
    with pytest.raises(ValueError, match="max_sid"):
        Clean(max_sid=10)
    with pytest.raises(RecipeError, match=r"r.yaml: stages.dedup.text_threshold \(--text-threshold\)"):
        build_step("dedup", {"text_threshold": 2}, "r.yaml")


def test_the_recipe_schema_has_every_stage_and_its_options():
    schema = recipe_schema()
    stages = {next(iter(item["properties"])): item for item in schema["properties"]["stages"]["items"]["oneOf"]}
    assert list(stages) == list(STAGES)
    distill = stages["distill"]["properties"]["distill"]["anyOf"][0]
    assert distill["required"] == ["teacher"] and distill["properties"]["max_tokens"]["default"] == 16384
    assert distill["properties"]["workers"]["type"] == "integer" and distill["additionalProperties"] is False
    assert set(schema["properties"]["source"]["properties"]) == {"synth", "ingest"}
    jsonschema = pytest.importorskip("jsonschema")
    for shipped in ("demo", "mmfinereason"):
        jsonschema.validate(yaml.safe_load((REPO / "src/finereason/recipes" / f"{shipped}.yaml").read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "t", "out": "o", "source": {"synth": {"n": 2}},
                             "stages": [{"clean": {"max_sid": 3}}]}, schema)


def test_steps_run_on_samples_in_memory_and_leave_them_as_they_were():
    samples = Synth(n=6, seed=3).samples()
    before = [s.question for s in samples]
    twin = Synth(n=1, seed=3).samples()[0]  # the same first problem again: an exact duplicate
    cleaned = Clean(max_side=64).apply([*samples, twin])
    assert [s.question for s in samples] == before
    assert len(cleaned.kept) == 7
    assert all(max(im.width, im.height) <= 64 for s in cleaned.kept for im in s.images)
    deduped = Dedup().apply(cleaned.kept)
    assert len(deduped.kept) == 6 and [r.reason for r in deduped.rejected] == ["duplicate_exact"]
    verified = Verify().apply(deduped.kept)
    assert all(s.verdict == "unparsed" and "empty_response" in s.flags for s in verified.kept)
    assert verified.failed == 0 and verified.stats["verdict_unparsed"] == 6


def test_a_pipeline_without_models_resumes_from_its_run_manifest(tmp_path, capsys):
    out = tmp_path / "run"
    pipeline = Pipeline(Synth(n=5, seed=2), [Clean(), Dedup(), Verify()], engine=finereason.Local(workers=1))
    run = pipeline.run(out)
    assert [s["stage"] for s in run["stages"]] == ["synth", "clean", "dedup", "verify"]
    assert run["stages"][1]["argv"] == ["clean", str(out / "00-synth"), "--out", str(out / "01-clean"),
                                        "--workers", "1", "--engine", "local"]
    assert run["final_dataset"] == str(out / "03-verify")
    capsys.readouterr()
    assert pipeline.run(out)["stages"][-1]["finished"]
    assert capsys.readouterr().err.count("already finished, skipped") == 4


def test_the_library_never_goes_through_the_command_line():
    hits = [f"{p}:{i}" for p in (REPO / "src").rglob("*.py") if p.name != "cli.py"
            for i, line in enumerate(p.read_text().splitlines(), 1) if re.search(r"cli\.main|_actions", line)]
    assert hits == []


def _readme_example() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Python"):readme.index("## Models")]
    return re.findall(r"```python\n(.*?)```", section, re.S)[0]


@pytest.mark.slow
def test_the_readme_pipeline_runs_as_written(tmp_path):
    script = tmp_path / "example.py"
    script.write_text(_readme_example())
    here = str(Path(finereason.__file__).resolve().parents[1])  # the finereason these tests import
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "runs" / "python-demo"
    run = json.loads((out / "run.json").read_text())
    assert [s["stage"] for s in run["stages"]] == ["synth", "clean", "dedup", "distill", "verify", "export"]
    answered = [r for p in (out / "03-distill" / "data").glob("*.parquet") for r in pq.read_table(p).to_pylist()]
    assert len(answered) == 4 and all(r["response"] for r in answered)
    assert list((out / "05-export" / "data").glob("train-*"))


def _normalised(value, roots):
    """A manifest with its run's folders replaced and timing fields dropped, at any depth."""
    if isinstance(value, dict):
        return {k: _normalised(v, roots) for k, v in value.items()
                if not k.endswith(("_s", "_seconds")) and k not in ("created", "recipe_file")}
    if isinstance(value, list):
        return [_normalised(v, roots) for v in value]
    if isinstance(value, str):
        for root in roots:
            value = value.replace(str(root), "OUT")
    return value


@pytest.mark.slow
def test_run_and_the_python_api_write_the_same_shards_and_manifests(tmp_path):
    """The demo recipe (n=2; sampling seeded, as unseeded sampling differs run to run) two ways."""
    recipe = yaml.safe_load((REPO / "src" / "finereason" / "recipes" / "demo.yaml").read_text())
    recipe["source"]["synth"]["n"] = 2
    recipe["workers"] = 1
    for entry in recipe["stages"]:
        for name, options in entry.items():
            if name in ("distill", "difficulty"):
                options["seed"] = 0
    by_cli = tmp_path / "cli"
    recipe["out"] = str(by_cli)
    (tmp_path / "demo.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["run", str(tmp_path / "demo.yaml")]) == 0

    from finereason import Difficulty, Distill, Export, Report, Select

    by_api = tmp_path / "api"
    Pipeline(Synth(n=2, seed=0), [
        Clean(), Dedup(),
        Distill(teacher="builtin:smollm2", perception="oracle", max_tokens=160, temperature=0.7, top_p=0.95, seed=0),
        Verify(min_words=10, no_think_required=True),
        Difficulty(student="builtin:smollm2", perception="oracle", k=4, max_tokens=96, temperature=1.0, seed=0),
        Select(subset="all", verdict="any", drop_flags=""),
        Export(format="llamafactory"), Export(format="trl"), Report(),
    ], engine=finereason.Local(workers=1), name="demo").run(by_api)

    roots = (by_cli, by_api)
    cli_run, api_run = (_normalised(json.loads((r / "run.json").read_text()), roots) for r in roots)
    assert cli_run == api_run
    folders = sorted(p.name for p in by_cli.iterdir() if p.is_dir())
    assert folders == sorted(p.name for p in by_api.iterdir() if p.is_dir()) and len(folders) == 9
    for name in folders:
        a, b = by_cli / name, by_api / name
        assert _normalised(json.loads((a / "manifest.json").read_text()), roots) == \
            _normalised(json.loads((b / "manifest.json").read_text()), roots), name
        shards = sorted(p.relative_to(a) for p in a.rglob("*.parquet") if ".dedup" not in p.parts)
        assert shards == sorted(p.relative_to(b) for p in b.rglob("*.parquet") if ".dedup" not in p.parts), name
        for rel in shards:
            assert pq.read_table(a / rel).equals(pq.read_table(b / rel)), f"{name}/{rel}"


def test_a_recipe_stage_may_run_on_an_engine_of_its_own(tmp_path):
    from finereason.pipeline.recipe import load_recipe

    path = tmp_path / "r.yaml"
    path.write_text("name: t\nout: o\nworkers: 3\nsource: {synth: {n: 2}}\n"
                    "stages: [{clean: {max_side: 64}}, {dedup: {workers: 1, no_near: true}}]\n")
    pipeline = Pipeline.from_recipe(load_recipe(path), str(path))
    (clean, clean_engine), (dedup, dedup_engine) = pipeline.steps
    assert clean == Clean(max_side=64) and clean_engine.workers == 3
    assert dedup == Dedup(no_near=True) and dedup_engine.workers == 1 and dedup_engine.name == "local"

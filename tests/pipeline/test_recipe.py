"""Recipes: every key checked before anything runs; a whole run resumable with one manifest."""

from __future__ import annotations

import json

import pytest

from finereason.cli import main
from finereason.io.store import Dataset
from finereason.pipeline.recipe import RecipeError, load_recipe


def _write(tmp_path, text):
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return p


BASE = """
name: t
out: {out}
workers: 1
source:
  synth: {{n: 12, seed: 1}}
stages:
{stages}
"""


@pytest.mark.parametrize(("stages", "message"), [
    ("  - polish: {}", "stages: Value error, stages[0]: unknown stage 'polish'"),
    ("  - clean: {max_sid: 10}", "stages.clean.max_sid: not an option of `finereason clean`"),
    ("  - clean: {out: x}", "stages.clean.out: set by the run itself"),
])
def test_bad_keys_fail_before_anything_runs(tmp_path, capsys, stages, message):
    out = tmp_path / "run"
    recipe = _write(tmp_path, BASE.format(out=out, stages=stages))
    assert main(["run", str(recipe)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_source_names_the_key(tmp_path):
    recipe = _write(tmp_path, "name: t\nout: x\nsource: {}\nstages: [{clean: {}}]\n")
    with pytest.raises(RecipeError, match="source: Value error, give exactly one of source.synth or source.ingest"):
        load_recipe(recipe)


def test_shipped_recipes_validate():
    assert load_recipe("demo").source.synth is not None
    assert [next(iter(s)) for s in load_recipe("mmfinereason").stages][:4] == ["clean", "dedup", "caption", "distill"]


def test_a_run_without_models_and_its_resume(tmp_path, capsys):
    out = tmp_path / "run"
    stages = "\n".join([
        "  - clean: {}", "  - dedup: {}", "  - verify: {}",
        "  - select: {verdict: any, drop_flags: ''}", "  - report: {}",
    ])
    recipe = _write(tmp_path, BASE.format(out=out, stages=stages))
    assert main(["run", str(recipe)]) == 0
    run = json.loads((out / "run.json").read_text())
    assert [s["stage"] for s in run["stages"]] == ["synth", "clean", "dedup", "verify", "select", "report"]
    assert all(s["finished"] for s in run["stages"])
    final = out / "04-select"
    assert run["final_dataset"] == str(final) and (final / "report.html").exists()
    # No responses yet: verify keeps every sample, marked unparsed, and says why.
    assert all(s.verdict == "unparsed" and "empty_response" in s.flags for s in Dataset(out / "03-verify").iter_samples())
    assert Dataset(final).count() == 12
    capsys.readouterr()
    assert main(["run", str(recipe)]) == 0
    assert capsys.readouterr().err.count("already finished, skipped") == 6


@pytest.mark.slow
def test_demo_runs_the_whole_pipeline_with_real_models(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--n", "4"]) == 0
    run = json.loads((out / "run.json").read_text())
    names = [s["stage"] for s in run["stages"]]
    assert names == ["synth", "clean", "dedup", "distill", "verify", "difficulty", "select", "export", "export", "report"]
    scored = list(Dataset(out / "05-difficulty").iter_samples())
    assert scored and all(s.response and s.pass_rate is not None and s.perception for s in scored)
    assert (out / "06-select" / "report.html").exists()
    assert (out / "07-export" / "dataset_info.json").exists()
    assert "demo: report at" in capsys.readouterr().out

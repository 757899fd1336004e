"""Grid config validation (errors name the key) and the attribution arithmetic on hand-made runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finereason.evaluate.grid import GridConfigError, attribution, load_grid_config

BASE = """\
benchmark: mmstar
data: mmstar.parquet
perceivers: {big: "hf:p8", small: "hf:p1"}
reasoners: {big: "hf:r8", small: "hf:r1"}
large: {perceiver: big, reasoner: big}
small: {perceiver: small, reasoner: small}
"""


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    return path


def test_a_valid_config_resolves_paths_relative_to_itself(tmp_path):
    grid = load_grid_config(_config(tmp_path, BASE + "out: runs/g\ndecoding: {answer: {max_tokens: 64}}\n"))
    assert grid.data == tmp_path / "mmstar.parquet" and grid.out == tmp_path / "runs/g"
    assert grid.decoding["answer"].overrides() == {"max_tokens": 64}
    assert grid.mode == "decoupled" and grid.no_image


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("colour: red\n", "colour: unknown key"),
        ("decoding: {answer: {max_token: 5}}\n", "decoding.answer.max_token: unknown key"),
        ("decoding: {reasoner: {max_tokens: 5}}\n", "decoding: Value error, unknown module(s) reasoner"),
        ("limit: 0\n", "limit: Input should be greater than or equal to 1"),
        ("mode: direct\n", "mode: Input should be 'decoupled' or 'extract-think'"),
    ],
)
def test_errors_name_the_key(tmp_path, extra, message):
    with pytest.raises(GridConfigError, match="grid.yaml: .*" + message.replace("(", r"\(").replace(")", r"\)")):
        load_grid_config(_config(tmp_path, BASE + extra))


def test_pairs_must_name_declared_models(tmp_path):
    text = BASE.replace("small: {perceiver: small, reasoner: small}", "small: {perceiver: tiny, reasoner: small}")
    with pytest.raises(GridConfigError, match="small.perceiver 'tiny' is not a key of 'perceivers'"):
        load_grid_config(_config(tmp_path, text))
    with pytest.raises(GridConfigError, match="benchmark: .*unknown benchmark 'mmbench'"):
        load_grid_config(_config(tmp_path, BASE.replace("benchmark: mmstar", "benchmark: mmbench")))
    with pytest.raises(GridConfigError, match="required key is missing"):
        load_grid_config(_config(tmp_path, "benchmark: mmstar\ndata: x\n"))


def _run(root: Path, name: str, verdicts: dict[str, str]) -> None:
    run = root / "runs" / name
    run.mkdir(parents=True)
    lines = [{"id": i, "category": "perception" if int(i) < 4 else "math", "subcategory": "", "verdict": v}
             for i, v in verdicts.items()]
    (run / "items.jsonl").write_text("\n".join(json.dumps(line) for line in lines))


def test_attribution_compares_shrinking_each_module_on_the_same_items(tmp_path):
    grid = load_grid_config(_config(tmp_path, BASE + "n_boot: 300\n"))
    c, w = "correct", "incorrect"
    # items 0-3 are perception-heavy, 4-7 math: the small perceiver hurts the former, the small reasoner the latter
    _run(tmp_path, "big__big", dict(zip("01234567", [c, c, c, c, c, c, c, w])))
    _run(tmp_path, "small__big", dict(zip("01234567", [w, w, w, c, c, c, c, w])))
    _run(tmp_path, "big__small", dict(zip("01234567", [c, c, c, c, w, w, c, w])))
    _run(tmp_path, "noimage__big", dict(zip("01234567", [w, w, w, w, c, c, w, w])))
    result = attribution(grid, tmp_path)
    rows = {r["name"]: r for r in result["rows"]}
    assert rows["all"]["baseline"] == 7 / 8
    assert rows["all"]["perception_drop"]["drop"] == 3 / 8 and rows["all"]["reasoning_drop"]["drop"] == 2 / 8
    assert rows["perception"]["perception_drop"]["drop"] == 3 / 4 and rows["perception"]["bottleneck"] == "perception"
    assert rows["math"]["reasoning_drop"]["drop"] == 2 / 4 and rows["math"]["bottleneck"] == "reasoning"
    assert rows["perception"]["no_image_gap"]["drop"] == 1.0 and rows["math"]["no_image_gap"]["drop"] == 1 / 4
    lo, hi = rows["all"]["perception_drop"]["ci"]
    assert lo <= 3 / 8 <= hi

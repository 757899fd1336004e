"""The local engine's promises: shards are atomic, reruns redo only unfinished shards, settings must match."""

from __future__ import annotations

import json

import pytest

from finereason.cli import main
from finereason.io.store import Dataset, DatasetError


def _synth(out, *extra):
    return main(["synth", "--n", "60", "--seed", "3", "--shard-size", "20", "--workers", "2", "--out", str(out), *extra])


def test_synth_writes_shards_and_manifest(tmp_path):
    out = tmp_path / "s"
    assert _synth(out) == 0
    ds = Dataset(out)
    assert len(ds.shard_paths()) == 3
    assert ds.count() == 60
    m = ds.manifest()
    assert (m["stage"], m["records_in"], m["records_out"], m["rejected"]) == ("synth", 60, 60, {})
    assert m["inputs"] == ["builtin:synth?seed=3"] and m["elapsed_s"] >= 0
    ids = [s.id for s in ds.iter_samples()]
    assert len(set(ids)) == 60


def test_rerun_redoes_only_unfinished_shards(tmp_path):
    out = tmp_path / "s"
    _synth(out)
    before = {p.name: p.stat().st_mtime_ns for p in (out / "data").iterdir()}
    ids_before = [s.id for s in Dataset(out).iter_samples()]
    # A kill after shard 1's data was written but before its done-marker: the shard must be redone.
    (out / ".done" / "part-00001.json").unlink()
    (out / "data" / "part-00001.parquet").write_bytes(b"half-written")
    assert _synth(out) == 0
    after = {p.name: p.stat().st_mtime_ns for p in (out / "data").iterdir()}
    assert after["part-00000.parquet"] == before["part-00000.parquet"]
    assert after["part-00002.parquet"] == before["part-00002.parquet"]
    assert after["part-00001.parquet"] != before["part-00001.parquet"]
    assert [s.id for s in Dataset(out).iter_samples()] == ids_before
    assert json.loads((out / "manifest.json").read_text())["records_out"] == 60


def test_rerun_with_other_settings_is_refused(tmp_path, capsys):
    out = tmp_path / "s"
    _synth(out)
    rc = main(["synth", "--n", "61", "--seed", "3", "--shard-size", "20", "--out", str(out)])
    assert rc == 2
    assert "different 'settings'" in capsys.readouterr().err
    assert main(["synth", "--n", "61", "--seed", "3", "--shard-size", "20", "--out", str(out), "--overwrite"]) == 0
    assert Dataset(out).count() == 61


def test_not_a_dataset_is_one_clear_line(tmp_path):
    with pytest.raises(DatasetError, match="not a finereason dataset"):
        Dataset(tmp_path).shard_paths()

"""Acceptance tests of the Ray engine on a real two-node cluster on loopback.

The same commands run with ``--engine local`` and ``--engine ray``; every shard, rejection and
manifest count must be the same. A node killed mid-job must cost nothing but its requests in
flight. Marked ``slow``: the cluster takes ~25 s to start on 2 cores.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ray_fixtures import cluster, fake, raw_jsonl  # noqa: F401 - pytest fixtures

from finereason.cli import main
from finereason.io.store import Dataset
from finereason.pipeline.engines import EngineError, get_engine
from finereason.pipeline.manifest import RunInfo
from finereason.pipeline.stage import Task

pytestmark = pytest.mark.slow
pytest.importorskip("ray", reason="the Ray engine needs ray[data] (pip install 'finereason[ray]')")

#: Manifest keys that must agree between engines (timings and dates may not).
SAME_KEYS = ("stage", "version", "records_in", "records_out", "rejected", "shards", "settings", "inputs")


def flags(engine: str, address: str) -> list[str]:
    return ["--engine", "ray", "--address", address] if engine == "ray" else ["--engine", "local", "--workers", "2"]


def assert_same_dataset(a: Path, b: Path) -> None:
    """Same shard files with equal tables (kept and rejected), and the same manifest counts."""
    for sub in ("data", "rejected"):
        names_a = sorted(p.name for p in (a / sub).glob("*.parquet"))
        names_b = sorted(p.name for p in (b / sub).glob("*.parquet"))
        assert names_a == names_b, sub
        for name in names_a:
            assert pq.read_table(a / sub / name).equals(pq.read_table(b / sub / name)), f"{sub}/{name}"
    ma, mb = Dataset(a).manifest(), Dataset(b).manifest()
    for key in SAME_KEYS:
        if key != "inputs":  # the folders differ by name only
            assert ma[key] == mb[key], key


def test_stage1_ingest_clean_dedup_on_ray_matches_local(cluster, raw_jsonl: Path, tmp_path: Path) -> None:
    from fixture_dir import FIXTURE_DIR

    for engine in ("ray", "local"):
        f = flags(engine, cluster.address)
        root = tmp_path / engine
        assert main(["ingest", str(raw_jsonl), "--format", "mmfinereason", "--image-root", str(FIXTURE_DIR),
                     "--shard-size", "15", "--out", str(root / "raw"), *f]) == 0
        assert main(["clean", str(root / "raw"), "--out", str(root / "clean"), *f]) == 0
        assert main(["dedup", str(root / "clean"), "--out", str(root / "dedup"), *f]) == 0
    for stage in ("raw", "clean", "dedup"):
        assert_same_dataset(tmp_path / "ray" / stage, tmp_path / "local" / stage)
    # The run did real work: the broken line, the three twins and the respaced question all left
    # (the release sample itself holds near-duplicates too: puzzles drawn alike, asked alike).
    raw = Dataset(tmp_path / "ray" / "raw").manifest()
    assert raw["rejected"] == {"bad_json": 1} and raw["shards"] == 5
    dedup = Dataset(tmp_path / "ray" / "dedup").manifest()
    assert dedup["rejected"]["duplicate_exact"] == 4 and dedup["rejected"].get("near_duplicate", 0) > 0
    ids = [s.id for s in Dataset(tmp_path / "ray" / "dedup").iter_samples()]
    assert len(ids) == len(set(ids)) == dedup["records_out"]


def test_distill_with_a_real_model_on_ray_matches_local(cluster, tmp_path: Path) -> None:
    """A tiny real Llama (hf:, greedy) as teacher in a client actor on each node."""
    pytest.importorskip("transformers")
    from finereason.testing.tinyvlm import build_tiny_lm

    teacher = f"hf:{build_tiny_lm(tmp_path / 'lm')}"
    for engine in ("ray", "local"):
        f = flags(engine, cluster.address)
        root = tmp_path / engine
        assert main(["synth", "--n", "24", "--seed", "5", "--shard-size", "4", "--out", str(root / "synth"), *f]) == 0
        assert main(["distill", str(root / "synth"), "--teacher", teacher, "--perception", "oracle",
                     "--temperature", "0", "--max-tokens", "12", "--concurrency", "2",
                     "--out", str(root / "distill"), *f]) == 0
    assert_same_dataset(tmp_path / "ray" / "synth", tmp_path / "local" / "synth")
    ray_out, local_out = tmp_path / "ray" / "distill", tmp_path / "local" / "distill"
    ray_resp = {s.id: s.response for s in Dataset(ray_out).iter_samples()}
    assert ray_resp == {s.id: s.response for s in Dataset(local_out).iter_samples()}
    assert len(ray_resp) == 24 and all(ray_resp.values())
    assert Dataset(ray_out).manifest()["stats"] == Dataset(local_out).manifest()["stats"]
    # One journal file per client actor (one per node), none shared between nodes.
    files = sorted((ray_out / "journal.d").glob("*.sqlite"))
    assert len(files) == 2 and not (ray_out / "journal.sqlite").exists()
    assert sum(_done_rows(p) for p in files) == 24



def _done_rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT COUNT(*) FROM requests WHERE status = 'done'").fetchone()[0]


def test_rerun_on_ray_redoes_only_unfinished_shards(cluster, tmp_path: Path) -> None:
    out = tmp_path / "s"
    cmd = ["synth", "--n", "30", "--seed", "2", "--shard-size", "10", "--out", str(out), *flags("ray", cluster.address)]
    assert main(cmd) == 0
    before = {p.name: p.stat().st_mtime_ns for p in (out / "data").iterdir()}
    (out / ".done" / "part-00001.json").unlink()
    (out / "data" / "part-00001.parquet").write_bytes(b"half-written by a lost node")
    assert main(cmd) == 0
    after = {p.name: p.stat().st_mtime_ns for p in (out / "data").iterdir()}
    assert after["part-00000.parquet"] == before["part-00000.parquet"]
    assert after["part-00002.parquet"] == before["part-00002.parquet"]
    assert after["part-00001.parquet"] != before["part-00001.parquet"]
    assert Dataset(out).count() == 30 and Dataset(out).manifest()["records_out"] == 30


def test_a_node_without_a_module_is_named_with_the_fix(cluster, tmp_path: Path, monkeypatch) -> None:
    """A stage the workers cannot import fails in one line naming the module and the node."""
    engine = get_engine("ray", cluster.address)
    engine.connect()  # joined first: modules added to this process's path later stay unknown to workers
    mod = tmp_path / "driveronly"
    mod.mkdir()
    (mod / "only_here.py").write_text(
        "from finereason.pipeline.stage import StageResult\n"
        "class Stage:\n    name = 'only_here'\n    version = '1'\n"
        "    def settings(self):\n        return {}\n"
        "    def __call__(self, batch):\n        return StageResult(kept=batch)\n"
    )
    monkeypatch.syspath_prepend(str(mod))
    import only_here

    info = RunInfo("only_here", "1", {}, inputs=[])
    with pytest.raises(EngineError, match=r"node \S+ cannot import 'only_here'.*pip install"):
        engine.run_stage(only_here.Stage(), [Task(0, list)], tmp_path / "out", info)


def test_an_unreachable_cluster_is_one_line_at_once(tmp_path: Path) -> None:
    from ray_cluster import free_ports

    (port,) = free_ports(1)
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "finereason.cli", "synth", "--n", "5", "--out", str(tmp_path / "o"),
                          "--engine", "ray", "--address", f"127.0.0.1:{port}"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"cannot reach the Ray cluster at 127.0.0.1:{port}" in lines[0]
    assert "ray start --head" in lines[0]
    assert time.monotonic() - t0 < 60


def test_ray_data_llm_distill_matches_local(cluster, tmp_path: Path) -> None:
    """--ray-data-llm: the tiny LM answers on a Ray Data actor pool (one replica per node); the
    output is the local engine's, and the answers are in the run's journal."""
    pytest.importorskip("transformers")
    from finereason.testing.tinyvlm import build_tiny_lm

    teacher = f"hf:{build_tiny_lm(tmp_path / 'lm')}"
    src = tmp_path / "synth"
    assert main(["synth", "--n", "12", "--seed", "4", "--shard-size", "4", "--out", str(src), "--workers", "2"]) == 0
    args = ["distill", str(src), "--teacher", teacher, "--perception", "oracle", "--temperature", "0",
            "--max-tokens", "12"]
    ray_out, local_out = tmp_path / "ray", tmp_path / "local"
    assert main([*args, "--out", str(ray_out), *flags("ray", cluster.address), "--ray-data-llm"]) == 0
    assert main([*args, "--out", str(local_out), *flags("local", cluster.address)]) == 0
    assert_same_dataset(ray_out, local_out)
    ray_resp = {s.id: s.response for s in Dataset(ray_out).iter_samples()}
    assert ray_resp == {s.id: s.response for s in Dataset(local_out).iter_samples()}
    assert len(ray_resp) == 12 and all(ray_resp.values())
    m = Dataset(ray_out).manifest()
    assert m["ray_data_llm"] == {"rounds": [{"round": 1, "requests": {teacher: 12}}], "replicas": 2}
    assert m["stats"] == Dataset(local_out).manifest()["stats"]
    assert _done_rows(ray_out / "journal.sqlite") == 12 and not (ray_out / ".ray-data-llm").exists()


def test_ray_data_llm_runs_a_perceiver_round_then_a_reasoner_round(cluster, tmp_path: Path) -> None:
    """A VLM perceiver and a text teacher, both in the job: round 1 describes the images, round 2
    answers prompts that embed those descriptions. A local rerun on the same journal pays nothing."""
    pytest.importorskip("transformers")
    from finereason.testing.tinyvlm import build_tiny_lm, build_tiny_vlm

    teacher = f"hf:{build_tiny_lm(tmp_path / 'lm')}"
    perceiver = f"hf:{build_tiny_vlm('idefics3', tmp_path / 'vlm')}"
    src = tmp_path / "synth"
    assert main(["synth", "--n", "8", "--seed", "6", "--shard-size", "4", "--out", str(src), "--workers", "2"]) == 0
    images = {im.sha256 for s in Dataset(src).iter_samples() for im in s.images}
    out = tmp_path / "ray"
    args = ["distill", str(src), "--teacher", teacher, "--perception", perceiver, "--temperature", "0",
            "--max-tokens", "12"]
    assert main([*args, "--out", str(out), *flags("ray", cluster.address), "--ray-data-llm"]) == 0
    samples = {s.id: s for s in Dataset(out).iter_samples()}
    assert len(samples) == 8 and Dataset(out).rejected_table() is None
    assert all(s.perception.startswith(f"[Image 1, seen by {perceiver}]") and s.response for s in samples.values())
    rounds = Dataset(out).manifest()["ray_data_llm"]["rounds"]
    assert rounds == [{"round": 1, "requests": {perceiver: len(images)}}, {"round": 2, "requests": {teacher: 8}}]
    journal = out / "journal.sqlite"
    before = _journal_rows(journal)
    assert len(before) == 8 + len(images)

    again = tmp_path / "local"
    assert main([*args, "--out", str(again), "--journal", str(journal), *flags("local", cluster.address)]) == 0
    assert _journal_rows(journal) == before  # no request answered (or even re-stored) again
    assert {s.id: (s.perception, s.response) for s in Dataset(again).iter_samples()} == {
        i: (s.perception, s.response) for i, s in samples.items()}


def _journal_rows(path: Path) -> dict[str, float]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT key, updated FROM requests WHERE status = 'done'").fetchall())


def test_a_node_lost_mid_distill_costs_only_requests_in_flight(cluster, fake, tmp_path: Path) -> None:
    """Kill the second node while its client actor is busy: the job ends with every sample exactly
    once, and a request is paid twice only if it was in flight on the lost node. Runs last: it
    takes a node away (and gives one back)."""
    server, teacher = fake
    src = tmp_path / "synth"
    assert main(["synth", "--n", "80", "--seed", "9", "--shard-size", "5", "--out", str(src), "--workers", "2"]) == 0
    out = tmp_path / "distill"
    concurrency = 4  # 2 per actor
    cmd = ["distill", str(src), "--teacher", teacher, "--concurrency", str(concurrency), "--max-tokens", "20",
           "--out", str(out), *flags("ray", cluster.address)]
    result: list[int | BaseException] = []
    job = threading.Thread(target=lambda: result.append(_run(cmd)))
    job.start()
    deadline = time.monotonic() + 120
    while len(list((out / ".done").glob("part-*.json"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.count < 80, "the job finished before the node could be killed; make requests slower"
    cluster.kill_node(1)
    job.join(300)
    assert result == [0]

    ids_in = [s.id for s in Dataset(src).iter_samples()]
    ids_out = [s.id for s in Dataset(out).iter_samples()]
    assert sorted(ids_out) == sorted(ids_in) and Dataset(out).rejected_table() is None
    bodies = Counter(json.dumps(r, sort_keys=True) for r in server.requests)
    assert len(bodies) == 80
    paid_twice = sum(n - 1 for n in bodies.values())
    print(f"requests: {server.count} sent for 80 samples; {paid_twice} paid twice")
    assert paid_twice <= concurrency // 2, f"{paid_twice} requests paid twice; at most one actor's in flight"
    # A rerun that redoes every shard finds every answer in the journal files, the lost actor's
    # included (sealed when it was lost), and sends nothing.
    sent = server.count
    for marker in (out / ".done").glob("part-*.json"):
        marker.unlink()
    assert main(cmd) == 0
    assert server.count == sent
    assert sorted(s.id for s in Dataset(out).iter_samples()) == sorted(ids_in)
    cluster.add_worker()


def _run(argv: list[str]) -> int | BaseException:
    try:
        return main(argv)
    except BaseException as e:  # reported by the test's assertion on the result
        return e

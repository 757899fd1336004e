"""``kill -9`` of the main process only leaves nothing running: pool workers, the forkserver and the
resource tracker all exit within seconds (issue 17), and a rerun clears the dead run's temp files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from finereason.cli import main


def _session(sid: int) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) == sid and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except (ProcessLookupError, psutil.NoSuchProcess, PermissionError):
            continue
    return out


@pytest.fixture
def records(tmp_path: Path) -> Path:
    path = tmp_path / "qa.jsonl"
    with path.open("w") as f:
        for i in range(12_000):
            f.write(json.dumps({"question": f"What is {i} plus {i}? " * 20, "answer": str(2 * i)}) + "\n")
    return path


def test_kill_9_of_the_main_process_leaves_no_process(records: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "raw"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "finereason.cli", "ingest", str(records), "--out", str(out), "--workers", "2",
         "--shard-size", "100"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        # Wait until the pool is up and working: the main process, a forkserver, two workers.
        while len(_session(proc.pid)) < 4 or not list((out / ".done").glob("part-*.json")):
            assert proc.poll() is None, "ingest ended before it could be killed"
            assert time.monotonic() < deadline, "the pool never started"
            time.sleep(0.05)
        proc.kill()
        proc.wait()
        t0 = time.monotonic()
        while _session(proc.pid) and time.monotonic() - t0 < 10:
            time.sleep(0.1)
        left = [(p.pid, " ".join(p.cmdline())[:120]) for p in _session(proc.pid)]
        assert left == [], f"still running 10 s after kill -9 of the main process: {left}"
        assert len(list((out / ".done").glob("part-*.json"))) < 120  # it was killed mid-run
    finally:
        for p in _session(proc.pid):  # only if the assertion failed: leave nothing behind
            p.kill()
    # The killed run's folder is unfinished: the next stage refuses it, naming the stage to rerun.
    assert main(["clean", str(out), "--out", str(tmp_path / "clean")]) == 2
    assert "rerun `finereason ingest`" in capsys.readouterr().err
    # The rerun finishes the job and leaves no temp file of the killed run behind.
    (out / "data" / ".part-00119.parquet.tmp-999999").write_bytes(b"half a shard")
    assert main(["ingest", str(records), "--out", str(out), "--workers", "2", "--shard-size", "100"]) == 0
    assert json.loads((out / "manifest.json").read_text())["records_out"] == 12_000
    assert [p.name for p in out.rglob("*.tmp-*")] == []


def test_verify_workers_exit_with_the_main_process_even_mid_task(tmp_path: Path) -> None:
    """A math-verify worker busy for minutes (here: sleeping) goes when its parent is killed -9."""
    script = ("from finereason.verify.pool import WorkerPool\n"
              "with WorkerPool(2, task='time:sleep') as pool:\n"
              "    pool.run([[60], [60]], timeout_s=120)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(_session(proc.pid)) < 3:  # the main process and two workers
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(2)  # workers imported and sleeping in their task
        proc.kill()
        proc.wait()
        t0 = time.monotonic()
        while _session(proc.pid) and time.monotonic() - t0 < 10:
            time.sleep(0.1)
        assert _session(proc.pid) == []
    finally:
        for p in _session(proc.pid):
            p.kill()

"""Without a TTY, a stage writes a progress line every N seconds: done/total, rate, ETA, tokens/s, failures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from servers.fake_openai import FakeServer
from servers.fault_proxy import FaultProxy

from finereason.cli import main

SRC = Path(__file__).resolve().parents[2] / "src"


def test_a_piped_model_stage_logs_progress_lines(bg, tmp_path):
    data = tmp_path / "s"
    assert main(["synth", "--n", "12", "--seed", "1", "--shard-size", "4", "--workers", "1", "--out", str(data)]) == 0
    server = FakeServer(reply_tokens=20, reply_bytes=60, seconds_per_token=0.01, slots=2)  # ~1.2 s of work
    proxy = FaultProxy("127.0.0.1", bg.run(server.start()))
    port = bg.run(proxy.start())
    proxy.faults.extend(["400", "400"])  # two requests fail for good: the lines say why
    env = {**os.environ, "PYTHONPATH": str(SRC), "FINEREASON_PROGRESS_SECONDS": "0.2"}
    try:
        run = subprocess.run(
            [sys.executable, "-m", "finereason.cli", "distill", str(data), "--teacher",
             f"openai:fake-model@http://127.0.0.1:{port}/v1", "--max-tokens", "20", "--concurrency", "2",
             "--out", str(tmp_path / "d")],
            capture_output=True, text=True, env=env, timeout=120,
        )
    finally:
        bg.run(proxy.close())
        bg.run(server.close())
    lines = [line for line in run.stderr.splitlines() if line.startswith("distill: ") and " shards (" in line]
    assert len(lines) >= 3, run.stderr
    pattern = re.compile(r"distill: (\d+)/3 shards \(\d+%\) · [\d.e+-]+ shards/s · ETA (\S+) · elapsed \S+ · "
                         r"(\d+) samples done · (\d+) tok/s · \d+ in flight .* (\d+) failed")
    parsed = [pattern.match(line) for line in lines]
    assert all(parsed), lines
    assert [int(m.group(1)) for m in parsed] == sorted(int(m.group(1)) for m in parsed)  # done only grows
    assert [int(m.group(3)) for m in parsed] == sorted(int(m.group(3)) for m in parsed)  # samples, within shards
    assert any(int(m.group(4)) > 0 for m in parsed)  # tokens/s once answers arrive
    assert "(http_400=2)" in lines[-1]
    # A partly failed stage exits 0 and says how many failed and how to retry them.
    assert run.returncode == 0 and "2 of 12 requests failed" in run.stderr and "retry only those" in run.stderr


def test_a_terminal_free_run_of_a_quick_stage_prints_no_progress_noise(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(SRC)}  # default interval: 30 s, longer than this stage
    run = subprocess.run([sys.executable, "-m", "finereason.cli", "synth", "--n", "4", "--workers", "1",
                          "--out", str(tmp_path / "s")], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0 and " shards (" not in run.stderr

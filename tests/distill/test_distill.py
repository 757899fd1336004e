"""caption / distill / difficulty through the CLI against OpenAI-compatible servers on loopback.

The fast tests use the recording fake server in tests/servers (so requests can be counted);
the slow one uses the real llama-cpp server with SmolLM2 from tests/models' fixtures.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/servers

from servers.fake_openai import FakeServer
from servers.fault_proxy import FaultProxy

from finereason.cli import main
from finereason.io.store import Dataset


@pytest.fixture
def server(bg):
    srv = FakeServer(record=True, reply_tokens=20, reply_bytes=60)
    port = bg.run(srv.start())
    yield srv, f"http://127.0.0.1:{port}/v1"
    bg.run(srv.close())


@pytest.fixture(scope="module")
def problems(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "s"
    assert main(["synth", "--n", "12", "--seed", "5", "--shard-size", "4", "--workers", "1", "--out", str(out)]) == 0
    return out


def _ids(path) -> list[str]:
    return [s.id for s in Dataset(path).iter_samples()]


def test_distill_writes_think_response_tokens_and_prompt(server, problems, tmp_path):
    srv, url = server
    out = tmp_path / "d"
    rc = main(["distill", str(problems), "--teacher", f"openai:fake-model@{url}", "--max-tokens", "20",
               "--top-p", "0.9", "--seed", "7", "--out", str(out), "--workers", "1"])
    assert rc == 0
    samples = list(Dataset(out).iter_samples())
    assert sorted(s.id for s in samples) == sorted(_ids(problems))
    for s in samples:
        assert s.response.startswith("<think>") and "</think>" in s.response  # reasoning_content folded back
        assert s.response.endswith("<answer>42</answer>.")
        assert s.meta_get("finish_reason") == "stop"
    sent = srv.requests[0]
    assert (sent["top_p"], sent["seed"], sent["max_tokens"], sent["temperature"]) == (0.9, 7, 20, 1.0)
    image_parts = [p for p in sent["messages"][0]["content"] if p["type"] == "image_url"]
    assert image_parts and image_parts[0]["image_url"]["url"].startswith("data:image/png;base64,")
    m = Dataset(out).manifest()
    assert m["prompt"]["id"] == "distill" and len(m["prompt"]["sha256"]) == 64
    assert m["stats"]["completion_tokens"] == 12 * 20 and m["stats"]["failed"] == 0
    assert m["settings"]["sampling"]["top_p"] == 0.9


def test_caption_writes_caption(server, problems, tmp_path):
    _, url = server
    out = tmp_path / "c"
    assert main(["caption", str(problems), "--teacher", f"openai:fake-model@{url}", "--out", str(out)]) == 0
    assert all(s.caption and s.response is None for s in Dataset(out).iter_samples())


def test_text_only_teacher_needs_perception_at_startup(server, problems, tmp_path, capsys):
    srv, url = server
    rc = main(["distill", str(problems), "--teacher", f"openai-text:fake-model@{url}", "--out", str(tmp_path / "x")])
    assert rc == 2 and "text-only" in capsys.readouterr().err and srv.count == 0
    out = tmp_path / "o"
    assert main(["distill", str(problems), "--teacher", f"openai-text:fake-model@{url}", "--perception", "oracle",
                 "--out", str(out)]) == 0
    for s in Dataset(out).iter_samples():
        assert s.perception == s.meta_get("scene")
    # Text-only: the content goes as one string (text-only chat templates reject lists of parts).
    assert all(isinstance(r["messages"][0]["content"], str) for r in srv.requests)
    assert all("oracle perception" in r["messages"][0]["content"] for r in srv.requests)


def test_failed_requests_are_rejected_then_retried_by_a_rerun(bg, problems, tmp_path, capsys):
    live = FakeServer(reply_tokens=20, reply_bytes=60)
    proxy = FaultProxy("127.0.0.1", bg.run(live.start()))
    port = bg.run(proxy.start())
    proxy.faults.extend(["500"] * 12)  # the server answers, but every first try fails (a transient fault)
    out = tmp_path / "d"
    args = ["distill", str(problems), "--teacher", f"openai:fake-model@http://127.0.0.1:{port}/v1",
            "--max-tokens", "20", "--retries", "0", "--out", str(out)]
    try:
        assert main(args) == 4  # every request failed: nothing came out, and the exit status says so
        assert "rerun the same command to retry" in capsys.readouterr().err.lower()
        m = Dataset(out).manifest()
        assert m["records_out"] == 0 and m["stats"]["failed"] == 12
        assert set(m["rejected"]) == {"request_failed:http_500"}
        assert main(args) == 0  # the faults are used up: the rerun retries exactly the failed requests
    finally:
        bg.run(proxy.close())
        bg.run(live.close())
    m = Dataset(out).manifest()
    assert (m["records_out"], m["rejected"], m["stats"]["failed"]) == (12, {}, 0)
    assert Dataset(out).rejected_paths() == [] and proxy.total == 24


def test_kill_9_mid_distill_then_resume_pays_only_in_flight_twice(bg, tmp_path):
    src = tmp_path / "s"
    assert main(["synth", "--n", "40", "--seed", "9", "--shard-size", "10", "--workers", "1", "--out", str(src)]) == 0
    srv = FakeServer(record=True, seconds_per_token=0.05, reply_tokens=20, reply_bytes=60)  # 1 s a request
    port = bg.run(srv.start())
    concurrency = 4
    out = tmp_path / "d"
    cmd = [sys.executable, "-m", "finereason.cli", "distill", str(src), "--teacher",
           f"openai:fake-model@http://127.0.0.1:{port}/v1", "--max-tokens", "20",
           "--concurrency", str(concurrency), "--out", str(out)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        log = (tmp_path / "first-run.log").open("wb")
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while srv.count < 12 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert srv.count >= 12, f"the distill run never got going: {(tmp_path / 'first-run.log').read_text()[-3000:]}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at = srv.count
        assert killed_at < 40, "the run finished before the kill; the test proves nothing"
        assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    finally:
        bg.run(srv.close())
    ids = _ids(out)
    assert len(ids) == len(set(ids)) == 40 and set(ids) == set(_ids(src))
    bodies = Counter(hashlib.sha256(json.dumps(r, sort_keys=True).encode()).hexdigest() for r in srv.requests)
    assert len(bodies) == 40  # every sample asked, none lost
    repeats = sum(n - 1 for n in bodies.values())
    assert repeats <= concurrency, f"{repeats} requests paid twice; at most {concurrency} were in flight"


def test_difficulty_pass_rate_from_k_graded_samples(server, problems, tmp_path):
    srv, url = server
    out = tmp_path / "k"
    assert main(["difficulty", str(problems), "--student", f"openai:fake-model@{url}", "--k", "4",
                 "--max-tokens", "20", "--out", str(out)]) == 0
    assert all(r["n"] == 4 for r in srv.requests)
    for s in Dataset(out).iter_samples():
        # The fake student always answers 42: correct exactly where the ground truth is 42.
        assert s.pass_rate == (1.0 if s.answer == "42" else 0.0)
        assert len(s.meta_get("student_responses")) == 4
        # "42" against options such as "7:19": the rules cannot tell a time from a ratio, so undecided
        verdicts = set(s.meta_get("student_verdicts"))
        assert verdicts == {"correct"} if s.answer == "42" else verdicts <= {"incorrect", "undecided"}
        assert s.response is None  # the teacher's field is untouched


@pytest.mark.slow
def test_distill_and_difficulty_against_a_real_llama_server(tmp_path):
    from servers.llama import llama_server

    problems = tmp_path / "s"
    assert main(["synth", "--n", "4", "--seed", "5", "--workers", "1", "--out", str(problems)]) == 0
    with llama_server(tmp_path / "server.log") as url:
        teacher = f"openai-text:smollm2@{url}"
        out = tmp_path / "d"
        assert main(["distill", str(problems), "--teacher", teacher, "--perception", "oracle", "--max-tokens", "24",
                     "--concurrency", "2", "--out", str(out)]) == 0
        samples = list(Dataset(out).iter_samples())
        assert len(samples) == 4 and all(s.response and s.perception for s in samples)
        assert Dataset(out).manifest()["stats"]["completion_tokens"] > 0
        scored = tmp_path / "k"
        # k=1: llama.cpp's server ignores n, so k>1 fails every request as missing_choices (exit 4).
        assert main(["difficulty", str(out), "--student", teacher, "--perception", "oracle", "--k", "1",
                     "--max-tokens", "16", "--concurrency", "2", "--out", str(scored)]) == 0
        scored_samples = list(Dataset(scored).iter_samples())
        assert len(scored_samples) == 4
        for s in scored_samples:
            assert s.pass_rate in (0.0, 1.0) and len(s.meta_get("student_responses")) == 1


@pytest.mark.slow  # the random VLM writes 1,024-token descriptions: ~30 s
def test_vlm_perceiver_requests_are_journaled(server, problems, tmp_path):
    """A VLM perceiver's descriptions go to the stage's journal: a rerun neither re-describes nor re-asks."""
    import asyncio
    import sqlite3

    from finereason.distill.messages import open_seeing
    from finereason.testing.tinyvlm import build_tiny_vlm

    srv, url = server
    vlm = build_tiny_vlm("idefics3", tmp_path / "vlm")
    out = tmp_path / "d"
    args = ["distill", str(problems), "--teacher", f"openai-text:fake-model@{url}", "--perception", f"hf:{vlm}",
            "--max-tokens", "20", "--workers", "1"]
    assert main([*args, "--out", str(out)]) == 0
    samples = list(Dataset(out).iter_samples())
    assert len(samples) == 12 and all(s.perception.startswith(f"[Image 1, seen by hf:{vlm}]") for s in samples)
    with sqlite3.connect(out / "journal.sqlite") as db:
        by_model = dict(db.execute("SELECT model, COUNT(*) FROM requests GROUP BY model").fetchall())
    images = {hashlib.sha256(im.bytes).hexdigest() for s in samples for im in s.images}
    assert by_model == {"openai:fake-model": 12, f"hf:{vlm}": len(images)}

    sent = srv.count
    assert main([*args, "--out", str(tmp_path / "again"), "--journal", str(out / "journal.sqlite")]) == 0
    assert srv.count == sent  # the teacher's prompts (which embed the descriptions) were all answered before

    async def describe_again() -> tuple[int, int, int]:  # in a new client, as a resumed run has
        seeing = open_seeing(f"hf:{vlm}", str(out / "journal.sqlite"))
        try:
            for s in samples:
                await seeing.messages(_TextOnly(), s, "q")
            u = seeing.client.get().usage
            return u.requests, u.cached, u.completion_tokens
        finally:
            await seeing.aclose()

    requests, cached, generated = asyncio.run(describe_again())
    assert requests == cached == sum(len(s.images) for s in samples) and generated == 0


class _TextOnly:
    """Stands for a text-only reasoner: all :class:`Seeing` asks of a model is whether it sees images."""

    spec = "text-only"
    accepts_images = False


def test_retries_by_reason_are_in_the_manifest(bg, problems, tmp_path):
    """Every first try fails with a 500 (transient: retried) and the manifest counts the retries by
    reason. (A dead endpoint no longer gets this far: the start-up check stops the stage, exit 3.)"""
    live = FakeServer(reply_tokens=20, reply_bytes=60)
    proxy = FaultProxy("127.0.0.1", bg.run(live.start()))
    port = bg.run(proxy.start())
    proxy.faults.extend(["500"] * 12)
    out = tmp_path / "d"
    try:
        assert main(["distill", str(problems), "--teacher", f"openai:fake-model@http://127.0.0.1:{port}/v1",
                     "--max-tokens", "20", "--retries", "1", "--out", str(out)]) == 0
    finally:
        bg.run(proxy.close())
        bg.run(live.close())
    stats = Dataset(out).manifest()["stats"]
    assert stats["failed"] == 0 and stats["retries_by_reason"] == {"http_500": 12}

"""A teacher that is down, dies mid-run or refuses to serve ends the stage fast, non-zero, journal kept.

Through the real CLI path (``finereason distill``) at its default settings, against loopback servers.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/servers

from servers.canned import CannedServer, reply
from servers.fake_openai import FakeServer

from finereason.cli import main
from finereason.models import Journal


@pytest.fixture(scope="module")
def problems(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "s"
    assert main(["synth", "--n", "12", "--seed", "5", "--shard-size", "4", "--workers", "1", "--out", str(out)]) == 0
    return out


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def test_a_dead_endpoint_stops_the_stage_at_once_naming_url_and_cause(problems, tmp_path, capsys):
    url = _dead_url()
    started = time.monotonic()
    rc = main(["distill", str(problems), "--teacher", f"openai:fake-model@{url}", "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert rc == 3 and time.monotonic() - started < 60
    assert url in err and "connection refused" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1  # one clear error


def test_a_teacher_dying_mid_run_stops_the_stage_and_keeps_the_journal(bg, problems, tmp_path, capsys):
    server = FakeServer(reply_tokens=20, reply_bytes=60, seconds_per_token=0.005, slots=2)
    port = bg.run(server.start())

    async def kill_after(n: int) -> None:
        while server.count < n:
            await asyncio.sleep(0.01)
        await server.close()  # in-flight requests are reset, then every connection is refused

    killer = asyncio.run_coroutine_threadsafe(kill_after(6), bg.loop)
    out = tmp_path / "d"
    args = ["distill", str(problems), "--teacher", f"openai:fake-model@http://127.0.0.1:{port}/v1",
            "--concurrency", "2", "--out", str(out)]
    started = time.monotonic()
    rc = main(args)
    elapsed = time.monotonic() - started
    killer.result(5)
    err = capsys.readouterr().err
    assert rc == 3 and elapsed < 60, (rc, elapsed)
    assert f"127.0.0.1:{port}" in err and "connection refused" in err and "rerun the same command" in err
    with Journal(out / "journal.sqlite") as journal:
        answered = journal.counts()["done"]
    assert 1 <= answered < 12  # what came back before the death is kept
    live = FakeServer(reply_tokens=20, reply_bytes=60)
    port2 = bg.run(live.start())
    try:
        assert main([*args[:3], f"openai:fake-model@http://127.0.0.1:{port2}/v1", *args[4:]]) == 0
    finally:
        bg.run(live.close())
    assert live.count == 12 - answered  # the rerun paid only for what the journal did not hold


def test_model_not_found_stops_the_stage_with_the_404(bg, problems, tmp_path, capsys):
    server = CannedServer(reply(404, b'{"error":{"message":"The model `fake-model` does not exist."}}'),
                          models=reply(200, b'{"data":[{"id":"other-model"}]}'))
    url = f"http://127.0.0.1:{bg.run(server.start())}/v1"
    try:
        rc = main(["distill", str(problems), "--teacher", f"openai:fake-model@{url}", "--out", str(tmp_path / "d")])
    finally:
        bg.run(server.close())
    err = capsys.readouterr().err
    assert rc == 3 and "404 not found" in err and "lists ['other-model']" in err  # preflight warned first


def test_a_server_answering_html_fails_each_request_with_its_reason(bg, problems, tmp_path, capsys):
    server = CannedServer(reply(200, b"<!doctype html><title>Grafana</title>", "text/html"))
    url = f"http://127.0.0.1:{bg.run(server.start())}/v1"
    out = tmp_path / "d"
    try:
        rc = main(["distill", str(problems), "--teacher", f"openai:fake-model@{url}", "--retries", "0",
                   "--out", str(out)])
    finally:
        bg.run(server.close())
    captured = capsys.readouterr()
    assert rc == 4 and "Traceback" not in captured.err and "every request failed" in captured.err
    assert "request_failed:malformed_json=12" in captured.out


def test_exit_codes_are_documented_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["distill", "--help"])
    text = capsys.readouterr().out
    assert "exit status:" in text and "no endpoint of the model could serve" in text


@pytest.mark.parametrize("command", ["clean", "verify", "eval"])
def test_every_model_command_checks_its_endpoints_before_starting(problems, tmp_path, capsys, command):
    spec = f"openai:fake-model@{_dead_url()}"
    out = str(tmp_path / "o")
    argv = {
        "clean": ["clean", str(problems), "--llm", spec, "--out", out],
        "verify": ["verify", str(problems), "--judge", spec, "--out", out],
        "eval": ["eval", "--benchmark", "canonical", "--data", str(problems), "--mode", "direct", "--model", spec,
                 "--out", out],
    }[command]
    started = time.monotonic()
    assert main(argv) == 3 and time.monotonic() - started < 60
    assert "connection refused" in capsys.readouterr().err and not Path(out).exists()  # nothing started

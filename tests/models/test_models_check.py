"""``check``: a report per endpoint, never an exception for a dead server."""

from __future__ import annotations

import asyncio

from servers.fake_openai import FakeServer

from finereason.models.check import check


def test_check_reports_each_endpoint(fake: tuple[FakeServer, str]) -> None:
    _, url = fake
    report = asyncio.run(check(f"openai:fake-model@{url},http://127.0.0.1:9/v1", timeout=2))
    live, dead = report["endpoints"]
    assert report["ok"] is False and report["model"] == "fake-model"
    assert live["ok"] and live["models"] == ["fake-model"] and live["serves_model"] and live["latency_s"] >= 0
    assert not dead["ok"] and "connect_error" in dead["error"]


def test_check_warns_when_the_model_is_not_listed(fake: tuple[FakeServer, str]) -> None:
    _, url = fake
    report = asyncio.run(check(f"openai:other@{url}"))
    [endpoint] = report["endpoints"]
    assert report["ok"] and not endpoint["serves_model"] and "not in /models" in endpoint["warning"]

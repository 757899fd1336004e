"""No run writes a secret: an API key from the environment is sent to the server and nowhere else,
and a spec with credentials in its URL is refused before anything is written (issue 17)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/servers

from servers.fake_openai import FakeServer

from finereason.cli import main

KEY = "sk-fr-test-7f3a9c1e5b"  # distinctive, so a hit can only be this key


@pytest.fixture(scope="module")
def problems(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "s"
    assert main(["synth", "--n", "6", "--seed", "3", "--shard-size", "3", "--workers", "1", "--out", str(out)]) == 0
    return out


@pytest.fixture
def server(bg):
    srv = FakeServer(record=True, reply_tokens=20, reply_bytes=60)
    port = bg.run(srv.start())
    yield srv, port
    bg.run(srv.close())


def files_holding(root: Path, secret: str) -> list[str]:
    """Every file under ``root`` whose bytes contain ``secret`` (plain, or as written in JSON)."""
    needles = [secret.encode(), secret.encode("utf-16-le")]
    hits = []
    for p in root.rglob("*"):
        if p.is_file() and any(n in p.read_bytes() for n in needles):
            hits.append(str(p.relative_to(root)))
    return hits


@pytest.mark.parametrize("variable", ["FINEREASON_API_KEY", "OPENAI_API_KEY"])
def test_a_key_from_the_environment_is_sent_and_never_written(server, problems, tmp_path, monkeypatch, capsys,
                                                              variable):
    srv, port = server
    monkeypatch.delenv("FINEREASON_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv(variable, KEY)
    run = tmp_path / "run"
    spec = f"openai:fake-model@http://127.0.0.1:{port}/v1"
    assert main(["distill", str(problems), "--teacher", spec, "--max-tokens", "20", "--workers", "1",
                 "--out", str(run / "distilled")]) == 0
    assert main(["difficulty", str(run / "distilled"), "--student", spec, "--k", "2", "--max-tokens", "20",
                 "--out", str(run / "scored")]) == 0
    printed = capsys.readouterr()
    # The key was really used (so a clean grep means something) ...
    assert srv.heads and all(f"Authorization: Bearer {KEY}".encode() in h for h in srv.heads)
    written = [p for p in run.rglob("*") if p.is_file()]
    assert any(p.name == "journal.sqlite" for p in written) and any(p.name == "manifest.json" for p in written)
    # ... and appears in no file the run wrote (shards, manifests, markers, journal and its WAL), nor its output.
    assert files_holding(run, KEY) == []
    assert KEY not in printed.out + printed.err


@pytest.mark.parametrize("spec", [
    "openai:fake-model@http://user:{key}@127.0.0.1:{port}/v1",
    "openai://user:{key}@127.0.0.1:{port}/v1/fake-model",
    "openai:fake-model@user:{key}@127.0.0.1:{port}/v1",
    "openai:fake-model@http://{key}@127.0.0.1:{port}/v1",
])
def test_credentials_in_a_url_are_refused_before_anything_is_written(server, problems, tmp_path, capsys, spec):
    srv, port = server
    out = tmp_path / "distilled"
    assert main(["distill", str(problems), "--teacher", spec.format(key=KEY, port=port), "--max-tokens", "20",
                 "--workers", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "FINEREASON_API_KEY" in err and KEY not in err
    assert srv.count == 0  # nothing was sent either
    assert not out.exists() or files_holding(out, KEY) == []

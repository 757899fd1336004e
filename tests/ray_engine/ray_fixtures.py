"""Fixtures for the Ray engine: a real two-node cluster on loopback, a fake model server, inputs.

The cluster is started once per module (a head and a second node, one CPU each, in their own
process groups, ports and temp dir) and killed at the end; the test process is its driver.
Imported by the test modules (not a conftest.py: several test folders' ``conftest`` modules
would shadow each other when pytest is given more than one folder).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: servers, fixture_dir

from ray_cluster import CLUSTER_ENV, LocalCluster
from servers.fake_openai import FakeServer
from servers.harness import BackgroundLoop


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Head + one worker node on 127.0.0.1; this process joins it as the driver."""
    import ray

    with pytest.MonkeyPatch.context() as mp:
        for key, value in CLUSTER_ENV.items():
            mp.setenv(key, value)
        with LocalCluster(tmp_path_factory.mktemp("ray"), workers=1, cpus=1) as c:
            try:
                yield c
            finally:
                ray.shutdown()


@pytest.fixture
def fake(bg: BackgroundLoop) -> Iterator[tuple[FakeServer, str]]:
    """A recording fake OpenAI server (0.1 s a request); yields it and a teacher spec for it."""
    server = FakeServer(record=True, reply_bytes=200, reply_tokens=20, seconds_per_token=0.005)
    port = bg.run(server.start())
    yield server, f"openai:fake-model@http://127.0.0.1:{port}/v1"
    bg.run(server.close())


@pytest.fixture
def raw_jsonl(tmp_path: Path) -> Path:
    """The real release sample, with exact and near duplicates and one broken line, as JSON Lines.

    Image paths stay relative to the fixture folder (ingest with ``--image-root FIXTURE_DIR``).
    """
    from fixture_dir import FIXTURE_DIR

    records = [json.loads(line) for line in (FIXTURE_DIR / "records.jsonl").read_text().splitlines()]
    twins = [dict(records[i]) for i in (3, 17, 40)]  # exact duplicates
    near = dict(records[25])
    near["question"] = near["question"].replace("?", " ?") + " "  # spacing only: the same question
    lines = [json.dumps(r) for r in records + twins + [near]]
    lines.insert(11, '{"question": "broken line", ')  # bad_json, rejected with its line number
    path = tmp_path / "raw" / "records.jsonl"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n")
    return path


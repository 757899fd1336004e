"""Journal files of many writers read as one (what lets Ray client actors share a run's journal).

No cluster here: writers are subprocesses killed without closing their journal, as a lost node
leaves it (WAL not checkpointed), and the set is opened the ways the engines open it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from finereason.models import Completion, Journal, ModelClient, SamplingParams, request_key
from finereason.models.journal_set import JournalSet, journal_dir, open_journal, seal
from finereason.models.session import LazyClient, RunContext, RunShare

PARAMS = SamplingParams(max_tokens=8)

KILLED_WRITER = """
import asyncio, os, sys
from finereason.models import Completion, Journal, SamplingParams
j = Journal(sys.argv[1])
async def main():
    for key in sys.argv[2:]:
        await j.put(key, "m", SamplingParams(max_tokens=8), [Completion(text="answer " + key)])
asyncio.run(main())
os._exit(0)  # killed: no close, so the rows are in the WAL only
"""


def killed_writer(path: Path, *keys: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path), *keys], check=True, timeout=60)


def test_a_local_run_without_other_writers_gets_a_plain_journal(tmp_path: Path) -> None:
    journal = open_journal(tmp_path / "journal.sqlite")
    assert type(journal) is Journal
    journal.close()


def test_seal_checkpoints_a_killed_writers_file_into_a_plain_file(tmp_path: Path) -> None:
    path = tmp_path / "journal.d" / "a.sqlite"
    killed_writer(path, "k1", "k2")
    assert path.with_name("a.sqlite-wal").stat().st_size > 0
    seal(path)
    seal(path)  # idempotent
    assert not path.with_name("a.sqlite-wal").exists()
    assert path.read_bytes()[18:20] == b"\x01\x01"  # rollback mode: readable without locks from any host
    with JournalSet(Journal(tmp_path / "own.sqlite"), [path]) as js:
        assert js.get("k1")[0].text == "answer k1"


def test_a_local_rerun_reads_every_actors_file(tmp_path: Path) -> None:
    base = tmp_path / "journal.sqlite"
    killed_writer(journal_dir(base) / "r1-000.sqlite", "a")
    killed_writer(journal_dir(base) / "r1-001.sqlite", "b")
    journal = open_journal(base)
    assert isinstance(journal, JournalSet)
    assert journal.get("a")[0].text == "answer a" and journal.get("b")[0].text == "answer b"
    assert journal.get("c") is None
    asyncio.run(journal.put("c", "m", PARAMS, [Completion(text="new")]))
    assert journal.counts() == {"done": 3, "failed": 0}
    journal.close()
    with Journal(base) as plain:  # new answers go to the run's own journal file
        assert plain.get("c")[0].text == "new" and plain.get("a") is None


def test_an_actor_writes_its_own_file_and_skips_this_runs_live_writers(tmp_path: Path) -> None:
    base = tmp_path / "journal.sqlite"
    killed_writer(base, "local")
    killed_writer(journal_dir(base) / "r1-000.sqlite", "earlier")
    killed_writer(journal_dir(base) / "r2-001.sqlite", "live")  # another actor of this run (r2)
    sealed: list[Path] = []

    def sealer(own: Path, others: list[Path]) -> list[Path]:
        sealed.extend(others)
        for p in others:
            seal(p)
        return []

    journal = open_journal(base, writer="r2-000", run="r2", sealer=sealer)
    assert journal.path == journal_dir(base) / "r2-000.sqlite"
    assert sorted(p.name for p in sealed) == ["journal.sqlite", "r1-000.sqlite"]
    assert journal.get("local") and journal.get("earlier") and journal.get("live") is None
    journal.adopt(journal_dir(base) / "r2-001.sqlite")
    assert journal.get("live") is None  # an unsealed file reads as empty: files are sealed before adoption
    seal(journal_dir(base) / "r2-001.sqlite")  # that actor was lost: the driver has its file sealed
    journal.adopt(journal_dir(base) / "r2-001.sqlite")
    assert journal.get("live")[0].text == "answer live"
    journal.close()
    # An actor that opens its journal only after the loss is handed the lost file by the sealer.
    late = open_journal(base, writer="r2-002", run="r2", sealer=lambda own, others: [
        journal_dir(base) / "r2-001.sqlite"])
    assert late.get("live") and late.get("earlier")
    late.close()


def test_a_request_answered_by_another_actor_is_not_sent_again(tmp_path: Path) -> None:
    messages = [{"role": "user", "content": "2+2?"}]

    class Counting:
        spec = model_id = "test:model"
        accepts_images = False
        calls = 0

        async def complete(self, messages, params):  # noqa: ANN001, ANN202 - the Model protocol
            Counting.calls += 1
            return [Completion(text="4")]

        async def aclose(self) -> None:
            pass

    key = request_key("test:model", messages, PARAMS)
    killed_writer(tmp_path / "journal.d" / "r1-000.sqlite", key)

    async def ask() -> str:
        client = ModelClient(Counting(), open_journal(tmp_path / "journal.sqlite"))
        try:
            return (await client.complete(messages, PARAMS))[0].text
        finally:
            await client.aclose()

    assert asyncio.run(ask()) == f"answer {key}"
    assert Counting.calls == 0


def test_actors_split_the_requests_in_flight(tmp_path: Path) -> None:
    spec = "openai:m@http://127.0.0.1:9/v1,http://127.0.0.1:10/v1"  # two endpoints, 64 each by default
    actor = RunContext(share=RunShare(writer="r1-000", run="r1", concurrency_share=1 / 3))
    client = LazyClient(spec, str(tmp_path / "journal.sqlite"), context=actor).get()
    assert client.concurrency == 43  # ceil(128 / 3)
    assert client.journal.path == tmp_path / "journal.d" / "r1-000.sqlite"
    client.journal.close()
    assert LazyClient(spec, None, concurrency=4, context=actor).get().concurrency == 2
    assert LazyClient(spec, None).get().concurrency == 128  # no context: alone, the whole limit

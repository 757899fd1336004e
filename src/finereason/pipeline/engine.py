"""The local engine: runs a stage over shards on this machine's cores, resumably.

Parallelism is a process pool over shards with a bounded number in flight, so memory stays at
``workers × one shard`` whatever the dataset's size. Each worker writes its own output shard
(large tables never cross a pipe). A shard whose done-marker exists is skipped, so a rerun
after a kill redoes only unfinished shards. Model stages run in this process on one event loop,
several shards at once, so a server is kept busy across shard boundaries.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import TYPE_CHECKING, Any, TypeVar

from finereason.errors import first_error
from finereason.io.store import Dataset, DatasetError, ShardCounts, atomic_write_json
from finereason.pipeline.lifeline import worker_pool
from finereason.pipeline.manifest import RunInfo, write_manifest
from finereason.pipeline.progress import StageProgress
from finereason.pipeline.stage import ModelStage, Stage, StageResult, Task

if TYPE_CHECKING:
    from finereason.models.session import RunContext

J = TypeVar("J")
R = TypeVar("R")


def _count(index: int, batch_len: int, res: StageResult, elapsed: float) -> ShardCounts:
    reasons = Counter(r.reason for r in res.rejected)
    return ShardCounts(
        index=index,
        records_in=res.records_in if res.records_in is not None else batch_len,
        records_out=len(res.kept),
        rejected=dict(reasons),
        elapsed_s=round(elapsed, 4),
        extra=res.stats,
        failed=res.failed,
    )


def run_one(stage: Stage, task: Task, out_root: str) -> ShardCounts:
    """Process one shard end to end in whichever process runs it (pool worker or inline)."""
    t0 = time.perf_counter()
    batch = task.load()
    res = stage(batch)
    counts = _count(task.index, len(batch), res, time.perf_counter() - t0)
    Dataset(out_root).write_shard(task.index, res.kept, res.rejected, counts)
    return counts


def prepare_output(out: Dataset, info: RunInfo, overwrite: bool) -> None:
    """Start fresh, or resume only a run of the same stage with the same settings."""
    run_file = out.root / ".done" / "_run.json"
    if overwrite and out.root.exists():
        shutil.rmtree(out.root)
    if run_file.exists():
        import json

        prev = json.loads(run_file.read_text())
        mine = json.loads(json.dumps(info.identity()))  # as stored: tuples read back as lists
        for key in sorted(set(prev) | set(mine)):
            if prev.get(key) != mine.get(key):
                raise DatasetError(
                    f"{out.root} holds an unfinished or finished run with a different '{key}' "
                    f"({prev.get(key)!r} vs {mine.get(key)!r}); use another --out or --overwrite"
                )
    elif out.root.exists() and any(out.root.iterdir()):
        raise DatasetError(f"{out.root} exists and is not a run of this stage; use another --out or --overwrite")
    out.begin()
    atomic_write_json(run_file, info.identity())


def _status(done: list[ShardCounts]) -> str:
    n_in = sum(c.records_in for c in done)
    n_out = sum(c.records_out for c in done)
    return f"{n_in} in · {n_out} kept · {n_in - n_out} out"


def run_stage(
    stage: Stage,
    tasks: Iterable[Task],
    out_dir: str | os.PathLike[str],
    info: RunInfo,
    *,
    workers: int | None = None,
    total: int | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run ``stage`` over ``tasks`` into ``out_dir`` and return the written manifest."""
    out = Dataset(out_dir)
    prepare_output(out, info, overwrite)
    started = time.time()
    workers = workers or os.cpu_count() or 1
    pending = (t for t in tasks if not out.is_done(t.index))
    done: list[ShardCounts] = out.done_counts()
    with StageProgress(stage.name, total, already=len(done)) as bar:
        if workers == 1:
            for task in pending:
                done.append(run_one(stage, task, str(out.root)))
                bar.advance()
                bar.status(_status(done))
        else:
            with worker_pool(workers) as pool:
                inflight: set[Future[ShardCounts]] = set()
                for task in pending:
                    inflight.add(pool.submit(run_one, stage, task, str(out.root)))
                    if len(inflight) >= 2 * workers:
                        finished, inflight = wait(inflight, return_when=FIRST_COMPLETED)
                        for f in finished:
                            done.append(f.result())
                            bar.advance()
                        bar.status(_status(done))
                for f in inflight:
                    done.append(f.result())
                    bar.advance()
                bar.status(_status(done))
    return write_manifest(out, info, out.done_counts(), time.time() - started)


async def run_async_stage(
    stage: ModelStage,
    tasks: Iterable[Task],
    out_dir: str | os.PathLike[str],
    info: RunInfo,
    *,
    shards_in_flight: int = 4,
    total: int | None = None,
    overwrite: bool = False,
    context: RunContext | None = None,
) -> dict[str, Any]:
    """Run a model stage: shards concurrently on one loop; the model client bounds requests.

    The stage is opened with ``context`` once the output folder is ready (its clients and
    journals go there, and it fails before any work if a model can't serve); its ``status()``
    is shown beside the bar. Closing is the caller's (a stage may run several rounds).
    """
    out = Dataset(out_dir)
    prepare_output(out, info, overwrite)
    if context is None:  # one of our own, so its clients' retries go into the manifest
        from finereason.models.session import RunContext  # models are loaded only by model stages

        context = RunContext()
    stage.open(context)
    started = time.time()
    # A shard with failed requests is finished but not done: a rerun redoes it, and the journal
    # makes every request that succeeded the first time free.
    done = [c for c in out.done_counts() if not c.failed]
    finished = {c.index for c in done}
    sem = asyncio.Semaphore(shards_in_flight)

    async def one(task: Task, bar: StageProgress) -> None:
        async with sem:
            t0 = time.perf_counter()
            batch = await asyncio.to_thread(task.load)
            res = await stage.run(batch)
            counts = _count(task.index, len(batch), res, time.perf_counter() - t0)
            await asyncio.to_thread(out.write_shard, task.index, res.kept, res.rejected, counts)
            done.append(counts)
            bar.advance()

    async def ticker(bar: StageProgress) -> None:
        while True:
            text = stage.status()
            bar.status((text + " · " if text else "") + _status(done))
            await asyncio.sleep(0.5)

    with StageProgress(stage.name, total, already=len(done)) as bar:
        tick = asyncio.create_task(ticker(bar))
        try:
            # A TaskGroup, not gather: when one shard raises (no endpoint can serve), the others
            # are cancelled at once instead of running on beside a closing client and journal.
            async with asyncio.TaskGroup() as group:
                for t in tasks:
                    if t.index not in finished:
                        group.create_task(one(t, bar))
        except BaseExceptionGroup as errors:
            raise first_error(errors) from None
        finally:
            tick.cancel()
    return write_manifest(out, info, out.done_counts(), time.time() - started, model_stage=True,
                          stats={"retries_by_reason": context.retries_by_reason()})


def map_jobs(fn: Callable[[J], R], jobs: Sequence[J], *, workers: int | None = None, description: str,
             total: int | None = None, already: int = 0) -> list[R]:
    """``fn`` over ``jobs`` on a process pool, results in job order, with a progress bar.

    For passes that write something other than a dataset (dedup's signatures), with the same
    choices as :func:`run_stage`: forkserver workers, at most ``2 × workers`` jobs in flight.
    ``total``/``already`` let a resumed pass show the jobs it skipped as done.
    """
    workers = workers or os.cpu_count() or 1
    results: dict[int, R] = {}
    with StageProgress(description, total if total is not None else len(jobs), already=already) as bar:
        if workers <= 1 or len(jobs) <= 1:
            for i, job in enumerate(jobs):
                results[i] = fn(job)
                bar.advance()
        else:
            with worker_pool(min(workers, len(jobs))) as pool:
                inflight: dict[Future[R], int] = {}
                for i, job in enumerate(jobs):
                    inflight[pool.submit(fn, job)] = i
                    while len(inflight) >= 2 * workers:
                        finished, _ = wait(inflight, return_when=FIRST_COMPLETED)
                        for f in finished:
                            results[inflight.pop(f)] = f.result()
                            bar.advance()
                for f in list(inflight):
                    results[inflight.pop(f)] = f.result()
                    bar.advance()
    return [results[i] for i in range(len(jobs))]

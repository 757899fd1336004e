"""Model stages on Ray: client actors that each run ``stage.run(batch)`` for the shards given them.

Each actor is an async Ray actor holding its own copy of the stage, so the stage's lazily
opened client (HTTP pool, in-process weights, journal) lives in that actor, one per node by
default. An actor loads a shard, awaits ``stage.run`` and writes the shard files itself, like
the local engine's loop does; several shards are in flight per actor, and the model client
bounds the requests. The actors split the requests-in-flight limit between them
(:class:`~finereason.models.session.RunShare`, in each actor's own
:class:`~finereason.models.session.RunContext`), so N actors together keep each endpoint's limit.

Journals: each actor writes ``<journal>.d/<run>-<i>.sqlite`` and reads every earlier file, which
one sealing actor (:class:`Sealer`, on the driver's node) makes safe to read from any machine
(see :mod:`~finereason.models.journal_set`). When an actor is lost (its node died), the driver
has its file sealed, the surviving actors adopt it, and its unfinished shards go to them: the
requests it had completed are answered from its file, so only those in flight are paid twice.
If every actor is lost, a new one is started (and waits for room in the cluster).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from finereason.io.store import Dataset, ShardCounts
from finereason.models import session
from finereason.models.journal_set import seal
from finereason.pipeline.engine import _count
from finereason.pipeline.progress import say
from finereason.pipeline.stage import ModelStage, Task

if TYPE_CHECKING:
    from finereason.pipeline.ray_engine import RayEngine

#: Seconds between two status polls of the actors (tokens/s, in flight, cached, failed).
STATUS_EVERY_S = 2.0
#: Seconds without progress and no actor up before saying what the actors are waiting for.
WAIT_WARNING_S = 60.0
#: Seconds an actor gets to close its clients (flush and checkpoint its journal) at the end.
CLOSE_TIMEOUT_S = 120.0


class Sealer:
    """One process that seals journal files for all actors of a run, and knows whose file is whose."""

    def __init__(self) -> None:
        self.files: dict[str, list[str]] = {}
        self.lost: list[str] = []  # sealed files of this run's lost writers

    def seal(self, writer: str, own: str, others: list[str]) -> list[str]:
        """Seal ``others`` before ``writer`` reads them; returns the lost writers' files to read too."""
        self.files.setdefault(writer, [])
        if own not in self.files[writer]:
            self.files[writer].append(own)
        for p in others:
            seal(p)
        return [p for p in self.lost if p not in others]

    def seal_writer(self, writer: str) -> list[str]:
        """Seal the files of a writer that is gone; returns them for the survivors to adopt."""
        paths = [p for p in self.files.get(writer, []) if os.path.exists(p)]
        for p in paths:
            seal(p)
            if p not in self.lost:
                self.lost.append(p)
        return paths


class _RemoteSealer:
    """The :class:`~finereason.models.session.RunShare` ``sealer`` callable inside an actor."""

    def __init__(self, handle: Any, writer: str) -> None:
        self.handle = handle
        self.writer = writer

    def __call__(self, own: Path, others: list[Path]) -> list[Path]:
        import ray

        return [Path(p) for p in ray.get(self.handle.seal.remote(self.writer, str(own), [str(p) for p in others]))]


class StageActor:
    """Holds a model stage, opened under this actor's own run context, and runs shards through it."""

    def __init__(self, stage: ModelStage, share: session.RunShare) -> None:
        self.stage = stage
        self.context = session.RunContext(share=share)
        self._failed: Exception | None = None
        try:
            self.stage.open(self.context)
        except Exception as e:  # raised again by ready(), where the driver gets it as itself
            self._failed = e

    def ready(self) -> str:
        """This actor's node id once the stage is open; ``open``'s error if it failed."""
        import ray

        if self._failed is not None:
            raise self._failed
        return ray.get_runtime_context().get_node_id()

    async def run_shard(self, task: Task, out_root: str) -> ShardCounts:
        t0 = time.perf_counter()
        batch = await asyncio.to_thread(task.load)
        res = await self.stage.run(batch)
        counts = _count(task.index, len(batch), res, time.perf_counter() - t0)
        await asyncio.to_thread(Dataset(out_root).write_shard, task.index, res.kept, res.rejected, counts)
        return counts

    def status(self) -> str:
        return self.stage.status()

    def retries(self) -> dict[str, int]:
        """Retried attempts by reason of this actor's clients, for the manifest."""
        return self.context.retries_by_reason()

    def adopt(self, paths: list[str]) -> None:
        for journal in self.context.journal_sets():
            for p in paths:
                if Path(p).parent == journal.own.path.parent:
                    journal.adopt(p)

    async def close(self) -> None:
        await self.stage.aclose()
        await self.context.aclose()


class _Actor:
    """The driver's view of one client actor."""

    def __init__(self, index: int, writer: str, handle: Any) -> None:
        self.index = index
        self.writer = writer
        self.handle = handle
        self.ready = handle.ready.remote()  # resolves once the stage is open in the actor
        self.node = "?"
        self.alive = True
        self.status = ""
        self.handed_over: asyncio.Future[None] | None = None  # set once its journal is adopted


class ActorPool:
    """The client actors of one model stage run, with failover when an actor (or its node) is lost."""

    def __init__(self, ray: ModuleType, engine: RayEngine, stage: ModelStage, *, shards_in_flight: int) -> None:
        self.ray = ray
        self.engine = engine
        self.payload_ref = ray.put(stage)
        self.per_actor = max(1, shards_in_flight)
        self.run_id = time.strftime("r%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:6]
        self.actors: list[_Actor] = []
        self.size = 0
        self.sealer: Any = None

    def _count(self) -> int:
        if self.engine.actors:
            return self.engine.actors
        from finereason.pipeline.ray_nodes import alive_nodes

        if self.engine.gpus_per_actor:
            gpus = self.ray.cluster_resources().get("GPU", 0)
            return max(1, int(gpus // self.engine.gpus_per_actor))
        return max(1, len(alive_nodes(self.ray)))

    async def start(self) -> None:
        """Start the sealer and the actors (each opens the stage as it comes up; see :meth:`run`)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = self.ray.get_runtime_context().get_node_id()
        self.sealer = self.ray.remote(Sealer).options(
            num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote()
        self.size = self._count()
        say(f"ray: starting {self.size} client actor(s), run {self.run_id}")
        self._spawn(self.size)

    def _spawn(self, n: int) -> None:
        for _ in range(n):
            index = len(self.actors)
            writer = f"{self.run_id}-{index:03d}"
            share = session.RunShare(writer=writer, run=self.run_id, concurrency_share=1 / self.size,
                                     sealer=_RemoteSealer(self.sealer, writer))
            handle = self.ray.remote(StageActor).options(
                num_cpus=self.engine.actor_cpus, num_gpus=self.engine.gpus_per_actor, max_restarts=0,
                max_concurrency=1000, scheduling_strategy="SPREAD",
            ).remote(self.payload_ref, share)
            self.actors.append(_Actor(index, writer, handle))

    def live(self) -> list[_Actor]:
        return [a for a in self.actors if a.alive]

    async def _lost(self, actor: _Actor, err: BaseException) -> None:
        """An actor died: make sure it is gone, seal its journal, let the survivors read it.

        Every lane of that actor waits here until the survivors have adopted its journal, and
        only then puts its shard back, so no survivor redoes a request the lost actor had paid
        for. If no actor is left, a new one is started (it waits for room in the cluster).
        """
        if actor.handed_over is not None:
            await actor.handed_over
            return
        actor.alive = False
        actor.handed_over = asyncio.get_running_loop().create_future()
        say(f"ray: client actor {actor.index} (node {actor.node}) lost ({type(err).__name__}); "
            "its shards go to the others")
        try:
            # "Unavailable" may be a network blip: end it for sure before its file is sealed.
            self.ray.kill(actor.handle, no_restart=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(_ref(actor.handle.ready.remote()), CLOSE_TIMEOUT_S)
            try:
                paths = await self.sealer.seal_writer.remote(actor.writer)
            except self.ray.exceptions.RayError as e:  # its node still holds the file: pay again, not fail
                say(f"ray: the journal of client actor {actor.index} cannot be read ({type(e).__name__}); "
                    "its unfinished requests will be sent again")
                paths = []
            survivors = self.live()
            if not survivors:
                say("ray: no client actor left; starting a new one (it waits for room in the cluster)")
                self._spawn(1)
                survivors = self.live()
            if paths:
                await asyncio.gather(*(_ref(a.handle.adopt.remote(paths)) for a in survivors), return_exceptions=True)
        finally:
            actor.handed_over.set_result(None)

    async def run(self, tasks: list[Task], out_root: str, finished: Callable[[ShardCounts], None],
                  show: Callable[[str], None]) -> None:
        """Run every task on the actors; a task whose actor is lost is redone on another.

        Each actor starts working as soon as it is up, so one that waits for room in the
        cluster (or never gets it) delays nothing; the run ends when every task is done.
        """
        from finereason.pipeline.ray_nodes import explain

        rex = self.ray.exceptions
        queue = deque(tasks)
        busy = 0
        changed = asyncio.Event()

        async def lane(actor: _Actor) -> None:
            nonlocal busy
            while queue and actor.alive:
                task = queue.popleft()
                busy += 1
                try:
                    counts = await actor.handle.run_shard.remote(task, out_root)
                except rex.RayActorError as e:
                    await self._lost(actor, e)  # returns once the survivors can read its journal
                    queue.appendleft(task)
                    return
                except rex.RayError as e:
                    raise explain(e) from e  # the stage's own error ends the run, as it does locally
                finally:
                    busy -= 1
                    changed.set()
                finished(counts)

        async def drive(actor: _Actor) -> None:
            try:
                actor.node = (await actor.ready)[:8]
            except rex.RayActorError as e:
                if getattr(e, "actor_init_failed", False):  # it could not even unpack the stage
                    raise explain(e) from e
                await self._lost(actor, e)
                return
            except rex.RayError as e:  # the stage failed to open: the model cannot serve
                raise explain(e) from e
            await asyncio.gather(*(lane(actor) for _ in range(self.per_actor)))

        drivers: dict[int, asyncio.Task[None]] = {}
        tick = asyncio.create_task(self._ticker(show))
        quiet_since = time.monotonic()
        try:
            while queue or busy:
                for actor in self.live():
                    running = drivers.get(actor.index)
                    if queue and (running is None or running.done()):
                        drivers[actor.index] = asyncio.create_task(drive(actor))
                changed.clear()
                waiter = asyncio.create_task(changed.wait())
                done, _ = await asyncio.wait([waiter, *(t for t in drivers.values() if not t.done())],
                                             timeout=WAIT_WARNING_S, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                for t in done:
                    if t is not waiter:
                        t.result()
                if done:
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since >= WAIT_WARNING_S and not busy:
                    say(f"ray: no client actor is up after {WAIT_WARNING_S:.0f}s; each needs "
                        f"{self.engine.actor_cpus:g} CPU and {self.engine.gpus_per_actor:g} GPU free on a node")
                    quiet_since = time.monotonic()
        finally:
            tick.cancel()
            for t in drivers.values():
                t.cancel()

    async def _ticker(self, show: Callable[[str], None]) -> None:
        """Poll the actors' ``status`` for the progress line."""
        while True:
            live = self.live()
            replies = await asyncio.gather(*(asyncio.wait_for(_ref(a.handle.status.remote()), STATUS_EVERY_S)
                                             for a in live), return_exceptions=True)
            for a, r in zip(live, replies):
                if isinstance(r, str):
                    a.status = r
            texts = [a.status for a in live if a.status]
            more = f" (+{len(texts) - 1} more)" if len(texts) > 1 else ""
            show(f"{len(live)} actors · {texts[0]}{more}" if texts else f"{len(live)} actors")
            await asyncio.sleep(STATUS_EVERY_S)

    async def retries(self) -> dict[str, int]:
        """Retried attempts by reason, summed over the actors that are up (a lost actor's are lost)."""
        replies = await asyncio.gather(*(asyncio.wait_for(_ref(a.handle.retries.remote()), STATUS_EVERY_S)
                                         for a in self.live() if _resolved(self.ray, a.ready)), return_exceptions=True)
        total: dict[str, int] = {}
        for r in replies:
            for reason, n in (r.items() if isinstance(r, dict) else ()):
                total[reason] = total.get(reason, 0) + n
        return dict(sorted(total.items()))

    async def close(self) -> None:
        """Close the clients of every actor that is up (journals checkpointed), end all, wait for the ends.

        Waiting matters: the next stage (or a local rerun) seals these journal files, which
        needs every process that wrote them gone.
        """
        up = [a for a in self.live() if _resolved(self.ray, a.ready)]
        await asyncio.gather(*(asyncio.wait_for(_ref(a.handle.close.remote()), CLOSE_TIMEOUT_S) for a in up),
                             return_exceptions=True)
        for a in self.actors:
            self.ray.kill(a.handle, no_restart=True)
        await asyncio.gather(*(asyncio.wait_for(_ref(a.handle.ready.remote()), CLOSE_TIMEOUT_S)
                               for a in self.actors), return_exceptions=True)  # each raises once dead
        if self.sealer is not None:
            self.ray.kill(self.sealer, no_restart=True)


def _resolved(ray: ModuleType, ref: Any) -> bool:
    ready, _ = ray.wait([ref], timeout=0)
    return bool(ready)


async def _ref(ref: Any) -> Any:
    """An ObjectRef as a coroutine (``asyncio.wait_for`` and ``gather`` want awaitables they can wrap)."""
    return await ref

"""The Ray engine: the same stages over the same shards, on many machines.

CPU stages run as one Ray task per shard, each doing exactly what a local pool worker does
(:func:`~finereason.pipeline.engine.run_one`: load the shard, run the stage, write the shard
files and then its done-marker), so the output folder, the manifest and resume are those of the
local engine. Workers write straight to ``OUT``, which must therefore be on a filesystem every
node mounts at the same path (NFS, Lustre, GPFS, CephFS); the engine checks that before work
starts. A task on a lost node is retried elsewhere (``max_retries``); a killed job reruns with
the same command and redoes only unfinished shards.

Model stages run in client actors (:mod:`~finereason.pipeline.ray_actors`), each with its own
request-journal file, and resume from the journal like the local engine.

Before the first stage the engine checks every node has this finereason version, so a node set
up from another environment fails in seconds naming the node, not after hours.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from finereason import __version__
from finereason.errors import EngineError
from finereason.io.store import Dataset, ShardCounts
from finereason.pipeline.engine import _status, prepare_output, run_one
from finereason.pipeline.manifest import RunInfo, write_manifest
from finereason.pipeline.progress import StageProgress, say
from finereason.pipeline.ray_nodes import INSTALL_HINT, alive_nodes, explain, node_label
from finereason.pipeline.stage import ModelStage, Stage, Task

if TYPE_CHECKING:
    from finereason.models.session import RunContext

J = TypeVar("J")
R = TypeVar("R")

#: How long to wait for a TCP connection to the head before calling the cluster unreachable
#: (``ray.init`` itself retries a wrong address for minutes).
CONNECT_TIMEOUT_S = 5.0
def _same_address(a: str, b: str) -> bool:
    """Do two HOST:PORT name the same head? Ray reports the node's IP where a user may write
    127.0.0.1 or a host name, so a loopback or unresolvable host matches on the port alone."""
    (ha, _, pa), (hb, _, pb) = a.rpartition(":"), b.rpartition(":")
    if pa != pb:
        return False
    try:
        ia, ib = socket.gethostbyname(ha.strip("[]")), socket.gethostbyname(hb.strip("[]"))
    except OSError:
        return True
    return ia == ib or ia.startswith("127.") or ib.startswith("127.")


def _call(fn: Callable[[J], R], job: J) -> R:
    return fn(job)


def _exists(path: str, wait_s: float) -> bool:
    """On a node: does ``path`` show up within ``wait_s`` (a network filesystem may lag)?"""
    deadline = time.monotonic() + wait_s
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


class RayEngine:
    """Runs stages on the Ray cluster at ``address`` (or a Ray started here with ``workers`` CPUs).

    ``max_retries``: times a shard task is rerun after its worker or node died. Model stages get
    ``actors`` client actors (default: one per node, or one per ``gpus_per_actor`` GPUs), each
    reserving ``actor_cpus`` CPUs. With ``ray_data_llm``, in-job models (``vllm:``, ``hf:``) run as
    Ray Data batch inference instead, one replica per ``gpus_per_actor`` GPUs.
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, *, max_retries: int = 3,
                 actors: int | None = None, actor_cpus: float = 1.0, gpus_per_actor: float = 0.0,
                 ray_data_llm: bool = False) -> None:
        self.address = address
        self.workers = workers
        self.max_retries = max_retries
        self.actors = actors
        self.actor_cpus = actor_cpus
        self.gpus_per_actor = gpus_per_actor
        self.ray_data_llm = ray_data_llm
        self._shared_checked: set[str] = set()

    # ---- the cluster -------------------------------------------------------------------------
    def connect(self) -> ModuleType:
        """Join the cluster once per process (or start Ray here), check every node; return ``ray``."""
        try:
            import ray
        except ImportError as e:
            raise EngineError(f"--engine ray needs Ray ({e}): pip install 'finereason[ray]', on every node") from e
        if ray.is_initialized():
            joined = ray.get_runtime_context().gcs_address
            if self.address not in (None, "auto", "local") and not _same_address(self.address, joined):
                raise EngineError(f"this process already runs on the Ray cluster at {joined}; "
                                  f"one cluster per process (asked for {self.address})")
            return ray
        where = self.address or "a new local Ray instance"
        if self.address and self.address not in ("auto", "local"):
            if self.address.startswith("ray://"):
                raise EngineError(f"--address {self.address}: Ray Client addresses are not supported; run "
                                  "finereason on a cluster node and give the head's HOST:PORT (GCS port, default 6379)")
            self._probe(self.address)
        try:
            context = ray.init(address=self.address, num_cpus=None if self.address else self.workers,
                               logging_level=logging.ERROR, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise EngineError(f"cannot join the Ray cluster at {where}: {first}") from e
        nodes = alive_nodes(ray)
        res = ray.cluster_resources()
        dashboard = getattr(context, "dashboard_url", None)
        say(f"ray: {len(nodes)} node(s), {res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs at {where}"
            + (f"; dashboard http://{dashboard}" if dashboard else ""))
        self._preflight(ray, nodes)
        return ray

    @staticmethod
    def _probe(address: str) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise EngineError(f"--address {address!r}: expected HOST:PORT of the Ray head (e.g. 10.0.0.1:6379)")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
        except OSError as e:
            raise EngineError(
                f"cannot reach the Ray cluster at {address} ({e.strerror or e}): start its head with "
                f"`ray start --head --port {port}`, or fix --address (the head's IP and GCS port)"
            ) from e

    @staticmethod
    def _preflight(ray: ModuleType, nodes: list[dict[str, Any]]) -> None:
        """Every node must run this finereason version (asked of each node by a task pinned to it)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        version = ray.remote(importlib.metadata.version)
        refs = [(n, version.options(num_cpus=0, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
            n["NodeID"], soft=False)).remote("finereason")) for n in nodes]
        for node, ref in refs:
            try:
                theirs = ray.get(ref, timeout=300)
            except ray.exceptions.GetTimeoutError as e:
                raise EngineError(f"Ray node {node_label(node)} did not answer in 300 s (busy or unhealthy)") from e
            except ray.exceptions.RayError as e:
                raise EngineError(f"Ray node {node_label(node)} has no finereason ({type(e).__name__}); "
                                  f"{INSTALL_HINT}") from e
            if theirs != __version__:
                raise EngineError(f"Ray node {node_label(node)} has finereason {theirs}, this machine {__version__}; "
                                  f"{INSTALL_HINT}")

    def check_shared(self, ray: ModuleType, root: Path) -> None:
        """Every node must see ``root`` (workers write shards there); checked with a probe file."""
        key = str(root.resolve())
        if key in self._shared_checked:
            return
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        probe = root / f".probe-{uuid.uuid4().hex}"
        root.mkdir(parents=True, exist_ok=True)
        probe.write_text("finereason: visible from every node?\n")
        try:
            exists = ray.remote(_exists)
            nodes = alive_nodes(ray)
            refs = [exists.options(num_cpus=0, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
                n["NodeID"], soft=False)).remote(str(probe.resolve()), 10.0) for n in nodes]
            for node, ref in zip(nodes, refs):
                try:
                    ok = ray.get(ref)
                except (ray.exceptions.TaskUnschedulableError, ray.exceptions.NodeDiedError,
                        ray.exceptions.WorkerCrashedError):
                    continue  # a node that left the cluster a moment ago: it will get no work
                if not ok:
                    raise EngineError(
                        f"Ray node {node_label(node)} cannot see {root.resolve()}: with --engine ray the output "
                        "folder (and the input) must be on a filesystem every node mounts at the same path "
                        "(NFS, Lustre, GPFS, CephFS)"
                    )
        finally:
            probe.unlink(missing_ok=True)
        self._shared_checked.add(key)

    @staticmethod
    def get(ray: ModuleType, refs: Any) -> Any:
        """``ray.get`` with remote failures turned into the error to show (see :func:`explain`)."""
        try:
            return ray.get(refs)
        except ray.exceptions.RayError as e:
            raise explain(e) from e

    def slots(self, ray: ModuleType) -> int:
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    # ---- CPU stages: one task per shard ------------------------------------------------------
    def run_stage(self, stage: Stage, tasks: Iterable[Task], out_dir: str | os.PathLike[str], info: RunInfo, *,
                  workers: int | None = None, total: int | None = None, overwrite: bool = False) -> dict[str, Any]:
        """As :func:`finereason.pipeline.engine.run_stage`; ``workers`` is Ray's to decide (CPUs)."""
        ray = self.connect()
        out = Dataset(out_dir)
        prepare_output(out, info, overwrite)
        self.check_shared(ray, out.root)
        started = time.time()
        counts = {c.index: c for c in out.done_counts()}
        shard = ray.remote(run_one).options(num_cpus=1, max_retries=self.max_retries)
        stage_ref = ray.put(stage)
        window = 2 * self.slots(ray)
        inflight: dict[Any, int] = {}

        def collect(bar: StageProgress) -> None:
            ready, _ = ray.wait(list(inflight), num_returns=1)
            for ref in ready:
                del inflight[ref]
                c: ShardCounts = self.get(ray, ref)
                counts[c.index] = c
                bar.advance()
            bar.status(_status(list(counts.values())) + f" · {len(inflight)} running")

        try:
            with StageProgress(stage.name, total) as bar:
                bar.advance(len(counts))
                for task in tasks:
                    if task.index in counts or out.is_done(task.index):
                        continue
                    inflight[shard.remote(stage_ref, task, str(out.root))] = task.index
                    while len(inflight) >= window:
                        collect(bar)
                while inflight:
                    collect(bar)
        finally:
            for ref in inflight:  # a failure or Ctrl-C: stop the cluster's work on this stage
                ray.cancel(ref, force=True)
        # The driver's counts, not a re-read: a network filesystem may show new markers late.
        return write_manifest(out, info, [counts[i] for i in sorted(counts)], time.time() - started)

    def map(self, fn: Callable[[J], R], jobs: Sequence[J], *, description: str, total: int | None = None,
            already: int = 0, writes_to: str | os.PathLike[str] | None = None) -> list[R]:
        """``fn`` over ``jobs`` as Ray tasks (results in job order), for passes that are not a stage."""
        ray = self.connect()
        if writes_to is not None:
            self.check_shared(ray, Path(writes_to))
        call = ray.remote(_call).options(num_cpus=1, max_retries=self.max_retries)
        fn_ref = ray.put(fn)
        window = 2 * self.slots(ray)
        results: dict[int, R] = {}
        inflight: dict[Any, int] = {}
        try:
            with StageProgress(description, total if total is not None else len(jobs)) as bar:
                bar.advance(already)
                pending = iter(enumerate(jobs))
                for i, job in pending:
                    inflight[call.remote(fn_ref, job)] = i
                    if len(inflight) < window:
                        continue
                    ready, _ = ray.wait(list(inflight), num_returns=1)
                    for ref in ready:
                        results[inflight.pop(ref)] = self.get(ray, ref)
                        bar.advance()
                while inflight:
                    ready, _ = ray.wait(list(inflight), num_returns=1)
                    for ref in ready:
                        results[inflight.pop(ref)] = self.get(ray, ref)
                        bar.advance()
        finally:
            for ref in inflight:
                ray.cancel(ref, force=True)
        return [results[i] for i in range(len(jobs))]

    # ---- model stages: client actors ---------------------------------------------------------
    async def run_async_stage(self, stage: ModelStage, tasks: Iterable[Task], out_dir: str | os.PathLike[str],
                              info: RunInfo, *, shards_in_flight: int = 4, total: int | None = None,
                              overwrite: bool = False, context: RunContext | None = None) -> dict[str, Any]:
        """As :func:`finereason.pipeline.engine.run_async_stage`, over client actors on the cluster.

        Each actor opens its copy of the stage under a context of its own when it comes up (so a
        model that cannot serve fails before any work; ``context`` is the local engine's and is
        not used here) and asks its ``status`` for the progress line. ``shards_in_flight`` is per actor. With ``ray_data_llm``, in-job models answer on Ray
        Data instead (:mod:`~finereason.pipeline.ray_batch`).
        """
        if self.ray_data_llm:
            from finereason.pipeline.ray_batch import run_in_rounds

            return await run_in_rounds(self, stage, tasks, out_dir, info, shards_in_flight=shards_in_flight,
                                       total=total, overwrite=overwrite)
        from finereason.pipeline.ray_actors import ActorPool

        ray = self.connect()
        out = Dataset(out_dir)
        prepare_output(out, info, overwrite)
        self.check_shared(ray, out.root)
        started = time.time()
        counts = {c.index: c for c in out.done_counts() if not c.failed}
        todo = [t for t in tasks if t.index not in counts]
        with StageProgress(stage.name, total) as bar:
            bar.advance(len(counts))

            def finished(c: ShardCounts) -> None:
                counts[c.index] = c
                bar.advance()

            retries: dict[str, int] = {}
            if todo:
                pool = ActorPool(ray, self, stage, shards_in_flight=shards_in_flight)
                await pool.start()
                try:
                    await pool.run(todo, str(out.root), finished, lambda text: bar.status(
                        (text + " · " if text else "") + _status(list(counts.values()))))
                    retries = await pool.retries()
                finally:
                    await pool.close()
        return write_manifest(out, info, [counts[i] for i in sorted(counts)], time.time() - started,
                              model_stage=True, stats={"retries_by_reason": retries})

"""A real multi-node Ray cluster on loopback, for tests and the engine benchmark.

Each node is its own ``ray start --block`` in its own process group, with its own ports and
one CPU, so a test can kill one node (its raylet and workers) while the others keep running,
exactly as a lost machine looks to the cluster. Teardown signals those process groups only,
by their ids; ``ray stop`` is not used because it kills every Ray process on the machine.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
#: For the nodes and the driver alike: no usage reporting, and no token auth (it is on whenever
#: ~/.ray/auth_token exists, and a node and a driver that disagree cannot talk).
CLUSTER_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
#: Worker processes a node may start (each takes a port).
WORKER_PORTS = 40


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free right now (held open together so they differ)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_range(n: int, avoid: set[int]) -> int:
    """The first of ``n`` consecutive ports free right now and not in ``avoid`` (Ray's worker ports)."""
    rng = random.Random()
    for _ in range(200):
        lo = rng.randrange(20000, 60000 - n)
        ports = range(lo, lo + n)
        if avoid.intersection(ports):
            continue
        try:
            for port in ports:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return lo
    raise RuntimeError(f"no {n} consecutive free ports")


class LocalCluster:
    """A head node and ``workers`` worker nodes, each ``cpus`` CPUs, all on 127.0.0.1."""

    def __init__(self, temp_dir: str | os.PathLike[str], *, workers: int = 1, cpus: int = 1,
                 head_cpus: int | None = None, object_store_mb: int = 100) -> None:
        self.temp_dir = Path(temp_dir)
        self.workers = workers
        self.cpus = cpus
        self.head_cpus = cpus if head_cpus is None else head_cpus
        self.object_store_mb = object_store_mb
        self.nodes: list[subprocess.Popen] = []
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _start(self, name: str, args: list[str], cpus: int) -> subprocess.Popen:
        node_port, object_port, metrics, agent, agent_grpc, env_agent = ports = free_ports(6)
        lo = free_range(WORKER_PORTS, {*ports, self.port})
        cmd = [RAY, "start", "--block", "--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus),
               "--object-store-memory", str(self.object_store_mb * 2**20),
               "--node-manager-port", str(node_port), "--object-manager-port", str(object_port),
               "--metrics-export-port", str(metrics), "--dashboard-agent-listen-port", str(agent),
               "--dashboard-agent-grpc-port", str(agent_grpc), "--runtime-env-agent-port", str(env_agent),
               "--min-worker-port", str(lo), "--max-worker-port", str(lo + WORKER_PORTS - 1), "--disable-usage-stats",
               *args]
        log = open(self.temp_dir / f"{name}.log", "w")  # noqa: SIM115 - kept open for the node's life
        env = {**os.environ, **CLUSTER_ENV}
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)

    def start(self, timeout: float = 120) -> LocalCluster:
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        (self.port,) = free_ports(1)
        try:
            (dashboard,) = free_ports(1)  # the minimal dashboard runs anyway; 8265 may be another cluster's
            head = self._start("head", ["--head", "--port", str(self.port), "--temp-dir", str(self.temp_dir),
                                        "--include-dashboard", "false", "--dashboard-port", str(dashboard)],
                               self.head_cpus)
            self.nodes.append(head)
            self._wait_started("head", head, timeout)
            for _ in range(self.workers):
                self.add_worker(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def add_worker(self, timeout: float = 120) -> subprocess.Popen:
        name = f"worker{len(self.nodes)}"
        node = self._start(name, ["--address", self.address], self.cpus)
        self.nodes.append(node)
        self._wait_started(name, node, timeout)
        return node

    def _wait_started(self, name: str, node: subprocess.Popen, timeout: float) -> None:
        """Until the node's log says it runs (``ray status`` would cost seconds a poll here)."""
        log = self.temp_dir / f"{name}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.poll() is not None:
                raise RuntimeError(f"Ray node {name} failed to start:\n{log.read_text()[-3000:]}")
            if "Ray runtime started" in log.read_text():
                return
            time.sleep(0.2)
        raise TimeoutError(f"Ray node {name} did not start in {timeout}s; see {log}")

    def kill_node(self, i: int) -> None:
        """Kill node ``i`` at once, as a machine lost mid-job: SIGKILL to every process it started.

        The raylet starts its workers in their own sessions, so they are found by parentage
        (through /proc) before the node's process group is killed.
        """
        node = self.nodes[i]
        family = _descendants(node.pid)
        with _ignore_lookup():
            os.killpg(node.pid, signal.SIGKILL)
        for pid in family:
            with _ignore_lookup():
                os.kill(pid, signal.SIGKILL)
        node.wait(30)

    def stop(self) -> None:
        """SIGKILL every node's process group (a graceful stop costs ~20 s on 2 cores and keeps nothing)."""
        for i in reversed(range(len(self.nodes))):
            self.kill_node(i)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _descendants(root: int) -> list[int]:
    """Every live process below ``root``, read from /proc (children before their parents' death)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class _ignore_lookup:
    """``ProcessLookupError`` means the group is already gone, which is what we wanted."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: object) -> bool:
        return t is ProcessLookupError

"""What the Ray engine and its actors both need to know about a cluster's nodes, and how a remote
failure is shown (kept apart from :mod:`~finereason.pipeline.ray_engine` so the actor pool and the
Ray Data rounds, which that engine starts, import no cycle)."""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

from finereason import __version__
from finereason.errors import EngineError

INSTALL_HINT = (
    "install it in the Python environment that runs `ray start` on that node "
    f"(pip install 'finereason[ray]=={__version__}', or the same checkout with pip install -e), then rerun"
)


def node_label(node: dict[str, Any]) -> str:
    """A node as people find it: host name, address and the start of its Ray node id."""
    return f"{node.get('NodeManagerHostname', '?')} ({node.get('NodeManagerAddress', '?')}, node {node['NodeID'][:8]})"


def explain(err: BaseException) -> BaseException:
    """A remote failure as the error to show: a missing module names its node and the fix; a
    stage's own exception comes back as itself, as the local engine would raise it."""
    import ray.exceptions as rex

    text = str(err)
    missing = re.search(r"No module named '([^']+)'", text)
    if missing:
        ip = getattr(err, "ip", None) or (re.search(r"ip=([0-9A-Za-z.:\-]+)", text) or [None, "?"])[1]
        return EngineError(f"a Ray worker on node {ip} cannot import {missing.group(1)!r}: {INSTALL_HINT}")
    cause = getattr(err, "cause", None)
    if isinstance(err, rex.RayTaskError) and isinstance(cause, Exception) and not isinstance(cause, rex.RayError):
        return cause
    return err


def alive_nodes(ray: ModuleType) -> list[dict[str, Any]]:
    return [n for n in ray.nodes() if n.get("Alive")]

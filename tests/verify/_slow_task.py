"""Worker tasks that misbehave on purpose, to test the pool's hard timeout and crash handling."""

from __future__ import annotations

import os
import time


def run(kind: str) -> str:
    if kind == "slow":
        time.sleep(60)
    if kind == "crash":
        os._exit(3)
    if kind == "raise":
        raise RuntimeError("boom")
    return kind


def compare(gold: str, pred: str) -> dict:
    """Stands in for mathcheck.compare but never answers."""
    time.sleep(60)
    return {"equal": True, "detail": "unreachable"}

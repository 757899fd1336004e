"""Command-line options every dataset stage shares, so flags mean the same everywhere."""

from __future__ import annotations

import argparse
import os


def add_run_options(p: argparse.ArgumentParser, *, shard_size: bool = False) -> None:
    """``--out``, ``--workers``, ``--overwrite`` (and ``--shard-size`` for commands that make shards)."""
    p.add_argument("--out", required=True, metavar="DIR", help="output dataset folder (rerun the same command to resume)")
    p.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, metavar="N",
        help="worker processes, one shard each at a time (default: all cores)",
    )
    p.add_argument("--overwrite", action="store_true", help="delete DIR first instead of resuming into it")
    if shard_size:
        p.add_argument("--shard-size", type=int, default=500, metavar="N", help="samples per output shard (default 500)")


def print_summary(manifest: dict) -> None:
    """The closing line(s) of a stage: counts in/out and reasons, on stdout."""
    rej = manifest.get("rejected", {})
    reasons = ", ".join(f"{k}={v}" for k, v in sorted(rej.items(), key=lambda kv: -kv[1])) or "none"
    print(
        f"{manifest['stage']}: {manifest['records_in']} in → {manifest['records_out']} out "
        f"in {manifest['elapsed_s']:.1f}s; rejected: {reasons}"
    )

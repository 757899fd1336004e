"""Command-line options every dataset stage shares (where and on what it runs), so they mean the same everywhere."""

from __future__ import annotations

import argparse
import os
import sys


def add_run_options(p: argparse.ArgumentParser, *, models: bool = False) -> None:
    """``--out``, ``--workers``, ``--overwrite``, ``--engine``, ``--address`` (and ``--gpus-per-actor``,
    ``--ray-data-llm`` for commands that call models). A stage's own options come from its step
    (:func:`finereason.pipeline.flags.add_flags`)."""
    p.add_argument("--out", required=True, metavar="DIR", help="output dataset folder (rerun the same command to resume)")
    p.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, metavar="N",
        help="worker processes, one shard each at a time (default: all cores); with --engine ray and no "
             "--address, the CPUs of the Ray started here (on a cluster, Ray uses every node's CPUs)",
    )
    p.add_argument("--overwrite", action="store_true", help="delete DIR first instead of resuming into it")
    p.add_argument(
        "--engine", choices=["local", "ray"], default="local",
        help="local: this machine (default); ray: the same shards as Ray tasks on a cluster, DIR on a "
             "filesystem all nodes mount (see docs/ray.md)",
    )
    p.add_argument(
        "--address", metavar="HOST:PORT",
        help="with --engine ray: the Ray head to join (GCS port, e.g. 10.0.0.1:6379; 'auto' = the cluster "
             "this machine is in; default $RAY_ADDRESS, else a Ray instance started here)",
    )
    if models:
        p.add_argument(
            "--gpus-per-actor", type=float, default=0.0, metavar="G",
            help="with --engine ray: GPUs each model client actor reserves; 1 runs one in-process model (vllm:, "
                 "hf:) per GPU, as many actors as the cluster has GPUs (default 0: one actor per node, for endpoints)",
        )
        p.add_argument(
            "--ray-data-llm", action="store_true",
            help="with --engine ray and an in-job model (vllm:, hf:, builtin:): answer requests as Ray Data batch "
                 "inference (vllm: through ray.data.llm, one engine per --gpus-per-actor GPUs) in rounds, every "
                 "answer journaled; for teams that run the teacher inside the job instead of behind servers",
        )


def print_summary(manifest: dict) -> None:
    """The closing line(s) of a stage: counts in/out and reasons, on stdout."""
    rej = manifest.get("rejected", {})
    reasons = ", ".join(f"{k}={v}" for k, v in sorted(rej.items(), key=lambda kv: -kv[1])) or "none"
    print(
        f"{manifest['stage']}: {manifest['records_in']} in → {manifest['records_out']} out "
        f"in {manifest['elapsed_s']:.1f}s; rejected: {reasons}"
    )


#: The exit statuses of a stage, shown in every model stage's --help so scripts can rely on them.
EXIT_CODES = """\
exit status:
  0    done; samples rejected for a data reason are not failures, and a partly failed run
       says how many requests failed (rerun the same command to retry only those)
  1    a bug (with its traceback)
  2    a usage error: bad flag, path, model spec or settings (one line says which)
  3    no endpoint of the model could serve (connection refused, DNS, TLS, 401/403/404):
       the stage stopped early, everything journaled so far is kept
  4    requests failed and none succeeded: nothing came out; rerun the same command to retry
  130  interrupted; rerun the same command to resume"""

EXIT_ALL_FAILED = 4


def report_failures(manifest: dict) -> int:
    """Say how many requests failed and how to retry them; return the stage's exit status (see EXIT_CODES)."""
    failed = int(manifest.get("stats", {}).get("failed", 0))
    if not failed:
        return 0
    stage = manifest["stage"]
    if manifest["records_out"] == 0:
        print(f"{stage}: every request failed ({failed}); nothing came out. Rerun the same command to retry "
              "(answers are journaled)", file=sys.stderr)
        return EXIT_ALL_FAILED
    print(f"{stage}: {failed} of {manifest['records_in']} requests failed (see rejected/ for reasons); "
          "rerun the same command to retry only those", file=sys.stderr)
    return 0

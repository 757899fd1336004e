"""Stage 1 throughput and memory: ingest → clean → dedup on synthetic problems.

Builds a JSONL + image-file corpus from the built-in generator (a pool of unique problems,
re-used with distinct question suffixes to reach larger sizes cheaply), then runs each stage as
the CLI does, in a subprocess, and reports samples/s, samples/s per core, and the peak RSS of
the largest process. Beside it, the bare primitives every sample needs (image decode, pHash,
MinHash of the question) give the per-core limit the pipeline could reach.

    python bench/stage1.py [--sizes 10000 100000] [--pool 2000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from finereason.synth import generate

STAGES = ("ingest", "clean", "dedup")


def build_corpus(root: Path, size: int, pool: list) -> Path:
    """``size`` JSONL records over ``len(pool)`` image files; question text made unique per record."""
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(pool):
        path = images / f"{i}.png"
        if not path.exists():
            path.write_bytes(s.images[0].bytes)
    out = root / f"corpus-{size}.jsonl"
    with out.open("w") as f:
        for i in range(size):
            s = pool[i % len(pool)]
            copy = i // len(pool)
            q = s.question if copy == 0 else f"{s.question} (variant {copy} of item {i % len(pool)})"
            f.write(json.dumps({"id": str(i), "question": q, "answer": s.answer, "options": s.options,
                                "image": f"images/{i % len(pool)}.png"}) + "\n")
    return out


def _tree_rss_mib(root: int) -> float:
    """Resident memory of ``root`` and all its descendants now (Linux /proc)."""
    parents, rss = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parents[pid], rss[pid] = int(fields[1]), int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += [c for c, p in parents.items() if p == pid]
    return total / 2**20


def run_stage(argv: list[str]) -> tuple[float, float]:
    """Wall seconds, and the peak resident memory (MiB) of the command's whole process tree."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "finereason.cli", *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_mib(proc.pid))
        time.sleep(0.2)
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv)} failed with {proc.returncode}")
    return time.perf_counter() - t0, peak


def primitives(pool: list) -> dict[str, float]:
    """Per-core cost of the bare work per sample (ms), measured in this process."""
    from datasketch import MinHash

    from finereason.io.images import decode, phash, to_rgb

    n = len(pool)
    t0 = time.perf_counter()
    ims = [decode(s.images[0].bytes) for s in pool]
    decode_ms = (time.perf_counter() - t0) * 1000 / n
    t0 = time.perf_counter()
    for im in ims:
        phash(to_rgb(im))
    phash_ms = (time.perf_counter() - t0) * 1000 / n
    t0 = time.perf_counter()
    for s in pool:
        m = MinHash(num_perm=128)
        text = s.question.lower()
        m.update_batch([text[i:i + 5].encode() for i in range(max(1, len(text) - 4))])
    minhash_ms = (time.perf_counter() - t0) * 1000 / n
    return {"image decode": decode_ms, "pHash": phash_ms, "MinHash (128 perm)": minhash_ms}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--pool", type=int, default=2000, help="unique synthetic problems (images)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    console = Console()
    work = Path(tempfile.mkdtemp(prefix="finereason-bench-"))
    console.print(f"generating {args.pool} unique problems …")
    pool = list(generate(args.pool, seed=0))
    prim = primitives(pool[:500])
    limit_ms = sum(prim.values())
    rows = []
    try:
        for size in args.sizes:
            corpus = build_corpus(work, size, pool)
            raw, clean, dedup = (work / f"{k}-{size}" for k in STAGES)
            plan = {
                "ingest": ["ingest", str(corpus), "--format", "jsonl", "--out", str(raw)],
                "clean": ["clean", str(raw), "--out", str(clean)],
                "dedup": ["dedup", str(clean), "--out", str(dedup)],
            }
            total = 0.0
            for stage in STAGES:
                wall, peak = run_stage([*plan[stage], "--workers", str(args.workers)])
                total += wall
                rows.append((size, stage, wall, size / wall, size / wall / args.workers, peak))
                console.print(f"  {size:>7} {stage:<7} {wall:7.1f} s  peak {peak:6.0f} MiB")
            rows.append((size, "all three", total, size / total, size / total / args.workers, None))
            for d in (raw, clean, dedup):
                shutil.rmtree(d, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    table = Table(title=f"stage 1 on synthetic problems ({args.workers} workers, {os.cpu_count()} cores)")
    for col in ("samples", "stage", "seconds", "samples/s", "samples/s/core", "peak RSS MiB (all processes)"):
        table.add_column(col, justify="right")
    for size, stage, wall, rate, per_core, peak in rows:
        table.add_row(str(size), stage, f"{wall:.1f}", f"{rate:.0f}", f"{per_core:.0f}",
                      "" if peak is None else f"{peak:.0f}")
    console.print(table)
    lim = Table(title="bare primitives per sample (one core): the limit")
    lim.add_column("primitive")
    lim.add_column("ms/sample", justify="right")
    lim.add_column("samples/s/core", justify="right")
    for name, ms in prim.items():
        lim.add_row(name, f"{ms:.2f}", f"{1000 / ms:.0f}")
    lim.add_row("sum", f"{limit_ms:.2f}", f"{1000 / limit_ms:.0f}")
    console.print(lim)
    peaks = {size: max(p for s, _, _, _, _, p in rows if s == size and p is not None) for size in args.sizes}
    if len(peaks) > 1:
        lo, hi = min(peaks), max(peaks)
        console.print(f"peak memory {hi} vs {lo} samples: {peaks[hi] / peaks[lo]:.2f}× for {hi / lo:.0f}× the data")


if __name__ == "__main__":
    main()

"""The three passes of ``finereason dedup``, wired for resume.

Work files live in ``OUT/.dedup/``: ``signatures/`` (pass 1, one file and done-marker per input
shard), ``benchmarks.parquet`` (the ``--against`` index), ``drops.parquet`` (pass 2: every
dropped sample's shard, row, reason and detail) and ``plan.json`` (pass 2's statistics,
written last: once it exists the grouping is never redone, and a resumed run checks that the
input still has the shards and rows it was planned for). Pass 3 is an ordinary stage under
the engine, with its own done-markers. After the plan is written the signatures and the
index are deleted; the drop table stays as the run's record of which sample was whose twin.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from finereason.dedup.contamination import INDEX_SCHEMA, benchmark_shards, drop_common_images, index_benchmark_shard
from finereason.dedup.grouping import group
from finereason.dedup.rewrite import STAGE, VERSION, DedupRewrite, rewrite_tasks
from finereason.dedup.signatures import DedupSettings, SignShard, signature_done, signature_rows
from finereason.io.store import Dataset, DatasetError, atomic_write_json, shard_name
from finereason.pipeline.engine import prepare_output
from finereason.pipeline.engines import Engine, LocalEngine
from finereason.pipeline.manifest import RunInfo
from finereason.pipeline.progress import say

#: Prefixes of the plan's per-kind counts (duplicate_exact, near_duplicate_*, benchmark_overlap_*).
DROP_KINDS = ("duplicate_exact", "near_duplicate", "benchmark_overlap")

def _index_job(job: tuple[str, str]) -> pa.Table:
    return index_benchmark_shard(job[0], Path(job[1]))


def build_benchmark_index(against: list[str], path: Path, settings: DedupSettings, engine: Engine) -> dict[str, Any]:
    """Index every ``--against`` folder into ``path`` (kept for a resumed run)."""
    if not path.exists():
        jobs = [(name, str(p)) for name, p in benchmark_shards(against)]
        tables = engine.map(_index_job, jobs, description="dedup: benchmark index")
        table = pa.concat_tables(tables) if tables else INDEX_SCHEMA.empty_table()
        table, common = drop_common_images(table, phash_distance=settings.phash_distance,
                                           generic_df=settings.generic_df)
        table = table.replace_schema_metadata({"images_common": str(common)})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    table = pq.read_table(path, columns=["bench", "n_images", "phashes"])
    items = table.column("bench").to_pylist()
    return {
        "benchmark_images_common": int((table.schema.metadata or {}).get(b"images_common", b"0")),
        "benchmark_items": {b: items.count(b) for b in sorted(set(items))},
        "benchmark_images": int(pc.sum(table.column("n_images")).as_py() or 0),
        "benchmark_images_indexed": int(pc.sum(pc.list_value_length(table.column("phashes"))).as_py() or 0),
    }


def plan(paths: list[Path], work: Path, settings: DedupSettings, against: list[str], engine: Engine) -> dict[str, Any]:
    """Passes 1 and 2 (skipped when ``plan.json`` exists); returns the plan's statistics.

    Pass 1 runs on ``engine`` (shards in parallel, on Ray across nodes); pass 2 runs here, in
    the main process (the driver), over the compact signatures.
    """
    plan_path = work / "plan.json"
    if plan_path.exists():
        planned: dict[str, Any] = json.loads(plan_path.read_text())
        rows = sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
        if (planned.get("shards"), planned.get("samples")) != (len(paths), rows):
            raise DatasetError(f"the input changed since this run was planned ({planned.get('shards')} shards, "
                               f"{planned.get('samples')} samples then; {len(paths)}, {rows} now); use --overwrite")
        return planned
    t0 = time.time()
    stats: dict[str, Any] = {}
    index_path = None
    if against:
        index_path = work / "benchmarks.parquet"
        stats.update(build_benchmark_index(against, index_path, settings, engine))
    sig_dir = work / "signatures"
    jobs = [(i, str(p)) for i, p in enumerate(paths) if not signature_done(sig_dir, i)]
    engine.map(SignShard(settings, str(sig_dir), str(index_path) if index_path else None), jobs,
               description="dedup: signatures", total=len(paths), already=len(paths) - len(jobs), writes_to=work)
    t1 = time.time()
    counts = [signature_rows(sig_dir, i) for i in range(len(paths))]
    say(f"dedup: grouping {sum(counts)} samples")
    drops, group_stats = group([sig_dir / f"{shard_name(i)}.parquet" for i in range(len(paths))], counts, settings)
    t2 = time.time()
    stats.update(group_stats, shards=len(paths), signature_seconds=round(t1 - t0, 3),
                 group_seconds=round(t2 - t1, 3))
    tmp = work / f".drops.parquet.tmp-{os.getpid()}"
    pq.write_table(drops, tmp)
    os.replace(tmp, work / "drops.parquet")
    atomic_write_json(plan_path, stats)  # the commit point of passes 1–2
    shutil.rmtree(sig_dir, ignore_errors=True)
    if index_path is not None:
        index_path.unlink(missing_ok=True)
    kinds = ", ".join(f"{k}={v}" for k, v in sorted(stats.items()) if k.startswith(DROP_KINDS))
    say(f"dedup: planned {stats['samples']} samples in {t2 - t0:.1f}s: {len(drops)} to drop ({kinds or 'none'})")
    return stats


def run_dedup(input_dir: str, out_dir: str, settings: DedupSettings, *, against: Sequence[str] = (),
              workers: int = 1, overwrite: bool = False, engine: Engine | None = None) -> dict[str, Any]:
    """Deduplicate and decontaminate ``input_dir`` into ``out_dir``; returns the manifest.

    ``engine`` runs the per-shard passes (default: the local engine with ``workers`` processes).
    """
    engine = engine or LocalEngine(workers)
    source = Dataset(input_dir)
    paths = source.shard_paths()
    if not paths:
        raise DatasetError(f"{input_dir}: no shards in data/ (nothing to deduplicate)")
    bench = [str(Path(b).resolve()) for b in against]
    here = str(Path(input_dir).resolve())
    if here in bench:
        raise DatasetError(f"{input_dir} is also given as --against: a dataset cannot be decontaminated against itself")
    if len(set(bench)) != len(bench):
        raise DatasetError("the same --against folder is given twice")
    run_settings = {**settings.as_dict(), "against": bench}
    info = RunInfo(STAGE, VERSION, run_settings, [here], upstream=source.manifest())
    out = Dataset(out_dir)
    prepare_output(out, info, overwrite)
    work = out.root / ".dedup"
    info.extra = {"dedup": plan(paths, work, settings, bench, engine)}
    stage = DedupRewrite(str(work / "drops.parquet"), run_settings)
    return engine.run_stage(stage, rewrite_tasks(paths), out.root, info, workers=workers, total=len(paths))

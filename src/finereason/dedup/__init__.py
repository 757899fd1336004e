"""Deduplication and benchmark decontamination, global over a dataset, in three passes.

1. :mod:`~finereason.dedup.signatures`: per shard, in parallel, compact signatures (exact key,
   MinHash of the question, image pHashes) and the benchmark check;
2. :mod:`~finereason.dedup.grouping`: in the main process, over signatures only, which sample
   is a duplicate of which (first occurrence kept);
3. :mod:`~finereason.dedup.rewrite`: per shard, in parallel, kept samples out, the rest to
   rejected/ naming their twin or benchmark item.

:mod:`~finereason.dedup.contamination` holds the benchmark rule; :mod:`~finereason.dedup.run`
wires the passes for resume; ``finereason dedup`` is :mod:`~finereason.dedup.commands`.
"""

from finereason.dedup.contamination import BenchmarkIndex, Contamination
from finereason.dedup.run import run_dedup
from finereason.dedup.signatures import DedupSettings

__all__ = ["BenchmarkIndex", "Contamination", "DedupSettings", "run_dedup"]

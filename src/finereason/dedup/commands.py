"""``finereason dedup DIR --out DIR2 [--against BENCH ...]``."""

from __future__ import annotations

import argparse

from finereason.dedup.step import Dedup
from finereason.pipeline.engines import engine_from_args
from finereason.pipeline.flags import add_flags, options_from_args
from finereason.pipeline.options import add_run_options, print_summary

DESCRIPTION = """\
Drop duplicate samples, and samples that contain a benchmark item, from a dataset. The whole
dataset is compared, not shard by shard; the first occurrence (shard, then row order) is kept
and every dropped sample goes to rejected/ naming its twin or the benchmark item.

  duplicate_exact    same normalised question and options (case, spacing, punctuation and
                     <image> tags ignored) and byte-identical images
  near_duplicate     question text with MinHash Jaccard >= --text-threshold (character
                     5-grams, 128 permutations), the same numbers in it, the same answer when
                     both have one (a choice letter counts as its option's text), and a
                     near-identical image (pHash Hamming distance <= --phash-distance); two
                     samples without images match on the text alone. Two different questions
                     about one picture are not duplicates.
  benchmark_overlap  (with --against) a sample S contains a benchmark item B when
                       n-gram overlap >= --overlap-threshold AND (S or B has no image OR
                         an image of S matches an image of B)                   [text, both]
                       OR an image matches AND word overlap >= --image-overlap-threshold
                                                                                 [image]
                     n-gram overlap: S's word n-grams (--ngram, default 8 as Open-R1) also
                       in B / S's n-grams; a question under n words counts 1 if its
                       normalised text equals B's.
                     image match: byte-identical, or pHash within --phash-distance where
                       neither picture is flat or blank (all blank pages look alike to a
                       pHash; benchmark pictures are checked for how much is drawn on them).
                     word overlap: shared content words / the smaller set, 0 below two
                       shared; content words leave out stopwords, boilerplate ("find",
                       "figure", "shown") and template vocabulary. It survives rewording.
                     Templates are not evidence: n-grams, short questions and words shared
                     by --generic-df or more benchmark items (boilerplate like MathVista's
                     "Hint: Please answer the question…") are ignored, and so is a
                     benchmark picture that --generic-df or more items show, counting
                     look-alikes within --phash-distance (one chart style, one layout).
                     Caught: the same question on the same picture (both), the same picture
                     asked in other words (image), a copied text-only problem (text). Not
                     caught: a generic phrase ("what is the value of x in the figure below")
                     on another picture, other questions about a blank page.

Work is three passes: signatures per shard (parallel), one global grouping over compact
signatures (~100 bytes a sample held, under 200 at peak), then the rewrite per shard
(parallel). Rerunning the same command resumes; the plan of which sample is whose twin
stays in DIR2/.dedup/drops.parquet. Run it after `finereason clean`, which reads options
written in the question into the options column that the answer check uses.

examples:
  finereason dedup runs/clean --out runs/dedup
  finereason ingest mathvista_testmini.jsonl --format jsonl --out bench/mathvista
  finereason dedup runs/clean --out runs/dedup --against bench/mathvista --against bench/mathverse
  finereason dedup runs/clean --out runs/exact --no-near           (exact duplicates only)
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dedup", help=Dedup.summary, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", metavar="DIR", help="input dataset folder")
    add_run_options(p)
    add_flags(p, Dedup)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    step = options_from_args(Dedup, args)
    print_summary(step.run(args.dir, args.out, engine_from_args(args), overwrite=args.overwrite))
    return 0

"""``finereason dedup DIR --out DIR2 [--against BENCH ...]``."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from finereason.dedup.run import run_dedup
from finereason.dedup.signatures import DedupSettings
from finereason.pipeline.engines import engine_from_args
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


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _int_range(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: an integer in [lo, hi]."""

    def parse(text: str) -> int:
        value = int(text)
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}, got {value}")
        return value

    return parse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dedup",
        help="drop exact and near-duplicate samples, and samples overlapping benchmarks (--against)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", metavar="DIR", help="input dataset folder")
    add_run_options(p)
    p.add_argument("--against", action="append", default=[], metavar="BENCH",
                   help="a benchmark dataset folder (e.g. from finereason ingest) to decontaminate against; repeatable")
    p.add_argument("--text-threshold", type=_fraction, default=0.8, metavar="J",
                   help="MinHash Jaccard at or above which two questions are near-duplicates (default 0.8)")
    p.add_argument("--phash-distance", type=_int_range(0, 31), default=4, metavar="D",
                   help="largest pHash Hamming distance (of 64 bits) for a near-identical image (default 4)")
    p.add_argument("--ngram", type=_int_range(1, 64), default=8, metavar="N",
                   help="word n-gram size for benchmark text overlap (default 8, as Open-R1)")
    p.add_argument("--overlap-threshold", type=_fraction, default=0.5, metavar="F",
                   help="share of a sample's n-grams found in a benchmark question that counts as text "
                        "overlap (default 0.5)")
    p.add_argument("--image-overlap-threshold", type=_fraction, default=0.5, metavar="F",
                   help="word overlap an image match also needs to count as contamination (default 0.5; 0 = any)")
    p.add_argument("--generic-df", type=_int_range(2, 1_000_000), default=10, metavar="N",
                   help="benchmark n-grams and pictures shared by N or more benchmark items are templates, "
                        "not evidence of contamination (default 10)")
    p.add_argument("--no-near", action="store_true", help="exact duplicates only (no MinHash; faster)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.text_threshold <= 0:
        raise SystemExit("finereason dedup: error: --text-threshold must be above 0")
    settings = DedupSettings(
        text_threshold=args.text_threshold, phash_distance=args.phash_distance, ngram=args.ngram,
        overlap_threshold=args.overlap_threshold, image_overlap_threshold=args.image_overlap_threshold,
        generic_df=args.generic_df, near=not args.no_near,
    )
    manifest = run_dedup(args.dir, args.out, settings, against=args.against, workers=args.workers,
                         overwrite=args.overwrite, engine=engine_from_args(args))
    print_summary(manifest)
    return 0

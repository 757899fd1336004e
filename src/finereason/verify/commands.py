"""``finereason verify``: grade every response against its reference, keep every sample."""

from __future__ import annotations

import argparse
import asyncio

from finereason.io.store import Dataset
from finereason.models.health import check_before_start
from finereason.pipeline.engines import engine_from_args
from finereason.pipeline.manifest import RunInfo
from finereason.pipeline.options import add_run_options, print_summary
from finereason.pipeline.stage import shard_tasks
from finereason.verify.quality import QualityConfig
from finereason.verify.stage import VerifyStage


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="extract answers, grade them against the ground truth, flag format and repetition problems",
        description=(
            "For each sample's response: extract the final answer (last <answer> outside <think>, else\n"
            "last \\boxed{}, else an 'answer is' line; never a guess), then grade it by a cascade that\n"
            "records who decided (verdict_by): exact → choice letter/option text → numeric → math-verify\n"
            "(in a killable subprocess pool) → optional LLM judge (strict: only 'JUDGMENT: EQUIVALENT'\n"
            "passes). Writes pred_answer, verdict (correct|incorrect|unparsed|error), verdict_by, and\n"
            "flags (think_*/answer_* format, too_short, truncated, repetition of a 50-gram, language).\n"
            "Keeps every sample: `finereason select` filters.\n\n"
            "example: finereason verify runs/distilled --out runs/verified"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", metavar="DIR", help="input dataset folder (samples with a response)")
    p.add_argument("--judge", metavar="SPEC", help="LLM judge model spec for answers the rules call different")
    p.add_argument("--min-words", type=int, default=100, help="minimum response words (default 100, as the paper)")
    p.add_argument("--ngram", type=int, default=50, help="repetition window in words (default 50)")
    p.add_argument("--ngram-count", type=int, default=3, help="repetition count that flags (default 3)")
    p.add_argument("--language", default="en", help="expected response language, or 'none' (default en)")
    p.add_argument("--no-think-required", action="store_true", help="do not require a <think> block")
    p.add_argument("--timeout", type=float, default=5.0, help="math-verify wall-clock limit per pair (s)")
    add_run_options(p, models=True)
    p.set_defaults(func=run)


def make_stage(args: argparse.Namespace) -> VerifyStage:
    quality = QualityConfig(
        require_think=not args.no_think_required,
        min_words=args.min_words,
        ngram_n=args.ngram,
        ngram_max_count=args.ngram_count,
        expected_language=None if args.language == "none" else args.language,
    )
    return VerifyStage(quality=quality, timeout_s=args.timeout, judge_spec=args.judge,
                       journal_path=f"{args.out}/journal.sqlite" if args.judge else None)


def run(args: argparse.Namespace) -> int:
    src = Dataset(args.dir)
    stage = make_stage(args)
    tasks = shard_tasks(src.shard_paths())
    info = RunInfo(stage.name, stage.version, stage.settings(), inputs=[str(src.root)], upstream=src.manifest())

    async def main() -> dict:
        try:
            return await engine_from_args(args).run_async_stage(stage, tasks, args.out, info, shards_in_flight=1,
                                                                total=len(tasks), overwrite=args.overwrite)
        finally:
            await stage.aclose()

    check_before_start(stage.name, [args.judge])
    print_summary(asyncio.run(main()))
    return 0

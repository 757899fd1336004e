"""``finereason report DIR``: a self-contained HTML report and a README dataset card."""

from __future__ import annotations

import argparse

from finereason.pipeline.flags import add_flags, options_from_args
from finereason.report.step import Report


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help=Report.summary,
        description=(
            "Read a dataset folder and its manifest chain, and write DIR/report.html and DIR/README.md\n"
            "(dataset card). The report holds a sample browser (thumbnails, question and options, reference\n"
            "answer, the response with its <think> block collapsed, predicted answer, verdict and who gave it,\n"
            "pass rate, flags; filters by source, verdict, flag and pass rate), the stage funnel (records in\n"
            "and out of every stage, rejections by reason with a few rejected samples each), token and cost\n"
            "totals, and plots (reasoning and caption length, pass rate, domain and source mix).\n\n"
            "Bounded size: the browser embeds a seeded, stratified sample of at most --samples samples\n"
            "(every source, verdict and flag first, then at random), each with ≤ 4 small thumbnails and its\n"
            "text capped, so a 100k-sample dataset gives a report of a few MB. Statistics use every sample\n"
            "(their small columns only).\n\n"
            "examples: finereason report runs/selected\n"
            "          finereason report runs/selected --samples 500 --seed 1 \\\n"
            "              --price openai:Qwen/Qwen3-VL-235B-A22B-Thinking=0.3/1.5"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", metavar="DIR", help="a finereason dataset folder")
    p.add_argument("--out", metavar="FILE", help="HTML path (default DIR/report.html)")
    add_flags(p, Report)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    done = options_from_args(Report, args).run(args.dir, args.out)
    print(f"report: {done['report']}")
    print(f"dataset card: {done['card']}")
    return 0

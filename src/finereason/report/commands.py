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
            "Read a dataset folder (only its small columns, never the images) and its manifest chain,\n"
            "and write DIR/report.html (reasoning and caption length histograms, pass-rate distribution,\n"
            "domain and source mix, rejections by stage and reason) and DIR/README.md (dataset card).\n\n"
            "example: finereason report runs/selected"
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

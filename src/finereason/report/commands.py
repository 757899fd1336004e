"""``finereason report DIR``: a self-contained HTML report and a README dataset card."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write an HTML report with plots and a README dataset card for a dataset",
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
    p.add_argument("--title", default=None, help="report title (default: the folder name)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from finereason.report.html import write_report  # matplotlib: only when a report is drawn
    from finereason.report.stats import collect

    root = Path(args.dir)
    st = collect(str(root))
    out = Path(args.out) if args.out else root / "report.html"
    title = args.title or f"finereason report: {root.resolve().name}"
    write_report(st, out, title)
    from finereason.export.card import write_card

    card = write_card(st, root / "README.md", title)
    print(f"report: {out}")
    print(f"dataset card: {card}")
    return 0

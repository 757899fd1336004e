"""``finereason report DIR``: a self-contained HTML report and a README dataset card."""

from __future__ import annotations

import argparse
from pathlib import Path

from finereason.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write an HTML report with plots and a README dataset card for a dataset",
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
    p.add_argument("--title", default=None, help="report title (default: the folder name)")
    p.add_argument("--samples", type=int, default=200, metavar="N",
                   help="samples embedded in the browser (default 200; a seeded stratified sample when more)")
    p.add_argument("--seed", type=int, default=0, help="seed of the browser's sample (default 0)")
    p.add_argument("--price", action="append", default=[], metavar="MODEL=IN/OUT",
                   help="US dollars per million prompt/completion tokens of a model, as its stage's manifest "
                        "names it (repeatable); without it costs are shown as unknown")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from finereason.report.funnel import funnel, parse_prices
    from finereason.report.html import write_report  # matplotlib: only when a report is drawn
    from finereason.report.samples import pick_samples
    from finereason.report.stats import collect

    if args.samples < 0:
        raise UserError(f"--samples must be >= 0, got {args.samples}")
    prices = parse_prices(args.price)
    root = Path(args.dir)
    st = collect(str(root))
    out = Path(args.out) if args.out else root / "report.html"
    title = args.title or f"finereason report: {root.resolve().name}"
    write_report(st, out, title, funnel(str(root), st.manifests, prices), pick_samples(str(root), args.samples, args.seed))
    from finereason.export.card import write_card

    card = write_card(st, root / "README.md", title)
    print(f"report: {out}")
    print(f"dataset card: {card}")
    return 0

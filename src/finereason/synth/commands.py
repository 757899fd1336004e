"""``finereason synth``: write built-in verifiable problems as a dataset, shard by shard."""

from __future__ import annotations

import argparse

from finereason.pipeline.engines import engine_from_args
from finereason.pipeline.flags import add_flags, options_from_args
from finereason.pipeline.options import add_run_options, print_summary
from finereason.synth import FAMILIES
from finereason.synth.step import Synth


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help=Synth.summary,
        description=(
            "Render problems with exact answers computed from what was drawn, so the whole pipeline\n"
            "runs with no download. About 40% are 4-option multiple choice. The same --seed gives the\n"
            "same bytes. meta.scene holds a full text description (oracle perception for text-only models).\n\n"
            f"families: {', '.join(FAMILIES)}\n\n"
            "example: finereason synth --n 1000 --seed 0 --out runs/synth"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_flags(p, Synth)
    add_run_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    step = options_from_args(Synth, args)
    print_summary(step.run(None, args.out, engine_from_args(args), overwrite=args.overwrite))
    return 0

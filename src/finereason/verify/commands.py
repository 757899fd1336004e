"""``finereason verify``: grade every response against its reference, keep every sample."""

from __future__ import annotations

import argparse

from finereason.pipeline.engines import engine_from_args
from finereason.pipeline.flags import add_flags, options_from_args
from finereason.pipeline.options import add_run_options, print_summary
from finereason.verify.step import Verify


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help=Verify.summary,
        description=(
            "For each sample's response: extract the final answer (last <answer> outside <think>, else\n"
            "last \\boxed{}, else an 'answer is' line; never a guess), then grade it by a cascade that\n"
            "records who decided (verdict_by): exact → choice letter/option text → numeric → math-verify\n"
            "(in a killable subprocess pool). What the rules cannot decide (free-form prose, parts that\n"
            "do not align, expressions math-verify cannot parse) is 'undecided', with the reason in\n"
            "meta.verify_detail; --judge sends exactly those (and, with --judge-unparsed, the unparsed)\n"
            "to an LLM judge (prompts/judge.txt; strict JSON reply, anything else is 'error').\n"
            "Open-ended samples (answer_type open, no reference) are 'unverifiable'.\n"
            "Writes pred_answer, verdict (correct|incorrect|undecided|unparsed|unverifiable|error),\n"
            "verdict_by, and flags (think_*/answer_* format, too_short, truncated, repetition of a\n"
            "50-gram, language). Keeps every sample: `finereason select` filters.\n\n"
            "example: finereason verify runs/distilled --out runs/verified"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", metavar="DIR", help="input dataset folder (samples with a response)")
    add_flags(p, Verify)
    add_run_options(p, models=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    step = options_from_args(Verify, args)
    print_summary(step.run(args.dir, args.out, engine_from_args(args), overwrite=args.overwrite))
    return 0

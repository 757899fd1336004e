"""``finereason caption`` and ``finereason distill``: the teacher stages, with a cost estimate first."""

from __future__ import annotations

import argparse

from finereason.distill.dryrun import print_estimate
from finereason.distill.step import Caption, Distill, TeacherStep
from finereason.pipeline.engines import engine_from_args
from finereason.pipeline.flags import add_flags, options_from_args
from finereason.pipeline.options import EXIT_CODES, add_run_options, print_summary, report_failures

_ABOUT = {
    "caption": (
        "The caption prompt asks for '### Image N: <category>' from a fixed taxonomy, a scene summary,\n"
        "a component breakdown, relationships, properties the question needs, and ambiguities.\n"
        "Writes `caption`. Captions are for analysis and image categories, not training (as the paper).",
        "finereason caption runs/dedup --teacher openai:Qwen/Qwen3-VL-235B-A22B-Instruct@http://gpu1:8000/v1 --out runs/captioned",
    ),
    "distill": (
        "The teacher sees the image(s) and the question only (the caption is withheld, so the\n"
        "reasoning cannot take a text-only shortcut) and answers in four phases ending in\n"
        "<answer>…</answer>. A server's separate reasoning field is folded back as <think>…</think>.\n"
        "Writes `response` (the full output, with <think>), meta.finish_reason and token counts.",
        "finereason distill runs/dedup --teacher openai:Qwen/Qwen3-VL-235B-A22B-Thinking@http://gpu1:8000/v1,http://gpu2:8000/v1 \\\n"
        "      --concurrency 256 --out runs/distilled",
    ),
}

STEPS: dict[str, type[TeacherStep]] = {"caption": Caption, "distill": Distill}


def register(sub: argparse._SubParsersAction) -> None:
    for kind, (about, example) in _ABOUT.items():
        p = sub.add_parser(
            kind, help=STEPS[kind].summary,
            description=(
                f"{about}\n\nEvery completed request is journaled (OUT/journal.sqlite): rerun the same command\n"
                "after a crash and only unanswered requests are sent; failed ones are retried.\n\n"
                f"example: {example}\n\n"
                "Before the first request every endpoint is asked GET /models; a stage whose endpoints are\n"
                "all unreachable stops at once (and, mid-run, once they have all failed to connect for\n"
                "30 s or 8 tries in a row), naming each URL and the cause.\n\n" + EXIT_CODES
            ),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("dir", metavar="DIR", help="input dataset folder")
        add_flags(p, STEPS[kind])
        add_run_options(p, models=True)
        p.set_defaults(func=run, kind=kind)


def run(args: argparse.Namespace) -> int:
    step = options_from_args(STEPS[args.kind], args)
    if step.dry_run:
        print_estimate(step.estimate(args.dir))
        return 0
    manifest = step.run(args.dir, args.out, engine_from_args(args), overwrite=args.overwrite)
    print_summary(manifest)
    stats = manifest.get("stats", {})
    print(f"{step.name}: {stats.get('prompt_tokens', 0)} prompt + {stats.get('completion_tokens', 0)} completion "
          f"tokens; {stats.get('truncated', 0)} truncated; {stats.get('failed', 0)} failed (rerun to retry)")
    return report_failures(manifest)

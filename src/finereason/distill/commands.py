"""``finereason caption`` and ``finereason distill``: the teacher stages, with a cost estimate first."""

from __future__ import annotations

import argparse
import asyncio

from finereason.distill.dryrun import estimate, print_estimate
from finereason.distill.stage import TeacherStage, default_prompt
from finereason.io.store import Dataset
from finereason.models.types import SamplingParams
from finereason.pipeline.engines import engine_from_args
from finereason.pipeline.manifest import RunInfo
from finereason.models.health import check_before_start
from finereason.pipeline.options import EXIT_CODES, add_run_options, print_summary, report_failures
from finereason.pipeline.stage import shard_tasks

_ABOUT = {
    "caption": (
        "write a dense caption of each sample's images with a teacher model",
        "The caption prompt asks for '### Image N: <category>' from a fixed taxonomy, a scene summary,\n"
        "a component breakdown, relationships, properties the question needs, and ambiguities.\n"
        "Writes `caption`. Captions are for analysis and image categories, not training (as the paper).",
        "finereason caption runs/dedup --teacher openai:Qwen/Qwen3-VL-235B-A22B-Instruct@http://gpu1:8000/v1 --out runs/captioned",
    ),
    "distill": (
        "distill long chain-of-thought from a teacher model into `response`",
        "The teacher sees the image(s) and the question only (the caption is withheld, so the\n"
        "reasoning cannot take a text-only shortcut) and answers in four phases ending in\n"
        "<answer>…</answer>. A server's separate reasoning field is folded back as <think>…</think>.\n"
        "Writes `response` (the full output, with <think>), meta.finish_reason and token counts.",
        "finereason distill runs/dedup --teacher openai:Qwen/Qwen3-VL-235B-A22B-Thinking@http://gpu1:8000/v1,http://gpu2:8000/v1 \\\n"
        "      --concurrency 256 --out runs/distilled",
    ),
}

#: Mean completion tokens the MMFineReason paper measured (Table 1 and §2), used by --dry-run.
EXPECTED_TOKENS = {"caption": 610, "distill": 2910}


def register(sub: argparse._SubParsersAction) -> None:
    for kind, (short, about, example) in _ABOUT.items():
        p = sub.add_parser(
            kind, help=short,
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
        p.add_argument("--teacher", required=True, metavar="SPEC",
                       help="model spec: openai:<model>@<url>[,<url>…] | hf:<path> | builtin:smollm2 | vllm:<path>")
        p.add_argument("--perception", metavar="SPEC",
                       help="how a text-only teacher sees images: builtin:ocr, oracle (synthetic scene text), or a VLM spec")
        p.add_argument("--concurrency", type=int, default=None, help="requests in flight (default: the backend's)")
        p.add_argument("--retries", type=int, default=5,
                       help="retries per request on 429/5xx/timeouts/resets, with backoff (default 5)")
        p.add_argument("--max-tokens", type=int, default=16384, help="generation cap (default 16384: fits long reasoning)")
        p.add_argument("--temperature", type=float, default=1.0, help="default 1.0 (the paper's)")
        p.add_argument("--top-p", type=float, default=0.95, help="default 0.95 (sent; the public code dropped it)")
        p.add_argument("--samples", type=int, default=1, help="completions per sample (n); the first goes to the field")
        p.add_argument("--seed", type=int, default=None, help="sampling seed, sent to the server")
        p.add_argument("--prompt", default=default_prompt(kind), metavar="NAME|FILE",
                       help=f"prompt template name or file (default {default_prompt(kind)}); needs a {{question}} placeholder")
        p.add_argument("--journal", metavar="FILE", help="request journal (default OUT/journal.sqlite)")
        p.add_argument("--dry-run", action="store_true",
                       help="print requests, estimated tokens and time, and spend nothing")
        p.add_argument("--tokens-per-s", type=float, default=2000.0,
                       help="aggregate generation speed for the --dry-run time estimate (default 2000)")
        p.add_argument("--expected-tokens", type=int, default=EXPECTED_TOKENS[kind],
                       help=f"mean completion tokens for --dry-run (default {EXPECTED_TOKENS[kind]}, the paper's mean)")
        add_run_options(p, models=True)
        p.set_defaults(func=run, kind=kind)


def make_stage(args: argparse.Namespace) -> TeacherStage:
    params = SamplingParams(max_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p,
                            n=args.samples, seed=args.seed)
    return TeacherStage(args.kind, args.teacher, params, args.prompt,
                        journal_path=args.journal or f"{args.out}/journal.sqlite",
                        perception=args.perception, concurrency=args.concurrency, retries=args.retries)


def run(args: argparse.Namespace) -> int:
    src = Dataset(args.dir)
    stage = make_stage(args)
    if args.dry_run:
        print_estimate(estimate(src, stage, args.expected_tokens, args.tokens_per_s))
        return 0
    tasks = shard_tasks(src.shard_paths())
    info = RunInfo(stage.name, stage.version, stage.settings(), inputs=[str(src.root)], upstream=src.manifest(),
                   extra={"teacher_spec": stage.teacher, "prompt": {"id": stage.template().id, "version": stage.template().version,
                                     "sha256": stage.template().sha256}})

    check_before_start(stage.name, [stage.teacher, stage.perception])

    async def main() -> dict:
        try:
            return await engine_from_args(args).run_async_stage(stage, tasks, args.out, info, total=len(tasks),
                                         overwrite=args.overwrite, status=stage.status, start=stage.open)
        finally:
            await stage.aclose()

    manifest = asyncio.run(main())
    print_summary(manifest)
    stats = manifest.get("stats", {})
    print(f"{stage.name}: {stats.get('prompt_tokens', 0)} prompt + {stats.get('completion_tokens', 0)} completion "
          f"tokens; {stats.get('truncated', 0)} truncated; {stats.get('failed', 0)} failed (rerun to retry)")
    return report_failures(manifest)

"""``finereason clean DIR --out DIR2``: rule-based cleaning, optionally followed by LLM cleaning."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from finereason.clean.stage import CleanStage
from finereason.io.store import Dataset, DatasetError
from finereason.pipeline.engines import EngineError, engine_from_args
from finereason.pipeline.manifest import RunInfo
from finereason.pipeline.options import add_run_options, print_summary
from finereason.pipeline.stage import shard_tasks

DESCRIPTION = """\
Clean a dataset's samples, shard by shard, into a new dataset folder:

  images    decode every image (decompression bombs refused from the header), turn EXIF-rotated
            images upright, convert to RGB, shrink so the longest side is at most --max-side;
            bytes are kept as they are unless something changed (then PNG, or JPEG q95 if the
            source was JPEG)
  question  normalise whitespace and invisible characters; remove <image> tags, URLs, leading
            question numbers ("3.", "Question 3:", "(12)") and score tags ("(5 points)", "(3分)");
            LaTeX is left intact
  options   read multiple-choice options written in the question ("A. x B. y", "(A) x", lines
            after "Choices:") into the options column; the question text keeps them as written
  answer    standardise: last \\boxed{} verbatim, else the stated final result ("Answer: B",
            "<answer>… is x = 5/3</answer>"), units dropped, % kept, several values joined by
            ", ", $…$ removed; an option's text becomes its letter; answer_type is set

A sample with no question, no usable answer or any unusable image goes to rejected/ with its
reason (e.g. image_truncated, missing_answer, answer_unextracted), never silently. The text
before cleaning is kept in meta original_question / original_answer.

With --llm, each kept question also gets one LLM cleaning request (translate, strip noise,
rewrite bare-answer instructions, reject non-answerable items: reason non_answerable) using the
'clean' prompt; a reply that cannot be parsed leaves the question as it was, flagged
llm_clean_unparsed. Requests are journaled (OUT/journal.sqlite): a rerun pays only for the rest
and retries failed ones.
(--workers does not apply then: the rules run in a thread beside the model requests.)

examples:
  finereason clean runs/raw --out runs/clean
  finereason clean runs/raw --out runs/clean --max-side 1024 --workers 8
  finereason clean runs/raw --out runs/clean-llm --llm openai://localhost:8000/v1/Qwen/Qwen3-30B-A3B-Thinking-2507
"""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _aspect(text: str) -> float:
    value = float(text)
    if value != 0 and value < 1:
        raise argparse.ArgumentTypeError(f"must be 0 (off) or at least 1, got {value}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "clean",
        help="clean images, question text, options and answers; reject unusable samples with a reason",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", metavar="DIR", help="input dataset folder (from ingest, synth or another stage)")
    add_run_options(p, models=True)
    p.add_argument("--max-side", type=_positive_int, default=2048, metavar="PX",
                   help="shrink images so the longest side is at most PX, keeping aspect (default 2048)")
    p.add_argument("--max-aspect", type=_aspect, default=200.0, metavar="R",
                   help="reject images whose long/short side ratio exceeds R; Qwen-VL processors fail "
                        "above 200 (default 200; 0 = off)")
    p.add_argument("--llm", metavar="MODEL_SPEC",
                   help="also clean each question with this model (e.g. openai://host:8000/v1/<model>, hf:<path>)")
    p.add_argument("--llm-prompt", default="clean", metavar="NAME|FILE",
                   help="prompt template for --llm: a bundled name or a .txt file (default: clean)")
    p.add_argument("--journal", metavar="FILE", help="request journal for --llm (default OUT/journal.sqlite)")
    p.add_argument("--concurrency", type=_positive_int, default=None, metavar="N",
                   help="--llm requests in flight (default: the backend's)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    source = Dataset(args.dir)
    paths = source.shard_paths()
    if not paths:
        raise DatasetError(f"{args.dir}: no shards in data/ (nothing to clean)")
    stage = CleanStage(max_side=args.max_side, max_aspect=args.max_aspect)
    inputs = [str(Path(args.dir).resolve())]
    if args.llm:
        return _run_with_llm(args, stage, paths, inputs, source.manifest())
    info = RunInfo(stage.name, stage.version, stage.settings(), inputs, upstream=source.manifest())
    manifest = engine_from_args(args).run_stage(stage, shard_tasks(paths), args.out, info, workers=args.workers,
                                                total=len(paths), overwrite=args.overwrite)
    print_summary(manifest)
    return 0


def _run_with_llm(args: argparse.Namespace, stage: CleanStage, paths: list[Path], inputs: list[str],
                  upstream: dict) -> int:
    """Rules then the LLM as one async stage, through the journaled client.

    The model and the journal (``--journal``, default OUT/journal.sqlite) are opened by the
    engine once the output folder is checked, so a rerun after a kill pays only for requests
    that had not finished, and a shard with failed requests is redone.
    """
    try:
        from finereason.models import SpecError, parse_spec
        from finereason.models.health import check_before_start
        from finereason.models.session import LazyClient
        from finereason.prompts import PromptError, load_prompt
    except ImportError as e:
        print(f"finereason clean: error: --llm needs the model layer, which cannot be loaded ({e})", file=sys.stderr)
        return 2
    from finereason.clean.llm import LLMClean, RulesThenLLM

    try:
        prompt = load_prompt(args.llm_prompt, expect=["question"])
        model_id = parse_spec(args.llm).model_id  # not the endpoints: moving hosts must not block a resume
    except (SpecError, PromptError) as e:
        print(f"finereason clean: error: --llm {args.llm}: {e}", file=sys.stderr)
        return 2
    model = _OpenedLater(LazyClient(args.llm, args.journal or f"{args.out}/journal.sqlite", args.concurrency))
    combined = RulesThenLLM(stage, LLMClean(model, prompt, model_id=model_id))
    info = RunInfo(combined.name, combined.version, combined.settings(), inputs, upstream=upstream,
                   extra={"prompts": {"clean": prompt.ref}, "models": {"clean": args.llm}})

    async def go() -> dict:
        try:
            return await engine_from_args(args).run_async_stage(
                combined, shard_tasks(paths), args.out, info, total=len(paths), overwrite=args.overwrite,
                status=model.status, start=model.open)
        finally:
            await model.lazy.aclose()

    check_before_start("clean", [args.llm])
    try:
        manifest = asyncio.run(go())
    except EngineError:
        raise  # about the cluster, not the model: the CLI prints it as it is
    except (SpecError, ImportError, OSError, RuntimeError) as e:
        print(f"finereason clean: error: --llm {args.llm}: {e}", file=sys.stderr)
        return 2
    print_summary(manifest)
    failed = manifest.get("stats", {}).get("failed", 0)
    if failed:
        print(f"clean: {failed} model requests failed (samples kept unchanged, flagged llm_clean_failed); "
              "rerun the same command to retry them", file=sys.stderr)
    return 0


class _OpenedLater:
    """The model for :class:`LLMClean`, opened by the engine's ``start`` hook (after the output
    folder is checked, so the journal never lands in a folder the run then refuses)."""

    def __init__(self, lazy: Any) -> None:
        self.lazy = lazy

    def open(self) -> None:
        self.lazy.get()

    async def complete(self, messages: list, params: Any) -> list:
        return await self.lazy.get().complete(messages, params)

    def status(self) -> str:
        client = self.lazy.get()
        u = client.usage
        return f"{u.requests} requests · {u.cached} journaled · {u.failed} failed · {client.in_flight} in flight"

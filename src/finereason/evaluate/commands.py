"""``finereason eval`` and ``finereason eval-grid``: thin argument parsing over :mod:`finereason.evaluate`."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from finereason.evaluate.benchmarks import available, registry

# The runner, the grid and their dependencies are imported when a command runs, so that
# `finereason --help` (which builds every command's parser) stays quick.
_DECODING_KEYS = ("max_tokens", "temperature", "top_p")
_MODULES = ("instruction", "perception", "answer")  # runner.MODULES, checked equal in the tests
_NOWAIT = ("wait, alternatively, hmm, but, however, alternative, another, check, double-check, oh, maybe, verify, "
           "other, again, now, ah, anyway, anyhow")  # thinking.NOWAIT_WORDS, checked equal in the tests


def _expected_errors() -> tuple[type[Exception], ...]:
    """Errors that are the user's input, reported in one line (ValueError covers config and specs)."""
    from finereason.evaluate.thinking import SuppressionError
    from finereason.models.types import ModelError

    return (SuppressionError, ModelError, ValueError)


def _benchmarks_help() -> str:
    return "\n".join(f"  {name:10s} {b.title}: {b.formats}" for name, b in registry().items())


EVAL_DESCRIPTION = """\
Evaluate a model on a benchmark read from its published files (no hub access at run time):

  direct          the VLM answers from the image:           --model SPEC
  decoupled       a perceiver VLM describes each image, a text-only reasoner answers from the
                  description (Prism / Downscaling §3.3):   --perception SPEC --reasoning SPEC
                  --instructions query (default): an instruction model (--instruction-model,
                  default the reasoner) writes "contents to observe" once per question, cached in
                  DIR/instructions.json (or --instructions-file) so every pair sees the same text
  extract-think   decoupled with the visual-extraction prompt and thinking on; --think-budget N
                  closes an overlong think block gracefully, --suppress-words drops "wait", "hmm"…
  --no-image      the answering model gets the question alone (visual-reliance baseline)
  --responses F   no model: score recorded responses (JSON/JSONL keyed by the benchmark's id,
                  MathVista/MMMU output files, lmms-eval --log_samples, our items.jsonl)

Benchmarks:
{benchmarks}

Scoring is each benchmark's own rule (never a random letter: a reply naming no answer counts as
"unparsed", its rate reported). DIR gets items.jsonl (prompts, descriptions, raw outputs, parsed
answer, verdict, tokens, latency), summary.json (accuracy, macro, unparsed_rate, per-category
table with bootstrap 95% intervals, settings, prompt versions) and report.html. Model requests are
journaled in DIR/journal.sqlite: rerun the same command to resume.

Decoding per module (--decoding MODULE.KEY=VALUE; modules instruction, perception, answer; keys
max_tokens, temperature, top_p). Defaults: instruction greedy 64; perception greedy 1024; answer
T=0.7/top-p 0.8/1024, or with --think T=0.6/top-p 0.95/5120. --suppress-words nowait means the
paper's list ({nowait}).

examples:
  finereason eval --benchmark mmstar --data MMStar/mmstar.parquet --out runs/mmstar-direct \\
      --mode direct --model hf:HuggingFaceTB/SmolVLM-256M-Instruct
  finereason eval --benchmark mathvista --data MathVista/testmini.json --out runs/mv-prism \\
      --mode decoupled --perception openai:Qwen/Qwen3-VL-2B@http://gpu1:8000/v1 \\
      --reasoning openai:Qwen/Qwen3-8B@http://gpu2:8000/v1 --instructions query --think
  finereason eval --benchmark mmmu --data MMMU/ --out runs/mmmu-et --mode extract-think \\
      --perception hf:markendo/llava-extract-qwen3-1.7B --reasoning hf:Qwen/Qwen3-4B \\
      --think-budget 4096 --suppress-words nowait
  finereason eval --benchmark mathvista --data MathVista/testmini.json --out runs/scored \\
      --responses results/output_gpt4.json
"""

GRID_DESCRIPTION = """\
Run every perceiver × reasoner pair of a YAML config on one benchmark (decoupled or
extract-think), reusing work: instructions are written once, each perceiver describes each item
once (DIR/descriptions.jsonl) and every reasoner reads those descriptions. With 'large' and
'small' pairs named, reports the accuracy drop when only the perceiver shrinks vs only the
reasoner shrinks, per category with paired bootstrap intervals, plus the no-image gap. Writes
DIR/grid.json, DIR/report.html and one eval folder per pair under DIR/runs/. Resumable.

example config (paths relative to the config file):

  benchmark: mmstar
  data: MMStar/mmstar.parquet
  out: runs/grid
  mode: decoupled            # or extract-think
  instructions: query        # instruction_model defaults to the large reasoner
  think: true
  limit: 300
  perceivers: {p8b: "hf:llava-qwen3-8b", p06b: "hf:llava-qwen3-0.6b"}
  reasoners:  {r8b: "hf:Qwen/Qwen3-8B", r06b: "hf:Qwen/Qwen3-0.6B"}
  large: {perceiver: p8b, reasoner: r8b}
  small: {perceiver: p06b, reasoner: r06b}
  no_image: true
  decoding: {answer: {max_tokens: 2048}}

example: finereason eval-grid grid.yaml --out runs/grid
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate on MMStar, MathVista, MMMU or a dataset: direct, decoupled (Prism), Extract+Think",
        description=EVAL_DESCRIPTION.format(benchmarks=_benchmarks_help(), nowait=_NOWAIT),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--benchmark", required=True, choices=available(), help="which benchmark the files are")
    p.add_argument("--data", required=True, type=Path, metavar="PATH", help="benchmark file or folder")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (rerun to resume)")
    p.add_argument("--mode", default="direct", choices=("direct", "decoupled", "extract-think"))
    p.add_argument("--model", metavar="SPEC", help="the VLM for --mode direct")
    p.add_argument("--perception", metavar="SPEC", help="perceiver VLM (or builtin:ocr) for decoupled modes")
    p.add_argument("--reasoning", metavar="SPEC", help="text reasoner for decoupled modes")
    p.add_argument("--instructions", default="query", choices=("generic", "query"),
                   help="perception instruction: Prism's generic one, or query-specific (default)")
    p.add_argument("--instruction-model", metavar="SPEC", help="writes the query-specific phrases (default: --reasoning)")
    p.add_argument("--instructions-file", type=Path, metavar="FILE", help="shared instructions cache (default DIR/instructions.json)")
    p.add_argument("--descriptions-file", type=Path, metavar="FILE",
                   help="shared descriptions cache (default DIR/descriptions.jsonl)")
    p.add_argument("--think", action="store_true", help="step-by-step prompt and thinking decoding for the answerer")
    p.add_argument("--think-budget", type=int, metavar="N", help="thinking tokens before </think> is forced")
    p.add_argument("--answer-tokens", type=int, default=1024, metavar="N",
                   help="tokens for the answer after a forced </think> (default 1024)")
    p.add_argument("--suppress-words", metavar="W,W", help="words to suppress while thinking, or 'nowait'")
    p.add_argument("--no-image", action="store_true", help="answer from the question alone")
    p.add_argument("--responses", type=Path, metavar="FILE", help="score recorded responses; no model is loaded")
    p.add_argument("--limit", type=int, metavar="N", help="first N items only")
    p.add_argument("--seed", type=int, default=0, help="sampling and bootstrap seed (default 0)")
    p.add_argument("--decoding", action="append", default=[], metavar="MODULE.KEY=VALUE",
                   help="e.g. answer.max_tokens=256 perception.temperature=0 (repeatable)")
    p.add_argument("--concurrency", type=int, metavar="N", help="requests in flight per model (default: the backend's)")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (default 1000)")
    p.add_argument("--overwrite", action="store_true", help="delete DIR first instead of resuming into it")
    p.set_defaults(func=run)

    g = sub.add_parser(
        "eval-grid",
        help="perception × reasoning model grid with bottleneck attribution and no-image gap",
        description=GRID_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g.add_argument("config", type=Path, metavar="CONFIG.yaml")
    g.add_argument("--out", type=Path, metavar="DIR", help="output folder (overrides 'out' in the config)")
    g.add_argument("--overwrite", action="store_true", help="delete DIR first instead of resuming into it")
    g.set_defaults(func=run_grid_command)


def parse_decoding(entries: list[str]) -> dict[str, dict[str, Any]]:
    """``["answer.max_tokens=64"]`` → ``{"answer": {"max_tokens": 64}}``; errors name the entry."""
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        key, eq, value = entry.partition("=")
        module, dot, name = key.strip().partition(".")
        if not eq or not dot or module not in _MODULES or name not in _DECODING_KEYS:
            raise ValueError(f"--decoding {entry!r}: expected MODULE.KEY=VALUE with MODULE in {', '.join(_MODULES)} "
                             f"and KEY in {', '.join(_DECODING_KEYS)}")
        parsed = yaml.safe_load(value)
        if not isinstance(parsed, (int, float)) or isinstance(parsed, bool):
            raise ValueError(f"--decoding {entry!r}: {value!r} is not a number")
        out.setdefault(module, {})[name] = int(parsed) if name == "max_tokens" else float(parsed)
    return out


def _fail(message: str) -> int:
    print(f"finereason: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from finereason.evaluate.config import EvalConfig
    from finereason.evaluate.runner import run_eval
    from finereason.evaluate.thinking import parse_words
    from finereason.models.health import EndpointsDown, check_before_start

    try:
        if args.responses and (args.model or args.perception or args.reasoning):
            raise ValueError("--responses scores recorded outputs: drop --model/--perception/--reasoning")
        cfg = EvalConfig(
            benchmark=args.benchmark, data=args.data, out=args.out, mode=args.mode, model=args.model,
            perception=args.perception, reasoning=args.reasoning, instruction_model=args.instruction_model,
            instructions=args.instructions, think=args.think, think_budget=args.think_budget,
            answer_tokens=args.answer_tokens, suppress_words=parse_words(args.suppress_words),
            no_image=args.no_image, responses=args.responses, limit=args.limit, seed=args.seed,
            decoding=parse_decoding(args.decoding), instructions_file=args.instructions_file,
            descriptions_file=args.descriptions_file, concurrency=args.concurrency, n_boot=args.bootstrap,
        )
        if args.overwrite and args.out.exists():
            shutil.rmtree(args.out)
        check_before_start("eval", [args.model, args.perception, args.reasoning, args.instruction_model])
        summary = asyncio.run(run_eval(cfg))
    except EndpointsDown:
        raise  # its own exit status (3), printed by the CLI
    except _expected_errors() as err:
        return _fail(str(err))
    acc = summary["accuracy"]
    print(
        f"eval {summary['benchmark']} ({summary['mode']}): {summary['n']} items, accuracy "
        f"{'–' if acc is None else f'{100 * acc:.1f}%'}, unparsed {summary['counts']['unparsed']}, "
        f"errors {summary['counts']['error']} → {args.out}/summary.json"
    )
    return 0


def run_grid_command(args: argparse.Namespace) -> int:
    from finereason.evaluate.grid import GridConfigError, load_grid_config, run_grid

    try:
        grid = load_grid_config(args.config)
        out = args.out or grid.out
        if out is None:
            raise GridConfigError(f"{args.config}: no output folder: give --out or 'out' in the config")
        if args.overwrite and out.exists():
            shutil.rmtree(out)
        result = asyncio.run(run_grid(grid, out))
    except _expected_errors() as err:
        return _fail(str(err))
    for row in (result.get("attribution") or {}).get("rows", [])[:1]:
        p, r = row["perception_drop"]["drop"], row["reasoning_drop"]["drop"]
        print(f"eval-grid: perceiver shrinks: drop {p}; reasoner shrinks: drop {r}; bottleneck: {row['bottleneck']}")
    print(f"eval-grid: {len(result['runs'])} runs → {out}/grid.json, {out}/report.html")
    return 0

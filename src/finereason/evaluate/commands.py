"""``finereason eval`` and ``finereason eval-grid``: thin argument parsing over :mod:`finereason.evaluate`."""

from __future__ import annotations

import argparse
import asyncio
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import yaml

from finereason.errors import UserError
from finereason.evaluate.benchmarks import available, registry

if TYPE_CHECKING:
    from finereason.evaluate.config import EvalConfig

# The runner, the grid and their dependencies are imported when a command runs, so that
# `finereason --help` (which builds every command's parser) stays quick.
_DECODING_KEYS = ("max_tokens", "temperature", "top_p")
_MODULES = ("instruction", "perception", "answer")  # runner.MODULES, checked equal in the tests
_NOWAIT = ("wait, alternatively, hmm, but, however, alternative, another, check, double-check, oh, maybe, verify, "
           "other, again, now, ah, anyway, anyhow")  # thinking.NOWAIT_WORDS, checked equal in the tests
_PROTOCOLS = ("strict", "official")  # config.PROTOCOLS, checked equal in the tests


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
  --extractor S   replies no rule can read go to an LLM with MathVista's few-shot extraction
                  prompt (journaled); without it they stay "unparsed", their rate reported
  --protocol P    strict (default): an answer counts only where the reply gives one; official
                  (MathVista): also the official scorer's deterministic leniency: an empty reply
                  and an extraction naming no choice snap to the most similar choice

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


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    """``finereason eval``'s arguments (also what :func:`config_from_argv` reads)."""
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
    p.add_argument("--extractor", metavar="SPEC",
                   help="an LLM that reads the answer from replies the rules leave unparsed, with MathVista's "
                        "published few-shot extraction prompt (journaled); without it they stay 'unparsed'")
    p.add_argument("--protocol", default="strict", choices=_PROTOCOLS,
                   help="scoring protocol: strict (default; no snap, a reply naming no answer is unparsed) or "
                        "official (MathVista only: adds the official scorer's deterministic steps, i.e. an empty "
                        "reply and an extraction naming no choice snapped to the most similar choice by edit "
                        "distance, numbers normalised with the item's precision); summary.json keeps both accuracies")
    p.add_argument("--limit", type=int, metavar="N", help="first N items only")
    p.add_argument("--seed", type=int, default=0, help="sampling and bootstrap seed (default 0)")
    p.add_argument("--decoding", action="append", default=[], metavar="MODULE.KEY=VALUE",
                   help="e.g. answer.max_tokens=256 perception.temperature=0 (repeatable)")
    p.add_argument("--concurrency", type=int, metavar="N", help="requests in flight per model (default: the backend's)")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (default 1000)")
    p.add_argument("--overwrite", action="store_true", help="delete DIR first instead of resuming into it")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate on MMStar, MathVista, MMMU or a dataset: direct, decoupled (Prism), Extract+Think",
        description=EVAL_DESCRIPTION.format(benchmarks=_benchmarks_help(), nowait=_NOWAIT),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_eval_arguments(p)
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
    from finereason.evaluate.config import EvalConfigError

    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        key, eq, value = entry.partition("=")
        module, dot, name = key.strip().partition(".")
        if not eq or not dot or module not in _MODULES or name not in _DECODING_KEYS:
            raise EvalConfigError(f"--decoding {entry!r}: expected MODULE.KEY=VALUE with MODULE in {', '.join(_MODULES)} "
                             f"and KEY in {', '.join(_DECODING_KEYS)}")
        parsed = yaml.safe_load(value)
        if not isinstance(parsed, (int, float)) or isinstance(parsed, bool):
            raise EvalConfigError(f"--decoding {entry!r}: {value!r} is not a number")
        out.setdefault(module, {})[name] = int(parsed) if name == "max_tokens" else float(parsed)
    return out


class _EvalParser(argparse.ArgumentParser):
    """Refuses arguments with a :class:`UserError` instead of exiting (for callers in the library)."""

    def error(self, message: str) -> NoReturn:
        from finereason.evaluate.config import EvalConfigError

        raise EvalConfigError(f"finereason eval: {message}")


def config_from_args(args: argparse.Namespace) -> EvalConfig:
    """The run that ``finereason eval``'s parsed arguments ask for."""
    from finereason.evaluate.config import EvalConfig, EvalConfigError
    from finereason.evaluate.thinking import parse_words

    if args.responses and (args.model or args.perception or args.reasoning):
        raise EvalConfigError("--responses scores recorded outputs: drop --model/--perception/--reasoning")
    return EvalConfig(
        benchmark=args.benchmark, data=args.data, out=args.out, mode=args.mode, model=args.model,
        perception=args.perception, reasoning=args.reasoning, instruction_model=args.instruction_model,
        instructions=args.instructions, think=args.think, think_budget=args.think_budget,
        answer_tokens=args.answer_tokens, suppress_words=parse_words(args.suppress_words),
        no_image=args.no_image, responses=args.responses, limit=args.limit, seed=args.seed,
        decoding=parse_decoding(args.decoding), instructions_file=args.instructions_file,
        descriptions_file=args.descriptions_file, concurrency=args.concurrency, n_boot=args.bootstrap,
        extractor=args.extractor, protocol=args.protocol,
    )


def config_from_argv(argv: list[str]) -> EvalConfig:
    """``finereason eval ARGV`` as a config, without running it (train's final evaluation uses this)."""
    parser = _EvalParser(prog="finereason eval", add_help=False)
    add_eval_arguments(parser)
    return config_from_args(parser.parse_args(argv))


def evaluate(cfg: EvalConfig) -> dict[str, Any]:
    """Run one evaluation; returns its summary. A model that fails after its retries is a one-line error."""
    from finereason.evaluate.runner import run_eval
    from finereason.models.health import check_before_start
    from finereason.models.types import ModelError

    check_before_start("eval", [cfg.model, cfg.perception, cfg.reasoning, cfg.instruction_model, cfg.extractor])
    try:
        return asyncio.run(run_eval(cfg))
    except ModelError as err:
        raise UserError(f"a model request failed after its retries: {err}") from err


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.overwrite and args.out.exists():
        shutil.rmtree(args.out)
    summary = evaluate(cfg)
    acc = summary["accuracy"]
    print(
        f"eval {summary['benchmark']} ({summary['mode']}): {summary['n']} items, accuracy "
        f"{'–' if acc is None else f'{100 * acc:.1f}%'}, unparsed {summary['counts']['unparsed']}, "
        f"errors {summary['counts']['error']} → {args.out}/summary.json"
    )
    if "official_protocol" in summary:
        strict, lenient = summary["strict"], summary["official_protocol"]
        print(f"  official protocol {100 * lenient['accuracy']:.1f}% ({lenient['snapped']} items decided by the "
              f"nearest-choice snap, {lenient['empty']} by an empty reply); strict {100 * strict['accuracy']:.1f}%")
    return 0


def run_grid_command(args: argparse.Namespace) -> int:
    from finereason.evaluate.grid import GridConfigError, load_grid_config, run_grid

    from finereason.models.types import ModelError

    grid = load_grid_config(args.config)
    out = args.out or grid.out
    if out is None:
        raise GridConfigError(f"{args.config}: no output folder: give --out or 'out' in the config")
    if args.overwrite and out.exists():
        shutil.rmtree(out)
    try:
        result = asyncio.run(run_grid(grid, out))
    except ModelError as err:
        raise UserError(f"a model request failed after its retries: {err}") from err
    for row in (result.get("attribution") or {}).get("rows", [])[:1]:
        p, r = row["perception_drop"]["drop"], row["reasoning_drop"]["drop"]
        print(f"eval-grid: perceiver shrinks: drop {p}; reasoner shrinks: drop {r}; bottleneck: {row['bottleneck']}")
    print(f"eval-grid: {len(result['runs'])} runs → {out}/grid.json, {out}/report.html")
    return 0

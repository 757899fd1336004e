"""``finereason clean DIR --out DIR2``: rule-based cleaning, optionally followed by LLM cleaning."""

from __future__ import annotations

import argparse
import sys

from finereason.clean.step import Clean
from finereason.pipeline.engines import engine_from_args
from finereason.pipeline.flags import add_flags, options_from_args
from finereason.pipeline.options import add_run_options, print_summary

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
reason (e.g. image_truncated, missing_answer, answer_unextracted, text_too_long), never silently. The text
before cleaning is kept in meta original_question / original_answer.

With --llm, each kept question also gets one LLM cleaning request (translate, strip noise,
rewrite bare-answer instructions, reject non-answerable items: reason non_answerable) using the
'clean' prompt; a reply that cannot be parsed leaves the question as it was, flagged
llm_clean_unparsed. With --llm-answers too, each sample the rules rejected as answer_unextracted
first gets one answer-extraction request ('answer_extraction' prompt, the paper's optional stage-1
pass); an extracted answer is standardised by the rules like any other, an empty or unparseable
reply leaves the rejection with its reason. Requests are journaled (OUT/journal.sqlite): a rerun
pays only for the rest and retries failed ones.
(--workers does not apply then: the rules run in a thread beside the model requests.)

examples:
  finereason clean runs/raw --out runs/clean
  finereason clean runs/raw --out runs/clean --max-side 1024 --workers 8
  finereason clean runs/raw --out runs/clean-llm --llm openai://localhost:8000/v1/Qwen/Qwen3-30B-A3B-Thinking-2507
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("clean", help=Clean.summary, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", metavar="DIR", help="input dataset folder (from ingest, synth or another stage)")
    add_run_options(p, models=True)
    add_flags(p, Clean)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    step = options_from_args(Clean, args)
    manifest = step.run(args.dir, args.out, engine_from_args(args), overwrite=args.overwrite)
    print_summary(manifest)
    failed = manifest.get("stats", {}).get("failed", 0)
    if failed:
        print(f"clean: {failed} model requests failed (samples kept unchanged, flagged llm_clean_failed); "
              "rerun the same command to retry them", file=sys.stderr)
    return 0
